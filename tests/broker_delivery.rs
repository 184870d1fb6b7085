//! Delivery guarantees: ack modes, NACK and redelivery, prefetch, transactions and receipts.

mod common;
use common::{frame, Broker, Stomp};
use shoal::stomp::Command;

fn bodies(s: &mut Stomp) -> Vec<String> {
    std::iter::from_fn(|| s.recv_within(common::QUIET))
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect()
}

fn fill(b: &Broker, dest: &str, n: usize) {
    let mut p = Stomp::connect(&b.addr);
    for i in 0..n {
        p.send_sync(dest, &[], i.to_string().as_bytes());
    }
}

#[test]
fn unacked_client_messages_are_redelivered_when_the_consumer_goes() {
    let b = Broker::start();
    fill(&b, "/queue/r", 3);
    let mut c1 = Stomp::connect(&b.addr);
    c1.subscribe("1", "/queue/r", &[("ack", "client-individual")]);
    let m0 = c1.expect(Command::Message);
    let _m1 = c1.expect(Command::Message);
    let _m2 = c1.expect(Command::Message);
    assert!(m0.get("redelivered").is_none());
    c1.request(frame("ACK", &[("id", m0.get("ack").unwrap())], b""));
    drop(c1);
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("2", "/queue/r", &[]);
    let a = c2.expect(Command::Message);
    let b2 = c2.expect(Command::Message);
    assert_eq!(
        (&a.body[..], &b2.body[..]),
        (&b"1"[..], &b"2"[..]),
        "original order kept"
    );
    assert_eq!(a.get("redelivered"), Some("true"));
    c2.expect_nothing();
}

#[test]
fn client_ack_is_cumulative() {
    let b = Broker::start();
    fill(&b, "/queue/cum", 4);
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("1", "/queue/cum", &[("ack", "client")]);
    let ms: Vec<_> = (0..4).map(|_| c.expect(Command::Message)).collect();
    // ACK of the third acknowledges the first three; the fourth stays unacked.
    c.request(frame("ACK", &[("id", ms[2].get("ack").unwrap())], b""));
    drop(c);
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("2", "/queue/cum", &[]);
    assert_eq!(bodies(&mut c2), ["3"]);
}

#[test]
fn client_individual_ack_acknowledges_only_that_message() {
    let b = Broker::start();
    fill(&b, "/queue/ind", 3);
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("1", "/queue/ind", &[("ack", "client-individual")]);
    let ms: Vec<_> = (0..3).map(|_| c.expect(Command::Message)).collect();
    c.request(frame("ACK", &[("id", ms[1].get("ack").unwrap())], b""));
    drop(c);
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("2", "/queue/ind", &[]);
    assert_eq!(bodies(&mut c2), ["0", "2"]);
}

#[test]
fn nack_redelivers_the_message() {
    let b = Broker::start();
    let mut c1 = Stomp::connect(&b.addr);
    c1.subscribe("1", "/queue/n", &[("ack", "client-individual")]);
    fill(&b, "/queue/n", 1);
    let m = c1.expect(Command::Message);
    c1.request(frame("NACK", &[("id", m.get("ack").unwrap())], b""));
    let again = c1.expect(Command::Message);
    assert_eq!(&again.body[..], b"0");
    assert_eq!(again.get("redelivered"), Some("true"));
}

#[test]
fn unsubscribe_returns_unacked_messages_to_the_queue() {
    let b = Broker::start();
    let mut c1 = Stomp::connect(&b.addr);
    c1.subscribe("1", "/queue/u", &[("ack", "client-individual")]);
    fill(&b, "/queue/u", 2);
    let _ = c1.expect(Command::Message);
    let _ = c1.expect(Command::Message);
    c1.request(frame("UNSUBSCRIBE", &[("id", "1")], b""));
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("2", "/queue/u", &[]);
    let a = c2.expect(Command::Message);
    assert_eq!(a.get("redelivered"), Some("true"));
    assert_eq!(&a.body[..], b"0");
    assert_eq!(c2.expect_body(), "1");
    c1.expect_nothing();
}

#[test]
fn stomp_1_1_acks_by_message_id_and_subscription() {
    let b = Broker::start();
    fill(&b, "/queue/v11", 2);
    let mut c = Stomp::connect_version(&b.addr, Some("1.1"));
    assert_eq!(c.version, shoal::stomp::Version::V1_1);
    c.subscribe("s", "/queue/v11", &[("ack", "client-individual")]);
    let m = c.expect(Command::Message);
    assert!(m.get("ack").is_none(), "the ack header is 1.2 only");
    let id = m.get("message-id").unwrap().to_string();
    c.request(frame(
        "ACK",
        &[("message-id", &id), ("subscription", "s")],
        b"",
    ));
    let m1 = c.expect(Command::Message);
    c.request(frame(
        "NACK",
        &[
            ("message-id", m1.get("message-id").unwrap()),
            ("subscription", "s"),
        ],
        b"",
    ));
    let again = c.expect(Command::Message);
    assert_eq!(&again.body[..], b"1");
    assert_eq!(again.get("redelivered"), Some("true"));
}

#[test]
fn stomp_1_0_acks_by_message_id() {
    let b = Broker::start();
    fill(&b, "/queue/v10", 2);
    let mut c = Stomp::connect_version(&b.addr, None);
    c.request(frame(
        "SUBSCRIBE",
        &[("destination", "/queue/v10"), ("ack", "client")],
        b"",
    ));
    let _m0 = c.expect(Command::Message);
    let m1 = c.expect(Command::Message);
    c.request(frame(
        "ACK",
        &[("message-id", m1.get("message-id").unwrap())],
        b"",
    ));
    drop(c);
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("x", "/queue/v10", &[]);
    c2.expect_nothing();
}

#[test]
fn prefetch_bounds_unacked_messages_in_flight() {
    let b = Broker::start();
    fill(&b, "/queue/pf", 10);
    let mut slow = Stomp::connect(&b.addr);
    slow.subscribe(
        "1",
        "/queue/pf",
        &[("ack", "client-individual"), ("activemq.prefetchSize", "2")],
    );
    let mut fast = Stomp::connect(&b.addr);
    fast.subscribe("2", "/queue/pf", &[]);
    let first = slow.expect(Command::Message);
    let _second = slow.expect(Command::Message);
    slow.expect_nothing();
    assert_eq!(
        bodies(&mut fast).len(),
        8,
        "the rest goes to the consumer with credit"
    );
    // An ACK frees one credit: the next queued message flows again.
    drop(fast);
    fill(&b, "/queue/pf", 1);
    slow.request(frame("ACK", &[("id", first.get("ack").unwrap())], b""));
    assert_eq!(slow.expect_body(), "0");
}

#[test]
fn transactions_hold_sends_and_acks_until_commit() {
    let b = Broker::start();
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("c", "/queue/tx", &[]);
    let mut p = Stomp::connect(&b.addr);
    p.request(frame("BEGIN", &[("transaction", "t1")], b""));
    p.request(frame(
        "SEND",
        &[("destination", "/queue/tx"), ("transaction", "t1")],
        b"a",
    ));
    p.request(frame(
        "SEND",
        &[("destination", "/queue/tx"), ("transaction", "t1")],
        b"b",
    ));
    c.expect_nothing();
    p.request(frame("COMMIT", &[("transaction", "t1")], b""));
    assert_eq!(bodies(&mut c), ["a", "b"]);
    // ABORT drops the work.
    p.request(frame("BEGIN", &[("transaction", "t2")], b""));
    p.request(frame(
        "SEND",
        &[("destination", "/queue/tx"), ("transaction", "t2")],
        b"aborted",
    ));
    p.request(frame("ABORT", &[("transaction", "t2")], b""));
    c.expect_nothing();
    // Disconnecting with an open transaction drops it too.
    p.request(frame("BEGIN", &[("transaction", "t3")], b""));
    p.request(frame(
        "SEND",
        &[("destination", "/queue/tx"), ("transaction", "t3")],
        b"never",
    ));
    drop(p);
    c.expect_nothing();
}

#[test]
fn transactional_ack_is_applied_on_commit_only() {
    let b = Broker::start();
    fill(&b, "/queue/txack", 2);
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("c", "/queue/txack", &[("ack", "client-individual")]);
    let m0 = c.expect(Command::Message);
    let m1 = c.expect(Command::Message);
    c.request(frame("BEGIN", &[("transaction", "a")], b""));
    c.request(frame(
        "ACK",
        &[("id", m0.get("ack").unwrap()), ("transaction", "a")],
        b"",
    ));
    c.request(frame("ABORT", &[("transaction", "a")], b""));
    c.request(frame("BEGIN", &[("transaction", "b")], b""));
    c.request(frame(
        "ACK",
        &[("id", m1.get("ack").unwrap()), ("transaction", "b")],
        b"",
    ));
    c.request(frame("COMMIT", &[("transaction", "b")], b""));
    drop(c);
    // m0's ACK was aborted: it comes back; m1's was committed: it does not.
    let mut c2 = Stomp::connect(&b.addr);
    c2.subscribe("d", "/queue/txack", &[]);
    assert_eq!(bodies(&mut c2), ["0"]);
}

#[test]
fn unknown_transaction_is_an_error() {
    let b = Broker::start();
    let mut c = Stomp::connect(&b.addr);
    c.send(&frame("COMMIT", &[("transaction", "nope")], b""));
    c.expect_error("unknown transaction");
}

#[test]
fn disconnect_with_receipt_gets_the_receipt_then_close() {
    let b = Broker::start();
    let mut c = Stomp::connect(&b.addr);
    c.send(&frame("DISCONNECT", &[("receipt", "bye-42")], b""));
    let r = c.expect(Command::Receipt);
    assert_eq!(r.get("receipt-id"), Some("bye-42"));
    assert!(c.closed());
}

#[test]
fn receipt_comes_after_the_effect() {
    let b = Broker::start();
    let mut c = Stomp::connect(&b.addr);
    // Once the SUBSCRIBE's receipt is back, a SEND from elsewhere must reach it.
    c.subscribe("s", "/topic/now", &[]);
    let mut p = Stomp::connect(&b.addr);
    p.send_sync("/topic/now", &[], b"x");
    assert_eq!(c.expect_body(), "x");
    // Once UNSUBSCRIBE's receipt is back, nothing more arrives.
    c.request(frame("UNSUBSCRIBE", &[("id", "s")], b""));
    p.send_sync("/topic/now", &[], b"y");
    c.expect_nothing();
}

/// A durable subscriber that reconnects the moment its DISCONNECT is receipted must find its
/// subscription free (it once could find it "already active" on the connection still closing).
#[test]
fn a_durable_subscriber_can_come_back_as_soon_as_its_disconnect_is_receipted() {
    let broker = Broker::open_with("");
    let mut p = Stomp::connect(&broker.addr);
    for round in 0..30 {
        let mut s = Stomp::connect_with(&broker.addr, &[("client-id", "back")]);
        // `subscribe` waits for its RECEIPT: a refusal (ERROR) fails the test here.
        s.subscribe(
            "d",
            "/topic/back",
            &[("activemq.subscriptionName", "again")],
        );
        if round > 0 {
            // What was published while it was away is there.
            assert_eq!(s.expect_body(), format!("while away {}", round - 1));
        }
        s.request(frame("DISCONNECT", &[], b""));
        p.send_sync("/topic/back", &[], format!("while away {round}").as_bytes());
    }
}
