//! The engine: every destination, subscription and connection, behind one lock.
//!
//! Like rumqttd's router, one place owns all routing state, so there is one place to read to
//! understand where a message goes. Sessions call in synchronously; nothing inside ever awaits,
//! so the lock is held for microseconds, and deliveries are pushed to per-connection outboxes
//! that never block (see `outbox`). On two cores this beats a router task with channels: no
//! hand-off, no extra wake-up per message.
//!
//! At fleet scale nothing under the lock may grow with the number of connections: a
//! subscriber leaves its destinations in O(1) (`subscribers`), a topic publish walks its
//! subscribers without copying the list, expiry takes only the messages due (`queue`), a
//! closing connection visits only what it produced to and its own temporary destinations,
//! observers follow a lossless event feed instead of copying state (`watch`), and the stats
//! stream reads an `overview` (connections counted, the busiest destinations). Measured on 2
//! cores (BENCHMARKS.md "A fleet on one broker"): 10 000 nodes of 15 subscriptions each
//! connect in 3.8 s with 2.4 s of broker CPU; futex calls during that connect were about one
//! per connection before and after these changes (10 158 / 10 276), and half of the broker's
//! samples in a 10 000-node ping are socket writes. The one lock is not what limits a fleet
//! on this machine, so the engine is not split; a many-core bastion would shard by
//! destination hash first (topics fan out within a shard; directed queues live in one).

use super::auth::{Principal, Security};
use super::destination::{DestKind, DestPattern, Destination};
pub use super::error::EngineError;
use super::events::BrokerEvent;
use super::message::{now_ms, MessageIds};
use super::outbox::Outbox;
use super::queue::Scan;
use super::selector::Selector;
use super::settings::{BrokerSettings, DeliveryPolicy, Limits};
use super::state::{Conn, ConnInfo, Core};
use super::store::Store;
use super::subscription::{AckMode, ConnId, NetworkSub, SubKey, Subscription};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast;

/// A SUBSCRIBE as the engine needs it (parsing and validation are the session's job).
#[derive(Debug)]
pub struct SubscribeRequest {
    pub id: Option<String>,
    pub pattern: DestPattern,
    pub selector: Option<Selector>,
    pub ack: AckMode,
    pub prefetch: Option<usize>,
    /// 0 for clients; bridges use lower values (see `Subscription::priority`).
    pub priority: i32,
    pub network: Option<NetworkSub>,
    /// Make (or resume) the durable subscription of this name for the connection's client-id.
    pub durable: Option<String>,
}

pub struct Engine {
    pub(super) core: Mutex<Core>,
    /// The core's queue totals, for checks that need no lock (see `flow`).
    pub(super) queued: Arc<super::queue::QueuedTotals>,
    pub(super) events: broadcast::Sender<BrokerEvent>,
    /// Observers that must see every event (see `watch`).
    pub(super) watchers: super::watch::Watchers,
    /// The broker's name: fixed for its life (message ids carry it).
    name: String,
    /// Replaced whole by a reload (`reload`); readers take the current ones.
    settings: arc_swap::ArcSwap<BrokerSettings>,
    limits: arc_swap::ArcSwap<Limits>,
    /// The limits every SEND reads, without an arc-swap load (see `flow`).
    pub(super) send_limits: super::flow::SendLimits,
    pub security: Security,
    /// Where persistent messages are journaled; `None`: in memory only.
    pub(super) store: Option<Arc<Store>>,
    pub(super) ids: MessageIds,
    next_conn: AtomicU64,
    /// In-process clients (bridges' local sides, the membership and stats services): they do
    /// not count against `max_connections`, which protects the listener.
    in_process: std::sync::atomic::AtomicUsize,
    pub(super) started: Instant,
    /// Refusals counted for monitoring (see `counters`).
    pub counters: super::counters::Counters,
}

/// Prefix that marks a temporary destination's internal name: `shoal-tmp-<conn>.<name>`.
pub const TEMP_PREFIX: &str = "shoal-tmp-";

impl Engine {
    pub fn new(
        settings: BrokerSettings,
        limits: Limits,
        security: Security,
        policy: DeliveryPolicy,
        store: Option<Arc<Store>>,
    ) -> Arc<Engine> {
        let (events, _) = broadcast::channel(4096);
        let send_limits = super::flow::SendLimits::default();
        send_limits.store(&limits);
        let core = Core {
            policy,
            store: store.clone(),
            ..Core::default()
        };
        Arc::new(Engine {
            queued: core.queued_total.clone(),
            ids: MessageIds::new(&settings.name),
            core: Mutex::new(core),
            store,
            events,
            watchers: Default::default(),
            name: settings.name.clone(),
            settings: arc_swap::ArcSwap::from_pointee(settings),
            limits: arc_swap::ArcSwap::from_pointee(limits),
            send_limits,
            security,
            next_conn: AtomicU64::new(1),
            in_process: Default::default(),
            started: Instant::now(),
            counters: Default::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `[broker]` settings in force now.
    pub fn settings(&self) -> arc_swap::Guard<Arc<BrokerSettings>> {
        self.settings.load()
    }

    /// The `[limits]` in force now.
    pub fn limits(&self) -> arc_swap::Guard<Arc<Limits>> {
        self.limits.load()
    }

    /// Replaces the settings and limits (a reload: see `reload`).
    pub(super) fn replace_settings(&self, settings: BrokerSettings, limits: Limits) {
        self.settings.store(Arc::new(settings));
        self.send_limits.store(&limits);
        self.limits.store(Arc::new(limits));
    }

    pub(super) fn emit(&self, e: BrokerEvent) {
        self.watchers.send(&e);
        let _ = self.events.send(e);
    }

    pub fn events(&self) -> broadcast::Receiver<BrokerEvent> {
        self.events.subscribe()
    }

    /// Registers a connection (network or in-process) and returns its id.
    pub fn open_connection(&self, info: ConnInfo, outbox: Arc<Outbox>) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let event = BrokerEvent::ConnectionOpened {
            conn: id,
            peer: info.peer.clone(),
        };
        if info.is_in_process() {
            self.in_process.fetch_add(1, Ordering::Relaxed);
        }
        let mut c = Conn::new(info, outbox);
        c.max_unacked_bytes = self.limits().max_unacked_bytes;
        self.core.lock().conns.insert(id, c);
        self.emit(event);
        id
    }

    /// Network connections (in-process clients excluded).
    pub fn connection_count(&self) -> usize {
        self.core
            .lock()
            .conns
            .len()
            .saturating_sub(self.in_process.load(Ordering::Relaxed))
    }

    /// Records who the client turned out to be at CONNECT. From here on every SEND and
    /// SUBSCRIBE of the connection is checked against the ACL as this principal.
    pub fn set_principal(
        &self,
        conn: ConnId,
        principal: Arc<Principal>,
        version: crate::stomp::Version,
    ) {
        if let Some(c) = self.core.lock().conns.get_mut(&conn) {
            c.info.login = Some(principal.user.clone());
            c.info.version = Some(version);
            c.principal = Some(principal);
        }
    }

    /// Rewrites a client's temp destination name to this connection's private internal name.
    /// Names already internal (a `reply-to` handed out by another connection) stay as they are.
    pub fn temp_name(conn: ConnId, kind: DestKind, name: &str) -> String {
        if !kind.is_temp() || name.starts_with(TEMP_PREFIX) {
            return name.to_string();
        }
        format!("{TEMP_PREFIX}{conn}.{name}")
    }

    /// `d` with a temp destination's name made internal to `conn` (see `temp_name`);
    /// anything else unchanged, without copying its name.
    pub fn internal(conn: ConnId, d: Destination) -> Destination {
        if !d.kind.is_temp() || d.name.starts_with(TEMP_PREFIX) {
            return d;
        }
        let name = Engine::temp_name(conn, d.kind, &d.name);
        Destination::new(d.kind, name)
    }

    pub(super) fn temp_owner(name: &str) -> Option<ConnId> {
        name.strip_prefix(TEMP_PREFIX)?
            .split('.')
            .next()?
            .parse()
            .ok()
    }

    /// Delivers the messages an engine call sent on to other queues (dead letters, expired
    /// messages, durable subscribers' copies): creates the queue if needed, journals the
    /// message if persistent, and dispatches. Every engine entry point that can produce such
    /// moves ends with it, so none is left behind.
    pub(super) fn settle(&self, core: &mut Core) {
        if core.moves.is_empty() {
            return; // the common case: no clock read
        }
        let now = now_ms();
        while let Some((dest, mut q)) = core.moves.pop_front() {
            if super::durable::is_reserved(dest.kind, &dest.name)
                && !self.durable_may_read(core, &dest, &q.message)
            {
                continue;
            }
            core.ensure_dest(&dest, &self.events, &self.security.acl(), None);
            core.journal(&dest, &mut q);
            let d = core.dests.get_mut(&dest).expect("just ensured");
            d.stats.enqueued += 1;
            d.stats.bytes_in += q.message.body.len() as u64;
            d.last_active_ms = now;
            d.queue.push_back(q);
            core.dispatch_queue(&dest, now, Scan::New);
        }
    }

    pub fn subscribe(&self, conn: ConnId, mut req: SubscribeRequest) -> Result<(), EngineError> {
        let mut guard = self.core.lock();
        let core = &mut *guard;
        let c = core
            .conns
            .get_mut(&conn)
            .ok_or(EngineError::ConnectionClosed)?;
        if req.pattern.kind.is_temp() {
            match Engine::temp_owner(&req.pattern.pattern) {
                Some(owner) if owner == conn => {}
                _ => return Err(EngineError::TempNotOwned(req.pattern.to_string())),
            }
        }
        let principal = c.principal.clone();
        let client_key = req.id.clone().unwrap_or_else(|| req.pattern.to_string());
        if c.subs.contains_key(&client_key) {
            return Err(EngineError::DuplicateSubscription(client_key));
        }
        // A bridge carries the demand of a whole fleet behind its peer (20 000 nodes there
        // refused the 10 001st here, and pings lost half their replies).
        let max_subs = match req.network {
            Some(_) => self.limits().max_bridge_subscriptions,
            None => self.limits().max_subscriptions_per_connection,
        };
        if c.subs.len() >= max_subs {
            return Err(EngineError::TooManySubscriptions(max_subs));
        }
        if let Some(p) = &principal {
            self.authorize_subscribe(core, conn, p, &req.pattern)?;
        }
        if let Some(d) = req.pattern.as_destination() {
            core.may_create(&d, principal.as_deref(), &self.limits())?;
        }
        // A durable subscription consumes its own queue, fed from the topic (see `durable`).
        let durable = match req.durable.take() {
            Some(name) => {
                let (key, queue) = self.open_durable(core, conn, &name, &req)?;
                req.pattern = DestPattern::for_destination(&queue);
                req.selector = None; // applied when the topic feeds the durable's queue
                Some(key)
            }
            None => None,
        };
        let c = core.conns.get_mut(&conn).expect("checked above");
        core.next_sub += 1;
        let key: SubKey = core.next_sub;
        c.subs.insert(client_key, key);
        let prefetch = req.prefetch.unwrap_or(if req.pattern.kind.is_queue() {
            self.settings().queue_prefetch
        } else {
            self.settings().topic_prefetch
        });
        let event = BrokerEvent::SubscriptionAdded {
            conn,
            id: req.id.clone(),
            destination: req.pattern.to_string(),
            selector: req.selector.as_ref().map(|s| s.source().to_string()),
            network: req.network.as_ref().map(|n| n.peer.to_string()),
        };
        let sub = Subscription {
            key,
            conn,
            id: req.id.map(Arc::from),
            pattern: req.pattern,
            selector: req.selector,
            ack: req.ack,
            prefetch: prefetch.max(1),
            unacked: Default::default(),
            next_seq: 0,
            attached: Vec::new(),
            delivered: 0,
            dropped: 0,
            principal,
            priority: req.priority,
            network: req.network,
            durable: durable.clone(),
            draining: false,
        };
        core.attach(sub, &self.events, &self.security.acl());
        if let Some(d) = durable.and_then(|d| core.durables.get_mut(&d)) {
            d.active = Some(key);
        }
        self.emit(event);
        core.dispatch_for_sub(key);
        self.settle(core);
        Ok(())
    }

    pub fn unsubscribe(&self, conn: ConnId, client_key: &str) -> Result<(), EngineError> {
        let mut guard = self.core.lock();
        let core = &mut *guard;
        let key = core.take_client_key(conn, client_key)?;
        self.remove_subscription(core, conn, key);
        Ok(())
    }

    /// Detaches a subscription; its unacknowledged queue messages go back to their queues
    /// (marked redelivered), as ActiveMQ does when a consumer closes.
    pub(super) fn remove_subscription(&self, core: &mut Core, conn: ConnId, key: SubKey) {
        if let Some(mut sub) = core.detach(key) {
            if let Some(d) = sub.durable.as_ref().and_then(|d| core.durables.get_mut(d)) {
                d.active = None;
            }
            let unacked: Vec<_> = sub.unacked.drain(..).collect();
            core.release_unacked(conn, &unacked);
            // A bridge's link going down says nothing about the messages: not a redelivery
            // that counts towards the dead-letter queue (a flapping WAN link would fill it).
            core.requeue(unacked, now_ms(), sub.network.is_none());
            // Forwarded copies only this subscription would have taken go back to their
            // sender (see `drain`).
            for d in &sub.attached {
                core.hand_back(d);
            }
            self.settle(core);
            self.emit(BrokerEvent::SubscriptionRemoved {
                conn,
                id: sub.id.as_deref().map(str::to_string),
                destination: sub.pattern.to_string(),
            });
        }
    }

    /// Called by a writer when its outbox, once full, has room again.
    pub fn outbox_ready(&self, conn: ConnId) {
        let mut guard = self.core.lock();
        let core = &mut *guard;
        let Some(c) = core.conns.get(&conn) else {
            return;
        };
        let keys: Vec<SubKey> = c.subs.values().copied().collect();
        for k in keys {
            core.dispatch_for_sub(k);
        }
        self.settle(core);
    }

    /// Removes a connection: its subscriptions go, its unacknowledged queue messages return to
    /// their queues marked redelivered, its temporary destinations are deleted.
    /// Ends every subscription of `conn` now (a DISCONNECT): before its RECEIPT goes out, so a
    /// client that reconnects the moment it has the receipt finds its durable subscription
    /// free, not "already active" on a connection still closing.
    pub fn unsubscribe_all(&self, conn: ConnId) {
        let mut guard = self.core.lock();
        let core = &mut *guard;
        let Some(c) = core.conns.get_mut(&conn) else {
            return;
        };
        let subs = std::mem::take(&mut c.subs);
        for (_, key) in subs {
            self.remove_subscription(core, conn, key);
        }
        self.settle(core);
    }

    pub fn close_connection(&self, conn: ConnId, reason: &str) {
        let mut guard = self.core.lock();
        let Some(c) = guard.conns.remove(&conn) else {
            return;
        };
        if c.info.is_in_process() {
            self.in_process.fetch_sub(1, Ordering::Relaxed);
        }
        c.outbox.close_with(None);
        // Others get the lock between batches: a connection with 10 000 subscriptions
        // closing held it for 80 ms in one go. Its subscriptions take nothing meanwhile (the
        // connection is gone, so every offer to them is refused).
        for (i, (_, key)) in c.subs.into_iter().enumerate() {
            self.remove_subscription(&mut guard, conn, key);
            if i % 256 == 255 {
                parking_lot::MutexGuard::bump(&mut guard);
            }
        }
        let core = &mut *guard;
        core.forget_temp_dests(conn);
        for d in &c.produced {
            if let Some(d) = core.dests.get_mut(d) {
                d.producers.remove(&conn);
            }
        }
        drop(guard);
        self.emit(BrokerEvent::ConnectionClosed {
            conn,
            reason: reason.to_string(),
        });
    }

    /// Forgets idle destinations and refreshes rates; the server calls it once a second.
    pub fn tick(&self) {
        let idle = std::time::Duration::from_secs(self.settings().idle_destination_secs);
        let mut guard = self.core.lock();
        let core = &mut *guard;
        core.sample_rates();
        let now_ms = now_ms();
        let mut gone = Vec::new();
        let mut expired = Vec::new();
        for (k, d) in core.dests.iter_mut() {
            let e = d.queue.take_expired(now_ms);
            if !e.is_empty() {
                d.stats.expired += e.len() as u64;
                expired.push((k.clone(), e));
            }
            if d.subscribers.is_empty()
                && d.queue.is_empty()
                && u128::from(now_ms.saturating_sub(d.last_active_ms)) > idle.as_millis()
            {
                gone.push(k.clone());
            }
        }
        for (k, e) in expired {
            for q in e {
                core.expire(&k, q);
            }
        }
        for k in gone {
            core.forget_dest(&k);
        }
        self.settle(core);
    }
}
