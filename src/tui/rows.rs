//! Each pane's table as rows of cells (text + sort key), from the latest report. What the
//! operator sees in a row is what the filter matches and the copy action copies.

use super::app::{App, Pane};
use super::history::{sparkline, tail};
use super::table::{Cell, Row, Tone};
use crate::bridge::status::{BridgeSnapshot, BridgeState};

pub const BRIDGE_COLUMNS: [&str; 11] = [
    "state", "bridge", "remote", "rtt", "in/s", "out/s", "rate", "backlog", "demand", "uptime",
    "reconn",
];
pub const TRAFFIC_COLUMNS: [&str; 9] = [
    "destination",
    "cons",
    "prod",
    "enq",
    "deq",
    "pending",
    "in/s",
    "rate",
    "bytes",
];
pub const MEMBER_COLUMNS: [&str; 6] = [
    "collective",
    "identity",
    "broker",
    "via",
    "since",
    "last seen",
];
pub const REPLY_COLUMNS: [&str; 2] = ["identity", "rtt ms"];
/// Traffic sorts by messages in, busiest first.
pub const TRAFFIC_SORT_DEFAULT: usize = 3;

pub fn columns(p: Pane) -> usize {
    match p {
        Pane::Bridges => BRIDGE_COLUMNS.len(),
        Pane::Traffic => TRAFFIC_COLUMNS.len(),
        Pane::Collectives => MEMBER_COLUMNS.len(),
        Pane::Ping => REPLY_COLUMNS.len(),
        Pane::Connections => super::conn_view::CONNECTION_COLUMNS.len(),
    }
}

/// A state's symbol: never colour alone (and ASCII when asked).
pub fn state_symbol(s: &BridgeState, paused: bool, ascii: bool) -> &'static str {
    let (u, a) = match s {
        _ if paused => ("‖", "="),
        BridgeState::Connected => ("●", "+"),
        BridgeState::Connecting { .. } => ("◌", "~"),
        BridgeState::Backoff { .. } => ("↻", "."),
        BridgeState::Failed { .. } => ("✗", "x"),
        BridgeState::Stopped => ("■", "-"),
    };
    if ascii {
        a
    } else {
        u
    }
}

/// A bridge state's colour.
pub fn state_tone(s: &BridgeState, paused: bool) -> Tone {
    match s {
        _ if paused => Tone::Warn,
        BridgeState::Connected => Tone::Good,
        BridgeState::Connecting { .. } | BridgeState::Backoff { .. } => Tone::Warn,
        BridgeState::Failed { .. } => Tone::Bad,
        BridgeState::Stopped => Tone::Plain,
    }
}

pub fn human_count(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.1}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{}", n.round() as u64)
    }
}

pub fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A bridge row's id is `name` (outbound) or `name (in)`: one broker may have both.
fn bridge_id(b: &BridgeSnapshot) -> String {
    match b.direction {
        crate::bridge::status::Direction::Outbound => b.name.clone(),
        crate::bridge::status::Direction::Inbound => format!("{} (in)", b.name),
    }
}

pub fn bridge_name(id: &str) -> &str {
    id.strip_suffix(" (in)").unwrap_or(id)
}

pub fn collective_of(member_id: &str) -> &str {
    member_id.split('\0').next().unwrap_or("")
}

fn bridge_rows(app: &App, ascii: bool) -> Vec<Row> {
    app.report
        .bridges
        .iter()
        .map(|b| {
            let rate = sparkline(&tail(app.history.bridges_out.get(&b.name), 12), ascii);
            Row {
                id: bridge_id(b),
                cells: vec![
                    Cell::text(format!(
                        "{} {}",
                        state_symbol(&b.state, b.paused, ascii),
                        if b.paused { "paused" } else { b.state.label() }
                    ))
                    .tone(state_tone(&b.state, b.paused)),
                    Cell::text(bridge_id(b)),
                    Cell::text(b.remote_broker.clone().unwrap_or_else(|| "?".into())),
                    Cell::num(
                        b.rtt_ms
                            .map(|r| format!("{r:.1}"))
                            .unwrap_or_else(|| "-".into()),
                        b.rtt_ms.unwrap_or(f64::MAX),
                    ),
                    Cell::num(human_count(b.in_per_sec), b.in_per_sec),
                    Cell::num(human_count(b.out_per_sec), b.out_per_sec),
                    Cell::num(rate, b.out_per_sec),
                    Cell::num(b.in_flight.to_string(), b.in_flight as f64),
                    Cell::num(
                        format!("{}/{}", b.demand_in, b.demand_out),
                        (b.demand_in + b.demand_out) as f64,
                    ),
                    Cell::num(
                        b.uptime_secs.map(human_secs).unwrap_or_else(|| "-".into()),
                        b.uptime_secs.unwrap_or(0) as f64,
                    ),
                    Cell::num(b.reconnects.to_string(), b.reconnects as f64),
                ],
            }
        })
        .collect()
}

fn traffic_rows(app: &App, ascii: bool) -> Vec<Row> {
    app.report
        .destinations
        .iter()
        .filter(|d| app.show_internal || !crate::stats::is_internal(&d.destination))
        .map(|d| Row {
            id: d.destination.clone(),
            cells: vec![
                Cell::text(d.destination.clone()),
                Cell::num(d.consumers.to_string(), d.consumers as f64),
                Cell::num(d.producers.to_string(), d.producers as f64),
                Cell::num(human_count(d.enqueued as f64), d.enqueued as f64),
                Cell::num(human_count(d.dequeued as f64), d.dequeued as f64),
                Cell::num(d.pending.to_string(), d.pending as f64),
                Cell::num(human_count(d.rate_in), d.rate_in),
                Cell::num(
                    sparkline(
                        &tail(app.history.destinations.get(&d.destination), 12),
                        ascii,
                    ),
                    d.rate_in,
                ),
                Cell::num(
                    human_count((d.bytes_in + d.bytes_out) as f64),
                    (d.bytes_in + d.bytes_out) as f64,
                ),
            ],
        })
        .collect()
}

fn member_rows(app: &App) -> Vec<Row> {
    let now = app.report.at_ms / 1000;
    let mut rows = Vec::new();
    for (c, members) in &app.report.membership {
        for m in members {
            let stale = m.is_stale(now);
            rows.push(Row {
                id: format!("{c}\0{}", m.identity),
                cells: vec![
                    Cell::text(c.clone()),
                    Cell::text(format!(
                        "{}{}",
                        m.identity,
                        if stale { " (stale)" } else { "" }
                    ))
                    .tone(if stale { Tone::Bad } else { Tone::Plain }),
                    Cell::text(
                        m.via
                            .clone()
                            .unwrap_or_else(|| app.report.broker.name.clone()),
                    ),
                    Cell::text(
                        m.via
                            .as_ref()
                            .map(|v| format!("bridge {v}"))
                            .unwrap_or_else(|| m.address.clone()),
                    ),
                    Cell::num(human_secs(now.saturating_sub(m.since)), -(m.since as f64)),
                    Cell::num(
                        format!("{} ago", human_secs(now.saturating_sub(m.last_seen))),
                        -(m.last_seen as f64),
                    ),
                ],
            });
        }
    }
    rows
}

fn reply_rows(app: &App) -> Vec<Row> {
    app.ping
        .replies
        .iter()
        .map(|r| Row {
            id: r.identity.clone(),
            cells: vec![
                Cell::text(r.identity.clone()),
                Cell::num(format!("{:.2}", r.rtt_ms), r.rtt_ms),
            ],
        })
        .collect()
}

pub fn rows_for(app: &App, pane: Pane) -> Vec<Row> {
    let ascii = app.ascii;
    match pane {
        Pane::Bridges => bridge_rows(app, ascii),
        Pane::Traffic => traffic_rows(app, ascii),
        Pane::Collectives => member_rows(app),
        Pane::Ping => reply_rows(app),
        Pane::Connections => app.conns.rows(app.report.at_ms / 1000),
    }
}
