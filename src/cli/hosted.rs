//! A broker hosted in this process with everything `shoal broker` runs beside it: its bridges
//! (when configured), membership inferred from subscriptions (which also answers `shoal
//! ping`'s queries), the stats stream and bridge controls the TUI reads and uses, and the
//! metrics listener (when configured). The
//! daemon, the TUI and the demo all start brokers this one way.

use crate::bridge::Bridges;
use crate::broker::Broker;
use crate::collective::membership::MembershipTracker;
use crate::config::Config;
use crate::stats::StatsSources;
use anyhow::Context;
use std::time::Duration;

pub struct HostedBroker {
    pub broker: Broker,
    pub bridges: Option<Bridges>,
    /// The handle, network and membership: what the TUI reads.
    pub sources: StatsSources,
    pub metrics: Option<crate::metrics::MetricsServer>,
}

impl HostedBroker {
    pub async fn start(config: &Config) -> anyhow::Result<HostedBroker> {
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
            network: bridges.as_ref().map(|b| b.network.clone()),
            members,
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
        })
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
