//! Authentication and authorization on real sockets, with the seed's scopes: a QA admin may
//! use `qacollective.>` and nothing of `prodcollective.>`, by any path.

mod common;
use common::seed::{prod, qa, seed_config};
use common::{frame, Broker, Stomp};
use shoal::stomp::Command;
use std::time::{Duration, Instant};

fn assert_auth_failed(r: Result<Stomp, shoal::stomp::Frame>) {
    match r {
        Ok(_) => panic!("login should have failed"),
        Err(e) => {
            assert_eq!(e.command, Command::Error);
            assert_eq!(e.get("message"), Some("authentication failed"));
        }
    }
}

#[test]
fn logins_are_checked_with_one_answer_for_every_failure() {
    let b = Broker::start_with(&seed_config(""), &[]);
    qa(&b);
    assert_auth_failed(Stomp::login(&b.addr, "qaadmin", "wrong"));
    assert_auth_failed(Stomp::login(&b.addr, "nosuchuser", "muppetsfromspace"));
    assert_auth_failed(Stomp::login(&b.addr, "", ""));
    // No credentials at all, anonymous off.
    let mut s = Stomp::open(&b.addr);
    s.send_raw(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0");
    s.expect_error("authentication failed");
    assert!(b.wait_log("authentication failed"), "{}", b.log());
    assert!(
        b.wait_log("login=\"nosuchuser\""),
        "failures are logged with the login: {}",
        b.log()
    );
}

#[test]
fn failed_logins_are_throttled_per_address() {
    let b = Broker::start_with(
        &seed_config("[auth]\nthrottle_base_ms = 400\nthrottle_max_ms = 5000\n"),
        &[],
    );
    for _ in 0..3 {
        assert_auth_failed(Stomp::login(&b.addr, "qaadmin", "guess"));
    }
    // Three failures: the next answer waits 400 ms × 2² = 1.6 s at least, right or wrong.
    let t = Instant::now();
    assert_auth_failed(Stomp::login(&b.addr, "qaadmin", "guess"));
    assert!(
        t.elapsed() >= Duration::from_millis(1600),
        "answered after {:?}",
        t.elapsed()
    );
    assert!(
        b.wait_log("next attempt from this address waits 3200 ms"),
        "{}",
        b.log()
    );
    // The user's own success forgives its failures from the address.
    qa(&b);
    let t = Instant::now();
    qa(&b);
    assert!(t.elapsed() < Duration::from_millis(1600));
}

#[test]
fn qa_admin_uses_its_own_collective() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut node = qa(&b);
    node.subscribe("d", "/topic/qacollective.discovery.agent", &[]);
    node.subscribe(
        "n",
        "/queue/qacollective.nodes",
        &[("selector", "mc_identity = 'qa1'")],
    );
    let mut client = qa(&b);
    client.subscribe("r", "/queue/qacollective.reply.bastion_1.1", &[]);
    client.send_sync(
        "/topic/qacollective.discovery.agent",
        &[("reply-to", "/queue/qacollective.reply.bastion_1.1")],
        b"ping",
    );
    let req = node.expect(Command::Message);
    node.send_sync(req.get("reply-to").unwrap(), &[], b"pong");
    assert_eq!(client.expect_body(), "pong");
    client.send_sync(
        "/queue/qacollective.nodes",
        &[("mc_identity", "qa1")],
        b"directed",
    );
    assert_eq!(node.expect_body(), "directed");
}

#[test]
fn every_path_into_production_is_denied_to_the_qa_admin() {
    let b = Broker::start_with(&seed_config(""), &[]);
    // A production node, to prove nothing reaches it.
    let mut prod_node = prod(&b);
    prod_node.subscribe("d", "/topic/prodcollective.discovery.agent", &[]);
    prod_node.subscribe("n", "/queue/prodcollective.nodes", &[]);

    let denied = |f: shoal::stomp::Frame, action: &str, dest: &str| {
        let mut s = qa(&b);
        s.send(&f);
        let e = s.expect_error("access denied");
        let msg = e.get("message").unwrap().to_string();
        assert!(
            msg.contains(&format!("qaadmin may not {action} {dest}")),
            "{msg}"
        );
    };
    // Plain SEND to a topic and to a queue.
    denied(
        frame(
            "SEND",
            &[("destination", "/topic/prodcollective.discovery.agent")],
            b"ping",
        ),
        "write",
        "/topic/prodcollective.discovery.agent",
    );
    denied(
        frame(
            "SEND",
            &[
                ("destination", "/queue/prodcollective.nodes"),
                ("mc_identity", "p1"),
            ],
            b"x",
        ),
        "write",
        "/queue/prodcollective.nodes",
    );
    // Subscriptions: exact, `>` and `*`.
    for dest in [
        "/topic/prodcollective.discovery.agent",
        "/topic/prodcollective.>",
        "/topic/prodcollective.*.agent",
        "/queue/prodcollective.>",
    ] {
        denied(
            frame("SUBSCRIBE", &[("id", "1"), ("destination", dest)], b""),
            "read",
            dest,
        );
    }
    // reply-to pointing at a production queue, on an otherwise allowed SEND.
    denied(
        frame(
            "SEND",
            &[
                ("destination", "/topic/qacollective.discovery.agent"),
                ("reply-to", "/queue/prodcollective.reply.x"),
            ],
            b"ping",
        ),
        "read",
        "/queue/prodcollective.reply.x",
    );
    // Inside a transaction: refused when the SEND arrives, not only at COMMIT.
    let mut s = qa(&b);
    s.request(frame("BEGIN", &[("transaction", "t")], b""));
    s.send(&frame(
        "SEND",
        &[
            ("destination", "/topic/prodcollective.discovery.agent"),
            ("transaction", "t"),
        ],
        b"x",
    ));
    s.expect_error("qaadmin may not write /topic/prodcollective.discovery.agent");
    // Temp destinations: the QA admin's own work, someone else's are off limits.
    let mut q = qa(&b);
    q.subscribe("t", "/temp-queue/mine", &[]);
    q.send_sync("/temp-queue/mine", &[], b"own temp queue");
    assert_eq!(q.expect_body(), "own temp queue");
    let mut p = prod(&b);
    p.subscribe("t", "/temp-queue/prod-replies", &[]);
    p.send_sync(
        "/topic/prodcollective.discovery.agent",
        &[("reply-to", "/temp-queue/prod-replies")],
        b"ping",
    );
    let req = prod_node.expect(Command::Message);
    let prod_reply_to = req.get("reply-to").unwrap().to_string();
    denied(
        frame("SEND", &[("destination", &prod_reply_to)], b"forged reply"),
        "write",
        &prod_reply_to,
    );
    let mut thief = qa(&b);
    thief.send(&frame(
        "SUBSCRIBE",
        &[("id", "x"), ("destination", &prod_reply_to)],
        b"",
    ));
    thief.expect_error("temporary destination of another connection");
    // Nothing of the above reached production (only prodadmin's own ping did).
    prod_node.expect_nothing();
    p.expect_nothing();
}

#[test]
fn broad_wildcards_deliver_only_what_the_user_may_read() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut spy = qa(&b);
    spy.subscribe("all", "/topic/>", &[]);
    spy.subscribe("agents", "/topic/*.discovery.agent", &[]);
    let mut p = prod(&b);
    let mut q = qa(&b);
    p.send_sync("/topic/prodcollective.discovery.agent", &[], b"prod secret");
    q.send_sync("/topic/qacollective.discovery.agent", &[], b"qa traffic");
    let mut got: Vec<String> = std::iter::from_fn(|| spy.recv_within(common::QUIET))
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect();
    got.sort();
    assert_eq!(
        got,
        ["qa traffic", "qa traffic"],
        "one copy per subscription, none from prod"
    );
    // An admin sees both.
    let mut admin = Stomp::login(&b.addr, "admin", "root-secret").unwrap();
    admin.subscribe("all", "/topic/>", &[]);
    p.send_sync("/topic/prodcollective.discovery.agent", &[], b"prod");
    q.send_sync("/topic/qacollective.discovery.agent", &[], b"qa");
    assert_eq!(admin.expect_body(), "prod");
    assert_eq!(admin.expect_body(), "qa");
}

#[test]
fn creating_a_destination_needs_admin() {
    let cfg = seed_config(
        "[[user]]\nname = \"writer\"\npassword = \"w\"\ngroups = [\"writers\"]\n\
         [[acl]]\ndestination = \"queue://jobs.>\"\nread = [\"writers\", \"admins\"]\nwrite = [\"writers\"]\nadmin = [\"admins\"]\n",
    );
    let b = Broker::start_with(&cfg, &[]);
    let mut w = Stomp::login(&b.addr, "writer", "w").unwrap();
    w.send(&frame("SEND", &[("destination", "/queue/jobs.new")], b"x"));
    w.expect_error("writer may not admin /queue/jobs.new");
    // Once an admin created it, the writer may use it.
    let mut a = Stomp::login(&b.addr, "admin", "root-secret").unwrap();
    a.subscribe("c", "/queue/jobs.new", &[]);
    let mut w = Stomp::login(&b.addr, "writer", "w").unwrap();
    w.send_sync("/queue/jobs.new", &[], b"now it exists");
    assert_eq!(a.expect_body(), "now it exists");
    assert!(
        b.log().contains("plaintext password"),
        "a plaintext password is warned about"
    );
}

#[test]
fn anonymous_access_can_be_granted_and_scoped() {
    let cfg = seed_config(
        "[auth]\nanonymous = true\nanonymous_groups = [\"guests\"]\n\
         [[acl]]\ndestination = \"topic://public.>\"\nread = [\"guests\"]\nwrite = [\"admins\"]\nadmin = [\"guests\", \"admins\"]\n",
    );
    let b = Broker::start_with(&cfg, &[]);
    let mut guest = Stomp::connect(&b.addr);
    guest.subscribe("p", "/topic/public.news", &[]);
    let mut a = Stomp::login(&b.addr, "admin", "root-secret").unwrap();
    a.send_sync("/topic/public.news", &[], b"hello guests");
    assert_eq!(guest.expect_body(), "hello guests");
    guest.send(&frame(
        "SEND",
        &[("destination", "/topic/public.news")],
        b"x",
    ));
    guest.expect_error("anonymous may not write /topic/public.news");
    // Credentials, when given, are still checked.
    assert_auth_failed(Stomp::login(&b.addr, "qaadmin", "wrong"));
}

#[test]
fn connections_per_address_are_limited() {
    let b = Broker::open_with("[limits]\nmax_connections_per_address = 3\n");
    let _keep: Vec<Stomp> = (0..3).map(|_| Stomp::connect(&b.addr)).collect();
    let mut s = Stomp::open(&b.addr);
    let e = s.recv().expect("ERROR");
    assert_eq!(e.get("message"), Some("too many connections"));
    assert!(String::from_utf8_lossy(&e.body).contains("3 connections per address"));
    drop(_keep);
    assert!(common::eventually(|| {
        let mut s = Stomp::open(&b.addr);
        s.send_raw(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0");
        s.recv().is_some_and(|f| f.command == Command::Connected)
    }));
}

#[test]
fn a_full_queue_makes_the_producer_wait_then_refuses_without_losing_anything() {
    let b = Broker::open_with("[limits]\nmax_queue_messages = 5\nproducer_wait_ms = 3000\n");
    let mut p = Stomp::connect(&b.addr);
    for i in 0..5 {
        p.send_sync("/queue/full", &[], format!("{i}").as_bytes());
    }
    // The sixth waits: no receipt while the queue is full…
    p.send(&frame(
        "SEND",
        &[("destination", "/queue/full"), ("receipt", "six")],
        b"5",
    ));
    assert!(
        p.recv_within(Duration::from_millis(500)).is_none(),
        "the producer was not held back"
    );
    // …until a consumer makes room; then it goes through and nothing is lost.
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("c", "/queue/full", &[]);
    assert_eq!(p.expect(Command::Receipt).get("receipt-id"), Some("six"));
    let got: Vec<String> = (0..6).map(|_| c.expect_body()).collect();
    assert_eq!(got, ["0", "1", "2", "3", "4", "5"]);
    drop(c);
    // With nobody consuming, the wait ends in an ERROR naming the queue and its limits.
    let b = Broker::open_with(
        "[limits]\nmax_queue_messages = 2\nmax_queue_bytes = 1000000\nproducer_wait_ms = 200\n",
    );
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/queue/full", &[], b"a");
    p.send_sync("/queue/full", &[], b"b");
    p.send(&frame("SEND", &[("destination", "/queue/full")], b"c"));
    // (The bytes are the bodies', the headers' (priority and timestamp, 35 a message) and
    // the 512 counted for each message's own structures.)
    p.expect_error(
        "queue /queue/full is full (2 messages, 1096 bytes; limits 2 messages, 1000000 bytes)",
    );
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("c", "/queue/full", &[]);
    assert_eq!(
        (c.expect_body(), c.expect_body()),
        ("a".to_string(), "b".to_string()),
        "receipted messages kept"
    );
    c.expect_nothing();
}

#[test]
fn queue_bytes_are_bounded_too() {
    let b = Broker::open_with("[limits]\nmax_queue_bytes = 2000\nproducer_wait_ms = 0\n");
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/queue/big", &[], &[b'x'; 600]);
    p.send(&frame(
        "SEND",
        &[("destination", "/queue/big")],
        &[b'y'; 600],
    ));
    p.expect_error("queue /queue/big is full (1 messages, 1147 bytes");
}

#[test]
fn unacked_bytes_per_connection_are_bounded() {
    let b = Broker::open_with("[limits]\nmax_unacked_bytes = 2000\n");
    let mut p = Stomp::connect(&b.addr);
    for body in [b"1".repeat(600), b"2".repeat(600), b"3".repeat(600)] {
        p.send_sync("/queue/heavy", &[], &body);
    }
    let mut slow = Stomp::connect(&b.addr);
    slow.subscribe("s", "/queue/heavy", &[("ack", "client-individual")]);
    let first = slow.expect(Command::Message);
    slow.expect_nothing(); // two of 1147 bytes (body, headers, overhead) would pass 2000
    slow.request(frame("ACK", &[("id", first.get("ack").unwrap())], b""));
    assert_eq!(slow.expect(Command::Message).body[0], b'2');
    // Another consumer is not held back by the slow one's cap.
    let mut other = Stomp::connect(&b.addr);
    other.subscribe("o", "/queue/heavy", &[]);
    assert_eq!(other.expect(Command::Message).body[0], b'3');
}

#[test]
fn a_durable_subscription_gets_only_what_its_user_may_read_even_across_a_restart() {
    let broker = Broker::start_with(&seed_config("[store]\ndir = \"store\"\n"), &[]);
    // The QA admin's durable subscription to everything: accepted (it can read QA topics).
    let login = |b: &Broker, user: &str, pass: &str| {
        Stomp::connect_with(
            &b.addr,
            &[
                ("login", user),
                ("passcode", pass),
                ("client-id", "qa-audit"),
            ],
        )
    };
    let mut q = login(&broker, "qaadmin", "muppetsfromspace");
    q.subscribe(
        "all",
        "/topic/>",
        &[("activemq.subscriptionName", "everything")],
    );
    q.request(frame("DISCONNECT", &[], b""));
    // While it is offline (and across a restart) QA and production both publish.
    let mut admin = Stomp::login(&broker.addr, "admin", "root-secret").unwrap();
    // An admin's wildcard queue consumer never sees a durable subscription's queue.
    admin.subscribe("snoop", "/queue/>", &[]);
    let mut prod = Stomp::login(&broker.addr, "prodadmin", "poobatron").unwrap();
    prod.send_sync(
        "/topic/prodcollective.discovery.agent",
        &[("persistent", "true")],
        b"prod secret",
    );
    let mut qa2 = Stomp::login(&broker.addr, "qaadmin", "muppetsfromspace").unwrap();
    qa2.send_sync(
        "/topic/qacollective.discovery.agent",
        &[("persistent", "true")],
        b"qa ping",
    );
    admin.expect_nothing();
    drop((admin, prod, qa2));
    let dir = broker.stop_keep_dir();
    let cfg = dir.path().join("broker.toml");
    let broker = Broker::start_in(dir, &cfg, &[]);
    let mut q = login(&broker, "qaadmin", "muppetsfromspace");
    q.subscribe(
        "all",
        "/topic/>",
        &[("activemq.subscriptionName", "everything")],
    );
    assert_eq!(q.expect_body(), "qa ping");
    q.expect_nothing();
}
