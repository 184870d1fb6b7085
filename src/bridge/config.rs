//! `[cluster]` and `[[bridge]]`: ActiveMQ's networkConnector, in TOML.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const DEFAULT_CLUSTER_LISTEN: &str = "127.0.0.1:6166";

/// `[cluster]`: where peers' bridges connect (separate from the client port).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `HOST:PORT` or `stomp+ssl://HOST:PORT` (TLS with the `[tls]` table). Default
    /// 127.0.0.1:6166 — loopback until you say otherwise.
    #[serde(default = "default_cluster_listen")]
    pub listen: Vec<String>,
    /// The users who may connect here as a bridge (by password or by a client certificate
    /// mapped to them). Any other user — a QA admin, say — is refused, however it
    /// authenticates. Unset: nobody on a broker with `[[user]]`s, everyone on one without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

/// Who may connect on the cluster port as a bridge (`[cluster] users`).
#[derive(Debug, Clone, Default)]
pub enum BridgeUsers {
    /// A broker without users: everyone is anonymous, bridges too.
    #[default]
    Anyone,
    /// Only these users; none when the list is empty.
    Only(std::collections::HashSet<String>),
}

impl BridgeUsers {
    pub fn allows(&self, user: &str) -> bool {
        match self {
            BridgeUsers::Anyone => true,
            BridgeUsers::Only(users) => users.contains(user),
        }
    }
}

fn default_cluster_listen() -> Vec<String> {
    vec![DEFAULT_CLUSTER_LISTEN.to_string()]
}

/// TLS for an outgoing bridge.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeTls {
    /// CA that signs the peer's certificate.
    pub ca: PathBuf,
    /// Client certificate and key, when the peer maps certificates to users.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name to verify in the peer's certificate; default: the host from the URI.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// What is at the other end of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BridgeKind {
    /// Another shoal broker: demand forwarding, TTLs, de-duplication (the link protocol).
    #[default]
    Shoal,
    /// Any STOMP broker (ActiveMQ, RabbitMQ): shoal connects as a plain client and moves the
    /// statically included destinations (topics both ways, queues outward) and the inbound
    /// ones (inward).
    Stomp,
}

/// One `[[bridge]]`: an outgoing link to a peer broker.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    pub name: String,
    #[serde(default)]
    pub kind: BridgeKind,
    /// `kind = "stomp"`: destinations brought in from the foreign broker (queues, e.g.
    /// MCollective reply queues `/queue/mcollective.reply.>`, or topics).
    #[serde(default)]
    pub inbound_destinations: Vec<String>,
    /// `kind = "stomp"`: the STOMP `host` header (RabbitMQ's vhost, e.g. "/").
    #[serde(default)]
    pub vhost: Option<String>,
    /// `static:(tcp://mqbroker02:6166,tcp://backup:6166)`: tried in order; or one `tcp://…`.
    /// `ssl://` entries need `tls`.
    pub uri: String,
    /// One outbound connection carries both directions (a broker behind a firewall dials out).
    #[serde(default)]
    pub duplex: bool,
    /// Bridges a message or a subscription may cross (ActiveMQ's networkTTL); `message_ttl`
    /// and `consumer_ttl` override it separately.
    #[serde(default = "one")]
    pub network_ttl: u32,
    #[serde(default)]
    pub message_ttl: Option<u32>,
    #[serde(default)]
    pub consumer_ttl: Option<u32>,
    /// Collapse the consumers of one destination and selector into one network subscription
    /// (true), or, for queues, tell each consumer's demand (false) so queue messages are
    /// shared among brokers by their numbers of consumers. Topics are always collapsed (one
    /// copy per consumer would only be dropped as duplicates). The dialing side's setting
    /// holds for both directions of the link.
    #[serde(default = "yes")]
    pub conduit_subscriptions: bool,
    /// A queue reachable by several routes is consumed over the shortest one only (the
    /// others take over when it goes).
    #[serde(default)]
    pub suppress_duplicate_queue_subscriptions: bool,
    /// Remote consumers rank below local ones by one more step per bridge crossed (they always
    /// rank below local consumers).
    #[serde(default)]
    pub decrease_network_consumer_priority: bool,
    /// Only demand for these destinations crosses (empty: all). ActiveMQ-style patterns,
    /// `topic://mcollective.>` or `/topic/mcollective.>`.
    #[serde(default)]
    pub dynamically_included_destinations: Vec<String>,
    #[serde(default)]
    pub excluded_destinations: Vec<String>,
    /// Forwarded whether or not the peer has consumers.
    #[serde(default)]
    pub statically_included_destinations: Vec<String>,
    /// Credentials for the peer's cluster listener.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: Option<BridgeTls>,
    /// Reconnect back-off: starts here, doubles (with jitter) up to the max. While it waits,
    /// the bridge probes its first peer (a TCP connect every half second) and dials at once
    /// when the path comes back.
    #[serde(default = "initial_delay")]
    pub initial_reconnect_delay_ms: u64,
    #[serde(default = "max_delay")]
    pub max_reconnect_delay_ms: u64,
    /// Heart-beat period: pings (and the round-trip time) on a quiet link.
    #[serde(default = "heartbeat")]
    pub heartbeat_ms: u64,
    /// A link on which nothing at all arrives for this long is dead (at least three
    /// heart-beats). A WAN stall shorter than this costs nothing; a longer one, a reconnect.
    /// Both ends of the link use the dialer's value.
    #[serde(default = "link_timeout")]
    pub link_timeout_ms: u64,
    /// Queue messages in flight on the link awaiting the peer's receipt.
    #[serde(default = "window")]
    pub queue_window: usize,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn initial_delay() -> u64 {
    100
}
fn max_delay() -> u64 {
    10_000
}
fn heartbeat() -> u64 {
    1_000
}
fn link_timeout() -> u64 {
    30_000
}
fn window() -> usize {
    1_000
}

impl BridgeConfig {
    pub fn message_ttl(&self) -> u32 {
        self.message_ttl.unwrap_or(self.network_ttl)
    }

    pub fn consumer_ttl(&self) -> u32 {
        self.consumer_ttl.unwrap_or(self.network_ttl)
    }

    /// `link_timeout_ms`, never under three heart-beats.
    pub fn link_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.link_timeout_ms.max(3 * self.heartbeat_ms.max(50)))
    }
}

/// A peer address from a bridge URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// `static:(tcp://a:6166,ssl://b:6166)`, `static://(…)` (ActiveMQ accepts both) or a single
/// `tcp://a:6166`.
pub fn parse_uri(uri: &str) -> Result<Vec<PeerAddr>, String> {
    let inner = uri
        .strip_prefix("static:")
        .map(|r| r.trim_start_matches("//"))
        .map(|r| r.trim().trim_start_matches('(').trim_end_matches(')'))
        .unwrap_or(uri);
    let mut out = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (tls, rest) = if let Some(r) = part
            .strip_prefix("tcp://")
            .or_else(|| part.strip_prefix("nio://"))
        {
            (false, r)
        } else if let Some(r) = part
            .strip_prefix("ssl://")
            .or_else(|| part.strip_prefix("stomp+ssl://"))
        {
            (true, r)
        } else {
            return Err(format!(
                "{part:?}: expected tcp://HOST:PORT or ssl://HOST:PORT"
            ));
        };
        let rest = rest.split('?').next().unwrap_or(rest).trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{part:?}: missing :PORT"))?;
        let port = port.parse().map_err(|_| format!("{part:?}: bad port"))?;
        out.push(PeerAddr {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
        });
    }
    if out.is_empty() {
        return Err(format!("{uri:?}: no peer address"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let a = parse_uri("static:(tcp://mqbroker02:6166,ssl://backup:7000)").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].to_string(), "tcp://mqbroker02:6166");
        assert!(a[1].tls && a[1].port == 7000);
        assert_eq!(parse_uri("static://(tcp://h:1)").unwrap()[0].host, "h");
        assert_eq!(parse_uri("tcp://127.0.0.1:6166?x=1").unwrap()[0].port, 6166);
        assert!(parse_uri("static:()").is_err());
        assert!(parse_uri("http://x:1").is_err());
        assert!(parse_uri("tcp://x").is_err());
    }
}
