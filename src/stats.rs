//! The broker's live numbers as one serializable report — what the TUI shows — and the two
//! services that make a broker daemon observable and steerable from `shoal tui --attach`:
//! a report published every second on [`STATS_TOPIC`], and bridge controls taken on
//! [`CONTROL_QUEUE`]. Both destinations are `shoal.…`: with ACLs, only users granted them
//! (admins) can read the stats or act.

use crate::bridge::network::{BridgeControl, Network};
use crate::bridge::status::BridgeSnapshot;
use crate::broker::snapshot::DestinationSnapshot;
use crate::broker::BrokerHandle;
use crate::collective::membership::{CollectiveSummary, Membership, MembershipTracker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const STATS_TOPIC: &str = "/topic/shoal.stats.report";
/// SEND here with headers `shoal-bridge: NAME` and `shoal-action: reconnect|pause|resume`,
/// or `shoal-action: connections` (with `reply-to`, and optionally `shoal-sort` and
/// `shoal-top`) for a [`ConnectionsReply`], `connection` or `close-connection` with
/// `shoal-conn: ID`, or `reload` (a [`ReloadReply`]).
pub const CONTROL_QUEUE: &str = "/queue/shoal.control";
/// Connections a `connections` request gets when it does not say (`shoal-top`).
pub const DEFAULT_CONNECTIONS: usize = 1000;

/// The answer to `shoal-action: connections`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectionsReply {
    /// Client connections in all (the broker's own in-process ones not counted).
    pub total: usize,
    /// The first `shoal-top` by `shoal-sort`.
    pub connections: Vec<crate::broker::snapshot::ConnectionSnapshot>,
}
/// Destinations a report carries: the busiest (a broker may have 100 000).
pub const REPORT_DESTINATIONS: usize = 500;
/// Members a report lists per collective (all are counted in `collectives`).
pub const REPORT_MEMBERS: usize = 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BrokerSummary {
    pub name: String,
    pub version: String,
    pub uptime_secs: u64,
    pub connections: usize,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub rate_in: f64,
    pub rate_out: f64,
    /// Body bytes waiting in all queues.
    #[serde(default)]
    pub queued_bytes: u64,
    /// The message store's usage, when the broker has one.
    #[serde(default)]
    pub store: Option<crate::broker::store::StoreUsage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatsReport {
    /// Unix milliseconds when taken.
    pub at_ms: u64,
    pub broker: BrokerSummary,
    /// The busiest destinations (at most [`REPORT_DESTINATIONS`]), sorted by name.
    pub destinations: Vec<DestinationSnapshot>,
    /// How many destinations the broker has in all.
    #[serde(default)]
    pub destinations_total: usize,
    pub bridges: Vec<BridgeSnapshot>,
    /// Members per collective, at most [`REPORT_MEMBERS`] each (first by identity).
    pub membership: Membership,
    /// Every collective in numbers, whatever `membership` lists.
    #[serde(default)]
    pub collectives: BTreeMap<String, CollectiveSummary>,
    /// The last reload of the config (SIGHUP or `shoal reload`), if there was one.
    #[serde(default)]
    pub last_reload: Option<ReloadNote>,
}

/// What the last reload did, in a line (the TUI's event line shows it once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadNote {
    /// Unix milliseconds.
    pub at_ms: u64,
    pub ok: bool,
    pub summary: String,
}

impl ReloadNote {
    pub fn of(r: &ReloadReply) -> ReloadNote {
        let summary = match &r.error {
            Some(e) => format!("config reload refused, nothing changed: {e}"),
            None if r.changes.is_empty() => "config reloaded: nothing changed".to_string(),
            None => format!("config reloaded: {}", r.changes.join("; ")),
        };
        ReloadNote {
            at_ms: crate::broker::message::now_ms(),
            ok: r.ok,
            summary,
        }
    }
}

/// Where a report's parts come from.
#[derive(Clone)]
pub struct StatsSources {
    pub handle: BrokerHandle,
    /// The bridges' network, once the broker has bridges (a reload may add the first).
    pub network: Arc<arc_swap::ArcSwapOption<Network>>,
    pub members: Arc<MembershipTracker>,
    /// Where `shoal-action: reload` requests go (the daemon that owns the config).
    pub reloads: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// What the last reload did (set by the daemon, carried in every report).
    pub last_reload: Arc<arc_swap::ArcSwapOption<ReloadNote>>,
}

/// shoal's own destinations (`/topic/shoal.stats.report`, `/queue/shoal.control`, …):
/// `shoal status` and the TUI's traffic pane leave them out unless asked.
pub fn is_internal(destination: &str) -> bool {
    destination
        .split_once('/')
        .and_then(|(_, rest)| rest.split_once('/'))
        .is_some_and(|(_, name)| crate::bridge::filter::is_broker_local(name))
}

/// Replies that are ready after the request was taken: (reply-to, body).
type Later = tokio::sync::mpsc::UnboundedSender<(String, Vec<u8>)>;

/// A reload asked for over [`CONTROL_QUEUE`]; the answer goes back on `reply`.
pub struct ReloadRequest {
    /// Who asked ("USER from PEER"), for the log.
    pub by: String,
    pub reply: tokio::sync::oneshot::Sender<ReloadReply>,
}

/// The answer to `shoal-action: reload`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadReply {
    /// The new config is in force.
    pub ok: bool,
    /// What changed, one line each (users, ACL entries, bridges, revoked subscriptions).
    pub changes: Vec<String>,
    /// Keys that changed but take effect only at a restart.
    pub needs_restart: Vec<String>,
    /// Why nothing changed, when `ok` is false.
    pub error: Option<String>,
}

impl StatsSources {
    /// The bridges' network, if the broker has bridges.
    pub fn network(&self) -> Option<Arc<Network>> {
        self.network.load_full()
    }

    pub fn report(&self) -> StatsReport {
        let s = self.handle.overview(REPORT_DESTINATIONS);
        StatsReport {
            at_ms: crate::broker::message::now_ms(),
            broker: BrokerSummary {
                name: s.name,
                version: s.version.to_string(),
                uptime_secs: s.uptime.as_secs(),
                connections: s.connection_count,
                msgs_in: s.msgs_in,
                msgs_out: s.msgs_out,
                rate_in: s.rate_in,
                rate_out: s.rate_out,
                queued_bytes: s.queued_bytes as u64,
                store: s.store,
            },
            destinations_total: s.destination_count,
            destinations: s.destinations,
            bridges: self.network().map(|n| n.snapshot()).unwrap_or_default(),
            membership: self.members.snapshot_up_to(REPORT_MEMBERS),
            collectives: self.members.summary(),
            last_reload: self.last_reload.load_full().map(|n| (*n).clone()),
        }
    }

    /// Applies a bridge control (the TUI's actions, embedded or over [`CONTROL_QUEUE`]).
    pub fn control(&self, bridge: &str, what: BridgeControl) -> Result<usize, String> {
        match self.network() {
            Some(n) => n.control(bridge, what),
            None => Err("this broker has no bridges".into()),
        }
    }

    /// One request on [`CONTROL_QUEUE`].
    fn on_control(
        &self,
        m: &crate::broker::message::Message,
        publisher: &crate::broker::local::LocalClient,
        later: &Later,
    ) {
        let bridge = m.header("shoal-bridge").unwrap_or("");
        let what = match m.header("shoal-action") {
            Some("reconnect") => BridgeControl::Reconnect,
            Some("pause") => BridgeControl::Pause,
            Some("resume") => BridgeControl::Resume,
            Some("connections") => return self.answer_connections(m, publisher),
            Some("reload") => return self.answer_reload(m, later),
            Some(a @ ("connection" | "close-connection")) => {
                return self.answer_connection(a == "close-connection", m, publisher)
            }
            other => {
                tracing::warn!("control: unknown shoal-action {other:?}");
                return;
            }
        };
        if let Err(e) = self.control(bridge, what) {
            tracing::warn!("control: {e}");
        }
    }

    /// Replies to `reply-to` with the connections, or with `shoal-error` for a bad request.
    fn answer_connections(
        &self,
        m: &crate::broker::message::Message,
        publisher: &crate::broker::local::LocalClient,
    ) {
        let Some(reply_to) = m.header("reply-to") else {
            tracing::warn!("control: connections without reply-to");
            return;
        };
        let sort = m.header("shoal-sort").unwrap_or("msgs-in").parse();
        let top = m
            .header("shoal-top")
            .map_or(Ok(DEFAULT_CONNECTIONS), str::parse::<usize>);
        let mut headers = crate::stomp::Headers::new();
        let body = match (sort, top) {
            (Ok(sort), Ok(top)) => {
                let (total, connections) = self.handle.connections_top(sort, top);
                serde_json::to_vec(&ConnectionsReply { total, connections }).unwrap_or_default()
            }
            (Err(e), _) => {
                headers.push("shoal-error", &e);
                Vec::new()
            }
            (_, Err(e)) => {
                headers.push("shoal-error", &format!("shoal-top: {e}"));
                Vec::new()
            }
        };
        if let Err(e) = publisher.send(reply_to, headers, body) {
            tracing::debug!("control: reply to {reply_to}: {e}");
        }
    }

    /// Who sent a control request, as far as its `reply-to` tells.
    fn asked_by(&self, m: &crate::broker::message::Message) -> String {
        m.header("reply-to")
            .and_then(|r| self.handle.requester(r))
            .unwrap_or_else(|| "an operator".to_string())
    }

    /// `connection` (its detail) or `close-connection` for `shoal-conn: ID`; the reply is a
    /// [`ConnectionDetail`](crate::broker::inspect::ConnectionDetail) or an empty body, with
    /// `shoal-error` when there is no such connection.
    fn answer_connection(
        &self,
        close: bool,
        m: &crate::broker::message::Message,
        publisher: &crate::broker::local::LocalClient,
    ) {
        let id = m.header("shoal-conn").and_then(|c| c.parse().ok());
        let mut headers = crate::stomp::Headers::new();
        let mut body = Vec::new();
        match id {
            None => headers.push("shoal-error", "shoal-conn: a connection id is required"),
            Some(id) if close => {
                let by = format!("{} (shoal.control)", self.asked_by(m));
                if !self.handle.close_client(id, &by) {
                    headers.push("shoal-error", &format!("no client connection {id}"));
                }
            }
            Some(id) => match self.handle.connection_detail(id) {
                Some(d) => body = serde_json::to_vec(&d).unwrap_or_default(),
                None => headers.push("shoal-error", &format!("no client connection {id}")),
            },
        }
        match m.header("reply-to") {
            Some(reply_to) => {
                if let Err(e) = publisher.send(reply_to, headers, body) {
                    tracing::debug!("control: reply to {reply_to}: {e}");
                }
            }
            None => tracing::warn!("control: connection request without reply-to"),
        }
    }

    /// Asks the daemon to reload its config and replies to `reply-to` with what it did. The
    /// reload runs on the daemon's task; the answer is sent when it is done.
    fn answer_reload(&self, m: &crate::broker::message::Message, later: &Later) {
        let reply_to = m.header("reply-to").map(str::to_string);
        let by = self.asked_by(m);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let asked = match &self.reloads {
            Some(r) => r.try_send(ReloadRequest { by, reply: tx }).map_err(|e| match e {
                tokio::sync::mpsc::error::TrySendError::Full(_) => "a reload is already running",
                tokio::sync::mpsc::error::TrySendError::Closed(_) => "the broker is stopping",
            }),
            None => Err("this broker cannot reload: it was not started from a config file by `shoal broker`"),
        };
        let later = later.clone();
        tokio::spawn(async move {
            let reply = match asked {
                Ok(()) => rx.await.unwrap_or_else(|_| ReloadReply {
                    error: Some("the broker stopped before the reload finished".into()),
                    ..Default::default()
                }),
                Err(e) => ReloadReply {
                    error: Some(e.into()),
                    ..Default::default()
                },
            };
            if let Some(reply_to) = reply_to {
                let _ = later.send((reply_to, serde_json::to_vec(&reply).unwrap_or_default()));
            }
        });
    }

    /// Publishes a report every `every` and serves [`CONTROL_QUEUE`], until `stop`.
    pub fn serve(self, every: Duration, stop: CancellationToken) {
        let mut control = self.handle.connect_local("control");
        if let Err(e) = control.subscribe("control", CONTROL_QUEUE, None) {
            tracing::warn!("bridge control service not started: {e}");
        }
        let publisher = self.handle.connect_local("stats");
        let (later, mut replies) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        let body = serde_json::to_vec(&self.report()).unwrap_or_default();
                        if let Err(e) = publisher.send(STATS_TOPIC, crate::stomp::Headers::new(), body) {
                            tracing::debug!("stats: {e}");
                        }
                    }
                    r = control.recv() => {
                        let Some(r) = r else { return };
                        self.on_control(&r.message, &publisher, &later);
                    }
                    Some((reply_to, body)) = replies.recv() => {
                        if let Err(e) = publisher.send(&reply_to, crate::stomp::Headers::new(), body) {
                            tracing::debug!("control: reply to {reply_to}: {e}");
                        }
                    }
                }
            }
        });
    }
}
