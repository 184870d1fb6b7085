//! Snapshot tests: every pane rendered at 80x24 and 160x48 from a realistic, deterministic
//! state, compared with the files in `src/tui/snapshots/`. After an intended change to the
//! look, regenerate them with `SHOAL_UPDATE_SNAPSHOTS=1 cargo test --lib snapshot` and review
//! the diff.

use super::app::{App, Pane, TapMessage, TapView, PANES};
use super::keymap::Keymap;
use super::ui::{render_text, theme::Theme};
use crate::bridge::status::{BridgeSnapshot, BridgeState, Direction, Traffic};
use crate::broker::snapshot::DestinationSnapshot;
use crate::collective::membership::Member;
use crate::collective::ping::{PingOutcome, PingReply};
use crate::stats::{BrokerSummary, StatsReport};

const NOW: u64 = 1_795_600_000;

fn bridge(name: &str, remote: &str, state: BridgeState, i: u64) -> BridgeSnapshot {
    let up = state == BridgeState::Connected;
    BridgeSnapshot {
        name: name.into(),
        direction: if name.contains('/') {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        duplex: true,
        network_ttl: 3,
        remote_broker: up.then(|| remote.to_string()),
        uri: Some(format!("tcp://{remote}.example.net:6166")),
        last_error: (!up).then(|| {
            format!("tcp://{remote}.example.net:6166: connect: Connection refused (os error 111)")
        }),
        state,
        uptime_secs: up.then_some(3_600 * i + 125),
        rtt_ms: up.then_some(0.35 + i as f64 * 11.2),
        traffic: Traffic {
            msgs_out: 120_000 * i,
            bytes_out: 40_000_000 * i,
            msgs_in: 80_000 * i,
            bytes_in: 20_000_000 * i,
            duplicates_dropped: i,
        },
        out_per_sec: if up { 410.0 * i as f64 } else { 0.0 },
        in_per_sec: if up { 120.0 * i as f64 } else { 0.0 },
        in_flight: if up { i as usize * 3 } else { 0 },
        demand_in: 12 + i as usize,
        demand_out: 40,
        reconnects: i,
        standby: false,
        paused: false,
        demand_in_keys: vec![
            "/queue/mcollective.nodes [mc_identity = 'web01.east']".into(),
            "/topic/mcollective.discovery.agent".into(),
            "/topic/mcollective.rpcutil.agent".into(),
        ],
        demand_out_keys: vec!["/queue/mcollective.reply.bastion_4242.1".into()],
        history: vec![
            (NOW - 3_700, "connecting to tcp://peer:6166".into()),
            (NOW - 3_699, "connected".into()),
        ],
    }
}

fn destination(name: &str, i: u64) -> DestinationSnapshot {
    DestinationSnapshot {
        destination: name.into(),
        is_queue: name.starts_with("/queue/"),
        consumers: (i % 7) as usize,
        producers: (i % 3) as usize,
        enqueued: 1_000 * i * i,
        dequeued: 1_000 * i * i - i,
        dispatched: 1_000 * i * i,
        expired: 0,
        dropped: 0,
        pending: i as usize,
        in_flight: 0,
        bytes_in: 300_000 * i,
        bytes_out: 290_000 * i,
        rate_in: 17.0 * i as f64,
        rate_out: 16.0 * i as f64,
        ..Default::default()
    }
}

fn member(id: &str, via: Option<&str>, i: u64) -> Member {
    Member {
        identity: id.into(),
        via: via.map(str::to_string),
        conn: via.is_none().then_some(100 + i),
        address: if via.is_none() {
            format!("10.1.0.{i}:4{i:04}")
        } else {
            String::new()
        },
        agents: vec!["discovery".into(), "rpcutil".into()],
        since: NOW - 86_400 + i * 60,
        last_seen: if i.is_multiple_of(11) {
            NOW - 900
        } else {
            NOW - i
        },
    }
}

/// A fleet's connections as the broker lists them, `tick` seconds into the sample.
fn connections(tick: u64) -> crate::stats::ConnectionsReply {
    use crate::broker::snapshot::ConnectionSnapshot;
    let mut connections: Vec<ConnectionSnapshot> = (0..30u64)
        .map(|i| {
            let node = i > 1;
            ConnectionSnapshot {
                id: 100 + i,
                peer: format!("10.1.{}.{}:{}", i / 10, 20 + i, 40_000 + i * 7),
                login: Some(if node { "mcollective" } else { "admin" }.into()),
                version: Some("1.1".into()),
                since: NOW - 600 - i * 3_600,
                subscriptions: if node { 15 } else { 2 },
                msgs_in: 40 * i
                    + tick * (i % 5) * 30
                    + if i == 0 { 90_000 + tick * 4_000 } else { 0 },
                msgs_out: 300 * i + tick * 12,
                bytes_in: 9_000 * i + tick * 2_000,
                bytes_out: 70_000 * i,
                dropped: if i == 7 { 312 } else { 0 },
                pending: if i == 7 { 4_800 } else { 0 },
                unacked_bytes: if i == 1 { 65_536 } else { 0 },
                heartbeat_ms: if node { 30_000 } else { 0 },
            }
        })
        .collect();
    connections[1].peer = "[::1]:51234 (tls)".into();
    crate::stats::ConnectionsReply {
        total: 10_412,
        connections,
    }
}

fn connection_detail() -> crate::broker::inspect::ConnectionDetail {
    use crate::broker::inspect::SubscriptionDetail;
    let c = connections(1).connections[7].clone();
    let sub = |id: &str, dest: &str, selector: Option<&str>| SubscriptionDetail {
        id: id.into(),
        destination: dest.into(),
        selector: selector.map(str::to_string),
        ack: "auto".into(),
        prefetch: 32_766,
        delivered: 1_200,
        unacked: 0,
        dropped: if dest.contains("discovery") { 312 } else { 0 },
        durable: None,
    };
    crate::broker::inspect::ConnectionDetail {
        connection: c,
        subscriptions: vec![
            sub("1", "/topic/mcollective.discovery.agent", None),
            sub("2", "/topic/mcollective.rpcutil.agent", None),
            sub(
                "3",
                "/queue/mcollective.nodes",
                Some("mc_identity = 'cache07.dc3'"),
            ),
        ],
    }
}

fn state() -> App {
    let mut app = App::new(Keymap::builtin("default").unwrap(), "embedded", false);
    let mut report = StatsReport {
        at_ms: NOW * 1000,
        broker: BrokerSummary {
            name: "mqbroker01".into(),
            version: "0.1.0".into(),
            uptime_secs: 3 * 86_400 + 3_723,
            connections: 412,
            msgs_in: 91_000_000,
            msgs_out: 180_000_000,
            rate_in: 1_250.0,
            rate_out: 2_900.0,
            queued_bytes: 3_400_000,
            store: Some(crate::broker::store::StoreUsage {
                dir: "/var/lib/shoal/store".into(),
                segments: 2,
                disk_bytes: 71_000_000,
                max_disk_bytes: 10 << 30,
                live_messages: 12_400,
                appended_bytes: 900_000_000,
                fsyncs: 41_000,
                error: None,
            }),
        },
        destinations: Vec::new(),
        destinations_total: 0,
        bridges: vec![
            bridge("amq1-amq2", "mqbroker02", BridgeState::Connected, 1),
            bridge("amq1-dc3", "mqbroker03", BridgeState::Connected, 2),
            bridge(
                "amq1-dr",
                "mqdr01",
                BridgeState::Backoff { retry_in_ms: 4_000 },
                3,
            ),
            bridge(
                "amq1-lab",
                "mqlab",
                BridgeState::Failed {
                    error: "authentication failed".into(),
                },
                4,
            ),
            bridge(
                "mqbroker04/amq4-amq1",
                "mqbroker04",
                BridgeState::Connected,
                5,
            ),
        ],
        membership: Default::default(),
        collectives: Default::default(),
        last_reload: None,
    };
    report.bridges[1].paused = true;
    for (i, c) in ["mcollective", "qacollective", "prodcollective"]
        .iter()
        .enumerate()
    {
        for agent in ["discovery", "rpcutil"] {
            report.destinations.push(destination(
                &format!("/topic/{c}.{agent}.agent"),
                i as u64 + 2,
            ));
        }
        report
            .destinations
            .push(destination(&format!("/queue/{c}.nodes"), i as u64 + 5));
        report.destinations.push(destination(
            &format!("/queue/{c}.reply.bastion_4242.{i}"),
            i as u64 + 1,
        ));
    }
    for i in 0..12 {
        report.destinations.push(destination(
            &format!("/topic/app.metrics.host{i:02}"),
            i + 1,
        ));
    }
    let mut all = Vec::new();
    for i in 0..30u64 {
        let (id, via) = match i % 3 {
            0 => (format!("web{i:02}.dc1"), None),
            1 => (format!("db{i:02}.dc2"), Some("mqbroker02")),
            _ => (format!("cache{i:02}.dc3"), Some("mqbroker03")),
        };
        all.push(member(&id, via, i));
    }
    report.membership.insert("mcollective".into(), all.clone());
    report.membership.insert(
        "qacollective".into(),
        all.iter()
            .filter(|m| m.identity.contains("web"))
            .cloned()
            .collect(),
    );
    report.membership.insert(
        "prodcollective".into(),
        all.iter()
            .filter(|m| !m.identity.contains("web"))
            .cloned()
            .collect(),
    );
    // Two minutes of history for the sparklines.
    for t in 0..120u64 {
        let mut r = report.clone();
        r.broker.rate_in = (t % 13) as f64 * 100.0;
        for (j, d) in r.destinations.iter_mut().enumerate() {
            d.rate_in = ((t + j as u64) % 9) as f64 * 10.0;
        }
        for (j, b) in r.bridges.iter_mut().enumerate() {
            b.out_per_sec = ((t * (j as u64 + 1)) % 17) as f64 * 25.0;
        }
        app.history.record(&r);
    }
    app.on_report(report);
    app.conns.on_list(connections(0), NOW * 1000 - 1000);
    app.conns.on_list(connections(1), NOW * 1000);
    app.event("bridge amq1-dr: connected → backoff");
    app.ping.replies = all
        .iter()
        .take(27)
        .enumerate()
        .map(|(i, m)| PingReply {
            identity: m.identity.clone(),
            rtt_ms: 1.5 + (i * i) as f64 * 0.37,
        })
        .collect();
    app.ping.outcome = Some(PingOutcome {
        collective: "mcollective".into(),
        request_id: "a35daf22c51d7b544847df47b239859a".into(),
        replies: app.ping.replies.clone(),
        rejected: vec![(
            "rogue.lab".into(),
            "invalid signature (the sender's pre-shared key differs from ours)".into(),
        )],
        missing: Some(vec![
            "cache29.dc3".into(),
            "db28.dc2".into(),
            "web27.dc1".into(),
        ]),
        missing_note: None,
    });
    app
}

fn check(name: &str, app: &App, w: u16, h: u16) {
    let theme = Theme {
        color: true,
        ascii: app.ascii,
    };
    let text = render_text(app, &theme, w, h);
    let path = format!(
        "{}/src/tui/snapshots/{name}-{w}x{h}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("SHOAL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path} missing: run with SHOAL_UPDATE_SNAPSHOTS=1"));
    assert!(
        text == want,
        "{name} at {w}x{h} differs from {path}:\n{text}"
    );
}

#[test]
fn snapshot_every_pane_at_80x24_and_160x48() {
    let mut app = state();
    for (w, h) in [(80, 24), (160, 48)] {
        for pane in PANES {
            app.pane = pane;
            check(pane.context(), &app, w, h);
        }
    }
    app.pane = Pane::Bridges;
    app.bridge_detail = Some("amq1-lab".into());
    check("bridge-detail", &app, 160, 48);
    app.bridge_detail = None;
    app.pane = Pane::Connections;
    app.conns.open = Some(107);
    app.conns.detail = Some(connection_detail());
    check("connection-detail", &app, 160, 48);
    check("connection-detail", &app, 80, 24);
    app.conns.open = None;
    app.pane = Pane::Traffic;
    app.tap = Some(TapView {
        destination: "/topic/mcollective.discovery.agent".into(),
        messages: (0..3)
            .map(|i| TapMessage {
                at_ms: 0,
                headers: vec![("destination".into(), "/topic/mcollective.discovery.agent".into()), ("mc_sender".into(), "bastion".into())],
                body: format!("request 3eebe5bf{i} from bastion (uid=0) to mcollective.discovery action \"ping\" filter (none) ttl 60"),
            })
            .collect(),
        ..TapView::default()
    });
    check("tap", &app, 80, 24);
    app.tap = None;
    app.help_scroll = Some(0);
    check("help", &app, 80, 24);
    app.help_scroll = None;
    app.ascii = true;
    app.pane = Pane::Bridges;
    check("bridges-ascii", &app, 80, 24);
}
