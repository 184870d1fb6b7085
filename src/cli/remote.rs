//! What the scriptable commands (`shoal status`, `shoal check`) share: the flags that name a
//! broker and how to log in (plain or TLS, as every shoal client), and one stats report read
//! from it — the same report `shoal tui --attach` shows, so the user needs the same rights
//! (read on `/topic/shoal.stats.>`).

use crate::client::tls::{ClientTls, TlsArgs};
use crate::client::{self, ConnectOptions};
use crate::config::ConfigError;
use crate::stats::{StatsReport, STATS_TOPIC};
use crate::stomp::{Command, Frame};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args, Clone)]
pub struct BrokerFlags {
    /// The broker: HOST:PORT, or stomp+ssl://HOST:PORT for TLS.
    #[arg(long, short = 'a', default_value = crate::config::DEFAULT_LISTEN)]
    pub addr: String,
    /// Login (default: $STOMP_USER).
    #[arg(long)]
    pub user: Option<String>,
    /// File holding the password (default: $STOMP_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Seconds to wait for the broker's answer.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
}

/// Why no report came: each has its own message (and `shoal check` calls them all UNKNOWN).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: client::ClientError,
    },
    #[error("no stats report from {addr} within {secs} s (is it a shoal broker, and may this user read {STATS_TOPIC}?)")]
    NoReport { addr: String, secs: f64 },
    #[error("bad stats report from {addr}: {source}")]
    BadReport {
        addr: String,
        #[source]
        source: serde_json::Error,
    },
}

impl BrokerFlags {
    /// The address (without scheme) and the connect options, files read now.
    pub fn options(&self) -> Result<(String, ConnectOptions), ConfigError> {
        let (addr, tls) = client::tls::parse_addr(&self.addr);
        let tls = (tls || self.tls.given()).then(|| self.tls.over(None));
        let passcode = match &self.password_file {
            Some(p) => Some(super::collective::read_secret(p).map_err(ConfigError::usage)?),
            None => std::env::var("STOMP_PASSWORD").ok(),
        };
        let opts = ConnectOptions {
            login: self
                .user
                .clone()
                .or_else(|| std::env::var("STOMP_USER").ok()),
            passcode,
            host: None,
            heartbeat: (0, 0),
            tls: tls
                .as_ref()
                .map(ClientTls::load)
                .transpose()
                .map_err(ConfigError::usage)?,
        };
        Ok((addr.to_string(), opts))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(0.1))
    }
}

/// Connects, subscribes to the stats topic and returns the first report.
pub async fn fetch_report(
    flags: &BrokerFlags,
    opts: &ConnectOptions,
    addr: &str,
) -> Result<StatsReport, RemoteError> {
    let connect = |source| RemoteError::Connect {
        addr: addr.to_string(),
        source,
    };
    let (mut r, mut w, _) = client::connect(addr, opts).await.map_err(connect)?;
    w.send(
        &Frame::new(Command::Subscribe)
            .header("destination", STATS_TOPIC)
            .header("id", "status")
            .header("ack", "auto"),
    )
    .await
    .map_err(connect)?;
    let f = match tokio::time::timeout(flags.timeout(), r.next_message()).await {
        Err(_) => {
            return Err(RemoteError::NoReport {
                addr: addr.to_string(),
                secs: flags.timeout,
            })
        }
        Ok(r) => r.map_err(connect)?,
    };
    serde_json::from_slice(&f.body).map_err(|source| RemoteError::BadReport {
        addr: addr.to_string(),
        source,
    })
}

/// Sends one request to the broker's control queue (`stats::CONTROL_QUEUE`) with `headers`
/// (`shoal-action` and its arguments) and returns the answer sent to its temporary queue,
/// waiting up to `wait`. A `shoal-error` in the answer is an error.
pub async fn ask_control(
    flags: &BrokerFlags,
    headers: &[(&str, String)],
    wait: std::time::Duration,
) -> anyhow::Result<Frame> {
    let (addr, opts) = flags.options()?;
    let (mut r, mut w, _) = client::connect(&addr, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
    w.push(
        &Frame::new(Command::Subscribe)
            .header("destination", "/temp-queue/control")
            .header("id", "reply"),
    );
    let mut send = Frame::new(Command::Send)
        .header("destination", crate::stats::CONTROL_QUEUE)
        .header("reply-to", "/temp-queue/control");
    for (k, v) in headers {
        send = send.header(k, v);
    }
    w.send(&send).await?;
    let f = tokio::time::timeout(wait, r.next_message())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no answer from {addr} within {} s (is it a shoal broker?)",
                wait.as_secs_f64()
            )
        })?
        .map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
    if let Some(e) = f.get("shoal-error") {
        anyhow::bail!("{addr}: {e}");
    }
    Ok(f)
}
