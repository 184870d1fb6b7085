//! `shoal bench render`: how long the TUI takes to build and draw a frame of each pane with a
//! large broker (1 000 destinations, 1 000 nodes by default) — no broker needed.

use crate::bridge::status::{BridgeSnapshot, BridgeState, Direction, Traffic};
use crate::broker::snapshot::DestinationSnapshot;
use crate::collective::membership::Member;
use crate::stats::StatsReport;
use crate::tui::app::{App, PANES};
use crate::tui::keymap::Keymap;
use crate::tui::ui::theme::Theme;
use clap::Args;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[arg(long, default_value_t = 1000)]
    pub destinations: usize,
    #[arg(long, default_value_t = 1000)]
    pub nodes: usize,
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    #[arg(long, default_value = "160x48")]
    pub size: String,
}

fn report(destinations: usize, nodes: usize, t: u64) -> StatsReport {
    let mut r = StatsReport {
        at_ms: 1_795_600_000_000 + t * 1000,
        ..Default::default()
    };
    r.broker.name = "bench".into();
    r.destinations = (0..destinations)
        .map(|i| DestinationSnapshot {
            destination: format!("/topic/fleet.metrics.host{i:05}"),
            is_queue: false,
            consumers: i % 5,
            producers: 1,
            enqueued: (i as u64 + t) * 100,
            dequeued: (i as u64 + t) * 100,
            dispatched: 0,
            expired: 0,
            dropped: 0,
            pending: 0,
            in_flight: 0,
            bytes_in: i as u64 * 1000,
            bytes_out: i as u64 * 1000,
            rate_in: ((i as u64 + t) % 50) as f64,
            rate_out: 0.0,
            ..Default::default()
        })
        .collect();
    r.bridges = (0..8)
        .map(|i| BridgeSnapshot {
            name: format!("bridge-{i}"),
            direction: Direction::Outbound,
            duplex: true,
            network_ttl: 3,
            remote_broker: Some(format!("peer{i}")),
            uri: None,
            state: BridgeState::Connected,
            uptime_secs: Some(t),
            rtt_ms: Some(1.0),
            traffic: Traffic::default(),
            out_per_sec: ((i + t) % 9) as f64 * 100.0,
            in_per_sec: 5.0,
            in_flight: 0,
            demand_in: 10,
            demand_out: 10,
            reconnects: 0,
            last_error: None,
            standby: false,
            paused: false,
            demand_in_keys: Vec::new(),
            demand_out_keys: Vec::new(),
            history: Vec::new(),
        })
        .collect();
    let members: Vec<Member> = (0..nodes)
        .map(|i| Member {
            identity: format!("node{i:05}.example.net"),
            via: (i % 3 != 0).then(|| format!("peer{}", i % 3)),
            conn: None,
            address: String::new(),
            agents: Vec::new(),
            since: 1_795_500_000,
            last_seen: 1_795_599_000,
        })
        .collect();
    r.membership.insert("mcollective".into(), members);
    r
}

pub fn run(args: &RenderArgs) -> anyhow::Result<bool> {
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--size: expected WIDTHxHEIGHT"))?;
    let theme = Theme {
        color: true,
        ascii: false,
    };
    let mut app = App::new(
        Keymap::builtin("default").expect("built in"),
        "bench",
        false,
    );
    for t in 0..120 {
        app.on_report(report(args.destinations, args.nodes, t));
    }
    let backend = ratatui::backend::TestBackend::new(w, h);
    let mut term = ratatui::Terminal::new(backend)?;
    for pane in PANES {
        let name = pane.context();
        app.pane = pane;
        let start = Instant::now();
        for i in 0..args.frames {
            // A new report every frame: the worst case (each frame rebuilds every row).
            if i % 10 == 0 {
                app.on_report(report(args.destinations, args.nodes, 120 + i as u64));
            }
            term.draw(|f| crate::tui::ui::draw(f, &app, &theme))?;
        }
        let per = start.elapsed().as_secs_f64() * 1000.0 / args.frames as f64;
        println!(
            "render {name:<12} {w}x{h} destinations={} nodes={} frames={}  {per:.2} ms/frame",
            args.destinations, args.nodes, args.frames
        );
    }
    Ok(true)
}
