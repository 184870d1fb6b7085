use super::*;
use crate::bridge::status::{BridgeSnapshot, BridgeState, Direction, Traffic};
use crate::collective::membership::Member;
use crate::tui::ui::{render_text, theme::Theme};

fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}

fn bridge(name: &str, state: BridgeState) -> BridgeSnapshot {
    BridgeSnapshot {
        name: name.into(),
        direction: Direction::Outbound,
        duplex: true,
        network_ttl: 2,
        remote_broker: Some("east".into()),
        uri: Some("tcp://127.0.0.1:6166".into()),
        state,
        uptime_secs: Some(65),
        rtt_ms: Some(0.42),
        traffic: Traffic::default(),
        out_per_sec: 12.0,
        in_per_sec: 3.0,
        in_flight: 0,
        demand_in: 1,
        demand_out: 2,
        reconnects: 1,
        last_error: None,
        standby: false,
        paused: false,
        demand_in_keys: vec!["/topic/mcollective.discovery.agent".into()],
        demand_out_keys: vec![],
        history: vec![(1_000, "connected".into())],
    }
}

fn member(id: &str, via: Option<&str>) -> Member {
    Member {
        identity: id.into(),
        via: via.map(str::to_string),
        conn: None,
        address: "127.0.0.1:5000".into(),
        agents: vec!["discovery".into()],
        since: 1_000,
        last_seen: 1_000,
    }
}

fn report() -> StatsReport {
    let mut r = StatsReport {
        at_ms: 1_010_000,
        ..Default::default()
    };
    r.broker.name = "hub".into();
    r.broker.version = "0.1.0".into();
    r.bridges = vec![bridge("hub-east", BridgeState::Connected)];
    r.membership = [
        (
            "mcollective".to_string(),
            vec![member("web1", None), member("db1", Some("east"))],
        ),
        ("qacollective".to_string(), vec![member("web1", None)]),
    ]
    .into();
    r
}

fn app() -> App {
    let mut a = App::new(Keymap::builtin("default").unwrap(), "embedded", false);
    a.on_report(report());
    a
}

#[test]
fn panes_switch_by_number_and_tab_and_help_is_modal() {
    let mut a = app();
    a.on_key(key("3"));
    assert_eq!(a.pane, Pane::Collectives);
    a.on_key(key("tab"));
    assert_eq!(a.pane, Pane::Ping);
    a.on_key(key("tab"));
    assert_eq!(a.pane, Pane::Connections);
    a.on_key(key("tab"));
    assert_eq!(a.pane, Pane::Bridges);
    a.on_key(key("?"));
    assert_eq!(a.context(), "help");
    a.on_key(key("2")); // ignored in help
    assert_eq!(a.pane, Pane::Bridges);
    a.on_key(key("esc"));
    assert_eq!(a.help_scroll, None);
    a.on_key(key("q"));
    assert!(a.quit);
}

#[test]
fn bridge_actions_ask_first_and_readonly_refuses() {
    let mut a = app();
    assert!(a.on_key(key("r")).is_empty());
    assert!(matches!(a.mode, Mode::Confirm(_)));
    assert_eq!(
        a.on_key(key("y")),
        vec![Effect::Bridge("hub-east".into(), BridgeControl::Reconnect)]
    );
    a.on_key(key("p"));
    assert!(a.on_key(key("n")).is_empty());
    assert_eq!(a.events.back().map(String::as_str), Some("cancelled"));
    let mut ro = App::new(Keymap::builtin("default").unwrap(), "x", true);
    ro.on_report(report());
    ro.on_key(key("r"));
    assert_eq!(ro.mode, Mode::Normal);
    assert!(ro.events.back().unwrap().contains("read-only"));
}

#[test]
fn state_changes_become_events_and_freeze_keeps_the_picture() {
    let mut a = app();
    a.on_key(key("f"));
    let mut r = report();
    r.bridges[0].state = BridgeState::Backoff { retry_in_ms: 500 };
    a.on_report(r);
    assert_eq!(
        a.events.back().unwrap(),
        "bridge hub-east: connected → backoff"
    );
    assert_eq!(a.report.bridges[0].state, BridgeState::Connected, "frozen");
    a.on_key(key("f"));
    assert_eq!(a.report.bridges[0].state.label(), "backoff");
}

#[test]
fn filter_sort_and_ping_from_the_collectives_pane() {
    let mut a = app();
    a.on_key(key("3"));
    assert_eq!(a.shown_rows().len(), 3);
    a.on_key(key("/"));
    for c in "!qa".chars() {
        a.on_key(Key::parse(&c.to_string()).unwrap());
    }
    a.on_key(key("enter"));
    let ids: Vec<String> = a
        .shown_rows()
        .iter()
        .map(|r| r.cells[1].text.clone())
        .collect();
    assert_eq!(ids, ["db1", "web1"]);
    a.on_key(key("down"));
    let fx = a.on_key(key("p"));
    assert_eq!(a.pane, Pane::Ping);
    match &fx[..] {
        [Effect::Ping(req)] => assert_eq!(req.collective, "mcollective"),
        other => panic!("{other:?}"),
    }
    // While it runs, a second ping is not started; replies stream in sorted by RTT.
    assert!(a.on_key(key("r")).is_empty());
    a.on_ping_reply(PingReply {
        identity: "web1".into(),
        rtt_ms: 3.0,
    });
    a.on_ping_reply(PingReply {
        identity: "db1".into(),
        rtt_ms: 1.0,
    });
    let order: Vec<String> = a.shown_rows().iter().map(|r| r.id.clone()).collect();
    assert_eq!(order, ["db1", "web1"]);
    a.on_ping_done(Ok(PingOutcome::default()));
    assert!(!a.ping.running);
}

#[test]
fn the_ping_form_validates_what_was_typed() {
    let mut a = app();
    a.on_key(key("4"));
    a.on_key(key("e"));
    assert_eq!(a.mode, Mode::Form);
    for _ in 0..5 {
        a.on_key(key("tab"));
    }
    a.on_key(key("ctrl-u"));
    a.on_key(key("x"));
    let fx = a.on_key(key("enter"));
    assert!(fx.is_empty());
    assert!(
        a.ping.error.as_deref().unwrap().contains("timeout"),
        "{:?}",
        a.ping.error
    );
}

#[test]
fn taps_are_for_topics_and_pause() {
    let mut a = app();
    a.report.destinations = vec![];
    a.on_key(key("2"));
    assert!(a.on_key(key("t")).is_empty(), "nothing selected");
    a.tap = Some(TapView {
        destination: "/topic/x".into(),
        ..TapView::default()
    });
    assert_eq!(a.context(), "tap");
    a.on_tap(TapMessage {
        at_ms: 0,
        headers: vec![],
        body: "one".into(),
    });
    a.on_key(key("space"));
    a.on_tap(TapMessage {
        at_ms: 0,
        headers: vec![],
        body: "two".into(),
    });
    let t = a.tap.as_ref().unwrap();
    assert_eq!((t.messages.len(), t.missed), (1, 1));
    assert_eq!(a.on_key(key("c")), vec![Effect::Copy("one".into())]);
    assert_eq!(a.on_key(key("esc")), vec![Effect::StopTap]);
    assert!(a.tap.is_none());
}

#[test]
fn renders_at_80x24_with_symbols_not_just_colour() {
    let mut a = app();
    let theme = Theme {
        color: false,
        ascii: false,
    };
    let text = render_text(&a, &theme, 80, 24);
    assert!(text.contains("shoal 0.1.0"), "{text}");
    assert!(text.contains("● connected"), "{text}");
    assert!(text.contains("hub-east"), "{text}");
    assert!(text.contains("bridges 1/1 up"), "{text}");
    assert!(
        text.contains("?/f1 help"),
        "hint bar from the keymap:\n{text}"
    );
    let ascii = Theme {
        color: false,
        ascii: true,
    };
    a.ascii = true;
    let text = render_text(&a, &ascii, 80, 24);
    a.ascii = false;
    assert!(
        text.contains("+ connected") && !text.contains('│') && !text.contains('─'),
        "{text}"
    );
    a.on_key(key("3"));
    let text = render_text(&a, &theme, 80, 24);
    assert!(
        text.contains("mcollective") && text.contains("2 (1 remote, 0 stale)"),
        "{text}"
    );
    a.on_key(key("?"));
    let text = render_text(&a, &theme, 100, 40);
    assert!(
        text.contains("Reconnect the selected bridge")
            || text.contains("Ping the selected collective"),
        "{text}"
    );
    let text = render_text(&a, &theme, 50, 10);
    assert!(text.contains("terminal too small: 50x10"), "{text}");
}

fn connection(id: u64, msgs_in: u64) -> crate::broker::snapshot::ConnectionSnapshot {
    crate::broker::snapshot::ConnectionSnapshot {
        id,
        peer: format!("127.0.0.1:{}", 40_000 + id),
        login: Some("mcollective".into()),
        version: Some("1.2".into()),
        since: 1_000,
        subscriptions: 3,
        msgs_in,
        msgs_out: 0,
        bytes_in: 0,
        bytes_out: 0,
        dropped: 0,
        pending: 0,
        unacked_bytes: 0,
        heartbeat_ms: 0,
    }
}

#[test]
fn connections_rank_by_rate_open_a_detail_and_close_only_after_asking() {
    let mut a = app();
    let list = |n7: u64, n8: u64| crate::stats::ConnectionsReply {
        total: 2,
        connections: vec![connection(7, n7), connection(8, n8)],
    };
    a.conns.on_list(list(100, 1_000), 1_000_000);
    a.conns.on_list(list(150, 1_010), 1_002_000);
    assert_eq!(a.conns.rates[&7], (25.0, 0.0));
    a.on_key(key("5"));
    assert_eq!(a.pane, Pane::Connections);
    // Sorted by in/s, busiest first: 7 (25/s) above 8 (5/s) although 8 has more in all.
    let ids: Vec<String> = a.shown_rows().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["7", "8"]);
    assert_eq!(a.on_key(key("enter")), vec![Effect::InspectConnection(7)]);
    assert_eq!(a.conns.open, Some(7));
    assert!(a.on_key(key("x")).is_empty(), "closing must ask first");
    let Mode::Confirm(c) = &a.mode else {
        panic!("no question: {:?}", a.mode)
    };
    assert!(c.question.contains("connection 7"), "{}", c.question);
    assert_eq!(a.on_key(key("y")), vec![Effect::CloseConnection(7)]);
    a.on_key(key("esc"));
    assert_eq!(a.conns.open, None);
    let mut ro = App::new(Keymap::builtin("default").unwrap(), "embedded", true);
    ro.conns.on_list(list(1, 1), 1_000);
    ro.pane = Pane::Connections;
    assert!(ro.on_key(key("x")).is_empty());
    assert_eq!(ro.mode, Mode::Normal, "read-only asked anyway");
}

#[test]
fn shoals_own_destinations_are_hidden_until_asked_for() {
    let mut a = app();
    let dest = |name: &str| crate::broker::snapshot::DestinationSnapshot {
        destination: name.into(),
        ..Default::default()
    };
    a.report.destinations = vec![dest("/topic/shoal.stats.report"), dest("/queue/jobs")];
    a.on_key(key("2"));
    let ids = |a: &App| -> Vec<String> { a.shown_rows().into_iter().map(|r| r.id).collect() };
    assert_eq!(ids(&a), ["/queue/jobs"]);
    a.on_key(key("i"));
    assert_eq!(ids(&a).len(), 2);
}

#[test]
fn a_reload_shows_once_in_the_event_line_but_not_one_from_before_the_tui_looked() {
    let mut a = App::new(Keymap::builtin("default").unwrap(), "embedded", false);
    let note = |at_ms: u64, summary: &str| crate::stats::ReloadNote {
        at_ms,
        ok: true,
        summary: summary.into(),
    };
    let mut r = report();
    r.last_reload = Some(note(5, "config reloaded: user old added"));
    a.on_report(r.clone());
    a.on_report(r.clone());
    assert!(a.events.is_empty(), "{:?}", a.events);
    r.last_reload = Some(note(9, "config reloaded: user newops added"));
    a.on_report(r.clone());
    a.on_report(r);
    let shown: Vec<_> = a.events.iter().filter(|e| e.contains("reloaded")).collect();
    assert_eq!(shown, ["config reloaded: user newops added"]);
}
