//! Memory and latency stay bounded by the configured limits while a hostile or careless client
//! does its worst with the seed's users: small messages do not pin big buffers, destinations
//! are bounded, selectors cost linear time, and a dropped connection leaves no socket.

mod common;
use common::seed::{login_with, qa, seed_config};
use common::{frame, Broker};
use shoal::stomp::Command;
use std::time::Duration;

#[test]
fn small_queued_messages_do_not_pin_the_read_buffers_they_came_in() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut p = qa(&b);
    let before = b.memory_kib("VmRSS");
    // Each one-byte queue message arrives right behind a 60 kB topic message nobody reads,
    // in the same read: sliced from that buffer, each would keep its 64 KiB alive.
    let big = frame(
        "SEND",
        &[("destination", "/topic/qacollective.noise")],
        &vec![b'x'; 60_000],
    );
    let big = shoal::stomp::codec::to_bytes(&big, p.version);
    const N: usize = 2000;
    for _ in 0..N {
        let mut both = big.to_vec();
        let small = frame(
            "SEND",
            &[("destination", "/queue/qacollective.small")],
            b"1",
        );
        both.extend_from_slice(&shoal::stomp::codec::to_bytes(&small, p.version));
        p.send_raw(&both);
    }
    // Everything sent has been handled once a receipt comes back.
    p.send_sync("/queue/qacollective.small", &[], b"1");
    let after = b.memory_kib("VmRSS");
    println!("RSS {before} KiB before, {after} KiB with {N} one-byte messages queued");
    assert!(
        after < before + 40 * 1024,
        "{N} queued one-byte messages took RSS from {before} KiB to {after} KiB"
    );
    // They are all there.
    let mut c = qa(&b);
    c.subscribe("c", "/queue/qacollective.small", &[]);
    for _ in 0..=N {
        assert_eq!(c.expect(Command::Message).body.as_ref(), b"1");
    }
}

/// The destination's entry in the next stats report (admin reads `shoal.stats.report`).
fn destination_stats(b: &Broker, dest: &str) -> serde_json::Value {
    let mut s = login_with(b, "admin", &[]);
    s.subscribe("stats", "/topic/shoal.stats.report", &[]);
    let f = s
        .recv_within(Duration::from_secs(5))
        .expect("a stats report");
    let report: serde_json::Value = serde_json::from_slice(&f.body).expect("JSON");
    report["destinations"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["destination"] == dest).cloned())
        .unwrap_or_else(|| panic!("{dest} not in {report}"))
}

#[test]
fn messages_for_an_absent_node_do_not_slow_the_sends_after_them() {
    let b = Broker::start_with(&seed_config(""), &[]);
    const NODES: &str = "/queue/qacollective.nodes";
    let mut node = qa(&b);
    node.subscribe("n", NODES, &[("selector", "mc_identity = 'here'")]);
    let mut p = qa(&b);
    // Directed requests for a node that is not connected pile up in the shared queue...
    const WAITING: usize = 4000;
    let gone = frame(
        "SEND",
        &[("destination", NODES), ("mc_identity", "gone")],
        b"req",
    );
    let gone = shoal::stomp::codec::to_bytes(&gone, p.version);
    for _ in 0..WAITING {
        p.send_raw(&gone);
    }
    p.send_sync(NODES, &[("mc_identity", "gone")], b"req");
    // ...and each later SEND looks only at itself, not at all of them again.
    for _ in 0..200 {
        p.send_sync(NODES, &[("mc_identity", "gone")], b"req");
    }
    p.send_sync(NODES, &[("mc_identity", "here")], b"for you");
    assert_eq!(node.expect_body(), "for you");
    let stats = destination_stats(&b, NODES);
    let (enqueued, examined) = (
        stats["enqueued"].as_u64().unwrap(),
        stats["examined"].as_u64().unwrap(),
    );
    println!("{enqueued} messages enqueued, {examined} looked at by dispatch");
    assert!(
        examined <= 2 * enqueued,
        "dispatch looked at {examined} queued messages for {enqueued} sent"
    );
    assert_eq!(stats["pending"], WAITING + 201);
}

#[test]
fn selectors_are_bounded_in_length_and_like_is_matched_without_backtracking() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut q = qa(&b);
    q.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "long"),
            ("destination", "/topic/qacollective.x"),
            ("selector", &format!("h LIKE '%{}'", "a".repeat(5000))),
        ],
        b"",
    ));
    q.expect_error("max_selector_bytes (4096)");

    // The longest allowed pattern of the kind that made a backtracking matcher quadratic,
    // against header values as long as a header line may be.
    let mut q = qa(&b);
    let pattern = format!("%{}b", "a".repeat(4000));
    let selector = format!("h LIKE '{pattern}' OR h LIKE '{}'", "_".repeat(3));
    q.subscribe("like", "/topic/qacollective.x", &[("selector", &selector)]);
    let long = "a".repeat(16_000);
    let mut p = qa(&b);
    for _ in 0..20 {
        p.send_sync("/topic/qacollective.x", &[("h", &long)], b"no");
    }
    p.send_sync(
        "/topic/qacollective.x",
        &[("h", &format!("{long}b"))],
        b"yes",
    );
    p.send_sync("/topic/qacollective.x", &[("h", "abc")], b"three");
    assert_eq!(q.expect_body(), "yes");
    assert_eq!(q.expect_body(), "three");
    q.expect_nothing();
}

#[test]
fn destinations_are_bounded_per_user_and_overall() {
    let b = Broker::start_with(
        &seed_config(
            "[broker]\nidle_destination_secs = 1\n\
             [limits]\nmax_destinations_per_user = 40\nmax_destinations = 70\n",
        ),
        &[],
    );
    // qaadmin's SENDs and SUBSCRIBEs create 40 destinations; the next one is refused.
    let mut q = qa(&b);
    for i in 0..30 {
        q.send_sync(&format!("/topic/qacollective.t{i}"), &[], b"x");
    }
    for i in 0..10 {
        q.subscribe(&format!("s{i}"), &format!("/queue/qacollective.q{i}"), &[]);
    }
    q.send_sync("/topic/qacollective.t0", &[], b"existing ones still work");
    q.send(&frame(
        "SEND",
        &[("destination", "/topic/qacollective.more")],
        b"x",
    ));
    q.expect_error("user qaadmin has 40 destinations (max_destinations_per_user)");
    let mut q = qa(&b);
    q.send(&frame(
        "SUBSCRIBE",
        &[("id", "1"), ("destination", "/queue/qacollective.more")],
        b"",
    ));
    q.expect_error("max_destinations_per_user");

    // Another user is not held back by qaadmin's, until the broker as a whole is full.
    // (The broker's own stats and control destinations count towards the 70.)
    let mut p = common::seed::prod(&b);
    let mut made = 0;
    let refusal = loop {
        let dest = format!("/topic/prodcollective.t{made}");
        p.send(&frame(
            "SEND",
            &[("destination", &dest), ("receipt", "r")],
            b"x",
        ));
        let f = p.recv_within(Duration::from_secs(5)).expect("an answer");
        if f.command != Command::Receipt {
            break f;
        }
        made += 1;
    };
    assert!((20..30).contains(&made), "prodadmin made {made}");
    assert_eq!(
        refusal.get("message"),
        Some(format!("cannot create /topic/prodcollective.t{made}: the broker has 70 destinations (max_destinations)").as_str())
    );

    // Forgotten when idle (the subscriptions went with the connection), they count no more.
    let mut q = qa(&b);
    assert!(
        common::eventually_within(Duration::from_secs(20), || {
            q.send(&frame(
                "SEND",
                &[
                    ("destination", "/topic/qacollective.later"),
                    ("receipt", "r"),
                ],
                b"x",
            ));
            match q.recv_within(Duration::from_secs(5)) {
                Some(f) if f.command == Command::Receipt => true,
                _ => {
                    q = qa(&b); // refused: that connection is closed
                    false
                }
            }
        }),
        "idle destinations were never forgotten"
    );
}

#[test]
fn a_client_dropped_while_it_reads_nothing_leaves_no_socket() {
    // Heart-beats expected every 300 ms: silent for ~1 s, a client is dropped.
    let b = Broker::start_with(
        &seed_config("[broker]\nheartbeat_receive_ms = 300\nheartbeat_grace = 2.0\n"),
        &[],
    );
    let idle = b.sockets();
    let mut silent = common::Stomp::open(&b.addr);
    silent.send(&frame(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("login", "qaadmin"),
            ("passcode", "muppetsfromspace"),
            ("heart-beat", "300,0"),
        ],
        b"",
    ));
    silent.expect(Command::Connected);
    silent.subscribe("flood", "/topic/qacollective.flood", &[]);
    // It promised heart-beats and sends none, and it reads nothing of what it is sent: the
    // broker's writes to it block once the socket buffers are full.
    let mut p = qa(&b);
    let mb = vec![b'x'; 1 << 20];
    for _ in 0..24 {
        p.send_sync("/topic/qacollective.flood", &[], &mb);
    }
    assert!(b.wait_log("heart-beat"), "{}", b.log());
    let with = b.sockets();
    assert!(
        common::eventually_within(Duration::from_secs(20), || b.sockets() < with),
        "the dropped connection's socket is still open ({} sockets, {idle} when idle)",
        b.sockets()
    );
    drop(silent);
}

#[test]
fn tiny_messages_cannot_hold_more_memory_than_the_limit_allows() {
    // Each message's own structures count (512 bytes), not only its 3-byte body and headers:
    // 150 000 of them were all accepted under 8 MiB, holding about 90 MiB.
    let b = Broker::start_with(
        &seed_config("[limits]\nmax_memory_bytes = 8388608\nproducer_wait_ms = 0\n"),
        &[],
    );
    let before = b.memory_kib("VmRSS");
    let mut p = qa(&b);
    let one = shoal::stomp::codec::to_bytes(
        &frame(
            "SEND",
            &[
                ("destination", "/queue/qacollective.nodes"),
                ("mc_identity", "gone"),
            ],
            b"req",
        ),
        p.version,
    );
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 500).collect();
    use std::io::Write;
    for _ in 0..300 {
        if p.stream.write_all(&batch).is_err() {
            break; // refused: the broker closed the connection
        }
    }
    let refusal = p
        .recv_within(Duration::from_secs(10))
        .expect("an ERROR when the memory limit is reached");
    assert!(
        refusal
            .get("message")
            .is_some_and(|m| m.contains("max_memory_bytes")),
        "{refusal:?}"
    );
    let after = b.memory_kib("VmRSS");
    println!("RSS {before} KiB before, {after} KiB with the queues full");
    assert!(
        after < before + 40 * 1024, // the 8 MiB, their allocator slack, a fixed ~20 MiB
        "8 MiB of tiny messages took RSS from {before} KiB to {after} KiB"
    );
}

#[test]
fn a_node_arriving_finds_its_requests_without_looking_at_everyone_elses() {
    let b = Broker::start_with(&seed_config(""), &[]);
    const NODES: &str = "/queue/qacollective.nodes";
    let mut p = qa(&b);
    // Requests for 4000 absent nodes, and two for one that is about to connect.
    let mut batch = Vec::new();
    for i in 0..4000 {
        let id = format!("gone{i}");
        let f = frame(
            "SEND",
            &[("destination", NODES), ("mc_identity", &id)],
            b"x",
        );
        batch.extend_from_slice(&shoal::stomp::codec::to_bytes(&f, p.version));
    }
    p.send_raw(&batch);
    p.send_sync(NODES, &[("mc_identity", "late")], b"first");
    p.send_sync(NODES, &[("mc_identity", "late")], b"second");
    let looked = destination_stats(&b, NODES)["examined"].as_u64().unwrap();
    let mut node = qa(&b);
    node.subscribe("n", NODES, &[("selector", "mc_identity = 'late'")]);
    assert_eq!(node.expect_body(), "first");
    assert_eq!(node.expect_body(), "second");
    let stats = destination_stats(&b, NODES);
    let examined = stats["examined"].as_u64().unwrap() - looked;
    assert_eq!(
        examined, 2,
        "the arriving node's dispatch looked at {examined} messages"
    );
    assert_eq!(stats["pending"], 4000);
}
