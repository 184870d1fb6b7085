//! The routing state inside the engine's lock, and the delivery rules that act on it.
//!
//! Queues: see `dispatch`. Topics: each
//! matching subscriber gets the message now or, if it cannot take it, loses it and the loss is
//! counted (or it is disconnected, by policy) — a slow reader never holds the others back.

use super::auth::{Acl, Principal};
use super::destination::DestPattern;
use super::destination::Destination;
use super::events::BrokerEvent;
use super::message::Message;
use super::outbox::{Delivery, Outbox};
use super::queue::{MessageQueue, Queued};
use super::selector::Selector;
use super::settings::DeliveryPolicy;
use super::settings::{BrokerSettings, SlowConsumerPolicy};
use super::store::durable::DurableRecord;
use super::store::Store;
use super::subscription::{AckMode, ConnId, FromQueue, SubKey, Subscription, Unacked};
use crate::stomp::{Frame, Version};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::broadcast;

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// `ip:port`, or `in-process:<name>` for local clients.
    pub peer: String,
    pub login: Option<String>,
    pub version: Option<Version>,
    pub since: SystemTime,
}

impl ConnInfo {
    pub fn new(peer: impl Into<String>) -> ConnInfo {
        ConnInfo {
            peer: peer.into(),
            login: None,
            version: None,
            since: SystemTime::now(),
        }
    }

    pub fn is_in_process(&self) -> bool {
        self.peer.starts_with("in-process:")
    }
}

pub(super) struct Conn {
    pub info: ConnInfo,
    pub outbox: Arc<Outbox>,
    /// Client subscription id (or destination, for 1.0 without id) → engine key.
    pub subs: HashMap<String, SubKey>,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped: u64,
    /// Who the client authenticated as; `None` before CONNECT and for in-process clients.
    pub principal: Option<Arc<Principal>>,
    /// Body bytes delivered in client ack modes and not yet acknowledged, and their cap.
    pub unacked_bytes: usize,
    pub max_unacked_bytes: usize,
    /// Some delivery waited for unacked-bytes credit: the next ACK wakes every subscription.
    pub bytes_blocked: bool,
    /// CONNECT's `client-id`: names the connection's durable subscriptions.
    pub client_id: Option<String>,
    /// Destinations this connection sent to (each lists it among its `producers`), so a
    /// closing connection visits those, not every destination.
    pub produced: HashSet<Destination>,
}

impl Conn {
    pub fn new(info: ConnInfo, outbox: Arc<Outbox>) -> Conn {
        Conn {
            info,
            outbox,
            subs: HashMap::default(),
            msgs_in: 0,
            msgs_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            dropped: 0,
            principal: None,
            unacked_bytes: 0,
            max_unacked_bytes: usize::MAX,
            bytes_blocked: false,
            client_id: None,
            produced: HashSet::new(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DestStats {
    pub enqueued: u64,
    /// Queue: acknowledged (or auto-acked on delivery). Topic: deliveries.
    pub dequeued: u64,
    /// Deliveries handed to consumers, including ones not yet acknowledged.
    pub dispatched: u64,
    pub expired: u64,
    /// Topic deliveries dropped for slow consumers.
    pub dropped: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Queued messages dispatch passes looked at. Far above `enqueued`, consumers gaining
    /// room keep finding messages their selectors decline.
    pub examined: u64,
}

pub(super) struct Dest {
    pub subscribers: super::subscribers::Subscribers,
    /// Round-robin position among `subscribers` (queues).
    pub rr: usize,
    pub queue: MessageQueue,
    pub producers: HashSet<ConnId>,
    pub stats: DestStats,
    /// When a message last arrived or a subscriber left (ms since the epoch, from the clock
    /// read the SEND already makes): idle, empty destinations are dropped after a while.
    pub last_active_ms: u64,
    /// Per-second rates, refreshed by `sample_rates`.
    pub rate_in: f64,
    pub rate_out: f64,
    pub prev_in: u64,
    pub prev_out: u64,
    /// The user whose SEND or SUBSCRIBE created it (the destination limits count it theirs).
    pub owner: Option<Arc<Principal>>,
}

#[derive(Default)]
pub(super) struct Core {
    pub conns: HashMap<ConnId, Conn>,
    /// Body bytes waiting in all queues (the memory limit), shared with every `MessageQueue`.
    pub queued_total: Arc<super::queue::QueuedTotals>,
    pub store: Option<Arc<Store>>,
    /// The highest store sequence appended by the engine call in progress: the caller's
    /// RECEIPT waits until it is durable. Reset at the start of each such call.
    pub ticket: u64,
    pub policy: DeliveryPolicy,
    /// Messages bound for another queue (dead letters, expired, durable subscribers' copies),
    /// delivered by `Engine::settle` at the end of the engine call that produced them.
    pub moves: VecDeque<(Destination, Queued)>,
    pub durables: HashMap<String, Durable>,
    pub subs: HashMap<SubKey, Subscription>,
    /// Subscriptions with wildcards, matched against destinations created later (by their
    /// literal prefix: a connection with 10 000 of them closing removed each from a list of
    /// all of them, and stalled the broker for 4 s).
    pub wildcard_subs: super::wildcards::WildcardIndex,
    pub dests: HashMap<Destination, Dest>,
    /// The same destinations in name order, for wildcard subscriptions to find theirs by
    /// prefix (see `dests_matching`).
    pub dest_names: std::collections::BTreeSet<Destination>,
    /// Destinations each user created that still exist (see `dests`).
    pub dests_by_user: HashMap<String, usize>,
    pub next_sub: SubKey,
    pub totals: Totals,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub msgs_in: u64,
    pub msgs_out: u64,
    /// Body bytes received and delivered.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rate_in: f64,
    pub rate_out: f64,
    prev_in: u64,
    prev_out: u64,
    last_sample: Option<Instant>,
}

/// A durable topic subscription: its topic, and the internal queue that holds its messages
/// whether or not its subscriber is connected.
pub(super) struct Durable {
    pub record: DurableRecord,
    pub pattern: DestPattern,
    pub selector: Option<Selector>,
    pub queue: Destination,
    /// The subscription consuming it now, if its client is connected.
    pub active: Option<SubKey>,
    /// Whose it is: the topic feeds it only what this principal may read (`None`: the
    /// broker's own in-process clients).
    pub principal: Option<Arc<Principal>>,
    /// Its user no longer exists (after a restart with another config): it gets nothing.
    pub orphaned: bool,
}

pub(super) enum Offer {
    Taken,
    /// No credit or no room: try someone else, or later.
    Busy,
}

impl Core {
    /// Adds a subscription and attaches it to every destination it matches (creating the one it
    /// names, when it has no wildcard).
    pub fn attach(
        &mut self,
        mut sub: Subscription,
        events: &broadcast::Sender<BrokerEvent>,
        acl: &Acl,
    ) {
        let key = sub.key;
        if let Some(d) = sub.pattern.as_destination() {
            self.ensure_dest(&d, events, acl, sub.principal.as_ref());
            self.dests
                .get_mut(&d)
                .expect("ensured")
                .subscribers
                .push(key);
            sub.attached.push(d);
        } else {
            for d in self.dests_matching(&sub.pattern) {
                if sub.may_read(acl, &d) && !super::durable::is_reserved(d.kind, &d.name) {
                    if let Some(dest) = self.dests.get_mut(&d) {
                        dest.subscribers.push(key);
                    }
                    sub.attached.push(d);
                }
            }
            self.wildcard_subs.insert(key, &sub.pattern);
        }
        self.subs.insert(key, sub);
    }

    /// Removes a subscription from everything it was attached to and returns it.
    pub fn detach(&mut self, key: SubKey) -> Option<Subscription> {
        let sub = self.subs.remove(&key)?;
        for d in &sub.attached {
            if let Some(dest) = self.dests.get_mut(d) {
                dest.subscribers.remove(key);
                dest.last_active_ms = super::message::now_ms();
            }
        }
        if sub.pattern.is_wildcard() {
            self.wildcard_subs.remove(key, &sub.pattern);
        }
        Some(sub)
    }

    /// Offers one message to one subscription.
    pub(super) fn offer(
        &mut self,
        key: SubKey,
        message: &Arc<Message>,
        redelivered: bool,
        redeliveries: u32,
        store_id: Option<u64>,
        from_queue: Option<&Destination>,
    ) -> Offer {
        let Some(sub) = self.subs.get_mut(&key) else {
            return Offer::Busy;
        };
        if !sub.has_credit() {
            return Offer::Busy;
        }
        let Some(conn) = self.conns.get_mut(&sub.conn) else {
            return Offer::Busy;
        };
        let needs_ack = sub.ack != AckMode::Auto;
        let size = message.size();
        // Past the unacked-bytes cap, wait for ACKs (a lone message always goes, however big).
        if needs_ack && conn.unacked_bytes > 0 && conn.unacked_bytes + size > conn.max_unacked_bytes
        {
            return Offer::Busy;
        }
        let ack = needs_ack.then(|| sub.next_token());
        let delivery = Delivery {
            subscription: sub.id.clone(),
            ack,
            message: message.clone(),
            redelivered,
            redeliveries,
        };
        if conn.outbox.try_push(delivery).is_err() {
            return Offer::Busy;
        }
        conn.msgs_out += 1;
        conn.bytes_out += message.body.len() as u64;
        sub.delivered += 1;
        if needs_ack {
            conn.unacked_bytes += size;
            sub.unacked.push_back(Unacked {
                seq: sub.next_seq,
                message: message.clone(),
                from_queue: match from_queue {
                    None => FromQueue::Topic,
                    Some(q) if *q == message.destination => FromQueue::Own,
                    Some(q) => FromQueue::Other(q.clone()),
                },
                store_id,
                redelivered,
                redeliveries,
            });
        }
        // After a restart it comes back redelivered:true. Auto-ack deliveries are consumed at
        // once (a Remove follows), so they need no such record.
        if let (true, Some(id), Some(store), false) =
            (needs_ack, store_id, &self.store, redelivered)
        {
            store.delivered(id);
        }
        self.totals.msgs_out += 1;
        self.totals.bytes_out += message.body.len() as u64;
        Offer::Taken
    }

    /// `onward_only`: to bridges' subscriptions only (see `Publish::onward_only`).
    pub fn publish_topic(
        &mut self,
        dest: &Destination,
        message: Arc<Message>,
        settings: &BrokerSettings,
        onward_only: bool,
    ) {
        let Some(d) = self.dests.get_mut(dest) else {
            return;
        };
        // Borrowed for the pass and put back below (not cloned per publish); `offer` never
        // touches destinations.
        let subscribers = std::mem::take(&mut d.subscribers);
        let (mut delivered, mut dropped) = (0u64, 0u64);
        for &key in subscribers.iter() {
            let Some(sub) = self.subs.get(&key) else {
                continue;
            };
            if !sub.accepts(&message) || (onward_only && sub.network.is_none()) {
                continue;
            }
            match self.offer(key, &message, false, 0, None, None) {
                Offer::Taken => delivered += 1,
                Offer::Busy => {
                    dropped += 1;
                    let conn = self.subs.get_mut(&key).map(|s| {
                        s.dropped += 1;
                        s.conn
                    });
                    if let Some(c) = conn.and_then(|c| self.conns.get_mut(&c)) {
                        c.dropped += 1;
                        if settings.slow_consumer == SlowConsumerPolicy::Disconnect {
                            c.outbox.close_with(Some(Frame::error(
                                "slow consumer",
                                format!("the connection could not keep up with {dest}; disconnected by policy"),
                            )));
                        }
                    }
                }
            }
        }
        if let Some(d) = self.dests.get_mut(dest) {
            d.subscribers = subscribers;
            d.stats.dispatched += delivered;
            d.stats.dequeued += delivered;
            d.stats.dropped += dropped;
            d.stats.bytes_out += delivered * message.body.len() as u64;
        }
        if onward_only {
            return; // delivered here already, durable subscribers included
        }
        // Durable subscribers get their copy whether connected or not (through their queue).
        for durable in self.durables.values() {
            let wants = durable.pattern.matches(dest)
                && durable
                    .selector
                    .as_ref()
                    .is_none_or(|s| s.matches(&|name| message.header(name)));
            if wants {
                self.moves
                    .push_back((durable.queue.clone(), Queued::new(message.clone())));
            }
        }
    }

    /// Gives back the unacked-bytes credit of messages acknowledged or returned by `conn`.
    pub fn release_unacked(&mut self, conn: ConnId, taken: &[Unacked]) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let bytes: usize = taken.iter().map(|u| u.message.size()).sum();
            c.unacked_bytes = c.unacked_bytes.saturating_sub(bytes);
        }
    }

    pub fn sample_rates(&mut self) {
        let now = Instant::now();
        let secs = self
            .totals
            .last_sample
            .map(|t| now.duration_since(t).as_secs_f64())
            .unwrap_or(1.0)
            .max(0.001);
        self.totals.last_sample = Some(now);
        let t = &mut self.totals;
        t.rate_in = t.msgs_in.saturating_sub(t.prev_in) as f64 / secs;
        t.rate_out = (t.msgs_out.saturating_sub(t.prev_out)) as f64 / secs;
        t.prev_in = t.msgs_in;
        t.prev_out = t.msgs_out;
        for d in self.dests.values_mut() {
            d.rate_in = (d.stats.enqueued - d.prev_in) as f64 / secs;
            d.rate_out = (d.stats.dispatched - d.prev_out) as f64 / secs;
            d.prev_in = d.stats.enqueued;
            d.prev_out = d.stats.dispatched;
        }
    }
}
