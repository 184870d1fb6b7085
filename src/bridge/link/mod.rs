//! One established link to a peer broker, after the handshake: tells the peer our demand,
//! turns the peer's demand into local network subscriptions, forwards what those receive,
//! publishes what the peer forwards, and keeps the link alive with timed heart-beats.
//!
//! Queue messages are acknowledged locally only when the peer's RECEIPT says the message was
//! consumed there (acknowledged by a consumer, or passed on and acknowledged further along);
//! if the link or the peer dies first, the engine returns them to their queue (marked
//! redelivered) for another consumer, and a peer that already holds a copy drops the resend
//! by its network-wide id.
//!
//! Here: the link's loop, operator commands and heart-beats; `demand_in`: the peer's demand
//! turned into network subscriptions; `traffic`: messages both ways and their receipts.

use super::dedup::SeenKey;
use super::demand::{DemandKey, LinkView};
use super::filter::Filters;
use super::network::{LinkCmd, Network};
use super::status::{BridgeState, SharedStatus};
use super::wire::PING_PREFIX;
use crate::broker::auth::Principal;
use crate::broker::local::{LocalClient, SubscribeOptions};
use crate::broker::message::{HOPS_HEADER, PATH_HEADER};
use crate::broker::publish::Publish;
use crate::broker::subscription::{AckMode, AckToken, NetworkSub};
use crate::stomp::codec::encode;
use crate::stomp::{Command, Decoder, Frame, FrameLimits, Version};
use bytes::{Buf, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

mod demand_in;
mod traffic;
use traffic::ConsumedReceipts;

/// How one side of a link behaves.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub peer: String,
    /// This side forwards messages to the peer (it dialed, or the link is duplex).
    pub forwards: bool,
    /// This side tells the peer its demand (it accepted, or the link is duplex).
    pub advertises: bool,
    pub message_ttl: u32,
    pub consumer_ttl: u32,
    pub filters: Filters,
    pub decrease_priority: bool,
    pub heartbeat: Duration,
    /// Nothing at all received for this long: the link is dead.
    pub timeout: Duration,
    pub window: usize,
    /// Consume queue demand only over the shortest of several routes.
    pub suppress_queues: bool,
    /// conduit_subscriptions: one demand per destination and selector (true), or, for
    /// queues, one per consumer behind it (false), so queue messages are shared among
    /// brokers by their numbers of consumers.
    pub conduit: bool,
    /// Whose rights inbound traffic has (the peer's authenticated user); `None`: trusted.
    pub principal: Option<Arc<Principal>>,
}

/// Bytes waiting to be written past which a link takes no more messages to forward (control
/// frames — receipts, demand, heart-beats — still go out): the bounded queue between the
/// link's reading and its writing.
pub const OUT_HIGH: usize = 1 << 20;

/// Subscription ids of a link's statically included destinations.
const STATIC_PREFIX: &str = "static-";

/// How long a link that ends waits for its socket to close.
pub const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Subscribes a bridge's network subscription: client acks and a window for queues (they are
/// acknowledged once the far side has them), auto for topics.
pub fn subscribe_network(
    local: &LocalClient,
    id: &str,
    destination: &str,
    selector: Option<&str>,
    window: usize,
    priority: i32,
    network: NetworkSub,
) -> Result<(), crate::broker::local::LocalError> {
    let queue = destination.starts_with("/queue/");
    local.subscribe_with(SubscribeOptions {
        id,
        destination,
        selector,
        ack: if queue {
            AckMode::ClientIndividual
        } else {
            AckMode::Auto
        },
        prefetch: queue.then_some(window),
        priority,
        network: Some(network),
    })
}

/// Frame limits on links: generous, as peers are brokers, not strangers.
pub fn link_decoder() -> Decoder {
    let mut d = Decoder::new(FrameLimits {
        max_frame_bytes: 64 << 20,
        max_body_bytes: 64 << 20,
        max_headers: 1024,
        max_header_line: 1 << 20,
    });
    d.version = Version::V1_2;
    d
}

struct Link {
    net: Arc<Network>,
    s: LinkSettings,
    local: LocalClient,
    status: SharedStatus,
    out: BytesMut,
    /// Peer demand id → its key and hop count.
    remote: HashMap<String, (DemandKey, u32)>,
    /// How many of the peer's demands have each key (several from a peer without conduit
    /// subscriptions: one per consumer).
    remote_keys: HashMap<DemandKey, usize>,
    /// Queue demand this link does not consume for (a shorter route does).
    held: std::collections::HashSet<String>,
    /// Forwarding paused by an operator: the peer's demand is remembered, not consumed for.
    paused: bool,
    /// Receipt number → the ack token of a forwarded queue message.
    pending: rustc_hash::FxHashMap<u64, AckToken>,
    /// Receipts owed to the peer, sent as one frame per write (`receipt-id: 1,2,3`): one
    /// RECEIPT per queue message was the bridge's largest per-message cost.
    receipts_out: Vec<u64>,
    next_receipt: u64,
    /// Queue messages the peer refused: given back to the queue a little later.
    refused: Vec<(Instant, AckToken)>,
    pings: HashMap<String, Instant>,
    last_heard: Instant,
    link_id: u64,
    /// Receipts for forwarded queue messages, owed once they are consumed here.
    consumed: Arc<ConsumedReceipts>,
    /// Forwarded messages read and not yet published (see `publish_batch`), and per message
    /// its receipt, its de-duplication key and whether its receipt waits for consumption.
    batch: Vec<Publish>,
    batch_meta: Vec<(Option<u64>, Option<SeenKey>, bool)>,
    /// Queue messages the peer re-sent that were still held here, since the last tick.
    resent_held: u64,
    /// Queue messages the peer handed back (its consumers left), since the last tick.
    handed_back: u64,
}

/// Runs the link until it fails or `stop` fires; returns why it ended.
pub async fn run<S>(
    net: Arc<Network>,
    stream: S,
    leftover: BytesMut,
    s: LinkSettings,
    status: SharedStatus,
    stop: CancellationToken,
) -> String
where
    S: AsyncRead + AsyncWrite + Send,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let local = net.handle.connect_local(&format!("bridge:{}", s.peer));
    if let Some(p) = &s.principal {
        local.set_principal(p.clone());
    }
    let view = LinkView {
        peer: s.peer.clone(),
        consumer_ttl: s.consumer_ttl,
        filters: s.filters.clone(),
        conduit: s.conduit,
    };
    let mut reg = net.register(view, s.advertises, status.clone());
    {
        let mut st = status.lock();
        st.standby = reg.standby;
        st.remote_broker = Some(s.peer.clone());
        st.set_state(BridgeState::Connected);
    }
    let mut link = Link {
        net: net.clone(),
        local,
        status,
        out: BytesMut::with_capacity(64 * 1024),
        remote: HashMap::new(),
        remote_keys: HashMap::new(),
        held: Default::default(),
        paused: false,
        pending: Default::default(),
        receipts_out: Vec::new(),
        next_receipt: 0,
        refused: Vec::new(),
        pings: HashMap::new(),
        last_heard: Instant::now(),
        link_id: reg.id,
        consumed: Default::default(),
        batch: Vec::new(),
        batch_meta: Vec::new(),
        resent_held: 0,
        handed_back: 0,
        s,
    };
    link.subscribe_statics();
    let consumed = link.consumed.clone();
    let mut decoder = link_decoder();
    let mut buf = leftover;
    let mut tick = tokio::time::interval(link.s.heartbeat);
    let why = 'run: loop {
        // Whole frames already here first.
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => {
                    if let Err(e) = link.on_frame(f) {
                        break 'run e;
                    }
                }
                Ok(None) => break,
                Err(e) => break 'run format!("bad frame from peer: {e}"),
            }
        }
        link.publish_batch();
        link.flush_receipts();
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        // Unbiased: under load (thousands of demand changes after a reconnect, a flood of
        // frames from the peer) no branch may starve another — a starved read or tick looks
        // like a dead link to one side or the other. Writing is one branch among the others,
        // never awaited outside: a link whose peer reads slowly (or is itself writing) keeps
        // reading, so two brokers writing to each other cannot deadlock.
        tokio::select! {
            _ = stop.cancelled() => break "stopped".to_string(),
            w = writer.write(&link.out), if !link.out.is_empty() => match w {
                Ok(0) => break "write to peer failed: connection closed".to_string(),
                Ok(n) => link.out.advance(n),
                Err(e) => break format!("write to peer failed: {e}"),
            },
            _ = consumed.wake.notified() => {
                let owed = std::mem::take(&mut *consumed.owed.lock());
                link.receipts_out.extend(owed);
                let returned = std::mem::take(&mut *consumed.returned.lock());
                for r in returned {
                    link.answer(Some(r), Some(traffic::HANDED_BACK.to_string()));
                }
            }
            cmd = reg.commands.recv() => match cmd {
                Some(LinkCmd::Close { reason }) => break reason,
                Some(c) => {
                    link.on_command(c);
                    // Demand changes come in bursts (a reconnect re-syncs them all).
                    for _ in 0..512 {
                        match reg.commands.try_recv() {
                            Ok(LinkCmd::Close { reason }) => break 'run reason,
                            Ok(c) => link.on_command(c),
                            Err(_) => break,
                        }
                    }
                }
                None => break "network shut down".to_string(),
            },
            r = reader.read_buf(&mut buf) => match r {
                Ok(0) => break "peer closed the link".to_string(),
                Ok(_) => link.last_heard = Instant::now(),
                Err(e) => break format!("read from peer failed: {e}"),
            },
            // What is not yet written is bounded: past OUT_HIGH the link stops taking
            // messages (they wait in the engine, under its flow control) until it drains.
            d = link.local.recv(), if link.out.len() < OUT_HIGH => match d {
                Some(d) => {
                    link.forward(d);
                    // Drain what else is waiting, in one write.
                    for _ in 0..512 {
                        if link.out.len() >= OUT_HIGH {
                            break;
                        }
                        match link.local.try_recv() {
                            Some(d) => link.forward(d),
                            None => break,
                        }
                    }
                }
                None => break "local side closed".to_string(),
            },
            _ = tick.tick() => {
                if let Err(e) = link.on_tick() {
                    break e;
                }
            }
        }
    };
    // Messages read before the frame that ended the link are still the peer's to deliver.
    link.publish_batch();
    // A peer that does not read must not hold the link's end up (a TLS close waits to write).
    let _ = tokio::time::timeout(CLOSE_WAIT, writer.shutdown()).await;
    net.unregister(link.link_id);
    {
        let mut st = link.status.lock();
        st.in_flight = 0;
        st.demand_in = 0;
        st.demand_out = 0;
        st.demand_in_keys.clear();
        st.demand_out_keys.clear();
    }
    why
}

impl Link {
    fn subscribe_statics(&mut self) {
        if !self.s.forwards {
            return;
        }
        for (i, p) in self.s.filters.statics.clone().iter().enumerate() {
            let r = subscribe_network(
                &self.local,
                &format!("{STATIC_PREFIX}{i}"),
                &p.to_string(),
                None,
                self.s.window,
                -1,
                self.network_sub(),
            );
            if let Err(e) = r {
                tracing::warn!(peer = %self.s.peer, "static destination {p}: {e}");
            }
        }
    }

    /// Tells the status what the peer wants from us (count, and the key added or removed —
    /// incrementally: a peer may have tens of thousands).
    fn publish_demand_in(&self, key: &DemandKey, added: bool) {
        let label = super::status::demand_label(&key.destination, key.selector.as_deref());
        let mut st = self.status.lock();
        st.demand_in = self.remote.len();
        if added {
            st.demand_in_keys.insert(label);
        } else {
            st.demand_in_keys.remove(&label);
        }
    }

    fn network_sub(&self) -> NetworkSub {
        NetworkSub {
            peer: Arc::from(self.s.peer.as_str()),
            message_ttl: self.s.message_ttl,
        }
    }

    fn on_command(&mut self, c: LinkCmd) {
        let f = match c {
            LinkCmd::Pause(pause) => {
                if pause == self.paused {
                    return;
                }
                let ids: Vec<(String, DemandKey, u32)> = self
                    .remote
                    .iter()
                    .filter(|(id, _)| !self.held.contains(*id))
                    .map(|(id, (k, h))| (id.clone(), k.clone(), *h))
                    .collect();
                if pause {
                    for (id, _, _) in &ids {
                        let _ = self.local.drain(&format!("d{id}"));
                    }
                    self.paused = true;
                } else {
                    self.paused = false;
                    for (id, key, hops) in ids {
                        if let Err(e) = self.subscribe_demand(&id, &key, hops) {
                            tracing::warn!(peer = %self.s.peer, "resuming {}: {e}", key.destination);
                        }
                    }
                }
                self.status.lock().paused = pause;
                return;
            }
            LinkCmd::Close { .. } => return,
            LinkCmd::Take { key } => {
                // Every demand for the key (one per consumer from a peer without conduit).
                let found: Vec<(String, u32)> = self
                    .remote
                    .iter()
                    .filter(|(id, (k, _))| *k == key && self.held.contains(*id))
                    .map(|(id, (_, h))| (id.clone(), *h))
                    .collect();
                for (id, hops) in found {
                    self.held.remove(&id);
                    if let Err(e) = self.subscribe_demand(&id, &key, hops) {
                        tracing::warn!(peer = %self.s.peer, "taking over {}: {e}", key.destination);
                    }
                }
                return;
            }
            LinkCmd::Hold { key } => {
                let found: Vec<String> = self
                    .remote
                    .iter()
                    .filter(|(id, (k, _))| *k == key && !self.held.contains(*id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in found {
                    let _ = self.local.drain(&format!("d{id}"));
                    self.held.insert(id);
                }
                return;
            }
            LinkCmd::Advertise { id, key, advert } => {
                // Demand tells who listens where (every node's `mc_identity` selector): a
                // peer learns only what its user could read itself.
                if let Some(p) = &self.s.principal {
                    if !self.net.handle.may_read(p, &key.destination) {
                        return;
                    }
                }
                let mut f = Frame::new(Command::Subscribe)
                    .header("id", id.to_string())
                    .header("destination", key.destination)
                    .header(HOPS_HEADER, advert.hops.to_string())
                    .header(PATH_HEADER, advert.path);
                if let Some(sel) = key.selector {
                    f = f.header("selector", sel);
                }
                f
            }
            LinkCmd::Withdraw { id } => {
                Frame::new(Command::Unsubscribe).header("id", id.to_string())
            }
        };
        encode(&f, Version::V1_2, &mut self.out);
    }

    fn on_frame(&mut self, f: Frame) -> Result<(), String> {
        if f.command != Command::Send {
            // What the peer sent before this frame is published before it is acted on.
            self.publish_batch();
        }
        match f.command {
            Command::Subscribe => self.on_demand(&f),
            Command::Unsubscribe => {
                if let Some(id) = f.get("id") {
                    if let Some((key, _)) = self.remote.remove(id) {
                        if !self.held.remove(id) {
                            let _ = self.local.drain(&format!("d{id}"));
                        }
                        let last = self.count_key(&key, false) == 0;
                        if last && self.suppresses(&key) {
                            self.net.queue_route_gone(self.link_id, &key);
                        }
                        self.net.remote_withdraw(self.link_id, &key);
                        if last {
                            self.publish_demand_in(&key, false);
                        }
                    }
                }
            }
            Command::Send => self.on_message(f),
            Command::Receipt => self.on_receipt(&f),
            Command::Nack => {
                if let Some(token) = f
                    .get("receipt-id")
                    .and_then(|r| r.parse().ok())
                    .and_then(|r: u64| self.pending.remove(&r))
                {
                    match f.get("message") {
                        Some(traffic::HANDED_BACK) => self.handed_back += 1,
                        why => {
                            tracing::warn!(peer = %self.s.peer, "peer refused a queue message: {}", why.unwrap_or(""))
                        }
                    }
                    self.refused.push((Instant::now(), token));
                }
            }
            Command::Begin => {
                if let Some(t) = f.get("transaction").filter(|t| t.starts_with(PING_PREFIX)) {
                    let pong = Frame::new(Command::Receipt).header("receipt-id", t);
                    encode(&pong, Version::V1_2, &mut self.out);
                }
            }
            Command::Error => {
                return Err(format!(
                    "peer sent ERROR: {}",
                    f.get("message").unwrap_or("")
                ));
            }
            c => return Err(format!("unexpected {c} on a bridge link")),
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Result<(), String> {
        let hb = self.s.heartbeat;
        if self.last_heard.elapsed() > self.s.timeout {
            return Err(format!(
                "nothing from {} for {:.1} s: link dead",
                self.s.peer,
                self.last_heard.elapsed().as_secs_f64()
            ));
        }
        if self.resent_held > 0 {
            tracing::info!(peer = %self.s.peer, held = self.net.held.len(),
                "peer re-sent {} queue messages still held here: their receipts wait until they are consumed here",
                std::mem::take(&mut self.resent_held));
        }
        if self.handed_back > 0 {
            tracing::info!(peer = %self.s.peer,
                "peer handed back {} queue messages (their consumers there left): they go where the demand is now",
                std::mem::take(&mut self.handed_back));
        }
        self.next_receipt += 1;
        let id = format!("{PING_PREFIX}{}", self.next_receipt);
        self.pings.retain(|_, t| t.elapsed() < hb * 10);
        self.pings.insert(id.clone(), Instant::now());
        encode(
            &Frame::new(Command::Begin).header("transaction", id),
            Version::V1_2,
            &mut self.out,
        );
        // Refused queue messages go back to their queue after a pause, not in a tight loop.
        let (due, wait): (Vec<_>, Vec<_>) =
            self.refused.drain(..).partition(|(t, _)| t.elapsed() >= hb);
        self.refused = wait;
        for (_, token) in due {
            let _ = self.local.ack(token, true);
        }
        Ok(())
    }
}
