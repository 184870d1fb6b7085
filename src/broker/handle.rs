//! Starting a broker, and the handle the rest of shoal uses to look at it and talk to it.
//!
//! The engine never knows who is watching: the TUI, bridges and tests hold a `BrokerHandle`
//! and read snapshots, follow the event stream, or open in-process clients.

use super::auth::{Principal, Security};
use super::engine::Engine;
use super::events::BrokerEvent;
use super::local::LocalClient;
use super::server::{self, ListenError, ListenerSpec};
use super::settings::{BrokerSettings, DeliveryPolicy, Limits};
use super::snapshot::BrokerSnapshot;
use super::snapshot::SubscriptionInfo;
use super::store::{Store, StoreSettings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running broker: its listeners, its engine, and its shutdown switch.
pub struct Broker {
    handle: BrokerHandle,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    addrs: Vec<SocketAddr>,
    /// Whether the listener at the same index of `addrs` speaks TLS.
    tls: Vec<bool>,
    /// The TLS settings every `stomp+ssl://` listener uses (one `[tls]` for all).
    tls_slot: Option<super::tls::TlsSlot>,
}

/// Cheap to clone; everything the outside world may do with a broker.
#[derive(Clone)]
pub struct BrokerHandle {
    engine: Arc<Engine>,
}

/// Everything a broker starts from. `BrokerSetup::open` is the embedding default: anonymous
/// access, no ACL, plain listeners; `shoal broker` builds one from the config file.
pub struct BrokerSetup {
    pub settings: BrokerSettings,
    pub limits: Limits,
    pub security: Security,
    pub listeners: Vec<ListenerSpec>,
    pub delivery: DeliveryPolicy,
    /// The message store and its directory; `None`: persistent messages stay in memory.
    pub store: Option<(StoreSettings, PathBuf)>,
}

impl BrokerSetup {
    pub fn open(listen: &[&str]) -> BrokerSetup {
        BrokerSetup {
            settings: BrokerSettings::default(),
            limits: Limits::default(),
            security: Security::open(),
            listeners: listen
                .iter()
                .map(|a| ListenerSpec {
                    addr: a.to_string(),
                    tls: None,
                })
                .collect(),
            delivery: DeliveryPolicy::default(),
            store: None,
        }
    }
}

impl Broker {
    /// Binds every listen address, then starts accepting. Must run inside a tokio runtime.
    pub async fn start(setup: BrokerSetup) -> Result<Broker, ListenError> {
        // Recover before listening: no client sees the broker until its queues are back.
        let (store, recovery) = match &setup.store {
            Some((settings, dir)) => {
                let (store, recovery) = Store::open(settings, dir)?;
                tracing::info!(dir = %dir.display(), fsync = settings.fsync, "message store open");
                (Some(store), Some(recovery))
            }
            None => (None, None),
        };
        let engine = Engine::new(
            setup.settings,
            setup.limits,
            setup.security,
            setup.delivery,
            store.clone(),
        );
        if let Some(r) = recovery {
            engine.restore(r);
        }
        let mut bound = Vec::new();
        for l in &setup.listeners {
            let listener = server::bind(&l.addr, engine.limits().listen_backlog).await?;
            bound.push((listener, l.tls.clone()));
        }
        let (addrs, tls): (Vec<SocketAddr>, Vec<bool>) = bound
            .iter()
            .filter_map(|(l, t)| Some((server::local_addr(l)?, t.is_some())))
            .unzip();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let gate = Arc::new(server::Gate::default());
        let tls_slot = setup
            .listeners
            .iter()
            .find_map(|l| l.tls.clone())
            .map(super::tls::slot);
        for (l, tls) in bound {
            tokio::spawn(server::accept_loop(
                l,
                tls.and(tls_slot.clone()),
                engine.clone(),
                gate.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        let (e, s) = (engine.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => e.tick(),
                    _ = s.cancelled() => return,
                }
            }
        });
        Ok(Broker {
            handle: BrokerHandle { engine },
            shutdown,
            tracker,
            addrs,
            tls,
            tls_slot,
        })
    }

    /// Puts reloaded TLS settings in place for the next handshakes on every `stomp+ssl://`
    /// listener; `false` when the broker has none.
    pub fn replace_tls(&self, config: Arc<rustls::ServerConfig>) -> bool {
        super::tls::replace(self.tls_slot.as_ref(), config)
    }

    /// The addresses actually bound, in the order given.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Each bound address with whether it speaks TLS.
    pub fn listeners(&self) -> impl Iterator<Item = (SocketAddr, bool)> + '_ {
        self.addrs.iter().copied().zip(self.tls.iter().copied())
    }

    pub fn handle(&self) -> BrokerHandle {
        self.handle.clone()
    }

    /// A token that, when cancelled, begins a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, tells every client, lets their writers flush (bounded), and returns.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within {grace:?}");
        }
        // Everything the clients did is in; make it durable and mark the shutdown clean.
        if let Some(store) = &self.handle.engine.store {
            store.close();
        }
    }
}

impl BrokerHandle {
    pub fn snapshot(&self) -> BrokerSnapshot {
        self.engine.snapshot()
    }

    /// See `Engine::overview_busiest_and_deepest`.
    pub fn overview_busiest_and_deepest(&self, top: usize) -> BrokerSnapshot {
        self.engine.overview_busiest_and_deepest(top)
    }

    /// Addresses and login names the login throttle is spacing now.
    pub fn throttled(&self) -> (usize, usize) {
        self.engine.security.auth.throttled()
    }

    /// See `Engine::connection_detail`.
    pub fn connection_detail(
        &self,
        id: super::subscription::ConnId,
    ) -> Option<super::inspect::ConnectionDetail> {
        self.engine.connection_detail(id)
    }

    /// See `Engine::requester`.
    pub fn requester(&self, reply_to: &str) -> Option<String> {
        self.engine.requester(reply_to)
    }

    /// See `Engine::close_client`.
    pub fn close_client(&self, id: super::subscription::ConnId, by: &str) -> bool {
        self.engine.close_client(id, by)
    }

    /// See `Engine::connections_top`.
    pub fn connections_top(
        &self,
        sort: super::snapshot::ConnSort,
        top: usize,
    ) -> (usize, Vec<super::snapshot::ConnectionSnapshot>) {
        self.engine.connections_top(sort, top)
    }

    /// Refusals so far (see `counters`).
    pub fn counters(&self) -> super::counters::CounterValues {
        self.engine.counters.values()
    }

    /// The totals and the `top` busiest destinations, connections counted only (see
    /// `Engine::overview`).
    pub fn overview(&self, top: usize) -> BrokerSnapshot {
        self.engine.overview(top)
    }

    pub fn events(&self) -> broadcast::Receiver<BrokerEvent> {
        self.engine.events()
    }

    /// Every subscription and connection event from now on, after a snapshot (see `watch`).
    pub fn watch(&self) -> super::watch::Watch {
        self.engine.watch()
    }

    /// An in-process client: publish and subscribe without a socket.
    pub fn connect_local(&self, name: &str) -> LocalClient {
        LocalClient::open(self.engine.clone(), name)
    }

    pub fn name(&self) -> &str {
        self.engine.name()
    }

    /// Every subscription, for bridges re-reading demand.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.engine.subscriptions()
    }

    /// Decides who a login is, the way CONNECT does (throttled, hashing bounded): the
    /// bridges' cluster listener uses it.
    pub async fn login(
        &self,
        ip: std::net::IpAddr,
        creds: super::login::Credentials,
    ) -> Result<Arc<Principal>, super::login::LoginError> {
        self.engine.login(ip, creds).await
    }

    /// Records a refusal made after a successful login (a user who may not be a bridge), so
    /// the address is throttled as for a wrong password.
    pub fn refused_after_login(&self, ip: std::net::IpAddr, login: &str) {
        let auth = &self.engine.security.auth;
        let slot = auth.reserve(ip, Some(login));
        auth.finish(slot, super::auth::throttle::Outcome::Refused);
    }

    /// Whether `who` may read (some of) `pattern` (a destination, or a SUBSCRIBE pattern with
    /// wildcards): a bridge tells its peer only the demand that the peer's user could read.
    pub fn may_read(&self, who: &Principal, pattern: &str) -> bool {
        let acl = &self.engine.security.acl();
        if acl.is_empty() {
            return true;
        }
        let Ok(p) = super::destination::DestPattern::parse(pattern) else {
            return false;
        };
        match p.as_destination() {
            Some(d) => acl.allows(who, super::auth::Action::Read, &d),
            None => acl.may_read_some(who, &p),
        }
    }

    /// Puts reloaded users, ACL, settings and limits in place (see `reload`).
    pub fn reload(&self, r: super::reload::Reload) -> super::reload::Reloaded {
        self.engine.reload(r)
    }

    /// The `[limits]` in force now (a reload may replace them).
    pub fn limits(&self) -> std::sync::Arc<super::Limits> {
        self.engine.limits().clone()
    }

    /// The message store, if the broker has one.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.engine.store.clone()
    }
}
