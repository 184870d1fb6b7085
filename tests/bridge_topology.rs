//! Networks of real shoal brokers on loopback: lines with TTLs, a ring and a full mesh (every
//! message exactly once, nothing circulating), queues across brokers, a broker killed mid-stream.

mod common;
use common::net::{node, node_with, wait_for_route};
use common::{frame, Broker, Stomp, OPEN};
use shoal::stomp::Command;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Publishes `{prefix}0`… `{prefix}{n-1}` to `dest` on `p`, then waits for a receipt, so all
/// of them have reached the broker.
fn publish_numbered(p: &mut Stomp, dest: &str, prefix: &str, n: usize) {
    for i in 0..n {
        p.send(&frame(
            "SEND",
            &[("destination", dest)],
            format!("{prefix}{i}").as_bytes(),
        ));
    }
    p.request(frame("SEND", &[("destination", "/queue/flush")], b""));
}

/// Counts bodies received on `s` until it is quiet for a while.
fn collect(s: &mut Stomp) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    while let Some(f) = s.recv_within(Duration::from_millis(800)) {
        if f.command == Command::Message && f.get("probe").is_none() {
            *seen
                .entry(String::from_utf8_lossy(&f.body).into_owned())
                .or_insert(0) += 1;
        }
    }
    seen
}

fn exactly_once(seen: &HashMap<String, usize>, expected: impl Iterator<Item = String>) {
    let expected: Vec<String> = expected.collect();
    for e in &expected {
        assert_eq!(
            seen.get(e),
            Some(&1),
            "{e} delivered {:?} times; all: {seen:?}",
            seen.get(e)
        );
    }
    assert_eq!(
        seen.len(),
        expected.len(),
        "unexpected extra messages: {seen:?}"
    );
}

#[test]
fn line_with_ttl_2_delivers_end_to_end_exactly_once_and_ttl_1_stops_at_one_hop() {
    // A → B → C (B dials C, A dials B), non-duplex: messages flow toward C.
    let c = node("C", &[], "");
    let b = node("B", &[("C", &c.cluster[0])], "network_ttl = 2");
    let a = node("A", &[("B", &b.cluster[0])], "network_ttl = 2");
    let mut sub = Stomp::connect(&c.addr);
    sub.subscribe("s", "/topic/line", &[]);
    wait_for_route(&a, &mut sub, "/topic/line");
    let mut p = Stomp::connect(&a.addr);
    publish_numbered(&mut p, "/topic/line", "m", 200);
    exactly_once(&collect(&mut sub), (0..200).map(|i| format!("m{i}")));

    // The same line with network_ttl = 1: nothing from A reaches C (B still gets it).
    let c = node("C", &[], "");
    let b = node("B", &[("C", &c.cluster[0])], "network_ttl = 1");
    let a = node("A", &[("B", &b.cluster[0])], "network_ttl = 1");
    let mut on_c = Stomp::connect(&c.addr);
    on_c.subscribe("s", "/topic/line", &[]);
    let mut on_b = Stomp::connect(&b.addr);
    on_b.subscribe("s", "/topic/line", &[]);
    wait_for_route(&a, &mut on_b, "/topic/line");
    let mut p = Stomp::connect(&a.addr);
    p.send_sync("/topic/line", &[], b"one hop only");
    assert_eq!(on_b.expect_body(), "one hop only");
    assert!(
        on_c.recv_within(Duration::from_secs(1)).is_none(),
        "crossed two bridges with ttl 1"
    );
}

/// Starts `names.len()` brokers joined by duplex bridges along `edges` (i dials j).
fn network(names: &[&'static str], edges: &[(usize, usize)], ttl: u32) -> Vec<Broker> {
    let mut brokers: Vec<Option<Broker>> = (0..names.len()).map(|_| None).collect();
    // Brokers that only accept first, then the dialers in order (a dialer needs its peers up).
    for i in 0..names.len() {
        if edges.iter().all(|(from, _)| *from != i) {
            brokers[i] = Some(node(names[i], &[], ""));
        }
    }
    for i in 0..names.len() {
        if brokers[i].is_some() {
            continue;
        }
        let peers: Vec<(&str, String)> = edges
            .iter()
            .filter(|(from, _)| *from == i)
            .map(|(_, to)| {
                (
                    names[*to],
                    brokers[*to]
                        .as_ref()
                        .expect("dial targets start first")
                        .cluster[0]
                        .clone(),
                )
            })
            .collect();
        let peers: Vec<(&str, &str)> = peers.iter().map(|(n, a)| (*n, a.as_str())).collect();
        brokers[i] = Some(node(
            names[i],
            &peers,
            &format!("duplex = true\nnetwork_ttl = {ttl}"),
        ));
    }
    brokers.into_iter().map(Option::unwrap).collect()
}

/// Every broker has a subscriber; each broker publishes; every subscriber gets every message
/// exactly once, and the bridges go quiet afterwards (nothing circulates).
fn everyone_gets_everything_once(brokers: &[Broker], dest: &str) {
    let mut subs: Vec<Stomp> = brokers
        .iter()
        .map(|b| {
            let mut s = Stomp::connect(&b.addr);
            s.subscribe("s", dest, &[]);
            s
        })
        .collect();
    for from in brokers {
        for s in subs.iter_mut() {
            wait_for_route(from, s, dest);
        }
    }
    for (i, b) in brokers.iter().enumerate() {
        let mut p = Stomp::connect(&b.addr);
        publish_numbered(&mut p, dest, &format!("b{i}-"), 50);
    }
    let expected = || (0..brokers.len()).flat_map(|i| (0..50).map(move |n| format!("b{i}-{n}")));
    for s in subs.iter_mut() {
        exactly_once(&collect(s), expected());
    }
    // Quiet: a message published now arrives once, and nothing else shows up after it.
    let mut p = Stomp::connect(&brokers[0].addr);
    p.send_sync(dest, &[], b"last");
    for s in subs.iter_mut() {
        assert_eq!(s.expect_body(), "last");
        assert!(
            s.recv_within(Duration::from_secs(1)).is_none(),
            "something is still circulating"
        );
    }
}

#[test]
fn ring_of_three_duplex_delivers_each_message_once() {
    let b = network(&["R1", "R2", "R3"], &[(1, 0), (2, 1), (2, 0)], 3);
    everyone_gets_everything_once(&b, "/topic/ring");
}

#[test]
fn routes_of_different_lengths_within_the_ttl_deliver_everything_once() {
    // A mesh of four with B–D and C–D down: D is reachable from B and C only through A, two
    // bridges, and network_ttl is 2. B's messages also reach A the long way (B→C→A) with no
    // TTL left; when that copy came first, the direct one (which could still go on to D) was
    // dropped as a duplicate and D never got the message.
    let b = network(&["A", "B", "C", "D"], &[(1, 0), (2, 0), (2, 1), (3, 0)], 2);
    everyone_gets_everything_once(&b, "/topic/uneven");
}

#[test]
fn full_mesh_of_five_duplex_delivers_each_message_once() {
    let names = ["M1", "M2", "M3", "M4", "M5"];
    let mut edges = Vec::new();
    for i in 0..5 {
        for j in 0..i {
            edges.push((i, j));
        }
    }
    let b = network(&names, &edges, 4);
    everyone_gets_everything_once(&b, "/topic/mesh");
}

#[test]
fn two_duplex_links_between_the_same_pair_deliver_once() {
    // The seed configures a duplex connector on both brokers toward each other.
    let mut cfg = format!("{OPEN}[cluster]\nlisten = [\"127.0.0.1:0\"]\n");
    let one = Broker::start_with(&cfg, &["--name", "mq1"]);
    cfg.push_str(&format!("[[bridge]]\nname = \"mq2-mq1\"\nuri = \"static:(tcp://{})\"\nduplex = true\nnetwork_ttl = 2\n", one.cluster[0]));
    let two = Broker::start_with(&cfg, &["--name", "mq2"]);
    assert!(two.wait_log("bridge connected"));
    // And mq1 back to mq2: restart mq1 with its own bridge would change ports; a second
    // bridge from mq2 is the same shape (two links between one pair).
    let mut cfg2 = format!("{OPEN}[cluster]\nlisten = [\"127.0.0.1:0\"]\n");
    for n in ["a", "b"] {
        cfg2.push_str(&format!("[[bridge]]\nname = \"link-{n}\"\nuri = \"static:(tcp://{})\"\nduplex = true\nnetwork_ttl = 2\n", one.cluster[0]));
    }
    let three = Broker::start_with(&cfg2, &["--name", "mq3"]);
    assert!(
        three.wait_log("bridge connected bridge=link-a")
            && three.wait_log("bridge connected bridge=link-b")
    );
    everyone_gets_everything_once(&[one, two, three], "/topic/pair");
}

#[test]
fn queue_messages_cross_brokers_once_and_survive_a_killed_broker() {
    // No redeliveries allowed on A: messages a dead bridge returns must not count as such
    // (they would be dead-lettered instead of reaching C).
    let a = node_with("QA", &[], "", "[delivery]\nmax_redeliveries = 0\n");
    let mut b = node(
        "QB",
        &[("QA", &a.cluster[0])],
        "duplex = true\nnetwork_ttl = 2",
    );
    let c = node(
        "QC",
        &[("QA", &a.cluster[0])],
        "duplex = true\nnetwork_ttl = 2",
    );
    // Consumers on B and C (client acks, so B's unacked messages are B's problem); producer on A.
    let mut on_b = Stomp::connect(&b.addr);
    on_b.subscribe("b", "/queue/work", &[("ack", "client-individual")]);
    let mut on_c = Stomp::connect(&c.addr);
    on_c.subscribe("c", "/queue/work", &[("ack", "client-individual")]);
    // Wait until both have demand at A (a probe reaches each).
    let mut p = Stomp::connect(&a.addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut got_b, mut got_c) = (false, false);
    while !(got_b && got_c) {
        assert!(Instant::now() < deadline, "queue demand did not reach A");
        p.send_sync("/queue/work", &[("probe", "1")], b"probe");
        for (s, got) in [(&mut on_b, &mut got_b), (&mut on_c, &mut got_c)] {
            while let Some(m) = s.recv_within(Duration::from_millis(50)) {
                s.request(frame("ACK", &[("id", m.get("ack").unwrap())], b""));
                *got = true;
            }
        }
    }
    let total = 400;
    publish_numbered(&mut p, "/queue/work", "q", total);
    // B's consumer acknowledges its first 20 messages, and B is then killed (SIGKILL) holding
    // more. C acknowledges everything it gets.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut b_acked = 0;
    while b_acked < 20 {
        let Some(m) = on_b.recv_within(Duration::from_secs(5)) else {
            break;
        };
        on_b.request(frame("ACK", &[("id", m.get("ack").unwrap())], b""));
        if m.get("probe").is_none() {
            *seen
                .entry(String::from_utf8_lossy(&m.body).into_owned())
                .or_insert(0) += 1;
            b_acked += 1;
        }
    }
    assert_eq!(b_acked, 20, "B's consumer got too little before the kill");
    std::thread::sleep(Duration::from_millis(200)); // let B's receipts for those reach A
    b.kill();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(4) {
        if let Some(m) = on_c.recv_within(Duration::from_millis(200)) {
            on_c.request(frame("ACK", &[("id", m.get("ack").unwrap())], b""));
            if m.get("probe").is_none() {
                *seen
                    .entry(String::from_utf8_lossy(&m.body).into_owned())
                    .or_insert(0) += 1;
            }
            last = Instant::now();
        }
    }
    // Everything B held unconsumed went back to A's queue when the link died, and on to C:
    // every message was consumed exactly once, on B or on C, none lost.
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "consumed twice: {dupes:?}");
    let missing: Vec<usize> = (0..total)
        .filter(|i| !seen.contains_key(&format!("q{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} messages: {missing:?}",
        missing.len()
    );
}

/// Publishes `body` on `from` until it arrives on `to` (or `limit` passes); returns whether it
/// did and how long it took.
fn flows_within(
    from: &Broker,
    to: &mut Stomp,
    dest: &str,
    body: &str,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let mut p = Stomp::connect(&from.addr);
    while start.elapsed() < limit {
        p.send_sync(dest, &[], body.as_bytes());
        while let Some(f) = to.recv_within(Duration::from_millis(100)) {
            if f.body == body.as_bytes() {
                return Some(start.elapsed());
            }
        }
    }
    None
}

#[test]
fn partitions_stalls_and_delays_are_survived_and_reported() {
    // B's bridge to A goes through a proxy the test controls.
    let a = node("PA", &[], "");
    let proxy = common::FaultProxy::start(&a.cluster[0]);
    let b = node(
        "PB",
        &[("PA", &proxy.addr)],
        "duplex = true\nnetwork_ttl = 2\nheartbeat_ms = 200\nlink_timeout_ms = 600\ninitial_reconnect_delay_ms = 100\nmax_reconnect_delay_ms = 500",
    );
    let mut sub = Stomp::connect(&b.addr);
    sub.subscribe("s", "/topic/wan", &[]);
    assert!(flows_within(
        &a,
        &mut sub,
        "/topic/wan",
        "before",
        Duration::from_secs(10)
    )
    .is_some());

    // 100 ms of added latency: still flowing, and the RTT is measured.
    proxy.delay(Duration::from_millis(100));
    assert!(flows_within(&a, &mut sub, "/topic/wan", "slow", Duration::from_secs(10)).is_some());
    proxy.delay(Duration::ZERO);

    // A stalled link (connected, silent) is declared dead after link_timeout_ms.
    proxy.stall(true);
    assert!(b.wait_log("nothing from PA for"), "{}", b.log());
    proxy.stall(false);
    assert!(flows_within(
        &a,
        &mut sub,
        "/topic/wan",
        "after stall",
        Duration::from_secs(10)
    )
    .is_some());

    // A partition: the bridge reports it and backs off; after healing it reconnects within
    // 2 s, re-sends its demand, and messages flow again.
    proxy.partition();
    assert!(b.wait_log("bridge backoff bridge=PB-PA"), "{}", b.log());
    std::thread::sleep(Duration::from_secs(1));
    let connects_before = b.log().matches("bridge connected bridge=PB-PA").count();
    proxy.heal();
    let healed = Instant::now();
    assert!(
        common::eventually(
            || b.log().matches("bridge connected bridge=PB-PA").count() > connects_before
        ),
        "no reconnect: {}",
        b.log()
    );
    assert!(
        healed.elapsed() < Duration::from_secs(2),
        "reconnected only after {:?}",
        healed.elapsed()
    );
    let took = flows_within(
        &a,
        &mut sub,
        "/topic/wan",
        "healed",
        Duration::from_secs(10),
    );
    assert!(took.is_some(), "demand not re-synced after the partition");
    // A cut (both connections closed at once) is also survived.
    proxy.cut();
    assert!(flows_within(
        &a,
        &mut sub,
        "/topic/wan",
        "after cut",
        Duration::from_secs(10)
    )
    .is_some());
}

/// A triangle: consumer on C, producer on A. A can reach C's queue directly or through B.
/// Returns the `shoal-path` of every message consumed on C.
fn queue_paths_in_triangle(suppress: bool) -> Vec<String> {
    let extra = format!(
        "duplex = true\nnetwork_ttl = 2\nsuppress_duplicate_queue_subscriptions = {suppress}"
    );
    let c = node("TC", &[], "");
    let b = node("TB", &[("TC", &c.cluster[0])], &extra);
    let a = node(
        "TA",
        &[("TB", &b.cluster[0]), ("TC", &c.cluster[0])],
        &extra,
    );
    let mut consumer = Stomp::connect(&c.addr);
    consumer.subscribe("c", "/queue/tri", &[]);
    // Both routes known at A: wait until a probe arrives through each (or a while).
    std::thread::sleep(Duration::from_millis(1500));
    let mut p = Stomp::connect(&a.addr);
    publish_numbered(&mut p, "/queue/tri", "t", 100);
    let mut paths = Vec::new();
    while let Some(m) = consumer.recv_within(Duration::from_millis(800)) {
        paths.push(m.get("shoal-path").unwrap_or("").to_string());
    }
    assert_eq!(paths.len(), 100, "every message consumed once");
    paths
}

#[test]
fn suppress_duplicate_queue_subscriptions_takes_the_shortest_route() {
    let paths = queue_paths_in_triangle(true);
    assert!(paths.iter().all(|p| p == "TA,TC"), "{paths:?}");
    // Without it, A shares the queue between both routes (the test can tell them apart).
    let paths = queue_paths_in_triangle(false);
    assert!(paths.iter().any(|p| p == "TA,TB,TC"), "{paths:?}");
}

/// A hub A with two spokes dialing it: 3 consumers of one queue on B, 1 on C, the producer on
/// A. Returns how many of 400 messages B and C consumed.
fn queue_share(conduit: bool) -> (usize, usize) {
    let extra = format!("duplex = true\nconduit_subscriptions = {conduit}");
    let a = node("HA", &[], "");
    let b = node("HB", &[("HA", &a.cluster[0])], &extra);
    let c = node("HC", &[("HA", &a.cluster[0])], &extra);
    let mut on_b: Vec<Stomp> = (0..3)
        .map(|i| {
            let mut s = Stomp::connect(&b.addr);
            s.subscribe(&format!("b{i}"), "/queue/share", &[]);
            s
        })
        .collect();
    let mut on_c = Stomp::connect(&c.addr);
    on_c.subscribe("c", "/queue/share", &[]);
    // Demand reaches A over both links (loopback: milliseconds).
    std::thread::sleep(Duration::from_millis(1500));
    let mut p = Stomp::connect(&a.addr);
    publish_numbered(&mut p, "/queue/share", "s", 400);
    let mut seen = HashMap::new();
    for s in on_b.iter_mut() {
        for (k, n) in collect(s) {
            *seen.entry(k).or_insert(0) += n;
        }
    }
    let on_b_total: usize = seen.values().sum();
    for (k, n) in collect(&mut on_c) {
        *seen.entry(k).or_insert(0) += n;
    }
    exactly_once(&seen, (0..400).map(|i| format!("s{i}")));
    (on_b_total, 400 - on_b_total)
}

#[test]
fn conduit_subscriptions_false_shares_a_queue_by_consumer_count() {
    // One network subscription per broker: the hub splits the queue evenly between them.
    let (b, c) = queue_share(true);
    assert!((170..=230).contains(&b), "conduit: B got {b}, C {c}");
    // One per consumer: B's three consumers take three shares, C's one takes one.
    let (b, c) = queue_share(false);
    assert!((280..=320).contains(&b), "no conduit: B got {b}, C {c}");
}

#[test]
fn messages_read_before_a_peers_bad_frame_are_delivered() {
    // A peer (here a raw connection speaking the link protocol) sends a queue message and,
    // in the same write, a frame the broker cannot parse. The link ends on the bad frame;
    // the message before it was read (and marked seen for de-duplication), so it must be
    // delivered — a resend after reconnecting would be dropped as a duplicate.
    let b = node("B", &[], "");
    let mut consumer = Stomp::connect(&b.addrs[0]);
    consumer.subscribe("c", "/queue/from-peer", &[]);
    let mut peer = Stomp::open(&b.cluster[0]);
    peer.send(&frame(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("shoal-broker", "X"),
            ("shoal-bridge", "raw"),
            ("shoal-duplex", "true"),
        ],
        b"",
    ));
    peer.expect(Command::Connected);
    let mut bytes = b"SEND\ncontent-length:5\ndestination:/queue/from-peer\nshoal-origin:ID-X-1-7\nshoal-path:X\nshoal-hops:1\nreceipt:1\n\nhello\0".to_vec();
    bytes.extend_from_slice(b"NOT-A-COMMAND\n\n\0");
    peer.send_raw(&bytes);
    let m = consumer
        .recv_within(Duration::from_secs(5))
        .expect("the message read before the bad frame");
    assert_eq!(m.command, Command::Message);
    assert_eq!(&m.body[..], b"hello");
    assert_eq!(m.get("shoal-path"), Some("X,B"));
    assert!(b.wait_log("bad frame from peer"), "{}", b.log());
}
