//! Where messages go: topics, queues, temporary destinations, wildcards, selectors and the
//! headers carried through — against the real `shoal broker` over TCP.

mod common;
use common::{frame, Broker, Stomp};
use shoal::stomp::Command;
use std::collections::HashSet;

#[test]
fn topic_delivers_every_message_to_every_subscriber() {
    let b = Broker::start();
    let mut s1 = Stomp::connect(&b.addr);
    let mut s2 = Stomp::connect(&b.addr);
    s1.subscribe("a", "/topic/news", &[]);
    s2.subscribe("b", "/topic/news", &[]);
    let mut p = Stomp::connect(&b.addr);
    for i in 0..3 {
        p.send_sync("/topic/news", &[], format!("m{i}").as_bytes());
    }
    for s in [&mut s1, &mut s2] {
        for i in 0..3 {
            assert_eq!(s.expect_body(), format!("m{i}"));
        }
    }
}

#[test]
fn topic_message_without_subscribers_is_gone() {
    let b = Broker::start();
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/topic/void", &[], b"lost");
    let mut s = Stomp::connect(&b.addr);
    s.subscribe("a", "/topic/void", &[]);
    s.expect_nothing();
}

#[test]
fn queue_holds_messages_until_a_consumer_comes_and_each_goes_to_one_consumer() {
    let b = Broker::start();
    let mut p = Stomp::connect(&b.addr);
    for i in 0..10 {
        p.send_sync("/queue/work", &[], format!("{i}").as_bytes());
    }
    let mut c1 = Stomp::connect(&b.addr);
    c1.subscribe("1", "/queue/work", &[]);
    let first: Vec<String> = (0..10).map(|_| c1.expect_body()).collect();
    assert_eq!(
        first,
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>(),
        "queue order kept"
    );
    // Two consumers now: round-robin, each message exactly once.
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("2", "/queue/work", &[]);
    for i in 10..20 {
        p.send_sync("/queue/work", &[], format!("{i}").as_bytes());
    }
    let mut seen = HashSet::new();
    let (mut n1, mut n2) = (0, 0);
    while let Some(f) = c1.recv_within(common::QUIET) {
        assert!(seen.insert(f.body.clone()), "duplicate");
        n1 += 1;
    }
    while let Some(f) = c2.recv_within(common::QUIET) {
        assert!(seen.insert(f.body.clone()), "duplicate");
        n2 += 1;
    }
    assert_eq!(seen.len(), 10);
    assert_eq!((n1, n2), (5, 5), "round-robin between two consumers");
}

#[test]
fn temp_queue_is_private_and_reply_to_reaches_its_owner() {
    let b = Broker::start();
    let mut requester = Stomp::connect(&b.addr);
    requester.subscribe("r", "/temp-queue/replies", &[]);
    // A responder learns the temp queue only from reply-to, and can answer to it.
    let mut responder = Stomp::connect(&b.addr);
    responder.subscribe("q", "/queue/requests", &[]);
    requester.send_sync(
        "/queue/requests",
        &[("reply-to", "/temp-queue/replies")],
        b"ping",
    );
    let req = responder.expect(Command::Message);
    let reply_to = req.get("reply-to").unwrap().to_string();
    assert!(reply_to.starts_with("/temp-queue/"), "{reply_to}");
    responder.send_sync(&reply_to, &[], b"pong");
    assert_eq!(requester.expect_body(), "pong");
    // Another connection's /temp-queue/replies is its own, not the requester's.
    responder.send_sync("/temp-queue/replies", &[], b"not for you");
    requester.expect_nothing();
    // Subscribing to someone else's temp queue by its internal name is refused.
    let mut thief = Stomp::connect(&b.addr);
    thief.send(&frame(
        "SUBSCRIBE",
        &[("id", "x"), ("destination", &reply_to)],
        b"",
    ));
    thief.expect_error("temporary destination of another connection");
    // Once the owner is gone, so is its temp queue.
    drop(requester);
    assert!(common::eventually(|| {
        let mut r = Stomp::connect(&b.addr);
        r.send(&frame(
            "SEND",
            &[("destination", &reply_to), ("receipt", "x")],
            b"late",
        ));
        r.recv().is_some_and(|f| f.command == Command::Error)
    }));
}

#[test]
fn temp_topic_is_private() {
    let b = Broker::start();
    let mut a = Stomp::connect(&b.addr);
    a.subscribe("t", "/temp-topic/events", &[]);
    let mut other = Stomp::connect(&b.addr);
    other.subscribe("t", "/temp-topic/events", &[]);
    other.send_sync("/temp-topic/events", &[], b"mine");
    assert_eq!(other.expect_body(), "mine");
    a.expect_nothing();
}

#[test]
fn activemq_wildcards_match_by_element() {
    let b = Broker::start();
    let mut all = Stomp::connect(&b.addr);
    all.subscribe("all", "/topic/mcollective.>", &[]);
    let mut star = Stomp::connect(&b.addr);
    star.subscribe("star", "/topic/mcollective.*.agent", &[]);
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/topic/mcollective.discovery.agent", &[], b"1");
    p.send_sync("/topic/mcollective.rpcutil.agent", &[], b"2");
    p.send_sync("/topic/mcollective.a.b.agent", &[], b"3");
    p.send_sync("/topic/mcollectivex.discovery.agent", &[], b"4");
    p.send_sync("/topic/qacollective.discovery.agent", &[], b"5");
    let got: Vec<String> = std::iter::from_fn(|| all.recv_within(common::QUIET))
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect();
    assert_eq!(got, ["1", "2", "3"]);
    let got: Vec<String> = std::iter::from_fn(|| star.recv_within(common::QUIET))
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect();
    assert_eq!(got, ["1", "2"]);
}

#[test]
fn wildcard_queue_subscription_consumes_from_matching_queues() {
    let b = Broker::start();
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/queue/jobs.eu", &[], b"eu");
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("w", "/queue/jobs.*", &[]);
    assert_eq!(c.expect_body(), "eu");
    p.send_sync("/queue/jobs.us", &[], b"us");
    assert_eq!(c.expect_body(), "us");
}

#[test]
fn mcollective_directed_requests_reach_only_the_named_node() {
    let b = Broker::start();
    let mut nodes: Vec<Stomp> = ["node1", "node2", "node3"]
        .iter()
        .map(|id| {
            // MCollective's gem speaks 1.0: no subscription id, keyed by destination.
            let mut s = Stomp::connect_version(&b.addr, None);
            let sel = format!("mc_identity = '{id}'");
            s.send(&frame(
                "SUBSCRIBE",
                &[
                    ("destination", "/queue/mcollective.nodes"),
                    ("selector", &sel),
                    ("receipt", "r"),
                ],
                b"",
            ));
            s.expect(Command::Receipt);
            s
        })
        .collect();
    let mut client = Stomp::connect_version(&b.addr, None);
    for round in 0..3 {
        client.send_sync(
            "/queue/mcollective.nodes",
            &[("mc_identity", "node2")],
            format!("for node2 #{round}").as_bytes(),
        );
    }
    for round in 0..3 {
        assert_eq!(nodes[1].expect_body(), format!("for node2 #{round}"));
    }
    nodes[0].expect_nothing();
    nodes[2].expect_nothing();
}

#[test]
fn selectors_filter_on_headers() {
    let b = Broker::start();
    let mut s = Stomp::connect(&b.addr);
    s.subscribe(
        "s",
        "/topic/facts",
        &[(
            "selector",
            "(country IN ('de','fr') AND load > 2.5) OR name LIKE 'web\\_%' ESCAPE '\\'",
        )],
    );
    let mut p = Stomp::connect(&b.addr);
    p.send_sync(
        "/topic/facts",
        &[("country", "de"), ("load", "3")],
        b"yes-de",
    );
    p.send_sync(
        "/topic/facts",
        &[("country", "de"), ("load", "1")],
        b"no-load",
    );
    p.send_sync(
        "/topic/facts",
        &[("country", "uk"), ("load", "9")],
        b"no-uk",
    );
    p.send_sync("/topic/facts", &[("name", "web_1")], b"yes-web");
    p.send_sync("/topic/facts", &[("name", "webx1")], b"no-escape");
    assert_eq!(s.expect_body(), "yes-de");
    assert_eq!(s.expect_body(), "yes-web");
    s.expect_nothing();
}

#[test]
fn bad_selector_gets_an_error_naming_the_position() {
    let b = Broker::start();
    let mut s = Stomp::connect(&b.addr);
    let mut other = Stomp::connect(&b.addr);
    other.subscribe("o", "/topic/t", &[]);
    s.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "1"),
            ("destination", "/topic/t"),
            ("selector", "a = 'x' AND AND b = 1"),
        ],
        b"",
    ));
    let e = s.expect_error("selector");
    let text = format!("{:?} {}", e.headers, String::from_utf8_lossy(&e.body));
    assert!(text.contains("position"), "{text}");
    // Others carry on.
    other.send_sync("/topic/t", &[], b"still here");
    assert_eq!(other.expect_body(), "still here");
}

#[test]
fn headers_are_carried_and_broker_headers_added() {
    let b = Broker::start();
    let mut s = Stomp::connect(&b.addr);
    s.subscribe("sub-7", "/queue/h", &[]);
    let mut p = Stomp::connect(&b.addr);
    p.send_sync(
        "/queue/h",
        &[
            ("reply-to", "/queue/back"),
            ("correlation-id", "c-1"),
            ("priority", "7"),
            ("persistent", "true"),
            ("x-custom", "a:b\\c"),
        ],
        b"one",
    );
    p.send_sync("/queue/h", &[], b"two");
    let m1 = s.expect(Command::Message);
    let m2 = s.expect(Command::Message);
    assert_eq!(m1.get("subscription"), Some("sub-7"));
    assert_eq!(m1.get("destination"), Some("/queue/h"));
    assert_eq!(m1.get("reply-to"), Some("/queue/back"));
    assert_eq!(m1.get("correlation-id"), Some("c-1"));
    assert_eq!(m1.get("priority"), Some("7"));
    assert_eq!(m1.get("persistent"), Some("true"));
    assert_eq!(
        m1.get("x-custom"),
        Some("a:b\\c"),
        "1.2 escaping round-trips"
    );
    assert!(m1.get("timestamp").unwrap().parse::<u64>().unwrap() > 1_600_000_000_000);
    assert_eq!(
        m2.get("priority"),
        Some("4"),
        "default priority like ActiveMQ"
    );
    let (id1, id2) = (m1.get("message-id").unwrap(), m2.get("message-id").unwrap());
    assert_ne!(id1, id2, "message ids are unique");
    assert!(
        m1.get("receipt").is_none(),
        "frame-level headers are not carried"
    );
}

#[test]
fn expired_messages_are_never_delivered() {
    let b = Broker::start();
    let mut p = Stomp::connect(&b.addr);
    let past = (shoal::broker::message::now_ms() - 1000).to_string();
    let soon = (shoal::broker::message::now_ms() + 200).to_string();
    let later = (shoal::broker::message::now_ms() + 60_000).to_string();
    p.send_sync("/queue/exp", &[("expires", &past)], b"already expired");
    p.send_sync("/queue/exp", &[("expires", &soon)], b"expires while queued");
    p.send_sync("/queue/exp", &[("expires", &later)], b"fresh");
    p.send_sync("/queue/exp", &[("expires", "0")], b"never expires");
    std::thread::sleep(std::time::Duration::from_millis(400));
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("e", "/queue/exp", &[]);
    assert_eq!(c.expect_body(), "fresh");
    assert_eq!(c.expect_body(), "never expires");
    c.expect_nothing();
}

#[test]
fn stomp_1_0_unsubscribe_by_destination() {
    let b = Broker::start();
    let mut s = Stomp::connect_version(&b.addr, None);
    s.request(frame("SUBSCRIBE", &[("destination", "/topic/u")], b""));
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/topic/u", &[], b"before");
    assert_eq!(s.expect_body(), "before");
    s.request(frame("UNSUBSCRIBE", &[("destination", "/topic/u")], b""));
    p.send_sync("/topic/u", &[], b"after");
    s.expect_nothing();
}
