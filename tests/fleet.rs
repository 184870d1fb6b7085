//! A fleet's worth of nodes on one broker: what thousands of connections that come back at
//! once need from it.

mod common;
use common::{require_tool, Broker, Stomp};

/// The backlog of the listening socket on `port`: `ss` shows it as the Send-Q of a
/// listening socket.
fn listen_backlog(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split_whitespace().nth(2)?.parse().ok())
}

#[test]
fn the_listeners_queue_a_restart_storm_of_connections() {
    if !require_tool("ss", &["-V"], "apt-get install iproute2") {
        return;
    }
    // The kernel caps the backlog asked for at net.core.somaxconn.
    let cap: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    for (config, want) in [("", 4096), ("listen_backlog = 1000\n", 1000)] {
        let b = Broker::start_with(
            &format!(
                "[auth]\nanonymous = true\n[cluster]\nlisten = [\"127.0.0.1:0\"]\n[limits]\n{config}"
            ),
            &[],
        );
        let cluster_port: u16 = b.cluster[0].rsplit(':').next().unwrap().parse().unwrap();
        for port in [b.port(), cluster_port] {
            assert_eq!(
                listen_backlog(port),
                Some(cap.min(want)),
                "backlog of the listener on {port} with {config:?}"
            );
        }
    }
}

#[test]
fn a_fleet_logging_in_at_once_from_one_address_is_not_throttled() {
    // 200 nodes behind one address (a NAT, or a bastion), the same user and the right
    // password, all at once after a restart. The throttle used to space attempts in flight
    // as if each were a failure: the 10th waited 46 s, the rest longer.
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let addr = b.addr.clone();
    let logins: Vec<_> = (0..200)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || Stomp::login(&addr, "prodadmin", "poobatron").is_ok())
        })
        .collect();
    let ok = logins
        .into_iter()
        .map(|t| t.join().unwrap_or(false))
        .filter(|in_| *in_)
        .count();
    assert_eq!(ok, 200, "logins that got in");
}

#[test]
fn a_bridge_carries_more_nodes_than_one_client_may_subscribe() {
    // C's nodes are advertised to A as one subscription each (their selectors differ), on
    // the one connection of A's bridge. A client there may make 20; the bridge makes 30.
    let c = common::net::node("C", &[], "");
    let a = common::net::node_with(
        "A",
        &[("C", &c.cluster[0])],
        "",
        "[limits]\nmax_subscriptions_per_connection = 20\n",
    );
    let mut nodes: Vec<Stomp> = (0..30)
        .map(|i| {
            let mut n = Stomp::connect(&c.addr);
            let selector = format!("mc_identity = 'node{i}'");
            n.subscribe("d", "/queue/mcollective.nodes", &[("selector", &selector)]);
            n
        })
        .collect();
    let mut p = Stomp::connect(&a.addr);
    for round in 0.. {
        for i in 0..30 {
            let id = format!("node{i}");
            p.send_sync("/queue/mcollective.nodes", &[("mc_identity", &id)], b"ping");
        }
        // Every node answers once its demand reached A; until then its request waits on A.
        let got = nodes
            .iter_mut()
            .map(|n| {
                n.recv_within(std::time::Duration::from_millis(500))
                    .is_some()
            })
            .filter(|got| *got)
            .count();
        if got == 30 {
            break;
        }
        assert!(
            round < 20,
            "{got} of 30 nodes reached through the bridge:\n{}",
            a.log()
        );
    }
    assert!(!a.log().contains("refused here"), "{}", a.log());
}

/// Polls `f` every 20 ms for up to 10 s.
async fn until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_nothing_behind() {
    use shoal::broker::handle::BrokerSetup;
    use shoal::collective::membership::MembershipTracker;
    let broker = shoal::broker::Broker::start(BrokerSetup::open(&["127.0.0.1:0"]))
        .await
        .unwrap();
    let h = broker.handle();
    let stop = tokio_util::sync::CancellationToken::new();
    let tracker = MembershipTracker::start(h.clone(), stop.clone());
    let addr = broker.local_addrs()[0].to_string();
    let conns = || h.snapshot().connections.len();
    let base = (conns(), h.subscriptions().len(), tracker.entries());
    for cycle in 0..3 {
        // 200 nodes: a directed queue with a selector, an agent topic, a temporary queue, and
        // a reply sent; all in membership; then all gone at once.
        let a = addr.clone();
        let fleet = tokio::task::spawn_blocking(move || {
            (0..200)
                .map(|i| {
                    let mut s = Stomp::connect(&a);
                    let sel = format!("mc_identity = 'churn{cycle}-{i}'");
                    s.subscribe("d", "/queue/mcollective.nodes", &[("selector", &sel)]);
                    s.subscribe("a", "/topic/mcollective.discovery.agent", &[]);
                    s.subscribe("t", "/temp-queue/replies", &[]);
                    s.send_sync("/queue/mcollective.reply.churn", &[], b"reply");
                    s
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        assert!(until(|| tracker.counts().get("mcollective") == Some(&200)).await);
        drop(fleet);
        assert!(
            until(|| conns() == base.0).await,
            "cycle {cycle}: connections left"
        );
    }
    assert_eq!(h.subscriptions().len(), base.1, "subscriptions left");
    assert!(
        until(|| tracker.entries() == base.2).await,
        "membership entries left: {} (from {})",
        tracker.entries(),
        base.2
    );
    let s = h.snapshot();
    let left: Vec<&str> = s
        .destinations
        .iter()
        .map(|d| d.destination.as_str())
        .filter(|d| d.contains("temp") || d.contains("shoal-tmp"))
        .collect();
    assert!(
        left.is_empty(),
        "{} temporary destinations left, first {:?}",
        left.len(),
        &left[..left.len().min(3)]
    );
    let reply = s.destination("/queue/mcollective.reply.churn").unwrap();
    assert_eq!((reply.producers, reply.pending), (0, 600));
    stop.cancel();
}

#[test]
fn a_storm_of_refused_connections_is_a_few_log_lines() {
    let b = Broker::start_with(
        "[auth]\nanonymous = true\n[limits]\nmax_connections_per_address = 2\n",
        &[],
    );
    let _held: Vec<Stomp> = (0..2).map(|_| Stomp::connect(&b.addr)).collect();
    for _ in 0..100 {
        let mut s = std::net::TcpStream::connect(&b.addr).expect("connect");
        // Each is refused with an ERROR and closed.
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut sink);
        assert!(String::from_utf8_lossy(&sink).contains("too many connections"));
    }
    assert!(b.wait_log("connection refused"));
    let lines = b.log().matches("connection refused").count();
    assert!(lines < 10, "{lines} log lines for 100 refusals");
}
