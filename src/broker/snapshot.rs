//! Read-only copies of engine state for the TUI, bridges, tests and the stats stream.
//! Taking one locks the engine briefly and copies; readers then take their time without it.

use super::destination::Destination;
use super::durable::DurableSnapshot;
use super::engine::Engine;
use super::state::{Core, Dest, DestStats};
use super::store::StoreUsage;
use super::subscription::ConnId;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Serialize)]
pub struct BrokerSnapshot {
    pub name: String,
    pub version: &'static str,
    pub uptime: Duration,
    pub msgs_in: u64,
    pub msgs_out: u64,
    /// Body bytes received and delivered.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rate_in: f64,
    pub rate_out: f64,
    /// Every connection (empty in an `overview`, which counts them only).
    pub connections: Vec<ConnectionSnapshot>,
    pub connection_count: usize,
    /// Subscriptions of every connection (bridges' and in-process ones included).
    pub subscription_count: usize,
    /// Every destination, or in an `overview` the busiest (sorted by name either way).
    pub destinations: Vec<DestinationSnapshot>,
    pub destination_count: usize,
    /// Body bytes waiting in all queues, and the broker's limit for them.
    pub queued_bytes: usize,
    /// Messages waiting in all queues.
    pub queued_messages: usize,
    pub max_memory_bytes: usize,
    /// The message store's usage (`None`: no store).
    pub store: Option<StoreUsage>,
    pub durables: Vec<DurableSnapshot>,
}

/// One connection as `shoal connections` and the TUI list it. Its fields are the stable JSON
/// of `shoal connections --json` (docs/operations.md).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ConnectionSnapshot {
    pub id: ConnId,
    pub peer: String,
    pub login: Option<String>,
    pub version: Option<String>,
    /// Seconds since the epoch.
    pub since: u64,
    pub subscriptions: usize,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub bytes_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    /// Topic messages dropped because the connection did not keep up.
    pub dropped: u64,
    /// Deliveries waiting in the connection's outbox.
    pub pending: usize,
    /// Body bytes delivered and not yet acknowledged.
    #[serde(default)]
    pub unacked_bytes: usize,
    /// The heart-beat interval the broker sends at (0: none).
    #[serde(default)]
    pub heartbeat_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct DestinationSnapshot {
    /// `/queue/NAME`, `/topic/NAME`, …
    pub destination: String,
    pub is_queue: bool,
    pub consumers: usize,
    pub producers: usize,
    pub enqueued: u64,
    pub dequeued: u64,
    pub dispatched: u64,
    pub expired: u64,
    pub dropped: u64,
    /// Messages waiting in the queue (not yet delivered).
    pub pending: usize,
    /// Delivered but not yet acknowledged.
    pub in_flight: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Queued messages dispatch looked at (see `DestStats::examined`).
    #[serde(default)]
    pub examined: u64,
    pub rate_in: f64,
    pub rate_out: f64,
}

/// One subscription as bridges see it.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionInfo {
    pub conn: ConnId,
    /// The client's id, or the destination for STOMP 1.0 subscriptions without one.
    pub client_key: String,
    pub destination: String,
    pub selector: Option<String>,
    /// A bridge's own subscription: the peer broker whose demand it carries.
    pub network: Option<String>,
}

impl Engine {
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        Engine::subscriptions_of(&self.core.lock())
    }

    pub(super) fn subscriptions_of(core: &Core) -> Vec<SubscriptionInfo> {
        core.subs
            .values()
            .map(|s| SubscriptionInfo {
                conn: s.conn,
                client_key: s
                    .id
                    .as_deref()
                    .map(str::to_string)
                    .unwrap_or_else(|| s.pattern.to_string()),
                destination: s.pattern.to_string(),
                selector: s.selector.as_ref().map(|x| x.source().to_string()),
                network: s.network.as_ref().map(|n| n.peer.to_string()),
            })
            .collect()
    }

    pub fn snapshot(&self) -> BrokerSnapshot {
        let core = self.core.lock();
        let mut connections: Vec<ConnectionSnapshot> = core
            .conns
            .iter()
            .map(|(id, c)| connection_snapshot(*id, c))
            .collect();
        connections.sort_by_key(|c| c.id);
        self.assemble(&core, connections, core.dests.iter())
    }

    /// The `top` connections by `sort` (largest first; oldest first for `Since`), and how many
    /// there are. Only those `top` are copied under the lock; the broker's own in-process
    /// clients are left out.
    pub fn connections_top(&self, sort: ConnSort, top: usize) -> (usize, Vec<ConnectionSnapshot>) {
        let core = self.core.lock();
        let mut keyed: Vec<(u64, ConnId)> = core
            .conns
            .iter()
            .filter(|(_, c)| !c.info.is_in_process())
            .map(|(id, c)| (sort.key(c), *id))
            .collect();
        let total = keyed.len();
        let order = |a: &(u64, ConnId), b: &(u64, ConnId)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if keyed.len() > top {
            keyed.select_nth_unstable_by(top, order);
            keyed.truncate(top);
        }
        keyed.sort_by(order);
        let picked = keyed
            .into_iter()
            .filter_map(|(_, id)| core.conns.get(&id).map(|c| connection_snapshot(id, c)))
            .collect();
        (total, picked)
    }

    /// What the stats stream needs every second, at fleet scale: the totals, connections only
    /// counted, and the `top` busiest destinations (by message rate, then depth) — not a copy
    /// of 10 000 connections and 100 000 destinations under the engine lock.
    pub fn overview(&self, top: usize) -> BrokerSnapshot {
        let core = self.core.lock();
        let mut busiest: Vec<(&Destination, &Dest)> = core.dests.iter().collect();
        keep_top(&mut busiest, top, |d| {
            (d.rate_in + d.rate_out, d.queue.len() as f64)
        });
        self.assemble(&core, Vec::new(), busiest.into_iter())
    }

    /// Like `overview`, for monitoring: the `top` busiest destinations and the `top` deepest
    /// (a stuck queue that nobody sends to any more is the one to alert on), at most `2 × top`.
    pub fn overview_busiest_and_deepest(&self, top: usize) -> BrokerSnapshot {
        let core = self.core.lock();
        let mut busiest: Vec<(&Destination, &Dest)> = core.dests.iter().collect();
        let mut deepest = busiest.clone();
        keep_top(&mut busiest, top, |d| (d.rate_in + d.rate_out, 0.0));
        keep_top(&mut deepest, top, |d| (d.queue.len() as f64, 0.0));
        let picked: std::collections::BTreeMap<&Destination, &Dest> =
            busiest.into_iter().chain(deepest).collect();
        self.assemble(&core, Vec::new(), picked.into_iter())
    }

    /// A snapshot of `connections` and the destinations `picked`, with the totals (and the
    /// counts of all connections and destinations) from `core`.
    fn assemble<'a>(
        &self,
        core: &Core,
        connections: Vec<ConnectionSnapshot>,
        picked: impl Iterator<Item = (&'a Destination, &'a Dest)>,
    ) -> BrokerSnapshot {
        let mut destinations: Vec<DestinationSnapshot> = picked
            .map(|(d, dest)| destination_snapshot(core, d, dest))
            .collect();
        destinations.sort_by(|a, b| a.destination.cmp(&b.destination));
        BrokerSnapshot {
            name: self.name().to_string(),
            version: env!("CARGO_PKG_VERSION"),
            uptime: self.started.elapsed(),
            msgs_in: core.totals.msgs_in,
            msgs_out: core.totals.msgs_out,
            bytes_in: core.totals.bytes_in,
            bytes_out: core.totals.bytes_out,
            rate_in: core.totals.rate_in,
            rate_out: core.totals.rate_out,
            connections,
            connection_count: core.conns.len(),
            subscription_count: core.subs.len(),
            destinations,
            destination_count: core.dests.len(),
            queued_bytes: core
                .queued_total
                .bytes
                .load(std::sync::atomic::Ordering::Relaxed),
            queued_messages: core
                .queued_total
                .messages
                .load(std::sync::atomic::Ordering::Relaxed),
            max_memory_bytes: self.limits().max_memory_bytes,
            store: self.store.as_ref().map(|s| s.usage()),
            durables: Engine::durables_of(core),
        }
    }
}

/// What `connections_top` ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnSort {
    MsgsIn,
    MsgsOut,
    BytesIn,
    BytesOut,
    Pending,
    Unacked,
    Dropped,
    Subscriptions,
    /// Oldest first.
    Since,
}

impl ConnSort {
    pub const NAMES: [&'static str; 9] = [
        "msgs-in",
        "msgs-out",
        "bytes-in",
        "bytes-out",
        "pending",
        "unacked",
        "dropped",
        "subscriptions",
        "since",
    ];
    const ALL: [ConnSort; 9] = [
        ConnSort::MsgsIn,
        ConnSort::MsgsOut,
        ConnSort::BytesIn,
        ConnSort::BytesOut,
        ConnSort::Pending,
        ConnSort::Unacked,
        ConnSort::Dropped,
        ConnSort::Subscriptions,
        ConnSort::Since,
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Larger ranks first.
    fn key(self, c: &super::state::Conn) -> u64 {
        match self {
            ConnSort::MsgsIn => c.msgs_in,
            ConnSort::MsgsOut => c.msgs_out,
            ConnSort::BytesIn => c.bytes_in,
            ConnSort::BytesOut => c.bytes_out,
            ConnSort::Pending => c.outbox.len() as u64,
            ConnSort::Unacked => c.unacked_bytes as u64,
            ConnSort::Dropped => c.dropped,
            ConnSort::Subscriptions => c.subs.len() as u64,
            ConnSort::Since => u64::MAX - epoch_secs(c.info.since),
        }
    }
}

impl std::str::FromStr for ConnSort {
    type Err = String;

    fn from_str(s: &str) -> Result<ConnSort, String> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| format!("unknown sort {s:?} (one of {})", Self::NAMES.join(", ")))
    }
}

pub(super) fn connection_snapshot(id: ConnId, c: &super::state::Conn) -> ConnectionSnapshot {
    ConnectionSnapshot {
        id,
        peer: c.info.peer.clone(),
        login: c.info.login.clone(),
        version: c.info.version.map(|v| v.to_string()),
        since: epoch_secs(c.info.since),
        subscriptions: c.subs.len(),
        msgs_in: c.msgs_in,
        msgs_out: c.msgs_out,
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
        dropped: c.dropped,
        pending: c.outbox.len(),
        unacked_bytes: c.unacked_bytes,
        heartbeat_ms: c.outbox.heartbeat_ms(),
    }
}

/// Keeps the `top` entries of `v` with the highest `key` (in no particular order): O(n).
fn keep_top(v: &mut Vec<(&Destination, &Dest)>, top: usize, key: impl Fn(&Dest) -> (f64, f64)) {
    if v.len() > top {
        v.select_nth_unstable_by(top, |a, b| {
            key(b.1)
                .partial_cmp(&key(a.1))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        v.truncate(top);
    }
}

fn destination_snapshot(core: &Core, d: &Destination, dest: &Dest) -> DestinationSnapshot {
    let in_flight = dest
        .subscribers
        .iter()
        .filter_map(|k| core.subs.get(k))
        .map(|s| s.unacked.iter().filter(|u| u.queue() == Some(d)).count())
        .sum();
    let DestStats {
        enqueued,
        dequeued,
        dispatched,
        expired,
        dropped,
        bytes_in,
        bytes_out,
        examined,
    } = dest.stats;
    DestinationSnapshot {
        destination: d.to_string(),
        is_queue: d.kind.is_queue(),
        consumers: dest.subscribers.len(),
        producers: dest.producers.len(),
        enqueued,
        dequeued,
        dispatched,
        expired,
        dropped,
        pending: dest.queue.len(),
        in_flight,
        bytes_in,
        bytes_out,
        examined,
        rate_in: dest.rate_in,
        rate_out: dest.rate_out,
    }
}

impl BrokerSnapshot {
    pub fn destination(&self, name: &str) -> Option<&DestinationSnapshot> {
        self.destinations.iter().find(|d| d.destination == name)
    }
}

/// Seconds since the epoch, for snapshot timestamps.
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
