//! `shoal connections [--json] [--sort KEY] [--top N]`: who is connected and what each
//! connection does (nats-top's question: who floods the broker, which consumer is slow),
//! asked of the broker over its control queue (`stats::CONTROL_QUEUE`, `shoal-action:
//! connections`), so the user needs write on `/queue/shoal.control` — the right the TUI's
//! bridge actions need. The broker copies only the `--top` connections it sends.

use super::remote::BrokerFlags;
use crate::broker::snapshot::{ConnSort, ConnectionSnapshot};
use crate::stats::ConnectionsReply;
use clap::Args;
use std::fmt::Write;

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// msgs-in, msgs-out, bytes-in, bytes-out, pending, unacked, dropped, subscriptions or
    /// since (oldest first); the largest first.
    #[arg(long, default_value = "msgs-in")]
    pub sort: ConnSort,
    /// How many to list.
    #[arg(long, default_value_t = 50)]
    pub top: usize,
    /// Print JSON: {"total": N, "connections": [...]} (docs/operations.md).
    #[arg(long)]
    pub json: bool,
    /// Close connection ID instead of listing (it gets an ERROR `closed by an operator`;
    /// its unacknowledged messages go back to their queues).
    #[arg(long, value_name = "ID")]
    pub close: Option<u64>,
}

/// Asks the broker for its connections.
pub async fn fetch(
    flags: &BrokerFlags,
    sort: ConnSort,
    top: usize,
) -> anyhow::Result<ConnectionsReply> {
    let headers = [
        ("shoal-action", "connections".to_string()),
        ("shoal-sort", sort.name().to_string()),
        ("shoal-top", top.to_string()),
    ];
    let f = super::remote::ask_control(flags, &headers, flags.timeout()).await?;
    Ok(serde_json::from_slice(&f.body)?)
}

/// The table `shoal connections` prints.
pub fn table(reply: &ConnectionsReply, now: u64) -> String {
    let mut s = format!(
        "{:>6}  {:<22} {:<12} {:<4} {:>5} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9} {:>7} {:>6}  {}\n",
        "ID", "PEER", "USER", "VER", "SUBS", "MSGS IN", "MSGS OUT", "BYTES IN", "BYTES OUT",
        "PENDING", "UNACKED", "DROPPED", "HB", "CONNECTED"
    );
    for c in &reply.connections {
        let _ = writeln!(
            s,
            "{:>6}  {:<22} {:<12} {:<4} {:>5} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9} {:>7} {:>6}  {} ago",
            c.id,
            c.peer,
            c.login.as_deref().unwrap_or("-"),
            c.version.as_deref().unwrap_or("-"),
            c.subscriptions,
            c.msgs_in,
            c.msgs_out,
            c.bytes_in,
            c.bytes_out,
            c.pending,
            c.unacked_bytes,
            c.dropped,
            heartbeat(c),
            super::status::uptime(now.saturating_sub(c.since)),
        );
    }
    let _ = writeln!(
        s,
        "{} of {} connections",
        reply.connections.len(),
        reply.total
    );
    s
}

fn heartbeat(c: &ConnectionSnapshot) -> String {
    crate::tui::conn_view::heartbeat(c.heartbeat_ms)
}

/// Exit codes: 0 listed (or closed); 1 no answer (cannot connect, refused, not a shoal
/// broker) or no such connection; 2 usage.
pub async fn run(args: ConnectionsArgs) -> anyhow::Result<()> {
    if let Some(id) = args.close {
        let headers = [
            ("shoal-action", "close-connection".to_string()),
            ("shoal-conn", id.to_string()),
        ];
        super::remote::ask_control(&args.broker, &headers, args.broker.timeout()).await?;
        return super::shell::stdout(format!("connection {id} closed\n").as_bytes());
    }
    let reply = fetch(&args.broker, args.sort, args.top).await?;
    let out = if args.json {
        serde_json::to_string_pretty(&reply)? + "\n"
    } else {
        let now = crate::broker::snapshot::epoch_secs(std::time::SystemTime::now());
        table(&reply, now)
    };
    super::shell::stdout(out.as_bytes())
}
