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
use dialer::Dialer;
use network::Network;
use status::{BridgeSnapshot, BridgeStatus, Direction};
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
}

impl Bridges {
    pub async fn start(handle: BrokerHandle, setup: BridgeSetup) -> Result<Bridges, ListenError> {
        let backlog = handle.limits().listen_backlog;
        let network = Network::new(handle);
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut cluster_addrs = Vec::new();
        let bridge_users = Arc::new(setup.bridge_users);
        for l in setup.cluster {
            let listener = server::bind(&l.addr, backlog).await?;
            if let Some(a) = server::local_addr(&listener) {
                cluster_addrs.push(a);
            }
            tracker.spawn(listener::accept_loop(
                listener,
                l.tls,
                bridge_users.clone(),
                network.clone(),
                stop.clone(),
                tracker.clone(),
            ));
        }
        for d in setup.dialers {
            let status = BridgeStatus::new(
                &d.cfg.name,
                Direction::Outbound,
                d.cfg.duplex,
                d.cfg.network_ttl,
            );
            network.track(status.clone());
            tracker.spawn(d.run(network.clone(), status, stop.clone()));
        }
        Ok(Bridges {
            network,
            stop,
            tracker,
            cluster_addrs,
        })
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
