//! Command-line interface: argument parsing and the `broker` command's run loop.

use crate::broker::Broker;
use crate::config::Config;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "shoal",
    version,
    about = "STOMP broker, network of brokers and MCollective tools for ops"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a broker daemon (logs to stderr; SIGINT/SIGTERM shut it down gracefully).
    #[command(
        after_help = "Logging: RUST_LOG=debug (or info, warn, shoal::broker=trace …).\n\
Exit codes: 0 stopped by SIGINT/SIGTERM; 1 failed at run time (e.g. cannot listen);\n\
2 bad config or arguments (nothing was started)."
    )]
    Broker(BrokerArgs),
    /// Measure a STOMP broker (shoal, ActiveMQ, RabbitMQ) with shoal's load generator.
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Args, Default)]
pub struct BrokerArgs {
    /// Config file (TOML). Default: the platform config dir's shoal/broker.toml if it exists
    /// (e.g. ~/.config/shoal/broker.toml); otherwise built-in defaults.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Client listen address HOST:PORT; repeatable; replaces the config's `listen`.
    /// Default 127.0.0.1:6163 (loopback only).
    #[arg(long, short)]
    pub listen: Vec<String>,
    /// Broker name (message ids, CONNECTED's session, logs); overrides the config.
    #[arg(long)]
    pub name: Option<String>,
}

/// Loads the config named on the command line, or the default one if present.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => match Config::default_path().filter(|p| p.exists()) {
            Some(p) => Ok(Config::load(&p)?),
            None => Ok(Config::default()),
        },
    }
}

pub async fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = load_config(args.config.as_ref())?;
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    if let Some(n) = args.name {
        config.broker.name = n;
    }
    let listen = config.listen_addrs();
    let broker = Broker::start(config.broker.clone(), config.limits.clone(), &listen)
        .await
        .context("starting the broker")?;
    for a in broker.local_addrs() {
        tracing::info!(name = %config.broker.name, "listening for STOMP on {a}");
        if !a.ip().is_loopback() {
            tracing::warn!("{a} is reachable beyond this machine, without TLS or users: anyone who can connect can command the fleet");
        }
    }
    wait_for_signal().await;
    tracing::info!("shutting down: closing client connections");
    broker.shutdown(Duration::from_secs(5)).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
