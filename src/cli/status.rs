//! `shoal status [--json]`: the TUI's header as text for a shell — the broker, its bridges,
//! the busiest destinations and the collectives — read from the broker's stats report (see
//! `remote`). `--json` prints the [`Status`] below: its fields are the documented, stable
//! interface for scripts (docs/operations.md); new fields may be added, none renamed.

use super::remote::{fetch_report, BrokerFlags};
use crate::stats::StatsReport;
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// Print JSON (one object, see docs/operations.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Destinations to list, busiest first.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Also list shoal's own destinations (shoal.stats.report, shoal.control, …).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub broker: BrokerStatus,
    pub bridges: Vec<BridgeStatus>,
    /// The busiest destinations, by message rate then depth.
    pub destinations: Vec<DestinationStatus>,
    pub destinations_total: usize,
    pub collectives: BTreeMap<String, crate::collective::membership::CollectiveSummary>,
}

#[derive(Debug, Serialize)]
pub struct BrokerStatus {
    pub name: String,
    pub version: String,
    pub uptime_secs: u64,
    pub connections: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    pub rate_in: f64,
    pub rate_out: f64,
    pub queued_bytes: u64,
    pub store: Option<crate::broker::store::StoreUsage>,
}

#[derive(Debug, Serialize)]
pub struct BridgeStatus {
    pub name: String,
    /// `outbound` (this broker dials) or `inbound` (a peer dialed in).
    pub direction: crate::bridge::status::Direction,
    /// connecting, connected, backoff, failed or stopped.
    pub state: &'static str,
    pub peer: Option<String>,
    pub paused: bool,
    pub rtt_ms: Option<f64>,
    pub out_per_sec: f64,
    pub in_per_sec: f64,
    pub in_flight: usize,
    pub reconnects: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DestinationStatus {
    pub destination: String,
    pub depth: usize,
    pub consumers: usize,
    pub producers: usize,
    pub enqueued: u64,
    pub rate_in: f64,
    pub rate_out: f64,
}

impl Status {
    /// The status of report `r`, with its `top` busiest destinations (shoal's own
    /// `shoal.…` ones only when `internal`).
    pub fn of(r: StatsReport, top: usize, internal: bool) -> Status {
        let mut dests = r.destinations;
        dests.retain(|d| internal || !crate::stats::is_internal(&d.destination));
        dests.sort_by(|a, b| {
            (b.rate_in + b.rate_out, b.pending)
                .partial_cmp(&(a.rate_in + a.rate_out, a.pending))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.destination.cmp(&b.destination))
        });
        dests.truncate(top);
        let b = r.broker;
        Status {
            broker: BrokerStatus {
                name: b.name,
                version: b.version,
                uptime_secs: b.uptime_secs,
                connections: b.connections,
                messages_in: b.msgs_in,
                messages_out: b.msgs_out,
                rate_in: b.rate_in,
                rate_out: b.rate_out,
                queued_bytes: b.queued_bytes,
                store: b.store,
            },
            bridges: r
                .bridges
                .into_iter()
                .map(|b| BridgeStatus {
                    state: b.state.label(),
                    name: b.name,
                    direction: b.direction,
                    peer: b.remote_broker,
                    paused: b.paused,
                    rtt_ms: b.rtt_ms,
                    out_per_sec: b.out_per_sec,
                    in_per_sec: b.in_per_sec,
                    in_flight: b.in_flight,
                    reconnects: b.reconnects,
                    last_error: b.last_error,
                })
                .collect(),
            destinations: dests
                .into_iter()
                .map(|d| DestinationStatus {
                    destination: d.destination,
                    depth: d.pending,
                    consumers: d.consumers,
                    producers: d.producers,
                    enqueued: d.enqueued,
                    rate_in: d.rate_in,
                    rate_out: d.rate_out,
                })
                .collect(),
            destinations_total: r.destinations_total,
            collectives: r.collectives,
        }
    }

    /// The text `shoal status` prints.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let b = &self.broker;
        let mut s = format!(
            "broker {} (shoal {}), up {}, {} connections, {:.0} msg/s in, {:.0} msg/s out, {} queued\n",
            b.name,
            b.version,
            uptime(b.uptime_secs),
            b.connections,
            b.rate_in,
            b.rate_out,
            bytes(b.queued_bytes),
        );
        if let Some(st) = &b.store {
            let _ = writeln!(
                s,
                "store {}: {} of {}, {} live messages{}",
                st.dir,
                bytes(st.disk_bytes),
                bytes(st.max_disk_bytes),
                st.live_messages,
                st.error
                    .as_ref()
                    .map(|e| format!(", FAILING: {e}"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(s, "\nbridges: {}", self.bridges.len());
        for br in &self.bridges {
            let _ = writeln!(
                s,
                "  {:<20} {:<10} {:<8} peer {:<16} rtt {:>8}  out {:.0}/s  in {:.0}/s  backlog {}  reconnects {}{}",
                br.name,
                br.state,
                if br.paused { "paused" } else { "" },
                br.peer.as_deref().unwrap_or("-"),
                br.rtt_ms.map(|r| format!("{r:.1} ms")).unwrap_or_else(|| "-".into()),
                br.out_per_sec,
                br.in_per_sec,
                br.in_flight,
                br.reconnects,
                br.last_error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "\ndestinations: {} busiest of {}",
            self.destinations.len(),
            self.destinations_total
        );
        for d in &self.destinations {
            let _ = writeln!(
                s,
                "  {:<48} depth {:>7}  consumers {:>5}  in {:.0}/s  out {:.0}/s",
                d.destination, d.depth, d.consumers, d.rate_in, d.rate_out
            );
        }
        let _ = writeln!(s, "\ncollectives: {}", self.collectives.len());
        for (name, c) in &self.collectives {
            let _ = writeln!(
                s,
                "  {name:<24} {} members ({} through bridges, {} stale)",
                c.members, c.remote, c.stale
            );
        }
        s
    }
}

pub(crate) fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Exit codes: 0 printed; 1 no report (cannot connect, refused, not a shoal broker); 2 usage.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let (addr, opts) = args.broker.options()?;
    let report = fetch_report(&args.broker, &opts, &addr).await?;
    let status = Status::of(report, args.top, args.all);
    let out = if args.json {
        serde_json::to_string_pretty(&status)? + "\n"
    } else {
        status.text()
    };
    super::shell::stdout(out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::is_internal;

    #[test]
    fn sizes_and_durations_read_like_an_operator_writes_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(uptime(59), "59s");
        assert_eq!(uptime(3 * 3600 + 120), "3h2m");
        assert_eq!(uptime(2 * 86400 + 3600), "2d1h");
        assert!(is_internal("/topic/shoal.stats.report") && is_internal("/queue/shoal.control"));
        assert!(!is_internal("/queue/shoalfish") && !is_internal("/topic/mcollective.shoal.x"));
    }
}
