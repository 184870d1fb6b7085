//! `shoal node`: an MCollective node that joins a broker (any of a failover list), subscribes
//! the way mcollectived does — so brokers, and shoal's membership view, see it as a member —
//! and answers `discovery` and `rpcutil` requests that pass its filter.

use super::agents::{self, NodeContext, NodeStats};
use super::connector::Connector;
use super::filter::NodeFacts;
use super::mco_config::PoolBroker;
use super::message::{now_secs, ProtocolError, Reply, Request};
use super::security::SecurityProvider;
use crate::client::tls::ClientTls;
use crate::client::{self, ClientError, ConnectOptions};
use crate::stomp::{Command, Frame};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Everything one node needs.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub identity: String,
    pub main_collective: String,
    /// All collectives, the main one included.
    pub collectives: Vec<String>,
    pub brokers: Vec<PoolBroker>,
    pub vhost: Option<String>,
    pub connector: Connector,
    pub facts: BTreeMap<String, String>,
    pub classes: Vec<String>,
    /// The security plugin (psk or ssl), shared by every simulated node.
    pub security: Arc<dyn SecurityProvider>,
    pub config_file: String,
}

/// Reads a YAML fact file into flat `name → string` facts (nested maps as `a.b`), as
/// MCollective's yaml fact source stringifies them.
pub fn load_facts(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    flatten("", &doc, &mut out);
    Ok(out)
}

fn flatten(prefix: &str, v: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
    use serde_yaml::Value as Y;
    let scalar = |v: &Y| match v {
        Y::String(s) => Some(s.clone()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Number(n) => Some(n.to_string()),
        Y::Null => Some(String::new()),
        _ => None,
    };
    match v {
        Y::Mapping(m) => {
            for (k, v) in m {
                let Some(k) = scalar(k) else { continue };
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Y::Sequence(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar).collect();
            out.insert(prefix.to_string(), parts.join(","));
        }
        other => {
            if let Some(s) = scalar(other) {
                if !prefix.is_empty() {
                    out.insert(prefix.to_string(), s);
                }
            }
        }
    }
}

/// A classes file: one class per line.
pub fn load_classes(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one node until `stop`: connects (failover, backing off up to 30 s between rounds),
/// serves, and reconnects whenever the broker goes away or sends an ERROR.
pub async fn run_node(settings: Arc<NodeSettings>, stop: CancellationToken) {
    let node = Node::new(settings);
    let mut delay = FIRST_RETRY;
    for attempt in 0u64.. {
        for b in &node.settings.brokers {
            if stop.is_cancelled() {
                return;
            }
            let began = std::time::Instant::now();
            match node.serve(b, &stop).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(node = %node.settings.identity, broker = %b.addr(), "{e}");
                }
            }
            // It was connected a while: a broker restart, not a broker that stays down.
            if began.elapsed() > Duration::from_secs(10) {
                delay = FIRST_RETRY;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(jittered(delay, &node.settings.identity, attempt)) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

const FIRST_RETRY: Duration = Duration::from_millis(100);

/// `delay` spread over 50–150 %, differently for each node and attempt: a fleet whose broker
/// restarted comes back spread out, not in one wave per back-off step.
fn jittered(delay: Duration, identity: &str, attempt: u64) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (identity, attempt).hash(&mut h);
    let frac = (h.finish() % 1000) as f64 / 1000.0;
    delay.mul_f64(0.5 + frac)
}

struct Node {
    settings: Arc<NodeSettings>,
    facts: NodeFacts,
    stats: NodeStats,
    started: i64,
}

impl Node {
    fn new(settings: Arc<NodeSettings>) -> Node {
        Node {
            facts: NodeFacts {
                identity: settings.identity.clone(),
                facts: settings.facts.clone(),
                classes: settings.classes.clone(),
                agents: agents::AGENTS.iter().map(|s| s.to_string()).collect(),
            },
            stats: NodeStats::default(),
            started: now_secs(),
            settings,
        }
    }

    /// One connection's life: `Ok` only when stopped.
    async fn serve(&self, b: &PoolBroker, stop: &CancellationToken) -> Result<(), ClientError> {
        let s = &self.settings;
        let opts = ConnectOptions {
            login: b.user.clone(),
            passcode: b.password.clone(),
            host: s.vhost.clone(),
            heartbeat: (20_000, 0),
            tls: b.tls.as_ref().map(ClientTls::load).transpose()?,
        };
        let (mut reader, mut writer, connected) = client::connect(&b.addr(), &opts).await?;
        let beat = connected
            .get("heart-beat")
            .and_then(|h| h.split(',').nth(1))
            .and_then(|y| y.trim().parse::<u64>().ok())
            .filter(|y| *y > 0)
            .map(|y| Duration::from_millis(y.max(20_000)));
        let mut frames = Vec::new();
        for c in &s.collectives {
            let mut subs = vec![s.connector.directed_subscription(c, &s.identity)];
            subs.extend(
                agents::AGENTS
                    .iter()
                    .map(|a| s.connector.broadcast_subscription(c, a)),
            );
            for sub in subs {
                let mut f = Frame::new(Command::Subscribe)
                    .header("destination", sub.destination)
                    .header("id", sub.id)
                    .header("ack", "auto");
                if let Some(sel) = sub.selector {
                    f = f.header("selector", sel);
                }
                frames.push(f);
            }
        }
        // A RECEIPT for the last SUBSCRIBE: "connected" then means the broker holds every
        // subscription, so requests sent from then on reach this node.
        let probe = format!("subscribed-{}", s.identity);
        if let Some(last) = frames.pop() {
            frames.push(last.header("receipt", probe.clone()));
        }
        for f in &frames {
            writer.push(f);
        }
        writer.flush().await?;
        loop {
            let f = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                f = tokio::time::timeout(Duration::from_secs(30), reader.next_message()) => f
                    .map_err(|_| ClientError::Timeout("the RECEIPT for the node's subscriptions"))??,
            };
            match f.command {
                Command::Receipt if f.get("receipt-id") == Some(probe.as_str()) => break,
                Command::Message => {
                    if let Some(reply) = self.on_message(&f) {
                        writer.push(&reply);
                        writer.flush().await?;
                    }
                }
                _ => {}
            }
        }
        tracing::info!(node = %s.identity, broker = %b.addr(), collectives = ?s.collectives, "node connected");
        let mut ticker = tokio::time::interval(beat.unwrap_or(Duration::from_secs(3600)));
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let _ = writer.send(&Frame::new(Command::Disconnect)).await;
                    return Ok(());
                }
                _ = ticker.tick(), if beat.is_some() => {
                    writer.push_bytes(b"\n");
                    writer.flush().await?;
                }
                f = reader.next_message() => {
                    let f = f?;
                    if f.command == Command::Message {
                        if let Some(reply) = self.on_message(&f) {
                            writer.push(&reply);
                            writer.flush().await?;
                        }
                    }
                }
            }
        }
    }

    /// A request in, maybe a reply out.
    fn on_message(&self, f: &Frame) -> Option<Frame> {
        let s = &self.settings;
        NodeStats::bump(&self.stats.total);
        if tracing::enabled!(tracing::Level::DEBUG) {
            if let Some(what) = super::message::describe(&f.body) {
                tracing::debug!(node = %s.identity, "{what}");
            }
        }
        let sender = || super::message::sender_of(&f.body);
        let req = match Request::decode(&f.body, s.security.as_ref()) {
            Ok(r) => r,
            Err(ProtocolError::Security(e)) => {
                NodeStats::bump(&self.stats.unvalidated);
                tracing::warn!(node = %s.identity, sender = %sender(), destination = f.get("destination").unwrap_or(""),
                    "refused request: {e}");
                return None;
            }
            Err(e @ ProtocolError::Expired { .. }) => {
                NodeStats::bump(&self.stats.ttlexpired);
                tracing::warn!(node = %s.identity, "ignored request: {e}");
                return None;
            }
            Err(e) => {
                tracing::warn!(node = %s.identity, sender = %sender(), "ignored undecodable request: {e}");
                return None;
            }
        };
        NodeStats::bump(&self.stats.validated);
        if !s.collectives.contains(&req.collective) || !req.filter.matches(&self.facts) {
            NodeStats::bump(&self.stats.filtered);
            tracing::debug!(node = %s.identity, request = %req.request_id, "request not for us");
            return None;
        }
        NodeStats::bump(&self.stats.passed);
        let ctx = NodeContext {
            facts: &self.facts,
            main_collective: &s.main_collective,
            collectives: &s.collectives,
            config_file: &s.config_file,
            started: self.started,
            stats: &self.stats,
        };
        let payload = agents::handle(&req.agent, &req.payload, &ctx)?;
        let Some(reply_to) = f.get("reply-to") else {
            tracing::warn!(node = %s.identity, request = %req.request_id, "request has no reply-to");
            return None;
        };
        let body = Reply {
            request_id: req.request_id,
            sender_id: s.identity.clone(),
            sender_agent: req.agent,
            msgtime: now_secs(),
            payload,
        }
        .encode(s.security.as_ref());
        NodeStats::bump(&self.stats.replies);
        let now_ms = now_secs() * 1000;
        Some(
            Frame::new(Command::Send)
                .header("destination", reply_to)
                .header("timestamp", now_ms.to_string())
                .header("expires", (now_ms + (req.ttl + 10) * 1000).to_string())
                .header("mc_sender", s.identity.clone())
                .with_body(body),
        )
    }
}

/// `--simulate N`: N nodes with identities `<identity>-001…`, each its own connection, and
/// facts telling them apart (`shoal_index`, `shoal_simulated`).
pub fn simulated(base: &NodeSettings, n: usize) -> Vec<NodeSettings> {
    (1..=n)
        .map(|i| {
            let mut s = base.clone();
            s.identity = format!("{}-{i:03}", base.identity);
            s.facts.insert("shoal_index".into(), i.to_string());
            s.facts.insert("shoal_simulated".into(), "true".into());
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_facts_flatten_to_strings() {
        let dir = std::env::temp_dir().join(format!("shoal-facts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("facts.yaml");
        std::fs::write(
            &p,
            "---\nos: Debian\ncpus: 8\nvirtual: false\nnet:\n  ip: 10.0.0.1\nroles: [web, db]\n",
        )
        .unwrap();
        let f = load_facts(&p).unwrap();
        assert_eq!(f["os"], "Debian");
        assert_eq!(f["cpus"], "8");
        assert_eq!(f["virtual"], "false");
        assert_eq!(f["net.ip"], "10.0.0.1");
        assert_eq!(f["roles"], "web,db");
        std::fs::write(&p, "os: [unclosed\n").unwrap();
        assert!(load_facts(&p).unwrap_err().contains("facts.yaml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reconnects_are_spread_over_half_to_one_and_a_half_the_delay() {
        let d = Duration::from_secs(2);
        let waits: Vec<Duration> = (0..200)
            .map(|n| jittered(d, &format!("node{n}"), 3))
            .collect();
        assert!(waits.iter().all(|w| *w >= d / 2 && *w <= d * 3 / 2));
        let early = waits.iter().filter(|w| **w < d).count();
        assert!(
            (50..150).contains(&early),
            "{early} of 200 before the delay"
        );
    }

    #[test]
    fn simulated_nodes_are_distinct() {
        let base = NodeSettings {
            identity: "sim".into(),
            main_collective: "mcollective".into(),
            collectives: vec!["mcollective".into()],
            brokers: vec![],
            vhost: None,
            connector: Connector::ActiveMq,
            facts: BTreeMap::new(),
            classes: vec![],
            security: Arc::new(crate::collective::security::Psk::new("k")),
            config_file: String::new(),
        };
        let fleet = simulated(&base, 3);
        let ids: Vec<_> = fleet.iter().map(|s| s.identity.as_str()).collect();
        assert_eq!(ids, ["sim-001", "sim-002", "sim-003"]);
        assert_eq!(fleet[2].facts["shoal_index"], "3");
    }
}
