//! What each bridge is doing, for the TUI's bridges pane, logs and tests: state, peer, RTT,
//! traffic each way with rates, backlog, demand, uptime, reconnects, last error.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum BridgeState {
    Connecting {
        uri: String,
    },
    Connected,
    /// Waiting before the next attempt.
    Backoff {
        retry_in_ms: u64,
    },
    /// Gave up or refused (bad credentials, a loop to itself…); retries continue in backoff.
    Failed {
        error: String,
    },
    Stopped,
}

impl BridgeState {
    pub fn label(&self) -> &'static str {
        match self {
            BridgeState::Connecting { .. } => "connecting",
            BridgeState::Connected => "connected",
            BridgeState::Backoff { .. } => "backoff",
            BridgeState::Failed { .. } => "failed",
            BridgeState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// A `[[bridge]]` of this broker, dialing out.
    Outbound,
    /// A peer's bridge that connected to our cluster listener.
    Inbound,
}

/// Counters one link updates as it works.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct Traffic {
    pub msgs_out: u64,
    pub bytes_out: u64,
    pub msgs_in: u64,
    pub bytes_in: u64,
    pub duplicates_dropped: u64,
}

#[derive(Debug)]
pub struct BridgeStatus {
    pub name: String,
    pub direction: Direction,
    pub duplex: bool,
    pub network_ttl: u32,
    pub remote_broker: Option<String>,
    pub uri: Option<String>,
    pub state: BridgeState,
    pub state_since: Instant,
    pub connected_since: Option<SystemTime>,
    pub rtt: Option<Duration>,
    pub traffic: Traffic,
    /// Queue messages sent and not yet receipted by the peer.
    pub in_flight: usize,
    pub demand_in: usize,
    pub demand_out: usize,
    pub reconnects: u64,
    pub last_error: Option<String>,
    pub standby: bool,
    /// Forwarding paused by an operator.
    pub paused: bool,
    /// Demand the peer told us about / we told the peer: `destination [selector]`.
    pub demand_in_keys: std::collections::BTreeSet<String>,
    pub demand_out_keys: std::collections::BTreeSet<String>,
    /// Recent state changes: (Unix seconds, what).
    history: std::collections::VecDeque<(u64, String)>,
    was_connected: bool,
    rates: Rates,
}

#[derive(Debug, Default)]
struct Rates {
    at: Option<Instant>,
    msgs_out: u64,
    msgs_in: u64,
    out_per_sec: f64,
    in_per_sec: f64,
}

pub type SharedStatus = Arc<Mutex<BridgeStatus>>;

impl BridgeStatus {
    pub fn new(name: &str, direction: Direction, duplex: bool, network_ttl: u32) -> SharedStatus {
        Arc::new(Mutex::new(BridgeStatus {
            name: name.to_string(),
            direction,
            duplex,
            network_ttl,
            remote_broker: None,
            uri: None,
            state: BridgeState::Stopped,
            state_since: Instant::now(),
            connected_since: None,
            rtt: None,
            traffic: Traffic::default(),
            in_flight: 0,
            demand_in: 0,
            demand_out: 0,
            reconnects: 0,
            last_error: None,
            standby: false,
            paused: false,
            demand_in_keys: Default::default(),
            demand_out_keys: Default::default(),
            history: std::collections::VecDeque::new(),
            was_connected: false,
            rates: Rates::default(),
        }))
    }

    /// Changes state and logs the change (silent bridges are the hard ones to debug).
    pub fn set_state(&mut self, state: BridgeState) {
        if self.state == state {
            return;
        }
        match &state {
            BridgeState::Failed { error } => {
                tracing::warn!(bridge = %self.name, remote = ?self.remote_broker, "bridge failed: {error}");
                self.last_error = Some(error.clone());
            }
            BridgeState::Connected => {
                if self.was_connected {
                    self.reconnects += 1;
                }
                self.was_connected = true;
                self.paused = false;
                tracing::info!(bridge = %self.name, remote = ?self.remote_broker, uri = ?self.uri, "bridge connected");
                self.connected_since = Some(SystemTime::now());
            }
            s => {
                tracing::info!(bridge = %self.name, remote = ?self.remote_broker, "bridge {}", s.label())
            }
        }
        let what = match &state {
            BridgeState::Connecting { uri } => format!("connecting to {uri}"),
            BridgeState::Backoff { retry_in_ms } => format!("backoff, retry in {retry_in_ms} ms"),
            BridgeState::Failed { error } => format!("failed: {error}"),
            s => s.label().to_string(),
        };
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((now, what));
        if state != BridgeState::Connected {
            self.connected_since = None;
        }
        self.state = state;
        self.state_since = Instant::now();
    }

    pub fn snapshot(&mut self) -> BridgeSnapshot {
        let now = Instant::now();
        let r = &mut self.rates;
        if let Some(at) = r.at {
            let secs = now.duration_since(at).as_secs_f64();
            if secs >= 0.5 {
                r.out_per_sec = (self.traffic.msgs_out - r.msgs_out) as f64 / secs;
                r.in_per_sec = (self.traffic.msgs_in - r.msgs_in) as f64 / secs;
                r.at = Some(now);
                r.msgs_out = self.traffic.msgs_out;
                r.msgs_in = self.traffic.msgs_in;
            }
        } else {
            r.at = Some(now);
            r.msgs_out = self.traffic.msgs_out;
            r.msgs_in = self.traffic.msgs_in;
        }
        BridgeSnapshot {
            name: self.name.clone(),
            direction: self.direction,
            duplex: self.duplex,
            network_ttl: self.network_ttl,
            remote_broker: self.remote_broker.clone(),
            uri: self.uri.clone(),
            state: self.state.clone(),
            uptime_secs: self
                .connected_since
                .and_then(|t| t.elapsed().ok())
                .map(|d| d.as_secs()),
            rtt_ms: self.rtt.map(|d| d.as_secs_f64() * 1000.0),
            traffic: self.traffic,
            out_per_sec: self.rates.out_per_sec,
            in_per_sec: self.rates.in_per_sec,
            in_flight: self.in_flight,
            demand_in: self.demand_in,
            demand_out: self.demand_out,
            reconnects: self.reconnects,
            last_error: self.last_error.clone(),
            standby: self.standby,
            paused: self.paused,
            demand_in_keys: self
                .demand_in_keys
                .iter()
                .take(DEMAND_SHOWN)
                .cloned()
                .collect(),
            demand_out_keys: self
                .demand_out_keys
                .iter()
                .take(DEMAND_SHOWN)
                .cloned()
                .collect(),
            history: self.history.iter().cloned().collect(),
        }
    }
}

/// Demand entries copied into a snapshot (the counts are exact; the lists are for reading).
const DEMAND_SHOWN: usize = 200;

/// State changes kept per bridge for the TUI's detail view.
const HISTORY: usize = 32;

/// How a demand entry is shown: `destination` or `destination [selector]`.
pub fn demand_label(destination: &str, selector: Option<&str>) -> String {
    match selector {
        Some(s) => format!("{destination} [{s}]"),
        None => destination.to_string(),
    }
}

/// A copy of one bridge's status, taken without holding anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BridgeSnapshot {
    pub name: String,
    pub direction: Direction,
    pub duplex: bool,
    pub network_ttl: u32,
    pub remote_broker: Option<String>,
    pub uri: Option<String>,
    pub state: BridgeState,
    pub uptime_secs: Option<u64>,
    pub rtt_ms: Option<f64>,
    pub traffic: Traffic,
    pub out_per_sec: f64,
    pub in_per_sec: f64,
    pub in_flight: usize,
    pub demand_in: usize,
    pub demand_out: usize,
    pub reconnects: u64,
    pub last_error: Option<String>,
    /// A second link to a peer that already has one: connected, but idle until needed.
    pub standby: bool,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub demand_in_keys: Vec<String>,
    #[serde(default)]
    pub demand_out_keys: Vec<String>,
    /// Recent state changes, oldest first: (Unix seconds, what).
    #[serde(default)]
    pub history: Vec<(u64, String)>,
}
