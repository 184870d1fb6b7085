//! `shoal pub` and `shoal sub`: STOMP from a shell script, over the shared client (plain or
//! TLS, the login of every shoal client). `pub` waits for the broker's RECEIPT of every
//! message, so exit 0 means the broker took them all (on disk, for `--persistent` to a broker
//! with a store); `sub` prints what arrives, MCollective bodies decoded with `--decode` as in
//! the TUI's tap.
//!
//! Exit codes: 0 done; 1 refused or cut short (an ERROR, printed with the broker's words, or
//! `sub --count N` timing out with fewer); 2 bad flags.

use super::remote::BrokerFlags;
use crate::client::{self, ClientError};
use crate::stomp::{Command, Frame};
use clap::Args;
use serde::Serialize;
use std::io::{BufRead, Read, Write};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct PubArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// Destination, e.g. /queue/jobs or /topic/news.
    pub destination: String,
    /// The body; `-` reads it from stdin. None: an empty body.
    pub body: Option<String>,
    /// A header NAME:VALUE to add (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// persistent:true (kept on disk by a broker with a store).
    #[arg(long)]
    pub persistent: bool,
    /// One message per line of stdin (instead of one body).
    #[arg(long, conflicts_with = "body")]
    pub lines: bool,
}

#[derive(Debug, Args)]
pub struct SubArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// Destination or pattern, e.g. /queue/jobs, /topic/mcollective.>.
    pub destination: String,
    /// Stop after N messages (exit 1 if --wait passes first).
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Stop after SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<f64>,
    /// A JMS selector, e.g. "mc_identity = 'web01'".
    #[arg(long)]
    pub selector: Option<String>,
    /// Show MCollective bodies (Ruby Marshal, psk or ssl) as text, as the TUI's tap does.
    #[arg(long)]
    pub decode: bool,
    /// One JSON object per message: destination, headers, body.
    #[arg(long)]
    pub json: bool,
    /// Print each message's headers before its body.
    #[arg(long)]
    pub headers: bool,
}

/// `NAME:VALUE`.
fn parse_header(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once(':') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_string(), v.to_string())),
        _ => Err(
            crate::config::ConfigError::Usage(format!("--header {s:?}: expected NAME:VALUE"))
                .into(),
        ),
    }
}

pub async fn run_pub(args: PubArgs) -> anyhow::Result<()> {
    let headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<_>>()?;
    let bodies: Vec<Vec<u8>> = if args.lines {
        std::io::stdin()
            .lock()
            .lines()
            .map(|l| l.map(String::into_bytes))
            .collect::<Result<_, _>>()?
    } else {
        vec![match args.body.as_deref() {
            Some("-") => {
                let mut b = Vec::new();
                std::io::stdin().lock().read_to_end(&mut b)?;
                b
            }
            Some(b) => b.as_bytes().to_vec(),
            None => Vec::new(),
        }]
    };
    let (addr, opts) = args.broker.options()?;
    let (mut r, mut w, _) = client::connect(&addr, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
    let last = bodies.len();
    for (i, body) in bodies.into_iter().enumerate() {
        let mut f = Frame::new(Command::Send).header("destination", &args.destination);
        for (n, v) in &headers {
            f = f.header(n, v);
        }
        if args.persistent {
            f = f.header("persistent", "true");
        }
        // Every message receipted, the last one waited for: receipts come in order, so the
        // last one means all were taken, and an ERROR stops us at the first refusal.
        f = f.header("receipt", format!("pub-{i}"));
        w.push(&f.with_body(body));
        if w.buffered() > 256 * 1024 || i + 1 == last {
            w.flush().await?;
        }
    }
    let want = format!("pub-{}", last.saturating_sub(1));
    let wait = async {
        loop {
            let f = r.next_message().await?;
            if f.command == Command::Receipt && f.get("receipt-id") == Some(&want) {
                return Ok::<_, ClientError>(());
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs_f64(args.broker.timeout.max(0.1)), wait).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!("{}: {e}", args.destination)),
        Err(_) => Err(anyhow::anyhow!(
            "no receipt from {addr} within {} s",
            args.broker.timeout
        )),
    }
}

#[derive(Serialize)]
struct Printed<'a> {
    destination: Option<&'a str>,
    headers: Vec<(&'a str, &'a str)>,
    body: String,
}

fn body_text(f: &Frame, decode: bool) -> String {
    decode
        .then(|| crate::collective::message::describe(&f.body))
        .flatten()
        .unwrap_or_else(|| String::from_utf8_lossy(&f.body).into_owned())
}

/// The ACK of MESSAGE `f` in `version`'s terms.
fn ack_for(f: &Frame, version: crate::stomp::Version) -> Frame {
    let ack = Frame::new(Command::Ack);
    match (version, f.get("ack")) {
        (crate::stomp::Version::V1_2, Some(id)) => ack.header("id", id),
        _ => ack
            .header("message-id", f.get("message-id").unwrap_or(""))
            .header("subscription", "sub"),
    }
}

pub async fn run_sub(args: SubArgs) -> anyhow::Result<()> {
    let (addr, opts) = args.broker.options()?;
    let (mut r, mut w, _) = client::connect(&addr, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
    let mut sub = Frame::new(Command::Subscribe)
        .header("destination", &args.destination)
        .header("id", "sub")
        // Acknowledged one by one as printed: with `-n 1` on a queue, a message the broker
        // sent ahead (prefetch) but we never printed goes back to the queue when we leave,
        // instead of being consumed unseen as `ack: auto` would.
        .header("ack", "client-individual")
        .header("receipt", "subscribed");
    if let Some(n) = args.count {
        sub = sub.header("activemq.prefetchSize", n.clamp(1, 1000).to_string());
    }
    if let Some(s) = &args.selector {
        sub = sub.header("selector", s);
    }
    w.send(&sub).await?;
    let deadline = args
        .wait
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut got = 0u64;
    let mut out = std::io::stdout().lock();
    while args.count.is_none_or(|n| got < n) {
        let next = r.next_message();
        let f = match deadline {
            Some(d) => match tokio::time::timeout_at(d, next).await {
                Ok(f) => f,
                Err(_) => break,
            },
            None => next.await,
        }
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.destination))?;
        if f.command != Command::Message {
            continue;
        }
        got += 1;
        w.send(&ack_for(&f, w.version)).await?;
        let body = body_text(&f, args.decode);
        let printed = if args.json {
            let p = Printed {
                destination: f.get("destination"),
                headers: f.headers.iter().collect(),
                body,
            };
            serde_json::to_string(&p)? + "\n"
        } else if args.headers {
            let h: String = f
                .headers
                .iter()
                .map(|(k, v)| format!("{k}:{v}\n"))
                .collect();
            format!("{h}\n{body}\n")
        } else {
            body + "\n"
        };
        match out.write_all(printed.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
    }
    match args.count {
        Some(n) if got < n => Err(anyhow::anyhow!(
            "received {got} of {n} messages from {} within {} s",
            args.destination,
            args.wait.unwrap_or_default()
        )),
        _ => Ok(()),
    }
}
