//! The network of brokers: bridges between shoal brokers, modelled on ActiveMQ's
//! networkConnector, without its classic failure modes (see BRIDGE-PITFALLS in the docs).
//!
//! - `config`: `[cluster]` and `[[bridge]]`.
//! - `network`: one per broker — links, the demand table (`demand`), duplicate suppression
//!   (`dedup`), forwarded queue messages held until consumed (`held`), bridge status.
//! - `link`: one live link — demand both ways, forwarding with receipts, heart-beats/RTT.
//! - `dialer` (outgoing `[[bridge]]`s, failover and back-off) and `listener` (the cluster port).
//! - `wire`/`handshake`: the link protocol (STOMP frames with `shoal-` headers).
//!
//! Guarantees: a message is never forwarded to a broker already on its path nor beyond its
//! TTL; a topic message reaching a broker by two routes is delivered there once; a queue
//! message is acknowledged on the sending broker only after the receiving broker has enqueued
//! it, so a link cut mid-transfer loses nothing and the resend is dropped as a duplicate. What
//! a network of brokers is not: replication. A queue message has one owner at a time; while
//! that broker is down, its messages wait there (persisted once persistence exists).

pub mod config;
pub mod dedup;
pub mod demand;
pub mod dialer;
pub mod filter;
pub mod foreign;
pub mod handshake;
pub mod held;
pub mod link;
pub mod listener;
pub mod network;
pub mod status;
pub mod wire;

use crate::broker::server::{self, ListenError, ListenerSpec};
use crate::broker::BrokerHandle;
use arc_swap::ArcSwap;
use dialer::Dialer;
use network::Network;
use status::{BridgeSnapshot, BridgeStatus, Direction};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the bridges start from (built from the config by `Config::bridge_setup`).
#[derive(Default)]
pub struct BridgeSetup {
    pub cluster: Vec<ListenerSpec>,
    /// Who may connect on the cluster listeners as a bridge.
    pub bridge_users: config::BridgeUsers,
    pub dialers: Vec<Dialer>,
}

impl BridgeSetup {
    pub fn is_empty(&self) -> bool {
        self.cluster.is_empty() && self.dialers.is_empty()
    }
}

/// The running network side of a broker.
pub struct Bridges {
    pub network: Arc<Network>,
    stop: CancellationToken,
    tracker: TaskTracker,
    cluster_addrs: Vec<SocketAddr>,
    /// Who may connect as a bridge; a reload replaces it.
    bridge_users: Arc<ArcSwap<config::BridgeUsers>>,
    /// The TLS settings of the `stomp+ssl://` cluster listeners; a reload replaces them.
    tls_slot: Option<crate::broker::tls::TlsSlot>,
    /// The outgoing bridges by name, each stoppable on its own (a reload adds, removes or
    /// restarts one without touching the others).
    running: HashMap<String, Running>,
}

/// One outgoing bridge as it runs.
struct Running {
    /// What it was started from, to tell whether a reload changed it.
    fingerprint: String,
    stop: CancellationToken,
    status: status::SharedStatus,
}

/// What `Bridges::reconfigure` did, by bridge name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BridgeChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
}

/// What tells two setups of one bridge apart: its config and its resolved password (a
/// rotated `password_file` restarts it). Kept in memory only, like the password itself.
fn fingerprint(d: &Dialer) -> String {
    let cfg = toml::to_string(&d.cfg).unwrap_or_default();
    let secret = d.password.as_deref().unwrap_or("");
    format!("{cfg}\n{secret}")
}

impl Bridges {
    pub async fn start(handle: BrokerHandle, setup: BridgeSetup) -> Result<Bridges, ListenError> {
        let backlog = handle.limits().listen_backlog;
        let network = Network::new(handle);
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut cluster_addrs = Vec::new();
        let bridge_users = Arc::new(ArcSwap::from_pointee(setup.bridge_users));
        let tls_slot = setup
            .cluster
            .iter()
            .find_map(|l| l.tls.clone())
            .map(crate::broker::tls::slot);
        for l in setup.cluster {
            let listener = server::bind(&l.addr, backlog).await?;
            if let Some(a) = server::local_addr(&listener) {
                cluster_addrs.push(a);
            }
            tracker.spawn(listener::accept_loop(
                listener,
                l.tls.and(tls_slot.clone()),
                bridge_users.clone(),
                network.clone(),
                stop.clone(),
                tracker.clone(),
            ));
        }
        let mut bridges = Bridges {
            network,
            stop,
            tracker,
            cluster_addrs,
            bridge_users,
            tls_slot,
            running: HashMap::new(),
        };
        for d in setup.dialers {
            bridges.launch(d);
        }
        Ok(bridges)
    }

    fn launch(&mut self, d: Dialer) {
        let status = BridgeStatus::new(
            &d.cfg.name,
            Direction::Outbound,
            d.cfg.duplex,
            d.cfg.network_ttl,
        );
        self.network.track(status.clone());
        let stop = self.stop.child_token();
        let running = Running {
            fingerprint: fingerprint(&d),
            stop: stop.clone(),
            status: status.clone(),
        };
        self.running.insert(d.cfg.name.clone(), running);
        self.tracker
            .spawn(d.run(self.network.clone(), status, stop));
    }

    fn halt(&mut self, name: &str) {
        if let Some(r) = self.running.remove(name) {
            r.stop.cancel();
            self.network.untrack(&r.status);
        }
    }

    /// Brings the outgoing bridges and the bridge users to a reloaded setup: a bridge no
    /// longer listed stops (its links close), a new one starts, a changed one restarts, and
    /// the others are not touched. The cluster listeners stay as they were started.
    pub fn reconfigure(
        &mut self,
        dialers: Vec<Dialer>,
        users: config::BridgeUsers,
    ) -> BridgeChanges {
        self.bridge_users.store(Arc::new(users));
        let mut changes = BridgeChanges::default();
        let wanted: std::collections::HashSet<String> =
            dialers.iter().map(|d| d.cfg.name.clone()).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            self.halt(&name);
            changes.removed.push(name);
        }
        for d in dialers {
            let name = d.cfg.name.clone();
            match self.running.get(&name) {
                Some(r) if r.fingerprint == fingerprint(&d) => continue,
                Some(_) => {
                    self.halt(&name);
                    changes.restarted.push(name);
                }
                None => changes.added.push(name),
            }
            self.launch(d);
        }
        changes.added.sort();
        changes.removed.sort();
        changes.restarted.sort();
        changes
    }

    /// Puts reloaded TLS settings in place for the next handshakes on the cluster listeners.
    pub fn replace_tls(&self, config: Arc<rustls::ServerConfig>) -> bool {
        crate::broker::tls::replace(self.tls_slot.as_ref(), config)
    }

    /// Where peers' bridges can connect.
    pub fn cluster_addrs(&self) -> &[SocketAddr] {
        &self.cluster_addrs
    }

    pub fn snapshot(&self) -> Vec<BridgeSnapshot> {
        self.network.snapshot()
    }

    pub async fn shutdown(self, grace: Duration) {
        self.stop.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
    }
}
