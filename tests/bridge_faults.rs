//! Bridges under the faults they exist for: a duplex link loaded both ways, through the tests'
//! own fault proxy (bandwidth cap, stalls), must keep moving and keep its heart-beats honest.

mod common;
use common::net::{node, wait_for_route};
use common::{frame, Broker, FaultProxy, Stomp};
use shoal::stomp::Command;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// Two brokers, DB dialing DA through a proxy capped at `rate` bytes/s (0: uncapped), with a
/// duplex bridge and short heart-beats (a link that stops reading is noticed in 0.6 s).
fn duplex_pair(rate: u64) -> (Broker, Broker, FaultProxy) {
    let a = node("DA", &[], "");
    let proxy = FaultProxy::start(&a.cluster[0]);
    proxy.rate(rate);
    let b = node(
        "DB",
        &[("DA", &proxy.addr)],
        "duplex = true\nheartbeat_ms = 200",
    );
    (a, b, proxy)
}

/// Sends `n` messages of `size` bytes to each of `dests` from `broker`, numbered in a header.
fn produce(
    addr: String,
    dests: [&'static str; 2],
    n: usize,
    size: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut p = Stomp::connect(&addr);
        let body = vec![b'x'; size];
        for i in 0..n {
            for d in dests {
                p.send(&frame(
                    "SEND",
                    &[("destination", d), ("n", &i.to_string())],
                    &body,
                ));
            }
        }
        p.request(frame("SEND", &[("destination", "/queue/flush")], b""));
    })
}

/// Receives on `s` until `expected` distinct (destination, n) pairs arrived; panics on a
/// duplicate or when nothing arrives for `stall`. Returns the longest wait between messages.
fn consume(s: &mut Stomp, expected: usize, stall: Duration, side: &str) -> Duration {
    let mut seen = HashSet::new();
    let (mut last, mut longest) = (Instant::now(), Duration::ZERO);
    while seen.len() < expected {
        if let Some(f) = s.recv_within(Duration::from_millis(100)) {
            if f.command != Command::Message || f.get("probe").is_some() {
                continue;
            }
            let key = (
                f.get("destination").unwrap_or("").to_string(),
                f.get("n").unwrap_or("").to_string(),
            );
            assert!(seen.insert(key.clone()), "{side}: duplicate {key:?}");
            longest = longest.max(last.elapsed());
            last = Instant::now();
        }
        assert!(
            last.elapsed() < stall,
            "{side}: nothing for {:?} with {} of {expected} received",
            last.elapsed(),
            seen.len()
        );
    }
    longest
}

/// Producers on both sides send `n` queue and `n` topic messages of `size` bytes to consumers
/// on the other side, all at once: every message arrives once, the link never stops moving
/// for `stall`, and neither side declares it dead or reconnects.
fn loaded_both_ways(rate: u64, n: usize, size: usize, stall: Duration) {
    let (a, b, _proxy) = duplex_pair(rate);
    let mut on_a = Stomp::connect(&a.addr);
    on_a.subscribe("q", "/queue/toA", &[]);
    on_a.subscribe("t", "/topic/toA", &[]);
    let mut on_b = Stomp::connect(&b.addr);
    on_b.subscribe("q", "/queue/toB", &[]);
    on_b.subscribe("t", "/topic/toB", &[]);
    for d in ["/queue/toA", "/topic/toA"] {
        wait_for_route(&b, &mut on_a, d);
    }
    for d in ["/queue/toB", "/topic/toB"] {
        wait_for_route(&a, &mut on_b, d);
    }
    let started = Instant::now();
    let from_a = produce(a.addr.clone(), ["/queue/toB", "/topic/toB"], n, size);
    let from_b = produce(b.addr.clone(), ["/queue/toA", "/topic/toA"], n, size);
    let far = std::thread::spawn(move || {
        let longest = consume(&mut on_b, 2 * n, stall, "B");
        (on_b, longest)
    });
    let longest_a = consume(&mut on_a, 2 * n, stall, "A");
    let (_on_b, longest_b) = far.join().expect("B's consumer");
    from_a.join().expect("A's producer");
    from_b.join().expect("B's producer");
    println!(
        "{} × {size} B each way at {rate} B/s: {:?}; longest wait A {longest_a:?}, B {longest_b:?}",
        2 * n,
        started.elapsed()
    );
    for (broker, log) in [("DA", a.log()), ("DB", b.log())] {
        assert!(
            !log.contains("link dead"),
            "{broker} declared the link dead:\n{log}"
        );
        assert!(
            !log.contains("bridge failed"),
            "{broker}'s bridge failed:\n{log}"
        );
    }
    assert_eq!(
        b.log().matches("bridge connected bridge=DB-DA").count(),
        1,
        "{}",
        b.log()
    );
}

#[test]
fn duplex_link_moves_megabyte_messages_both_ways_at_full_speed() {
    // Both brokers write more than the sockets hold: a link that waits on its write without
    // reading deadlocks with its peer doing the same.
    loaded_both_ways(0, 12, MIB, Duration::from_secs(3));
}

#[test]
fn duplex_link_through_a_1_mb_per_s_cap_keeps_moving_and_its_heart_beats_honest() {
    // Writes of several seconds each: the link must read (and count the bytes as proof of
    // life) while it writes, or it declares the peer dead with data arriving all along.
    loaded_both_ways(1_000_000, 3, MIB, Duration::from_secs(4));
}

#[test]
fn queue_messages_re_sent_after_a_flap_are_not_acknowledged_before_they_are_consumed() {
    // HB forwards to HC (through the proxy) the queue messages HC's slow consumer wants; HC
    // holds them in memory, unacknowledged upstream until consumed. The link flaps: HB re-sends
    // them, and HC — already holding them — must not acknowledge the re-sent copies, or HB
    // deletes its journaled originals and a crash of HC loses them.
    let c = node("HC", &[], "");
    let proxy = FaultProxy::start(&c.cluster[0]);
    let b = node(
        "HB",
        &[("HC", &proxy.addr)],
        "heartbeat_ms = 200\ninitial_reconnect_delay_ms = 50\nmax_reconnect_delay_ms = 200",
    );
    let mut slow = Stomp::connect(&c.addr);
    slow.subscribe(
        "s",
        "/queue/work",
        &[("ack", "client-individual"), ("activemq.prefetchSize", "1")],
    );
    let n = 50;
    let body = vec![b'w'; 1000];
    let before = proxy.carried();
    let mut p = Stomp::connect(&b.addr);
    for i in 0..n {
        let i = i.to_string();
        p.send(&frame(
            "SEND",
            &[
                ("destination", "/queue/work"),
                ("persistent", "true"),
                ("n", &i),
            ],
            &body,
        ));
    }
    p.request(frame("SEND", &[("destination", "/queue/flush")], b""));
    assert_eq!(slow.expect(Command::Message).get("n"), Some("0"));
    let sent = (n * body.len()) as u64;
    assert!(
        common::eventually(|| proxy.carried() - before >= sent),
        "HB forwarded only {} bytes",
        proxy.carried() - before
    );
    // The flap: HB re-sends all of them (it has no receipt for any).
    proxy.cut();
    assert!(
        c.wait_log("queue messages still held here"),
        "HC did not recognise the re-sent copies:\n{}",
        c.log()
    );
    // HC crashes before its consumer got to them: HB still has every one, for its own consumer.
    let mut c = c;
    c.kill();
    let mut local = Stomp::connect(&b.addr);
    local.subscribe("l", "/queue/work", &[]);
    let mut got = HashSet::new();
    while got.len() < n {
        let m = local
            .recv_within(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("HB lost messages: has {} of {n}:\n{}", got.len(), b.log()));
        assert!(
            got.insert(m.get("n").unwrap().to_string()),
            "duplicate {:?}",
            m.get("n")
        );
    }
}

#[test]
fn a_bridge_dials_a_peer_that_comes_back_at_once_not_at_the_end_of_its_back_off() {
    let port = common::stable_port();
    let peer_cfg = format!(
        "{}[cluster]\nlisten = [\"127.0.0.1:{port}\"]\n",
        common::OPEN
    );
    let mut peer = Broker::start_with(&peer_cfg, &["--name", "RB"]);
    let a = node(
        "RA",
        &[("RB", &format!("127.0.0.1:{port}"))],
        "initial_reconnect_delay_ms = 8000\nmax_reconnect_delay_ms = 8000",
    );
    peer.kill();
    assert!(a.wait_log("bridge backoff bridge=RA-RB"), "{}", a.log());
    // The outage lasts a second (longer than a probe period, not a wait for anything); the
    // back-off is 4-8 s.
    std::thread::sleep(Duration::from_secs(1));
    let _peer = Broker::start_with(&peer_cfg, &["--name", "RB"]);
    let back = Instant::now();
    assert!(
        common::eventually_within(Duration::from_secs(10), || a
            .log()
            .matches("bridge connected bridge=RA-RB")
            .count()
            == 2),
        "{}",
        a.log()
    );
    assert!(
        back.elapsed() < Duration::from_secs(3),
        "reconnected {:?} after the peer came back:\n{}",
        back.elapsed(),
        a.log()
    );
}

#[test]
fn a_stall_shorter_than_the_link_timeout_costs_no_message() {
    // Heart-beats every 200 ms: a stall of 2 s is ten silent periods, well inside the 5 s
    // link timeout. (Declared dead after three periods, the link lost what was in flight.)
    let a = node("SA", &[], "");
    let proxy = FaultProxy::start(&a.cluster[0]);
    let b = node(
        "SB",
        &[("SA", &proxy.addr)],
        "duplex = true\nheartbeat_ms = 200\nlink_timeout_ms = 5000",
    );
    let mut sub = Stomp::connect(&b.addr);
    sub.subscribe("s", "/topic/wan", &[]);
    wait_for_route(&a, &mut sub, "/topic/wan");
    proxy.stall(true);
    let mut p = Stomp::connect(&a.addr);
    for i in 0..100 {
        p.send(&frame(
            "SEND",
            &[("destination", "/topic/wan"), ("n", &i.to_string())],
            b"x",
        ));
    }
    p.request(frame("SEND", &[("destination", "/queue/flush")], b""));
    std::thread::sleep(Duration::from_secs(2)); // the length of the stall, not a wait for anything
    proxy.stall(false);
    let got = consume(&mut sub, 100, Duration::from_secs(5), "SB");
    println!("longest wait through the stall: {got:?}");
    assert!(!b.log().contains("link dead"), "{}", b.log());
    assert_eq!(
        b.log().matches("bridge connected bridge=SB-SA").count(),
        1,
        "{}",
        b.log()
    );
}

#[test]
fn queue_messages_follow_a_consumer_that_moves_between_brokers_without_duplicates() {
    let a = node("MA", &[], "");
    let b = node(
        "MB",
        &[("MA", &a.cluster[0])],
        "duplex = true\nheartbeat_ms = 200",
    );
    let client_ack = [
        ("ack", "client-individual"),
        ("activemq.prefetchSize", "10"),
    ];
    let mut on_b = Stomp::connect(&b.addr);
    on_b.subscribe("c", "/queue/move", &client_ack);
    let n = 300;
    let mut p = Stomp::connect(&a.addr);
    for i in 0..n {
        let i = i.to_string();
        p.send(&frame(
            "SEND",
            &[
                ("destination", "/queue/move"),
                ("persistent", "true"),
                ("n", &i),
            ],
            b"work",
        ));
    }
    p.request(frame("SEND", &[("destination", "/queue/flush")], b""));
    // The consumer on MB takes 50, then moves to MA; MB holds the rest, forwarded to it.
    let mut got: HashMap<String, usize> = HashMap::new();
    let mut take = |s: &mut Stomp, ack: bool| -> Option<()> {
        let m = s.recv_within(Duration::from_secs(10))?;
        *got.entry(m.get("n").unwrap().to_string()).or_default() += 1;
        if ack {
            s.send(&frame("ACK", &[("id", m.get("ack").unwrap())], b""));
        }
        Some(())
    };
    for _ in 0..50 {
        take(&mut on_b, true).expect("MB's consumer gets its share");
    }
    on_b.request(frame("DISCONNECT", &[], b""));
    let mut on_a = Stomp::connect(&a.addr);
    on_a.subscribe("c", "/queue/move", &[]);
    // Everything else reaches MA within a few seconds, once: none stranded on MB.
    for i in 50..n {
        take(&mut on_a, false)
            .unwrap_or_else(|| panic!("stranded: {} of {n} arrived:\n{}", i, b.log()));
    }
    // And a consumer coming back to MB finds no ghost copies of what MA's consumer took.
    let mut back = Stomp::connect(&b.addr);
    back.subscribe("c", "/queue/move", &[]);
    if let Some(m) = back.recv_within(Duration::from_secs(2)) {
        panic!("a copy of {:?} was left on MB", m.get("n"));
    }
    let dups: Vec<_> = got.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dups.is_empty(), "delivered twice: {dups:?}");
    assert_eq!(got.len(), n);
}
