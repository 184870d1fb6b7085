//! The wire protocol and its edges: version negotiation, framing, escaping, heart-beats, bad
//! input, limits, slow consumers, shutdown and the command line.

mod common;
use common::{frame, Broker, Stomp, TempDir};
use shoal::stomp::Command;
use std::io::Write;
use std::process::Command as Process;
use std::time::{Duration, Instant};

fn connect_raw(b: &Broker, headers: &str) -> (Stomp, shoal::stomp::Frame) {
    let mut s = Stomp::open(&b.addr);
    s.send_raw(format!("CONNECT\n{headers}\n\0").as_bytes());
    let f = s.recv().expect("an answer to CONNECT");
    (s, f)
}

#[test]
fn version_negotiation() {
    let b = Broker::start();
    let (_, c) = connect_raw(&b, "host:/\n");
    assert_eq!(c.command, Command::Connected);
    assert_eq!(c.get("version"), Some("1.0"));
    assert!(
        c.get("heart-beat").is_none(),
        "no heart-beat header for 1.0"
    );
    let (_, c) = connect_raw(&b, "accept-version:1.0,1.1\nhost:/\n");
    assert_eq!(c.get("version"), Some("1.1"));
    assert!(c.get("heart-beat").is_some());
    let (_, c) = connect_raw(&b, "accept-version:1.1,1.2\nhost:/\n");
    assert_eq!(c.get("version"), Some("1.2"));
    assert!(c.get("session").is_some() && c.get("server").unwrap().starts_with("shoal/"));
    // STOMP is CONNECT's 1.2 name.
    let mut s = Stomp::open(&b.addr);
    s.send_raw(b"STOMP\naccept-version:1.2\nhost:/\n\n\0");
    assert_eq!(s.expect(Command::Connected).get("version"), Some("1.2"));
    let (mut s, e) = connect_raw(&b, "accept-version:2.0,3.1\n");
    assert_eq!(e.command, Command::Error);
    assert!(e
        .get("message")
        .unwrap()
        .contains("unsupported protocol version"));
    assert_eq!(
        e.get("version"),
        Some("1.0,1.1,1.2"),
        "the ERROR lists what we speak"
    );
    assert!(s.closed());
}

#[test]
fn first_frame_must_be_connect() {
    let b = Broker::start();
    let mut s = Stomp::open(&b.addr);
    s.send_raw(b"SEND\ndestination:/queue/a\n\nx\0");
    s.expect_error("expected CONNECT");
}

#[test]
fn frames_arriving_one_byte_at_a_time_and_crlf_lines() {
    let b = Broker::start();
    let mut rx = Stomp::connect(&b.addr);
    rx.subscribe("1", "/queue/pieces", &[]);
    let mut s = Stomp::open(&b.addr);
    let bytes = b"CONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\0\n\nSEND\r\ndestination:/queue/pieces\r\nreceipt:r1\r\n\r\nhello\0\n";
    for chunk in bytes.chunks(1) {
        s.send_raw(chunk);
        s.stream.flush().unwrap();
    }
    s.expect(Command::Connected);
    assert_eq!(s.expect(Command::Receipt).get("receipt-id"), Some("r1"));
    assert_eq!(rx.expect_body(), "hello");
}

#[test]
fn content_length_bodies_may_contain_nul() {
    let b = Broker::start();
    let mut rx = Stomp::connect(&b.addr);
    rx.subscribe("1", "/queue/bin", &[]);
    let mut s = Stomp::connect(&b.addr);
    let body: Vec<u8> = (0u8..=255).chain([0, 0, 0]).collect();
    s.send_raw(
        format!(
            "SEND\ndestination:/queue/bin\ncontent-length:{}\n\n",
            body.len()
        )
        .as_bytes(),
    );
    s.send_raw(&body);
    s.send_raw(b"\0");
    let m = rx.expect(Command::Message);
    assert_eq!(&m.body[..], &body[..]);
    assert_eq!(
        m.get("content-length"),
        Some(body.len().to_string().as_str())
    );
}

#[test]
fn header_escaping_per_version_and_first_repeated_header_wins() {
    let b = Broker::start();
    let mut v12 = Stomp::connect(&b.addr);
    v12.subscribe("1", "/topic/esc", &[]);
    let mut v10 = Stomp::connect_version(&b.addr, None);
    v10.request(frame("SUBSCRIBE", &[("destination", "/topic/esc")], b""));
    let mut s = Stomp::connect(&b.addr);
    // 1.2 escapes: \c is ':', \\ is '\', \n newline; the first x-dup wins.
    s.send_raw(b"SEND\ndestination:/topic/esc\nx-h:a\\cb\\\\c\\nd\nx-dup:first\nx-dup:second\nreceipt:r\n\n\0");
    s.expect(Command::Receipt);
    let m = v12.expect(Command::Message);
    assert_eq!(m.get("x-h"), Some("a:b\\c\nd"));
    assert_eq!(m.headers.iter().filter(|(k, _)| *k == "x-dup").count(), 1);
    assert_eq!(m.get("x-dup"), Some("first"));
    // A 1.0 client cannot be sent a newline inside a header; it gets the value on one line,
    // unescaped otherwise.
    let m = v10.expect(Command::Message);
    assert_eq!(m.get("x-h"), Some("a:b\\c d"));
    // An undefined escape is an error in 1.2.
    s.send_raw(b"SEND\ndestination:/topic/esc\nx:\\t\n\n\0");
    s.expect_error("escape");
}

#[test]
fn heart_beats_both_ways_and_silent_clients_are_dropped() {
    let b = Broker::open_with("[broker]\nheartbeat_send_ms = 100\nheartbeat_receive_ms = 100\n");
    let (mut s, c) = connect_raw(&b, "accept-version:1.2\nhost:/\nheart-beat:100,100\n");
    assert_eq!(c.get("heart-beat"), Some("100,100"));
    // A client that beats stays; the broker beats to it.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        s.send_raw(b"\n");
        assert!(s.recv_within(Duration::from_millis(100)).is_none());
    }
    assert!(
        s.heartbeats >= 5,
        "only {} heart-beats from the broker in 1.5 s",
        s.heartbeats
    );
    s.request(frame("SEND", &[("destination", "/queue/alive")], b""));
    // A silent one is dropped after the grace period, with an ERROR saying why.
    let (mut quiet, _) = connect_raw(&b, "accept-version:1.2\nhost:/\nheart-beat:100,0\n");
    let e = quiet.recv_within(Duration::from_secs(5)).expect("an ERROR");
    assert_eq!(e.get("message"), Some("heart-beat timeout"));
    assert!(quiet.closed());
    // A client that asks for no heart-beats is not timed out.
    let (mut none, c) = connect_raw(&b, "accept-version:1.2\nhost:/\nheart-beat:0,0\n");
    assert_eq!(c.get("heart-beat"), Some("0,0"));
    assert!(none.recv_within(Duration::from_millis(1500)).is_none());
    none.request(frame("SEND", &[("destination", "/queue/alive")], b""));
}

#[test]
fn bad_input_gets_a_clear_error_and_others_carry_on() {
    let b = Broker::open_with("[limits]\nmax_frame_bytes = 6000\nmax_body_bytes = 4000\nmax_headers = 10\nmax_header_line = 500\n");
    let mut bystander = Stomp::connect(&b.addr);
    bystander.subscribe("b", "/queue/bystander", &[]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"SEND\ndestination /queue/a\n\nx\0".to_vec(),
            "header line without ':'",
        ),
        (b"FROB\n\n\0".to_vec(), "unknown command"),
        (
            format!(
                "SEND\ndestination:/queue/a\n{}\n{}\0",
                format!("h:{}\n", "v".repeat(480)).repeat(8),
                "x".repeat(3000)
            )
            .into_bytes(),
            "frame larger than 6000 bytes",
        ),
        (
            format!(
                "SEND\ndestination:/queue/a\ncontent-length:5000\n\n{}\0",
                "x".repeat(5000)
            )
            .into_bytes(),
            "body larger than 4000 bytes",
        ),
        (
            format!("SEND\ndestination:/queue/a\n{}\nx\0", "h:v\n".repeat(11)).into_bytes(),
            "more than 10 headers",
        ),
        (
            format!("SEND\ndestination:/queue/a\nh:{}\n\nx\0", "v".repeat(600)).into_bytes(),
            "header line longer than 500 bytes",
        ),
        (
            b"SEND\ncontent-length:abc\ndestination:/queue/a\n\nx\0".to_vec(),
            "invalid content-length",
        ),
        (
            b"SEND\n\nno destination\0".to_vec(),
            "SEND without destination header",
        ),
        (
            b"SEND\ndestination:/nowhere/a\n\nx\0".to_vec(),
            "invalid destination",
        ),
        (
            b"ACK\nid:no-such-message\n\n\0".to_vec(),
            "unknown message id",
        ),
        (
            b"SUBSCRIBE\ndestination:/queue/a\n\n\0".to_vec(),
            "SUBSCRIBE without id",
        ),
        (
            b"SUBSCRIBE\nid:1\ndestination:/queue/a\nack:sometimes\n\n\0".to_vec(),
            "invalid ack mode",
        ),
        (b"UNSUBSCRIBE\nid:never\n\n\0".to_vec(), "no subscription"),
        (
            b"MESSAGE\ndestination:/queue/a\n\n\0".to_vec(),
            "server frame",
        ),
    ];
    for (bytes, expected) in cases {
        eprintln!("case: {expected}");
        let mut s = Stomp::connect(&b.addr);
        s.send_raw(&bytes);
        s.expect_error(expected);
        bystander.send_sync("/queue/bystander", &[], expected.as_bytes());
        assert_eq!(bystander.expect_body(), expected, "bystander unaffected");
    }
    // A body exactly at the limit is fine.
    bystander.send_sync("/queue/bystander", &[], &[b'y'; 4000]);
    assert_eq!(bystander.expect(Command::Message).body.len(), 4000);
}

#[test]
fn duplicate_subscription_id_is_refused() {
    let b = Broker::start();
    let mut s = Stomp::connect(&b.addr);
    s.subscribe("same", "/queue/a", &[]);
    s.send(&frame(
        "SUBSCRIBE",
        &[("id", "same"), ("destination", "/queue/b")],
        b"",
    ));
    s.expect_error("already in use");
}

#[test]
fn connect_must_come_in_time() {
    let b = Broker::open_with("[limits]\nconnect_timeout_ms = 300\n");
    let mut s = Stomp::open(&b.addr);
    let e = s
        .recv_within(Duration::from_secs(3))
        .expect("ERROR after the CONNECT deadline");
    assert_eq!(e.get("message"), Some("no CONNECT frame in time"));
    assert!(s.closed());
}

#[test]
fn connection_limit_is_enforced() {
    let b = Broker::open_with("[limits]\nmax_connections = 2\n");
    let _a = Stomp::connect(&b.addr);
    let _b = Stomp::connect(&b.addr);
    let mut c = Stomp::open(&b.addr);
    let e = c.recv().expect("ERROR");
    assert_eq!(e.get("message"), Some("too many connections"));
    assert!(c.closed());
}

/// Subscribes a reader that never reads, then publishes more than its socket and outbox hold.
fn flood_with_a_stalled_reader(b: &Broker) -> (Stomp, Stomp, usize) {
    let mut stalled = Stomp::connect(&b.addr);
    stalled.subscribe("s", "/topic/flood", &[]);
    let mut fast = Stomp::connect(&b.addr);
    fast.subscribe("f", "/topic/flood", &[]);
    let mut p = Stomp::connect(&b.addr);
    let body = vec![b'z'; 64 * 1024];
    let n = 300; // ~19 MiB: more than socket buffers plus the 4 MiB outbox
    for i in 0..n {
        p.send(&frame(
            "SEND",
            &[("destination", "/topic/flood"), ("n", &i.to_string())],
            &body,
        ));
        // The fast reader keeps up as we go.
        if i % 10 == 9 {
            for _ in 0..10 {
                fast.expect(Command::Message);
            }
        }
    }
    p.request(frame("SEND", &[("destination", "/queue/done")], b""));
    (stalled, fast, n)
}

#[test]
fn slow_topic_consumer_loses_messages_not_the_others() {
    let b = Broker::open_with("[limits]\noutbox_bytes = 4194304\n");
    let (mut stalled, mut fast, _) = flood_with_a_stalled_reader(&b);
    fast.expect_nothing();
    // The stalled reader is still connected and gets fewer than all of them, in order.
    let mut got = 0;
    let mut last = -1i64;
    while let Some(f) = stalled.recv_within(Duration::from_secs(2)) {
        let n: i64 = f.get("n").unwrap().parse().unwrap();
        assert!(n > last, "order kept");
        last = n;
        got += 1;
    }
    assert!(got > 0 && got < 300, "stalled reader got {got} of 300");
}

#[test]
fn slow_topic_consumer_is_disconnected_by_policy() {
    let b = Broker::open_with(
        "[broker]\nslow_consumer = \"disconnect\"\n[limits]\noutbox_bytes = 4194304\n",
    );
    let (mut stalled, _, _) = flood_with_a_stalled_reader(&b);
    let mut error = None;
    while let Some(f) = stalled.recv_within(Duration::from_secs(2)) {
        if f.command == Command::Error {
            error = Some(f);
            break;
        }
    }
    let e = error.expect("an ERROR for the slow consumer");
    assert_eq!(e.get("message"), Some("slow consumer"));
    assert!(stalled.closed());
}

#[test]
fn sigterm_closes_clients_with_a_notice_and_exits_zero() {
    let mut b = Broker::start();
    let mut s = Stomp::connect(&b.addr);
    s.subscribe("x", "/queue/x", &[]);
    let status = b.terminate();
    assert!(status.success(), "{status:?}");
    let e = s.recv().expect("a notice");
    assert_eq!(e.get("message"), Some("broker shutting down"));
    assert!(s.closed());
    assert!(b.log().contains("stopped"), "{}", b.log());
}

#[test]
fn config_errors_name_the_key_and_line_and_exit_2() {
    let dir = TempDir::new("cfg");
    let cfg = dir.write(
        "bad.toml",
        "listen = [\"127.0.0.1:0\"]\n\n[broker]\nhartbeat_send_ms = 5\n",
    );
    let out = Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hartbeat_send_ms") && err.contains("line 4") && err.contains("bad.toml"),
        "{err}"
    );
    let out = Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--config", "/nonexistent/shoal.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/shoal.toml"));
}

#[test]
fn listen_failure_exits_1_with_the_address() {
    let b = Broker::start();
    let dir = TempDir::new("cfg");
    let cfg = dir.write("empty.toml", "");
    let out = Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--config"])
        .arg(&cfg)
        .args(["--listen", &b.addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&b.addr), "{err}");
}

#[test]
fn help_explains_every_flag() {
    let out = Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--listen", "--name"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// Reads frames until `n` have arrived, returning their commands in order.
fn commands(s: &mut Stomp, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| s.recv().expect("a frame").command.to_string())
        .collect()
}

#[test]
fn a_receipt_precedes_everything_its_frame_caused() {
    let b = Broker::start();
    let mut producer = Stomp::connect(&b.addr);
    for i in 0..5 {
        producer.send_sync("/queue/waiting", &[], format!("m{i}").as_bytes());
    }
    // A SUBSCRIBE to a queue that already holds messages: RECEIPT first, as ActiveMQ and
    // RabbitMQ send it (a client waiting for its receipt must not see a MESSAGE first).
    let mut c = Stomp::connect(&b.addr);
    c.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "s"),
            ("destination", "/queue/waiting"),
            ("ack", "client-individual"),
            ("activemq.prefetchSize", "1"),
            ("receipt", "sub"),
        ],
        b"",
    ));
    assert_eq!(commands(&mut c, 1), ["RECEIPT"]);
    // The ACK frees the prefetch slot and dispatches the next message: its RECEIPT first.
    let m = c.expect(Command::Message);
    let ack = m.get("ack").expect("ack header").to_string();
    c.send(&frame("ACK", &[("id", &ack), ("receipt", "ack")], b""));
    let r = c.recv().expect("the ACK's RECEIPT");
    assert_eq!(
        (r.command, r.get("receipt-id")),
        (Command::Receipt, Some("ack"))
    );
    c.expect(Command::Message);
}

#[test]
fn heart_beats_at_the_rate_the_client_asks_for() {
    // The default config: a stomp-py client asking for 500 ms got them every 10 s.
    let b = Broker::start();
    let (mut s, c) = connect_raw(&b, "accept-version:1.2\nhost:/\nheart-beat:0,300\n");
    assert_eq!(c.get("heart-beat"), Some("300,0"));
    let start = Instant::now();
    while s.heartbeats < 3 && start.elapsed() < Duration::from_secs(10) {
        assert!(s.recv_within(Duration::from_millis(200)).is_none());
    }
    assert!(s.heartbeats >= 3, "{} heart-beats in 10 s", s.heartbeats);
    // Below the floor (100 ms by default), the floor.
    let (_, c) = connect_raw(&b, "accept-version:1.2\nhost:/\nheart-beat:10,10\n");
    assert_eq!(c.get("heart-beat"), Some("100,100"));
}
