//! `shoal broker`: load the config (writing one on the very first run), start the broker,
//! wait for SIGINT/SIGTERM, shut down gracefully.

use super::hosted::HostedBroker;
use crate::config::{first_run, Config};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args, Default)]
pub struct BrokerArgs {
    /// Config file (TOML). Default: the platform config dir's shoal/broker.toml (e.g.
    /// ~/.config/shoal/broker.toml), written on the first run with an admin user.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Client listen address HOST:PORT (plain) or stomp+ssl://HOST:PORT (TLS, needs [tls]);
    /// repeatable; replaces the config's `listen`. Default 127.0.0.1:6163 (loopback only).
    #[arg(long, short)]
    pub listen: Vec<String>,
    /// Broker name (message ids, CONNECTED's session, logs); overrides the config.
    #[arg(long)]
    pub name: Option<String>,
    /// Serve Prometheus metrics, /healthz and /readyz on HOST:PORT (e.g. 127.0.0.1:9163);
    /// replaces [metrics] listen.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
}

/// Loads the config named on the command line, or the default one — creating it on the very
/// first run (no file there yet), so that even the first start has a user and no open door.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    if let Some(p) = path {
        return Ok(Config::load(p)?);
    }
    let p =
        Config::default_path().context("no home directory to keep a config in; pass --config")?;
    if !p.exists() {
        let made = first_run::create(&p)?;
        eprintln!(
            "shoal: first run: wrote {} (loopback only, user \"admin\"); the admin password is in {} (mode 0600)",
            made.config.display(),
            made.secrets.display()
        );
    }
    Ok(Config::load(&p)?)
}

/// The config file with the command line's overrides applied (at start and at each reload).
fn read_config(args: &BrokerArgs) -> anyhow::Result<Config> {
    let mut config = load_config(args.config.as_ref())?;
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    if let Some(n) = &args.name {
        config.broker.name = n.clone();
    }
    if let Some(listen) = &args.metrics {
        config.metrics = Some(crate::metrics::MetricsSettings {
            listen: listen.clone(),
            ..config.metrics.unwrap_or_default()
        });
    }
    Ok(config)
}

/// Re-reads the config file and puts it in place (SIGHUP, `shoal reload`).
async fn reload(args: &BrokerArgs, hosted: &mut HostedBroker) -> crate::stats::ReloadReply {
    notify_systemd(&[sd_notify::NotifyState::Reloading]);
    let reply = match read_config(args) {
        Ok(config) => hosted.reload(config).await,
        Err(e) => {
            tracing::error!("reload refused, nothing changed: {e:#}");
            let reply = crate::stats::ReloadReply {
                error: Some(format!("{e:#}")),
                ..Default::default()
            };
            hosted.noted(&reply);
            reply
        }
    };
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    reply
}

pub async fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let signals = shutdown_signal().context("installing signal handlers")?;
    let mut hangups = hangup_signal().context("installing the SIGHUP handler")?;
    let config = read_config(&args)?;
    let has_users = !config.users.is_empty();
    let anonymous = config.auth.anonymous;
    if !has_users && !anonymous {
        tracing::warn!("no [[user]] and [auth] anonymous = false: nobody can log in (add a user with `shoal passwd`)");
    }
    let (reloads, mut reload_requests) = tokio::sync::mpsc::channel(1);
    let mut hosted = HostedBroker::start_with(&config, Some(reloads)).await?;
    for (a, tls) in hosted.broker.listeners() {
        tracing::info!(name = %config.broker.name, "listening for STOMP on {a}");
        if a.ip().is_loopback() {
            continue;
        }
        if !tls {
            tracing::warn!("{a} is reachable beyond this machine WITHOUT TLS: passwords and fleet commands cross the network in clear");
        }
        if anonymous || !has_users {
            tracing::warn!("{a} is reachable beyond this machine and anonymous access is on: anyone who can connect can command the fleet");
        }
    }
    for a in hosted.bridges.iter().flat_map(|b| b.cluster_addrs()) {
        tracing::info!("listening for bridges on {a}");
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tokio::pin!(signals);
    loop {
        tokio::select! {
            _ = &mut signals => break,
            Some(()) = hangups.recv() => {
                tracing::info!("SIGHUP: reloading the config");
                reload(&args, &mut hosted).await;
            }
            Some(req) = reload_requests.recv() => {
                tracing::info!("reload asked for on the control queue by {}", req.by);
                let _ = req.reply.send(reload(&args, &mut hosted).await);
            }
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    hosted
        .shutdown(Duration::from_secs(2), Duration::from_secs(5))
        .await;
    tracing::info!("stopped");
    Ok(())
}

/// Tells systemd (a `Type=notify` unit) what the broker is doing: READY=1 once every listener
/// is bound, STOPPING=1 when a signal starts the shutdown. Nothing without `$NOTIFY_SOCKET`.
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!("telling systemd through $NOTIFY_SOCKET: {e}");
    }
}

/// SIGHUP, the daemon's conventional "re-read your config" (systemd's ExecReload sends it).
#[cfg(unix)]
fn hangup_signal() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

/// Installs the SIGINT/SIGTERM handlers now — a signal arriving before they exist would kill
/// the process by its default action, skipping the graceful shutdown — and returns a future
/// that completes on the first of them.
pub(crate) fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
