//! Persistence and delivery guarantees, against the real binary: persistent messages survive
//! SIGKILL (every receipted message delivered, none handed out again after its ACK was
//! receipted, redeliveries flagged), durable topic subscriptions, a damaged store, redelivery
//! limits and dead letters, expiry, and the memory and disk limits.

mod common;

use common::*;
use shoal::stomp::{Command, Decoder, Frame, FrameLimits, Version};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Anonymous access and a store inside the broker's own directory.
const STORED: &str = "[auth]\nanonymous = true\n[store]\ndir = \"store\"\n";

fn start(dir: TempDir) -> Broker {
    let cfg = dir.path().join("broker.toml");
    Broker::start_in(dir, &cfg, &[])
}

fn new_dir(config: &str) -> TempDir {
    let dir = TempDir::new("persist");
    dir.write("broker.toml", config);
    dir
}

/// A pipelining STOMP connection for the crash tests: a writer, and a reader thread that
/// hands every frame to `on_frame` until the socket dies.
struct Pipe {
    out: TcpStream,
}

impl Pipe {
    fn open(
        addr: &str,
        connect: &[(&str, &str)],
        on_frame: impl FnMut(Frame) + Send + 'static,
    ) -> Option<(Pipe, std::thread::JoinHandle<()>)> {
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_nodelay(true).ok()?;
        let mut h = vec![("accept-version", "1.2"), ("host", "/")];
        h.extend_from_slice(connect);
        let f = frame("CONNECT", &h, b"");
        s.write_all(&shoal::stomp::codec::to_bytes(&f, Version::V1_2))
            .ok()?;
        let mut r = s.try_clone().ok()?;
        let mut on_frame = on_frame;
        let reader = std::thread::spawn(move || {
            let mut dec = Decoder::new(FrameLimits::default());
            dec.version = Version::V1_2;
            let mut buf = bytes::BytesMut::new();
            let mut chunk = vec![0u8; 64 * 1024];
            r.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            loop {
                match r.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                while let Ok(Some(f)) = dec.decode(&mut buf) {
                    on_frame(f);
                }
            }
        });
        Some((Pipe { out: s }, reader))
    }

    fn send(&mut self, f: &Frame) -> bool {
        self.out
            .write_all(&shoal::stomp::codec::to_bytes(f, Version::V1_2))
            .is_ok()
    }
}

/// What the consumers of a crash test saw, and what went wrong.
#[derive(Default)]
struct Ledger {
    receipted: HashSet<u64>,
    seen: HashMap<u64, u32>,
    ack_confirmed: HashSet<u64>,
    violations: Vec<String>,
}

impl Ledger {
    fn delivered(&mut self, seq: u64, redelivered: bool) {
        if self.ack_confirmed.contains(&seq) {
            self.violations.push(format!(
                "message {seq} handed out again after its ACK was receipted"
            ));
        }
        let n = self.seen.entry(seq).or_insert(0);
        if *n > 0 && !redelivered {
            self.violations.push(format!(
                "message {seq} delivered again without redelivered:true"
            ));
        }
        *n += 1;
    }
}

/// The consumer's writing side, used from its reader thread to ACK what arrives.
type AckStream = Arc<Mutex<Option<TcpStream>>>;

/// A consumer that ACKs every message (client-individual) with a receipt, recording all.
fn consumer(
    addr: &str,
    dest: &str,
    connect: &[(&str, &str)],
    sub: &[(&str, &str)],
    ledger: &Arc<Mutex<Ledger>>,
) -> Option<(Pipe, std::thread::JoinHandle<()>, AckStream)> {
    let acks: AckStream = Arc::new(Mutex::new(None));
    let (l, a) = (ledger.clone(), acks.clone());
    let (mut pipe, reader) = Pipe::open(addr, connect, move |f| match f.command {
        Command::Message => {
            let seq: u64 = String::from_utf8_lossy(&f.body).parse().unwrap();
            l.lock()
                .unwrap()
                .delivered(seq, f.get("redelivered") == Some("true"));
            let ack = frame(
                "ACK",
                &[
                    ("id", f.get("ack").unwrap()),
                    ("receipt", &format!("a{seq}")),
                ],
                b"",
            );
            if let Some(s) = a.lock().unwrap().as_mut() {
                let _ = s.write_all(&shoal::stomp::codec::to_bytes(&ack, Version::V1_2));
            }
        }
        Command::Receipt => {
            if let Some(seq) = f.get("receipt-id").and_then(|r| r.strip_prefix('a')) {
                l.lock().unwrap().ack_confirmed.insert(seq.parse().unwrap());
            }
        }
        _ => {}
    })?;
    *acks.lock().unwrap() = pipe.out.try_clone().ok();
    let mut h = vec![
        ("id", "c"),
        ("destination", dest),
        ("ack", "client-individual"),
    ];
    h.extend_from_slice(sub);
    pipe.send(&frame("SUBSCRIBE", &h, b""));
    Some((pipe, reader, acks))
}

/// A producer pipelining persistent SENDs with receipts from `*next` on, until the socket dies.
fn producer(
    addr: &str,
    dest: &str,
    next: Arc<Mutex<u64>>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (addr, dest) = (addr.to_string(), dest.to_string());
    std::thread::spawn(move || {
        let l = ledger.clone();
        let Some((mut pipe, reader)) = Pipe::open(&addr, &[], move |f| {
            if f.command == Command::Receipt {
                let seq = f.get("receipt-id").unwrap().parse().unwrap();
                l.lock().unwrap().receipted.insert(seq);
            }
        }) else {
            return;
        };
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let seq = {
                let mut n = next.lock().unwrap();
                *n += 1;
                *n
            };
            let id = seq.to_string();
            let f = frame(
                "SEND",
                &[
                    ("destination", &dest),
                    ("persistent", "true"),
                    ("receipt", &id),
                ],
                id.as_bytes(),
            );
            if !pipe.send(&f) {
                break;
            }
            if seq % 64 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let _ = pipe.out.shutdown(std::net::Shutdown::Write);
        let _ = reader.join();
    })
}

fn drain(
    addr: &str,
    dest: &str,
    connect: &[(&str, &str)],
    sub: &[(&str, &str)],
    ledger: &Arc<Mutex<Ledger>>,
) {
    let (pipe, reader, _acks) = consumer(addr, dest, connect, sub, ledger).expect("consumer");
    // Done when every receipted message has been seen, or nothing moves for 3 s.
    let mut last = (0, Instant::now());
    loop {
        let (all, progress) = {
            let l = ledger.lock().unwrap();
            (
                l.receipted.iter().all(|s| l.seen.contains_key(s)),
                l.ack_confirmed.len(),
            )
        };
        if all {
            break;
        }
        if progress != last.0 {
            last = (progress, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = pipe.out.shutdown(std::net::Shutdown::Both);
    let _ = reader.join();
}

fn check(ledger: &Ledger, rounds: usize) {
    let again = ledger.seen.values().filter(|n| **n > 1).count();
    eprintln!(
        "{rounds} crashes: {} receipted, {} delivered, {} ACKs confirmed, {again} delivered again (flagged redelivered)",
        ledger.receipted.len(),
        ledger.seen.len(),
        ledger.ack_confirmed.len()
    );
    assert!(ledger.violations.is_empty(), "{:#?}", ledger.violations);
    assert!(
        ledger.receipted.len() > 100 * rounds / 2,
        "too few messages got through: {}",
        ledger.receipted.len()
    );
    // Delivered at least once: our consumers ACK every delivery at once, so a message seen
    // whose ACK receipt was lost in a crash was still acknowledged by the application.
    let mut missing: Vec<_> = ledger
        .receipted
        .iter()
        .filter(|s| !ledger.seen.contains_key(s))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} receipted messages never delivered, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

#[test]
fn receipted_queue_messages_survive_sigkill_exactly_once() {
    let rounds = 4;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(Mutex::new(0));
    let mut dir = new_dir(STORED);
    for round in 0..rounds {
        let broker = start(dir);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Two producers pipelining at once, so crashes land amid interleaved batches.
        let producers: Vec<_> = (0..2)
            .map(|_| {
                producer(
                    &broker.addr,
                    "/queue/crash",
                    next.clone(),
                    ledger.clone(),
                    stop.clone(),
                )
            })
            .collect();
        // Every other round a consumer works through the stream as it arrives.
        let c = (round % 2 == 0)
            .then(|| consumer(&broker.addr, "/queue/crash", &[], &[], &ledger).unwrap());
        let wait = 300 + rand::random::<u64>() % 700;
        std::thread::sleep(Duration::from_millis(wait));
        dir = broker.crash_keep_dir();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for p in producers {
            p.join().unwrap();
        }
        if let Some((_pipe, reader, _)) = c {
            reader.join().unwrap();
        }
    }
    let broker = start(dir);
    assert!(
        broker.wait_log("message store recovered"),
        "{}",
        broker.log()
    );
    drain(&broker.addr, "/queue/crash", &[], &[], &ledger);
    check(&ledger.lock().unwrap(), rounds);
}

#[test]
fn durable_subscriber_offline_through_crashes_gets_every_receipted_message_once() {
    let rounds = 3;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(Mutex::new(0));
    let connect = [("client-id", "auditor")];
    let sub = [("activemq.subscriptionName", "audit")];
    let mut dir = new_dir(STORED);
    {
        let broker = start(dir);
        let mut s = Stomp::connect_with(&broker.addr, &connect);
        s.subscribe("c", "/topic/crash.t", &sub);
        s.request(frame("DISCONNECT", &[], b""));
        dir = broker.stop_keep_dir();
    }
    for _ in 0..rounds {
        let broker = start(dir);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let p = producer(
            &broker.addr,
            "/topic/crash.t",
            next.clone(),
            ledger.clone(),
            stop.clone(),
        );
        std::thread::sleep(Duration::from_millis(300 + rand::random::<u64>() % 500));
        dir = broker.crash_keep_dir();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        p.join().unwrap();
    }
    let broker = start(dir);
    drain(&broker.addr, "/topic/crash.t", &connect, &sub, &ledger);
    let l = ledger.lock().unwrap();
    check(&l, rounds);
    // It never consumed anything before: each message exactly once.
    let twice: Vec<_> = l.seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

#[test]
fn persistent_messages_survive_a_clean_restart_and_others_do_not() {
    let broker = start(new_dir(STORED));
    let mut s = Stomp::connect(&broker.addr);
    for i in 0..50 {
        s.send_sync(
            "/queue/keep",
            &[("persistent", "true")],
            format!("p{i}").as_bytes(),
        );
    }
    s.send_sync("/queue/keep", &[], b"transient");
    // One delivered and not acknowledged: after the restart it is flagged redelivered.
    s.subscribe(
        "c",
        "/queue/keep",
        &[("ack", "client-individual"), ("activemq.prefetchSize", "1")],
    );
    let first = s.expect(Command::Message);
    assert_eq!(&first.body[..], b"p0");
    drop(s);
    let dir = broker.stop_keep_dir();
    let broker = start(dir);
    assert!(broker.log().contains("crashed=false"), "{}", broker.log());
    let mut s = Stomp::connect(&broker.addr);
    s.subscribe("c", "/queue/keep", &[]);
    let m = s.expect(Command::Message);
    assert_eq!(&m.body[..], b"p0");
    assert_eq!(m.get("redelivered"), Some("true"));
    assert_eq!(m.get("persistent"), Some("true"));
    for i in 1..50 {
        let m = s.expect(Command::Message);
        assert_eq!(String::from_utf8_lossy(&m.body), format!("p{i}"));
        assert_eq!(
            m.get("redelivered"),
            None,
            "never delivered before the restart"
        );
    }
    s.expect_nothing(); // the non-persistent one did not survive
}

#[test]
fn a_damaged_store_loses_only_the_damaged_records() {
    let broker = start(new_dir(STORED));
    let mut s = Stomp::connect(&broker.addr);
    let n = 100;
    for i in 0..n {
        s.send_sync(
            "/queue/dmg",
            &[("persistent", "true")],
            format!("message-{i:04}").as_bytes(),
        );
    }
    drop(s);
    let dir = broker.crash_keep_dir();
    let segment = std::fs::read_dir(dir.path().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".log"))
        .expect("a journal segment");
    // The store is private to the broker's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("store")), 0o700);
    assert_eq!(mode(&segment), 0o600);
    let mut data = std::fs::read(&segment).unwrap();
    // Flip a byte inside message-0040's record, and tear the last record in half.
    let at = data.windows(12).position(|w| w == b"message-0040").unwrap();
    data[at + 3] ^= 0xff;
    let torn = data.len() - 9;
    data.truncate(torn);
    std::fs::write(&segment, &data).unwrap();

    let broker = start(dir);
    assert!(
        broker.wait_log("message store recovered"),
        "{}",
        broker.log()
    );
    let log = broker.log();
    assert!(log.contains("skipped a damaged region"), "{log}");
    assert!(log.contains("torn write"), "{log}");
    let mut s = Stomp::connect(&broker.addr);
    s.subscribe("c", "/queue/dmg", &[]);
    let mut got = Vec::new();
    while let Some(f) = s.recv_within(Duration::from_secs(1)) {
        got.push(String::from_utf8_lossy(&f.body).into_owned());
    }
    let expected: Vec<String> = (0..n)
        .filter(|i| *i != 40 && *i != n - 1)
        .map(|i| format!("message-{i:04}"))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn durable_subscriptions_keep_messages_while_offline_and_unsubscribe_removes_them() {
    let broker = Broker::open_with("");
    let id = [("client-id", "cli-1")];
    let sub = [("activemq.subscriptionName", "orders")];
    let mut s = Stomp::connect_with(&broker.addr, &id);
    s.subscribe(
        "d",
        "/topic/orders.>",
        &[sub[0], ("selector", "kind <> 'noise'")],
    );
    s.send_sync("/topic/orders.eu", &[("kind", "order")], b"live");
    assert_eq!(s.expect_body(), "live");
    s.request(frame("DISCONNECT", &[], b""));

    let mut p = Stomp::connect(&broker.addr);
    for body in ["one", "two", "three"] {
        p.send_sync("/topic/orders.eu", &[("kind", "order")], body.as_bytes());
    }
    p.send_sync("/topic/orders.eu", &[("kind", "noise")], b"filtered");
    p.send_sync("/topic/other", &[], b"not subscribed");

    // A durable subscription needs a client-id; reserved queues are off limits.
    let mut bad = Stomp::connect(&broker.addr);
    bad.send(&frame(
        "SUBSCRIBE",
        &[("id", "x"), ("destination", "/topic/orders.>"), sub[0]],
        b"",
    ));
    bad.expect_error("client-id");
    let mut bad = Stomp::connect(&broker.addr);
    bad.send(&frame(
        "SEND",
        &[("destination", "/queue/shoal.durable.cli-1.orders")],
        b"x",
    ));
    bad.expect_error("reserved");

    let mut s = Stomp::connect_with(&broker.addr, &id);
    s.subscribe(
        "d",
        "/topic/orders.>",
        &[sub[0], ("selector", "kind <> 'noise'")],
    );
    for body in ["one", "two", "three"] {
        let m = s.expect(Command::Message);
        assert_eq!(&m.body[..], body.as_bytes());
        assert_eq!(m.get("destination"), Some("/topic/orders.eu"));
    }
    s.expect_nothing();
    // While it is active, nobody else may take it over.
    let mut twin = Stomp::connect_with(&broker.addr, &id);
    twin.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "d"),
            ("destination", "/topic/orders.>"),
            sub[0],
            ("selector", "kind <> 'noise'"),
        ],
        b"",
    ));
    twin.expect_error("already active");

    s.request(frame("UNSUBSCRIBE", &[("id", "d"), sub[0]], b""));
    p.send_sync(
        "/topic/orders.eu",
        &[("kind", "order")],
        b"after unsubscribe",
    );
    s.subscribe(
        "d2",
        "/topic/orders.>",
        &[sub[0], ("selector", "kind <> 'noise'")],
    );
    s.expect_nothing();
}

#[test]
fn too_many_redeliveries_go_to_the_dead_letter_queue() {
    let broker = Broker::open_with("[delivery]\nmax_redeliveries = 2\n");
    let mut s = Stomp::connect(&broker.addr);
    s.send_sync(
        "/queue/jobs",
        &[("persistent", "true"), ("job", "7")],
        b"poison",
    );
    s.subscribe("c", "/queue/jobs", &[("ack", "client-individual")]);
    for round in 0..3 {
        let m = s.expect(Command::Message);
        assert_eq!(&m.body[..], b"poison");
        if round == 0 {
            assert_eq!(m.get("redelivered"), None);
        } else {
            assert_eq!(m.get("redelivered"), Some("true"));
            assert_eq!(m.get("redelivery-count"), Some(round.to_string().as_str()));
        }
        s.request(frame("NACK", &[("id", m.get("ack").unwrap())], b""));
    }
    s.expect_nothing(); // the third NACK was one too many
    s.subscribe("dlq", "/queue/DLQ.jobs", &[]);
    let d = s.expect(Command::Message);
    assert_eq!(&d.body[..], b"poison");
    assert_eq!(d.get("original-destination"), Some("/queue/jobs"));
    assert_eq!(d.get("job"), Some("7"));
    assert_eq!(d.get("destination"), Some("/queue/DLQ.jobs"));
}

#[test]
fn expired_messages_move_to_the_expiry_queue_when_configured() {
    let broker = Broker::open_with("[delivery]\nexpired = \"queue\"\n");
    let mut s = Stomp::connect(&broker.addr);
    let soon = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 200)
        .to_string();
    s.send_sync("/queue/short", &[("expires", &soon)], b"stale");
    s.send_sync("/queue/short", &[], b"fresh");
    std::thread::sleep(Duration::from_millis(1600)); // past expiry and a broker tick
    s.subscribe("c", "/queue/short", &[]);
    assert_eq!(s.expect_body(), "fresh");
    s.expect_nothing();
    s.subscribe("e", "/queue/ExpiryQueue", &[]);
    let e = s.expect(Command::Message);
    assert_eq!(&e.body[..], b"stale");
    assert_eq!(e.get("original-destination"), Some("/queue/short"));
}

#[test]
fn memory_and_disk_limits_refuse_with_a_clear_error_and_keep_what_was_accepted() {
    // Four messages of 1000 bytes, their headers (priority, timestamp) and the 512 bytes
    // counted for each message's own structures fit; a fifth does not.
    let broker = Broker::open_with("[limits]\nmax_memory_bytes = 6500\nproducer_wait_ms = 0\n");
    let mut s = Stomp::connect(&broker.addr);
    let body = vec![b'x'; 1000];
    for _ in 0..4 {
        s.send_sync("/queue/a", &[], &body);
    }
    s.send(&frame(
        "SEND",
        &[("destination", "/queue/b"), ("receipt", "r")],
        &body,
    ));
    s.expect_error("max_memory_bytes");
    let mut c = Stomp::connect(&broker.addr);
    c.subscribe("c", "/queue/a", &[]);
    for _ in 0..4 {
        assert_eq!(c.expect(Command::Message).body.len(), 1000);
    }

    let disk = format!("{STORED}max_disk_bytes = 20000\n[limits]\nproducer_wait_ms = 0\n");
    let broker = start(new_dir(&disk));
    let mut s = Stomp::connect(&broker.addr);
    let mut accepted = 0;
    let error = loop {
        s.send(&frame(
            "SEND",
            &[
                ("destination", "/queue/d"),
                ("persistent", "true"),
                ("receipt", "r"),
            ],
            &body,
        ));
        let f = s.recv().expect("an answer");
        if f.command == Command::Error {
            break f;
        }
        accepted += 1;
        assert!(accepted < 100, "the disk limit never applied");
    };
    assert!(
        error.get("message").unwrap().contains("max_disk_bytes"),
        "{:?}",
        error.headers
    );
    assert!(accepted >= 10, "refused too early: {accepted}");
    // Non-persistent messages do not need the disk.
    let mut t = Stomp::connect(&broker.addr);
    t.send_sync("/queue/d", &[], b"in memory");
    let mut c = Stomp::connect(&broker.addr);
    c.subscribe("c", "/queue/d", &[]);
    for _ in 0..accepted {
        assert_eq!(c.expect(Command::Message).body.len(), 1000);
    }
    assert_eq!(c.expect_body(), "in memory");
}

/// Receipts of persistent SENDs wait for the store, and later receipts queue behind them;
/// the connection keeps being served meanwhile. (A crash test alone cannot show this: the
/// writer is too quick for a SIGKILL to land between a premature receipt and the write.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_wait_until_the_store_has_the_message() {
    use shoal::broker::handle::BrokerSetup;
    use shoal::broker::store::StoreSettings;
    let dir = TempDir::new("held");
    let mut setup = BrokerSetup::open(&["127.0.0.1:0"]);
    setup.store = Some((StoreSettings::default(), dir.path().join("store")));
    let broker = shoal::broker::Broker::start(setup).await.unwrap();
    let addr = broker.local_addrs()[0].to_string();
    let store = broker.handle().store().expect("a store");
    let (before, all) = tokio::task::spawn_blocking(move || {
        let held = store.hold_writer();
        let mut s = Stomp::connect(&addr);
        s.send(&frame(
            "SEND",
            &[
                ("destination", "/queue/held"),
                ("persistent", "true"),
                ("receipt", "r1"),
            ],
            b"on disk",
        ));
        s.send(&frame(
            "SEND",
            &[("destination", "/queue/held"), ("receipt", "r2")],
            b"in memory",
        ));
        // Served meanwhile: a subscription gets both messages before either receipt.
        s.send(&frame(
            "SUBSCRIBE",
            &[("id", "c"), ("destination", "/queue/held")],
            b"",
        ));
        let mut seen = Vec::new();
        while let Some(f) = s.recv_within(Duration::from_millis(500)) {
            seen.push(match f.command {
                Command::Receipt => f.get("receipt-id").unwrap().to_string(),
                _ => String::from_utf8_lossy(&f.body).into_owned(),
            });
        }
        let before = seen.clone();
        drop(held);
        // Released: the receipts, in order.
        for _ in 0..2 {
            seen.push(
                s.expect(Command::Receipt)
                    .get("receipt-id")
                    .unwrap()
                    .to_string(),
            );
        }
        (before, seen)
    })
    .await
    .unwrap();
    assert_eq!(
        before,
        ["on disk", "in memory"],
        "nothing receipted before the write"
    );
    assert_eq!(all, ["on disk", "in memory", "r1", "r2"]);
    broker.shutdown(Duration::from_secs(2)).await;
}

/// A queue message waiting on A for a consumer behind a bridge outlives both the peer's
/// outage and a SIGKILL of A itself: it is in A's store until the far consumer has it.
#[test]
fn queue_messages_waiting_for_a_bridged_consumer_survive_the_peer_outage_and_a_crash() {
    let port_b = free_port();
    let b_config =
        format!("{OPEN}[cluster]\nlisten = [\"127.0.0.1:{port_b}\"]\n[store]\nenabled = false\n");
    let start_b = || {
        let b = Broker::start_with(&b_config, &["--name", "FAR"]);
        assert!(b.wait_log("listening for bridges"), "{}", b.log());
        b
    };
    let a_config = format!(
        "{STORED}[[bridge]]\nname = \"A-FAR\"\nuri = \"static:(tcp://127.0.0.1:{port_b})\"\nduplex = true\ninitial_reconnect_delay_ms = 50\nmax_reconnect_delay_ms = 200\n"
    );
    let dir = new_dir(&a_config);
    let cfg = dir.path().join("broker.toml");
    let b = start_b();
    let a = Broker::start_in(dir, &cfg, &["--name", "NEAR"]);
    assert!(a.wait_log("bridge connected bridge=A-FAR"), "{}", a.log());
    // Demand from B reaches A: probes flow.
    let mut far = Stomp::connect(&b.addr);
    far.subscribe("c", "/queue/far", &[]);
    let mut p = Stomp::connect(&a.addr);
    assert!(
        eventually(|| {
            p.send_sync("/queue/far", &[("probe", "1")], b"probe");
            far.recv_within(Duration::from_millis(100)).is_some()
        }),
        "no route from A to B"
    );
    while far.recv_within(Duration::from_millis(300)).is_some() {}
    // B goes down; A takes 50 persistent messages for the queue, then A crashes.
    drop(far);
    drop(b);
    for i in 0..50 {
        p.send_sync(
            "/queue/far",
            &[("persistent", "true")],
            format!("w{i}").as_bytes(),
        );
    }
    drop(p);
    let dir = a.crash_keep_dir();
    // Both come back; B's consumer gets every message exactly once.
    let b = start_b();
    let a = Broker::start_in(dir, &cfg, &["--name", "NEAR"]);
    assert!(a.log().contains("messages=50"), "{}", a.log());
    assert!(a.wait_log("bridge connected bridge=A-FAR"), "{}", a.log());
    let mut far = Stomp::connect(&b.addr);
    far.subscribe("c", "/queue/far", &[]);
    let mut seen: HashMap<String, usize> = HashMap::new();
    while let Some(f) = far.recv_within(Duration::from_secs(2)) {
        if f.get("probe").is_none() {
            *seen
                .entry(String::from_utf8_lossy(&f.body).into_owned())
                .or_insert(0) += 1;
        }
    }
    let expected: HashMap<String, usize> = (0..50).map(|i| (format!("w{i}"), 1)).collect();
    assert_eq!(seen, expected);
}

/// A COMMIT's receipt covers the transaction's persistent SENDs; an aborted one leaves nothing.
#[test]
fn committed_transactions_survive_a_crash_and_aborted_ones_leave_nothing() {
    let broker = start(new_dir(STORED));
    let mut s = Stomp::connect(&broker.addr);
    s.send(&frame("BEGIN", &[("transaction", "t1")], b""));
    for i in 0..3 {
        s.send(&frame(
            "SEND",
            &[
                ("destination", "/queue/tx"),
                ("persistent", "true"),
                ("transaction", "t1"),
            ],
            format!("kept-{i}").as_bytes(),
        ));
    }
    s.request(frame("COMMIT", &[("transaction", "t1")], b""));
    s.send(&frame("BEGIN", &[("transaction", "t2")], b""));
    s.send(&frame(
        "SEND",
        &[
            ("destination", "/queue/tx"),
            ("persistent", "true"),
            ("transaction", "t2"),
        ],
        b"aborted",
    ));
    s.request(frame("ABORT", &[("transaction", "t2")], b""));
    let dir = broker.crash_keep_dir();
    let broker = start(dir);
    let mut c = Stomp::connect(&broker.addr);
    c.subscribe("c", "/queue/tx", &[]);
    for i in 0..3 {
        assert_eq!(c.expect_body(), format!("kept-{i}"));
    }
    c.expect_nothing();
}
