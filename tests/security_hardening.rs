//! Hostile and careless clients against the seed's scopes (admin, qaadmin in group qa with
//! `qacollective.>` only, prodadmin in group prod with `prodcollective.>` only): durable
//! subscriptions stay their owner's, reply-to is a destination or nothing, and no byte that
//! could end a frame or a header line passes through the broker.

mod common;
use common::seed::{login_with, qa, seed_config};
use common::{frame, Broker, Stomp};
use shoal::stomp::Command;
use std::io::Read;
use std::time::Duration;

const PROD_AUDIT: &str = "/topic/prodcollective.audit.X";

/// prodadmin's durable subscription `audit` under client-id `P.reports`, made and left
/// offline, then fed three messages by admin.
fn prod_durable_with_three_kept(b: &Broker) {
    let mut p = login_with(b, "prodadmin", &[("client-id", "P.reports")]);
    p.subscribe("a", PROD_AUDIT, &[("activemq.subscriptionName", "audit")]);
    p.request(frame("DISCONNECT", &[], b""));
    let mut admin = login_with(b, "admin", &[]);
    for i in 0..3 {
        admin.send_sync(PROD_AUDIT, &[], format!("prod secret {i}").as_bytes());
    }
}

/// prodadmin's durable subscription, back online: the three kept messages, all there.
fn prod_finds_its_three(b: &Broker) {
    let mut p = login_with(b, "prodadmin", &[("client-id", "P.reports")]);
    p.subscribe("a", PROD_AUDIT, &[("activemq.subscriptionName", "audit")]);
    for i in 0..3 {
        assert_eq!(p.expect_body(), format!("prod secret {i}"));
    }
    p.expect_nothing();
}

#[test]
fn durable_subscriptions_of_different_client_ids_never_share_their_messages() {
    let b = Broker::start_with(&seed_config(""), &[]);
    prod_durable_with_three_kept(&b);
    // client-id `P` + name `reports.audit` once named the same internal queue as
    // client-id `P.reports` + name `audit`.
    let mut q = login_with(&b, "qaadmin", &[("client-id", "P")]);
    q.subscribe(
        "a",
        "/topic/qacollective.audit.Y",
        &[("activemq.subscriptionName", "reports.audit")],
    );
    q.expect_nothing();
    drop(q);
    prod_finds_its_three(&b);
}

#[test]
fn another_users_durable_subscription_can_be_neither_taken_over_nor_deleted() {
    let b = Broker::start_with(&seed_config(""), &[]);
    prod_durable_with_three_kept(&b);
    // Taking it over: the same client-id and name on a topic qaadmin may read.
    let mut q = login_with(&b, "qaadmin", &[("client-id", "P.reports")]);
    q.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "a"),
            ("destination", "/topic/qacollective.audit.Y"),
            ("activemq.subscriptionName", "audit"),
        ],
        b"",
    ));
    q.expect_error("belongs to another user");
    // Deleting it: UNSUBSCRIBE with its name.
    let mut q = login_with(&b, "qaadmin", &[("client-id", "P.reports")]);
    q.send(&frame(
        "UNSUBSCRIBE",
        &[("id", "a"), ("activemq.subscriptionName", "audit")],
        b"",
    ));
    q.expect_error("belongs to another user");
    assert!(
        b.wait_log("another user's durable subscription"),
        "{}",
        b.log()
    );
    prod_finds_its_three(&b);
}

#[test]
fn a_reply_to_that_is_no_destination_is_refused_to_its_sender() {
    let b = Broker::start_with(&seed_config(""), &[]);
    // A node of the QA collective, which would answer each request.
    let mut node = qa(&b);
    node.subscribe("n", "/topic/qacollective.discovery.agent", &[]);
    for bad in [
        "queue://prodcollective.reply.x",
        "/queue/x.>",
        "/queue/a..b",
        " /queue/qacollective.reply",
        "/Queue/qacollective.reply",
        "/queue/qacollective.reply.",
        "/queue/x.*",
    ] {
        let mut requester = qa(&b);
        requester.send(&frame(
            "SEND",
            &[
                ("destination", "/topic/qacollective.discovery.agent"),
                ("reply-to", bad),
                ("receipt", "r"),
            ],
            b"ping",
        ));
        let e = requester.expect_error("invalid reply-to");
        assert!(
            e.get("message").unwrap_or("").contains(bad),
            "the ERROR names the value: {:?}",
            e.get("message")
        );
    }
    node.expect_nothing();
    // A good reply-to still works, and the node is still connected.
    let mut requester = qa(&b);
    requester.send_sync(
        "/topic/qacollective.discovery.agent",
        &[("reply-to", "/queue/qacollective.reply.me")],
        b"ping",
    );
    assert_eq!(node.expect_body(), "ping");
}

#[test]
fn a_transacted_send_may_name_its_own_temp_queue_as_reply_to() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut node = qa(&b);
    node.subscribe("n", "/topic/qacollective.discovery.agent", &[]);
    let mut requester = qa(&b);
    requester.subscribe("r", "/temp-queue/own", &[]);
    requester.send(&frame("BEGIN", &[("transaction", "t1")], b""));
    requester.send(&frame(
        "SEND",
        &[
            ("destination", "/topic/qacollective.discovery.agent"),
            ("reply-to", "/temp-queue/own"),
            ("transaction", "t1"),
        ],
        b"ping in a transaction",
    ));
    requester.request(frame("COMMIT", &[("transaction", "t1")], b""));
    let m = node.expect(Command::Message);
    assert_eq!(&m.body[..], b"ping in a transaction");
    // The reply-to names the requester's temp queue (another connection's own name for it).
    let reply_to = m.get("reply-to").expect("reply-to");
    assert!(
        reply_to.starts_with("/temp-queue/") && reply_to.ends_with(".own"),
        "{reply_to}"
    );
}

#[test]
fn a_nul_in_a_header_is_refused_and_a_cr_never_reaches_a_1_1_subscriber() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut v10 = Stomp::connect_version_login(&b.addr, None, "qaadmin", "muppetsfromspace");
    v10.subscribe("s", "/topic/qacollective.x", &[]);
    let mut v11 = Stomp::connect_version_login(&b.addr, Some("1.1"), "qaadmin", "muppetsfromspace");
    v11.subscribe("s", "/topic/qacollective.x", &[]);
    // A NUL would end the frame early for every subscriber: the sender gets an ERROR.
    let mut bad = qa(&b);
    bad.send_raw(b"SEND\ndestination:/topic/qacollective.x\nx:a\0b\n\nbody\0");
    bad.expect_error("NUL");
    v10.expect_nothing();
    // A CR, raw or escaped (1.2), inside a value: a 1.1 subscriber gets a space, a 1.0 one
    // too, and neither sees a line its sender did not write.
    let mut p = qa(&b);
    p.send_raw(
        b"SEND\ndestination:/topic/qacollective.x\nraw:a\rb\nesc:c\\rd\nreceipt:r\n\nbody\0",
    );
    p.expect(Command::Receipt);
    for s in [&mut v10, &mut v11] {
        let m = s.expect(Command::Message);
        assert_eq!(m.get("raw"), Some("a b"));
        assert_eq!(m.get("esc"), Some("c d"));
    }
    // And a 1.2 subscriber gets them escaped, as they were sent.
    let mut v12 = qa(&b);
    v12.subscribe("s", "/topic/qacollective.x", &[]);
    p.send_raw(b"SEND\ndestination:/topic/qacollective.x\nraw:a\rb\nreceipt:r\n\nbody\0");
    p.expect(Command::Receipt);
    v12.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.contains(&0) {
        let n = v12.stream.read(&mut chunk).expect("the MESSAGE");
        assert!(n > 0, "closed");
        got.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("raw:a\\rb\n"), "{text:?}");
}

/// The seed's users plus the bridge user mqcluster, with a cluster listener whose `[cluster]`
/// table ends with `cluster_extra`.
fn with_cluster(cluster_extra: &str) -> Broker {
    let hash = shoal::broker::auth::password::hash_password("cluster-pw").unwrap();
    let extra = format!(
        "[[user]]\nname = \"mqcluster\"\npassword_hash = \"{hash}\"\ngroups = [\"admins\"]\n\
         [cluster]\nlisten = [\"127.0.0.1:0\"]\n{cluster_extra}"
    );
    Broker::start_with(&seed_config(&extra), &["--name", "mq1"])
}

/// Logs in on the cluster port as a peer broker would; the answer to its CONNECT.
fn pose_as_bridge(b: &Broker, login: &str, passcode: &str) -> shoal::stomp::Frame {
    bridge_session(b, login, passcode).1
}

fn bridge_session(b: &Broker, login: &str, passcode: &str) -> (Stomp, shoal::stomp::Frame) {
    let (s, answer) = bridge_hello(b, login, passcode);
    (s, answer.expect("an answer to CONNECT"))
}

/// Sends a peer broker's CONNECT on the cluster port; the answer, `None` when the port
/// closed the connection instead.
fn bridge_hello(b: &Broker, login: &str, passcode: &str) -> (Stomp, Option<shoal::stomp::Frame>) {
    let mut s = Stomp::open(&b.cluster[0]);
    s.send(&frame(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("login", login),
            ("passcode", passcode),
            ("shoal-broker", "impostor"),
            ("shoal-bridge", "x"),
            ("shoal-duplex", "true"),
        ],
        b"",
    ));
    let answer = s.recv_within(Duration::from_secs(30));
    (s, answer)
}

#[test]
fn only_the_bridge_users_may_connect_on_the_cluster_port() {
    let b = with_cluster("users = [\"mqcluster\"]\n");
    let e = pose_as_bridge(&b, "qaadmin", "muppetsfromspace");
    assert_eq!(e.command, Command::Error);
    assert_eq!(
        e.get("message"),
        Some("user qaadmin may not connect as a bridge")
    );
    assert!(b.wait_log("not one of [cluster] users"), "{}", b.log());
    assert_eq!(
        pose_as_bridge(&b, "mqcluster", "cluster-pw").command,
        Command::Connected
    );
    // Without `users`, a broker with users lets nobody in as a bridge, and says so.
    let b = with_cluster("");
    assert!(b.wait_log("[cluster] users is not set"), "{}", b.log());
    assert_eq!(
        pose_as_bridge(&b, "mqcluster", "cluster-pw").command,
        Command::Error
    );
}

#[test]
fn a_clients_link_headers_neither_route_nor_deduplicate_its_messages() {
    use common::net::{node, wait_for_route};
    let a = node("LA", &[], "");
    let b = node("LB", &[("LA", &a.cluster[0])], "duplex = true");
    let mut on_b = Stomp::connect(&b.addr);
    on_b.subscribe("s", "/topic/t", &[]);
    wait_for_route(&a, &mut on_b, "/topic/t");
    let mut p = Stomp::connect(&a.addr);
    // The same forged origin twice (the second would be a "duplicate"), a path naming LB
    // (it would never be forwarded there), a hop count at the TTL.
    for body in ["one", "two"] {
        p.send_sync(
            "/topic/t",
            &[
                ("shoal-origin", "ID-LA-1-1"),
                ("shoal-path", "LB"),
                ("shoal-hops", "9"),
            ],
            body.as_bytes(),
        );
    }
    for body in ["one", "two"] {
        let m = on_b.expect(Command::Message);
        assert_eq!(&m.body[..], body.as_bytes());
        assert_eq!(
            m.get("shoal-path"),
            Some("LA,LB"),
            "the path is the real one"
        );
    }
}

#[test]
fn a_bridge_is_told_only_the_demand_its_user_may_read() {
    // A bridge user limited to the QA scope (as a QA datacenter's broker would be).
    let b = with_cluster("users = [\"mqcluster\", \"qaadmin\"]\n");
    let mut prod_node = common::seed::prod(&b);
    prod_node.subscribe(
        "n",
        "/queue/prodcollective.nodes",
        &[("selector", "mc_identity = 'prod1'")],
    );
    let mut qa_node = qa(&b);
    qa_node.subscribe(
        "n",
        "/queue/qacollective.nodes",
        &[("selector", "mc_identity = 'qa1'")],
    );
    let (mut link, answer) = bridge_session(&b, "qaadmin", "muppetsfromspace");
    assert_eq!(answer.command, Command::Connected);
    let mut told = Vec::new();
    while let Some(f) = link.recv_within(Duration::from_millis(800)) {
        if f.command == Command::Subscribe {
            told.push(format!(
                "{} {}",
                f.get("destination").unwrap_or(""),
                f.get("selector").unwrap_or("")
            ));
        }
    }
    assert!(
        told.contains(&"/queue/qacollective.nodes mc_identity = 'qa1'".to_string()),
        "{told:?}"
    );
    assert!(
        told.iter().all(|d| !d.contains("prodcollective")),
        "production demand told to a QA bridge: {told:?}"
    );
}

/// `n` wrong-password logins as `login`, all at once from this address; returns when every
/// one has its answer (each must be the one failure answer).
fn wrong_logins_at_once(b: &Broker, login: &'static str, n: usize) -> Duration {
    let start = std::time::Instant::now();
    let tries: Vec<_> = (0..n)
        .map(|i| {
            let addr = b.addr.clone();
            std::thread::spawn(move || {
                let r = Stomp::login(&addr, login, &format!("guess-{i}"));
                assert!(r.is_err(), "guess {i} got in");
            })
        })
        .collect();
    for t in tries {
        t.join().expect("a login attempt");
    }
    start.elapsed()
}

#[test]
fn a_login_storm_keeps_memory_flat() {
    // No throttle delay: every attempt goes straight to argon2 (19 MiB each while it runs).
    let b = Broker::start_with(
        &seed_config("[auth]\nthrottle_base_ms = 0\nthrottle_max_ms = 0\n"),
        &[],
    );
    let before = b.memory_kib("VmRSS");
    for _ in 0..2 {
        wrong_logins_at_once(&b, "prodadmin", 40);
    }
    let peak = b.memory_kib("VmHWM");
    println!("RSS {before} KiB before, peak {peak} KiB during 2 × 40 wrong passwords at once");
    assert!(
        peak < before + 160 * 1024,
        "peak RSS {peak} KiB from {before} KiB"
    );
    // And the broker still answers a right password.
    prod_finds_nothing_wrong(&b);
}

fn prod_finds_nothing_wrong(b: &Broker) {
    let mut p = common::seed::prod(b);
    p.send_sync("/queue/prodcollective.x", &[], b"still here");
}

#[test]
fn parallel_guesses_from_one_address_are_spaced_like_sequential_ones() {
    let b = Broker::start_with(
        &seed_config("[auth]\nthrottle_base_ms = 100\nthrottle_max_ms = 400\n"),
        &[],
    );
    // 12 at once: slots 0, 100, 300, 700 ms, then every 400 ms: the last near 3.9 s. (Each
    // once waited the same delay, then all guessed together.)
    let took = wrong_logins_at_once(&b, "prodadmin", 12);
    assert!(took >= Duration::from_secs(3), "12 guesses in {took:?}");
    // Another user's valid login in between does not reset the address.
    let _ = qa(&b);
    let t = std::time::Instant::now();
    assert!(Stomp::login(&b.addr, "prodadmin", "again").is_err());
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "the guess after qaadmin's login waited only {:?}",
        t.elapsed()
    );
}

#[test]
fn a_connect_trickled_a_byte_at_a_time_is_cut_at_the_deadline() {
    let b = Broker::start_with(&seed_config("[limits]\nconnect_timeout_ms = 1000\n"), &[]);
    let mut s = Stomp::open(&b.addr);
    let start = std::time::Instant::now();
    let bytes = b"CONNECT\naccept-version:1.2\nhost:/\nlogin:qaadmin\npasscode:muppetsfromspace\nx-padding:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n\0";
    // One byte every 100 ms: each read comes well within the 1 s timeout.
    let mut closed_at = None;
    for b in bytes {
        if std::io::Write::write_all(&mut s.stream, &[*b]).is_err() {
            closed_at = Some(start.elapsed());
            break;
        }
        s.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut one = [0u8; 512];
        match s.stream.read(&mut one) {
            Ok(0) => {
                closed_at = Some(start.elapsed());
                break;
            }
            Ok(_) => {} // the ERROR that precedes the close
            Err(_) => {}
        }
    }
    let at = closed_at.expect("the trickled CONNECT was never cut off");
    assert!(at < Duration::from_secs(3), "cut only after {at:?}");
    assert!(b.wait_log("no CONNECT frame in time"), "{}", b.log());
}

#[test]
fn the_cluster_port_holds_a_bounded_number_of_idle_connections() {
    let b = with_cluster("users = [\"mqcluster\"]\n");
    // 40 idle connections from one address: the port keeps 16 and closes the rest at once.
    let idle: Vec<std::net::TcpStream> = (0..40)
        .map(|_| std::net::TcpStream::connect(&b.cluster[0]).expect("connect"))
        .collect();
    let open = idle
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            matches!(
                (&**s).read(&mut [0u8; 16]).map_err(|e| e.kind()),
                Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            )
        })
        .count();
    assert_eq!(
        open, 16,
        "the cluster port kept {open} of 40 idle connections"
    );
    assert!(b.wait_log("cluster port full"), "{}", b.log());
    // Once they go, a real bridge gets in again.
    drop(idle);
    assert!(common::eventually(|| try_bridge(&b).is_some()));
}

/// A bridge login as mqcluster; `None` when the port closed the connection instead.
fn try_bridge(b: &Broker) -> Option<()> {
    let answer = bridge_hello(b, "mqcluster", "cluster-pw").1?;
    (answer.command == Command::Connected).then_some(())
}

#[test]
fn header_bytes_count_against_a_queues_byte_limit() {
    // 1 MiB per queue; producers to a full queue are refused at once.
    let b = Broker::start_with(
        &seed_config("[limits]\nmax_queue_bytes = 1048576\nproducer_wait_ms = 0\n"),
        &[],
    );
    let mut p = qa(&b);
    let pad = "h".repeat(15_000);
    let headers: Vec<(String, &str)> = (0..10)
        .map(|i| (format!("x-pad-{i}"), pad.as_str()))
        .collect();
    let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    h.push(("destination", "/queue/qacollective.heavy"));
    h.push(("receipt", "r"));
    // Body-less messages of 150 kB of headers each: the eighth does not fit in 1 MiB.
    let mut accepted = 0;
    for _ in 0..20 {
        p.send(&frame("SEND", &h, b""));
        match p.recv_within(Duration::from_secs(5)).map(|f| f.command) {
            Some(Command::Receipt) => accepted += 1,
            Some(Command::Error) => break,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        (6..=7).contains(&accepted),
        "{accepted} messages of 150 kB of headers fit a 1 MiB queue"
    );
    // Nothing accepted was lost.
    let mut c = qa(&b);
    c.subscribe("c", "/queue/qacollective.heavy", &[]);
    for _ in 0..accepted {
        c.expect(Command::Message);
    }
}
