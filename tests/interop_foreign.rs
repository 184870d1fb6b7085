//! A `kind = "stomp"` bridge from shoal to Debian's ActiveMQ and RabbitMQ: topics both ways
//! without echoes, a queue out, a queue in. Opt-in (the peers take a while to start):
//!
//! ```sh
//! benches/peers.sh start                                # ActiveMQ :61614, RabbitMQ :61613
//! SHOAL_PEERS=1 cargo test --test interop_foreign
//! ```

mod common;
use common::{Broker, Stomp, OPEN};
use std::time::Duration;

fn peers_wanted() -> bool {
    if std::env::var_os("SHOAL_PEERS").is_none() {
        eprintln!(
            "SKIPPED: set SHOAL_PEERS=1 after benches/peers.sh start to test foreign bridges"
        );
        return false;
    }
    true
}

fn foreign_login(addr: &str, user: Option<(&str, &str)>) -> Stomp {
    match user {
        Some((u, p)) => Stomp::login(addr, u, p).expect("login to the foreign broker"),
        None => Stomp::connect(addr),
    }
}

fn bridged_both_ways(label: &str, foreign: &str, creds: Option<(&str, &str)>) {
    let auth = creds
        .map(|(u, p)| format!("user = \"{u}\"\npassword = \"{p}\"\nvhost = \"/\"\n"))
        .unwrap_or_default();
    let b = Broker::start_with(
        &format!(
            "{OPEN}[[bridge]]\nname = \"{label}\"\nkind = \"stomp\"\nuri = \"tcp://{foreign}\"\n{auth}\
             statically_included_destinations = [\"topic://shoal.both\", \"queue://shoal.out\"]\n\
             inbound_destinations = [\"queue://shoal.in\"]\n"
        ),
        &["--name", "bastion"],
    );
    assert!(
        b.wait_log(&format!("bridge connected bridge={label}")),
        "{}",
        b.log()
    );
    let mut here = Stomp::connect(&b.addr);
    here.subscribe("t", "/topic/shoal.both", &[]);
    here.subscribe("q", "/queue/shoal.in", &[]);
    let mut there = foreign_login(foreign, creds);
    there.subscribe("t", "/topic/shoal.both", &[]);
    there.subscribe("q", "/queue/shoal.out", &[]);
    std::thread::sleep(Duration::from_millis(500));

    // Topic, shoal → foreign: each side sees it once (no echo back into shoal).
    here.send_sync("/topic/shoal.both", &[], b"from shoal");
    assert_eq!(there.expect_body(), "from shoal");
    assert_eq!(here.expect_body(), "from shoal");
    // Topic, foreign → shoal.
    there.send_sync("/topic/shoal.both", &[], b"from foreign");
    assert_eq!(here.expect_body(), "from foreign");
    assert_eq!(there.expect_body(), "from foreign");
    // Queues: out and in.
    here.send_sync("/queue/shoal.out", &[], b"queued out");
    assert_eq!(there.expect_body(), "queued out");
    there.send_sync("/queue/shoal.in", &[], b"queued in");
    assert_eq!(here.expect_body(), "queued in");
    // Nothing else: no echoes, no duplicates.
    here.expect_nothing();
    there.expect_nothing();
}

#[test]
fn stomp_bridge_to_activemq() {
    if peers_wanted() {
        bridged_both_ways("to-activemq", "127.0.0.1:61614", None);
    }
}

#[test]
fn stomp_bridge_to_rabbitmq() {
    if peers_wanted() {
        bridged_both_ways("to-rabbitmq", "127.0.0.1:61613", Some(("guest", "guest")));
    }
}

/// `shoal node` and `shoal ping` on a foreign broker: ActiveMQ with the activemq connector's
/// names, RabbitMQ with the rabbitmq connector's (`/exchange/…`, `/temp-queue/` replies).
#[test]
fn collective_tools_on_activemq_and_rabbitmq() {
    if !peers_wanted() {
        return;
    }
    use common::mco::{ping_replies, shoal_ping, ShoalNode};
    let dir = common::TempDir::new("foreign-collective");
    let pw = dir.write("guest.pw", "guest\n");
    let pw = pw.to_str().unwrap();
    for (port, connector, id) in [(61614u16, "activemq", "amq"), (61613, "rabbitmq", "rmq")] {
        let _nodes = ShoalNode::start(
            &dir,
            port,
            id,
            "interop-psk",
            &[
                "--identity",
                id,
                "-T",
                "mcollective",
                "--simulate",
                "2",
                "--connector",
                connector,
                "--user",
                "guest",
                "--password-file",
                pw,
            ],
            2,
        );
        let cfg = dir.write(
            &format!("{id}-client.cfg"),
            &common::mco::connector(port, "guest", "guest", "interop-psk"),
        );
        let b = format!("127.0.0.1:{port}");
        let args = [
            "--connector",
            connector,
            "-b",
            &b,
            "--user",
            "guest",
            "--password-file",
            pw,
        ];
        let (out, err, ok) = shoal_ping(&cfg, &[&args[..], &["-t", "2"]].concat());
        assert!(ok, "{err}");
        assert_eq!(
            ping_replies(&out),
            [format!("{id}-001"), format!("{id}-002")],
            "{out}"
        );
        assert!(out.contains("membership unknown"), "{out}");
        let only = format!("{id}-002");
        let (out, _, _) = shoal_ping(&cfg, &[&args[..], &["-t", "2", "-I", &only]].concat());
        assert_eq!(ping_replies(&out), [only], "{out}");
    }
}

/// A `kind = "stomp"` bridge negotiates heart-beats with ActiveMQ: a frozen connection (open,
/// nothing moving) is noticed within three periods and the bridge recovers; the operator's
/// reconnect (the TUI's action, on `/queue/shoal.control`) reaches the foreign link.
#[test]
fn a_frozen_foreign_link_is_noticed_and_recovers() {
    if !peers_wanted() {
        return;
    }
    let proxy = common::FaultProxy::start("127.0.0.1:61614");
    let b = Broker::start_with(
        &format!(
            "{OPEN}[[bridge]]\nname = \"to-amq\"\nkind = \"stomp\"\nuri = \"tcp://{}\"\n\
             heartbeat_ms = 300\ninitial_reconnect_delay_ms = 100\nmax_reconnect_delay_ms = 500\n\
             statically_included_destinations = [\"topic://shoal.frozen\"]\n",
            proxy.addr
        ),
        &["--name", "bastion"],
    );
    assert!(b.wait_log("bridge connected bridge=to-amq"), "{}", b.log());
    proxy.stall(true);
    let frozen = std::time::Instant::now();
    assert!(
        common::eventually_within(Duration::from_secs(10), || b
            .log()
            .contains("no heart-beat from the foreign broker")),
        "{}",
        b.log()
    );
    let noticed = frozen.elapsed();
    proxy.stall(false);
    proxy.cut(); // the frozen connection's bytes are stale: start clean
    assert!(
        noticed < Duration::from_millis(3 * 300 + 1500),
        "noticed after {noticed:?}"
    );
    let connects = || b.log().matches("bridge connected bridge=to-amq").count();
    assert!(
        common::eventually_within(Duration::from_secs(10), || connects() >= 2),
        "{}",
        b.log()
    );
    // The operator's reconnect is carried out on the foreign link.
    let before = connects();
    let mut admin = Stomp::connect(&b.addr);
    admin.send_sync(
        "/queue/shoal.control",
        &[("shoal-bridge", "to-amq"), ("shoal-action", "reconnect")],
        b"",
    );
    assert!(
        common::eventually_within(Duration::from_secs(10), || connects() > before),
        "{}",
        b.log()
    );
    assert!(
        b.log().contains("reconnect requested by an operator"),
        "{}",
        b.log()
    );
    // And messages cross again.
    let mut there = Stomp::connect("127.0.0.1:61614");
    there.subscribe("t", "/topic/shoal.frozen", &[]);
    let mut here = Stomp::connect(&b.addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        here.send_sync("/topic/shoal.frozen", &[], b"after the freeze");
        if there.recv_within(Duration::from_millis(300)).is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing crosses after recovery"
        );
    }
}

/// `shoal node` (from server.cfg's `pool.1.ssl.*` keys) and `shoal ping` (from `--tls-*`
/// flags) through Debian's ActiveMQ on its `stomp+ssl` connector, which requires a client
/// certificate (benches/peers.sh makes the CA and certificates); a certificate from another
/// CA is refused.
#[test]
fn collective_tools_on_activemq_over_tls() {
    if !peers_wanted() {
        return;
    }
    use common::mco::{ping_replies, shoal_ping, ShoalNode};
    let tls = std::path::PathBuf::from(
        std::env::var("PEERS_DIR").unwrap_or_else(|_| "/tmp/shoal-peers".into()),
    )
    .join("activemq/tls");
    let file = |n: &str| tls.join(n).to_str().unwrap().to_string();
    let dir = common::TempDir::new("foreign-tls");
    let server_cfg = format!(
        "identity = amq-tls\nsecurityprovider = psk\nplugin.psk = tls-psk\nconnector = activemq\n\
         plugin.activemq.pool.size = 1\nplugin.activemq.pool.1.host = 127.0.0.1\n\
         plugin.activemq.pool.1.port = 61615\nplugin.activemq.pool.1.ssl = 1\n\
         plugin.activemq.pool.1.ssl.ca = {}\nplugin.activemq.pool.1.ssl.cert = {}\n\
         plugin.activemq.pool.1.ssl.key = {}\n",
        file("ca.pem"),
        file("client.pem"),
        file("client.key")
    );
    let _node = ShoalNode::start_with_config(&dir, "amq-tls", &server_cfg, &[], 1);
    let cfg = dir.write("client.cfg", "plugin.psk = tls-psk\n");
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let mut args = vec![
        "-b",
        "stomp+ssl://127.0.0.1:61615",
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "-t",
        "2",
    ];
    let (out, err, ok) = shoal_ping(&cfg, &args);
    assert!(ok, "{err}");
    assert_eq!(ping_replies(&out), ["amq-tls"], "{out}");
    let other = common::pki::pki("intruder");
    let (o_cert, o_key) = (
        other.client_pem.0.to_str().unwrap().to_string(),
        other.client_pem.1.to_str().unwrap().to_string(),
    );
    args[5] = &o_cert;
    args[7] = &o_key;
    let (out, err, ok) = shoal_ping(&cfg, &args);
    assert!(!ok, "a certificate from another CA got in: {out}");
    assert!(err.contains("TLS") || err.contains("certificate"), "{err}");
}
