//! A broker hosted in this process with everything `shoal broker` runs beside it: its bridges
//! (when configured), membership inferred from subscriptions (which also answers `shoal
//! ping`'s queries), and the stats stream and bridge controls the TUI reads and uses. The
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
}

impl HostedBroker {
    pub async fn start(config: &Config) -> anyhow::Result<HostedBroker> {
        let bridge_setup = config.bridge_setup()?;
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
        Ok(HostedBroker {
            broker,
            bridges,
            sources,
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
