//! A broker hosted in this process with everything `shoal broker` runs beside it: its bridges
//! (when configured), membership inferred from subscriptions (which also answers `shoal
//! ping`'s queries), the stats stream and bridge controls the TUI reads and uses, and the
//! metrics listener (when configured). The
//! daemon, the TUI and the demo all start brokers this one way.

use crate::bridge::Bridges;
use crate::broker::Broker;
use crate::collective::membership::MembershipTracker;
use crate::config::Config;
use crate::stats::{ReloadReply, StatsSources};
use anyhow::Context;
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::time::Duration;

pub struct HostedBroker {
    pub broker: Broker,
    pub bridges: Option<Bridges>,
    /// The handle, network and membership: what the TUI reads.
    pub sources: StatsSources,
    pub metrics: Option<crate::metrics::MetricsServer>,
    /// The config it runs on (what a reload compares the new file with).
    config: Config,
    /// What its `[tls]` files held when last read (see `config::reload::tls_fingerprint`).
    tls_fingerprint: Option<String>,
}

impl HostedBroker {
    /// A broker whose config is not reloaded (the TUI's and the demo's).
    pub async fn start(config: &Config) -> anyhow::Result<HostedBroker> {
        HostedBroker::start_with(config, None).await
    }

    /// `reloads`: where `shoal-action: reload` requests are sent (the daemon's loop, which
    /// re-reads the file and calls `reload`).
    pub async fn start_with(
        config: &Config,
        reloads: Option<tokio::sync::mpsc::Sender<crate::stats::ReloadRequest>>,
    ) -> anyhow::Result<HostedBroker> {
        let bridge_setup = config.bridge_setup()?;
        let metrics_setup = config.metrics_setup()?;
        let broker = Broker::start(config.setup()?)
            .await
            .context("starting the broker")?;
        let bridges = if bridge_setup.is_empty() {
            None
        } else {
            Some(
                Bridges::start(broker.handle(), bridge_setup)
                    .await
                    .context("starting the cluster listener")?,
            )
        };
        let members = MembershipTracker::start(broker.handle(), broker.shutdown_token());
        members.serve(broker.shutdown_token());
        let sources = StatsSources {
            handle: broker.handle(),
            network: Arc::new(ArcSwapOption::new(
                bridges.as_ref().map(|b| b.network.clone()),
            )),
            members,
            reloads,
            last_reload: Default::default(),
        };
        sources
            .clone()
            .serve(Duration::from_secs(1), broker.shutdown_token());
        let metrics = match metrics_setup {
            Some(m) => {
                let (addr, token) = (m.addr, m.token.is_some());
                let server = crate::metrics::serve(m, sources.clone(), broker.shutdown_token())
                    .await
                    .with_context(|| format!("starting the metrics listener on {addr}"))?;
                let scheme = if server.tls { "https" } else { "http" };
                tracing::info!("serving metrics on {scheme}://{}/metrics", server.addr);
                if !server.addr.ip().is_loopback() && !token {
                    tracing::warn!("metrics on {} are readable by anyone who can reach it: set [metrics] token_file", server.addr);
                }
                Some(server)
            }
            None => None,
        };
        Ok(HostedBroker {
            broker,
            bridges,
            sources,
            metrics,
            config: config.clone(),
            tls_fingerprint: crate::config::reload::tls_fingerprint(config),
        })
    }

    /// Puts `new` in place of the running config without a restart (see `config::reload`
    /// for what changes in place). An invalid config changes nothing: the reply says why.
    pub async fn reload(&mut self, new: Config) -> ReloadReply {
        let reply = self.apply(new).await;
        self.noted(&reply);
        reply
    }

    /// Records a reload's outcome for the stats report (the TUI's event line): also one
    /// refused before it reached `reload` (an unreadable file).
    pub fn noted(&self, reply: &ReloadReply) {
        let note = crate::stats::ReloadNote::of(reply);
        self.sources.last_reload.store(Some(Arc::new(note)));
    }

    async fn apply(&mut self, new: Config) -> ReloadReply {
        let plan = match crate::config::reload::plan(&self.config, &new) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("reload refused, nothing changed: {e}");
                return ReloadReply {
                    error: Some(e.to_string()),
                    ..Default::default()
                };
            }
        };
        let mut changes = plan.changes;
        let started = std::time::Instant::now();
        let done = self.broker.handle().reload(plan.reload);
        tracing::info!(
            connections = done.connections,
            subscriptions = done.subscriptions,
            "reload: rules applied to every connection in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        for (conn, user) in &done.users_removed {
            changes.push(format!("connection {conn} of removed user {user} closed"));
        }
        for (conn, id, why) in &done.revoked {
            changes.push(format!(
                "connection {conn}: subscription {id} revoked ({why})"
            ));
        }
        // Renewed certificates for the next handshakes, client and cluster listeners alike.
        let mut tls_swapped = plan.tls.is_some_and(|t| self.broker.replace_tls(t));
        if let Some(b) = &self.bridges {
            if let Some(t) = plan.bridges.cluster.iter().find_map(|l| l.tls.clone()) {
                tls_swapped |= b.replace_tls(t);
            }
        }
        if tls_swapped && plan.tls_fingerprint != self.tls_fingerprint {
            changes.push("[tls]: certificate, key or client CA renewed (new connections)".into());
        }
        self.tls_fingerprint = plan.tls_fingerprint;
        let setup = plan.bridges;
        let bridged = match &mut self.bridges {
            Some(b) => Some(b.reconfigure(setup.dialers, setup.bridge_users)),
            None if setup.dialers.is_empty() => None,
            None => {
                let names = setup.dialers.iter().map(|d| d.cfg.name.clone()).collect();
                let only_dialers = crate::bridge::BridgeSetup {
                    cluster: Vec::new(),
                    ..setup
                };
                match Bridges::start(self.broker.handle(), only_dialers).await {
                    Ok(b) => {
                        self.sources.network.store(Some(b.network.clone()));
                        self.bridges = Some(b);
                        Some(crate::bridge::BridgeChanges {
                            added: names,
                            ..Default::default()
                        })
                    }
                    Err(e) => {
                        changes.push(format!("bridges not started: {e}"));
                        None
                    }
                }
            }
        };
        if let Some(b) = bridged {
            changes.extend(b.added.iter().map(|n| format!("bridge {n} added")));
            changes.extend(b.removed.iter().map(|n| format!("bridge {n} removed")));
            changes.extend(
                b.restarted
                    .iter()
                    .map(|n| format!("bridge {n} changed: restarted")),
            );
        }
        for c in &changes {
            tracing::info!("reload: {c}");
        }
        for k in &plan.needs_restart {
            tracing::warn!("reload: {k} changed: takes effect at the next restart");
        }
        if changes.is_empty() && plan.needs_restart.is_empty() {
            tracing::info!("reload: nothing changed");
        }
        self.config = new;
        ReloadReply {
            ok: true,
            changes,
            needs_restart: plan.needs_restart,
            error: None,
        }
    }

    /// Closes the bridges, then the client connections (each with its grace period).
    pub async fn shutdown(self, bridges_grace: Duration, clients_grace: Duration) {
        if let Some(b) = self.bridges {
            tracing::info!("shutting down: closing bridges");
            b.shutdown(bridges_grace).await;
        }
        tracing::info!("shutting down: closing client connections");
        self.broker.shutdown(clients_grace).await;
    }
}
