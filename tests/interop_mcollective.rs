//! Debian's real MCollective 2.12 (`mcollectived` nodes, the `mco` client, activemq connector,
//! psk security) against the real `shoal broker`: broadcast pings in two collectives, class
//! filters, and a directed rpc that must reach only its node.

mod common;
use common::mco::{have_mcollective, ping_replies, plain_fleet, Fleet, Node, NODES};
use common::{Broker, Stomp, TempDir};

#[test]
fn real_mcollective_fleet_works_through_shoal() {
    if !have_mcollective() {
        return;
    }
    let b = Broker::start();
    let both = ["mcollective", "qacollective"];
    let fleet = plain_fleet(&b);
    let client = fleet.client("client", "mcollective", "marionette", &both);

    // Broadcast discovery ping in the main collective and in a subcollective.
    let out = fleet.mco(&client, &["ping", "-t", "3"]);
    assert_eq!(ping_replies(&out), NODES, "{out}");
    assert!(out.contains("3 replies"), "{out}");
    let out = fleet.mco(&client, &["ping", "-T", "qacollective", "-t", "3"]);
    assert_eq!(ping_replies(&out), NODES, "{out}");

    // A class filter is evaluated by the nodes: only node2 answers.
    let out = fleet.mco(&client, &["ping", "-C", "role::node2", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["node2"], "{out}");

    // A directed request: it must travel on /queue/mcollective.nodes to node1 alone, never as
    // a broadcast. A spy on the broadcast topic proves it was not broadcast.
    let mut spy = Stomp::connect(&b.addr);
    spy.subscribe("spy", "/topic/mcollective.rpcutil.agent", &[]);
    let out = fleet.mco(
        &client,
        &["rpc", "rpcutil", "ping", "-I", "node1", "-t", "3"],
    );
    assert!(
        out.contains("node1") && !out.contains("node2") && !out.contains("node3"),
        "{out}"
    );
    assert!(out.contains("Finished processing 1 / 1 hosts"), "{out}");
    spy.expect_nothing();
    assert!(common::eventually(|| fleet
        .node_log("node1")
        .contains("for agent 'rpcutil'")));
    for other in ["node2", "node3"] {
        assert!(
            !fleet.node_log(other).contains("for agent 'rpcutil'"),
            "{other} saw the directed request:\n{}",
            fleet.node_log(other)
        );
    }
}

/// The shipped example (examples/seed/mqbroker01.toml) with real nodes and clients: per-scope
/// users and ACLs keep the QA admin out of production, and the user is told why.
#[test]
fn seed_scopes_keep_the_qa_admin_out_of_production() {
    if !have_mcollective() {
        return;
    }
    let secrets = TempDir::new("seed-secrets");
    let passwords = [
        ("admin", "root-pw"),
        ("mqcluster", "cluster-pw"),
        ("qaadmin", "muppetsfromspace"),
        ("prodadmin", "poobatron"),
        ("qanode", "qanode-pw"),
        ("prodnode", "prodnode-pw"),
    ];
    for (user, pw) in passwords {
        let p = secrets.write(user, &format!("{pw}\n"));
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    }
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed/mqbroker01.toml"
    ))
    .unwrap();
    let mut text = example.replace(
        "/etc/shoal/secrets/",
        &format!("{}/", secrets.path().display()),
    );
    // The test serves plain TCP on loopback: drop the [tls] table (its files are the site's)
    // and the network part (the peer broker is not here; bridges have their own tests).
    let tls_start = text.find("[tls]").unwrap();
    let tls_end = tls_start + text[tls_start..].find("\n\n").unwrap();
    text.replace_range(tls_start..tls_end, "");
    let net_start = text.find("# --- the network of brokers").unwrap();
    let net_end = text.find("# --- end of the network part ---").unwrap();
    text.replace_range(net_start..net_end, "");
    let dir = TempDir::new("seed-broker");
    let cfg = dir.write("broker.toml", &text);
    let b = Broker::start_in(dir, &cfg, &[]);

    let qa = ["mcollective", "qacollective"];
    let prod = ["mcollective", "prodcollective"];
    let fleet = Fleet::start(
        &b,
        &[
            Node {
                id: "qa1",
                user: "qanode",
                password: "qanode-pw",
                collectives: &qa,
                psk: "interop-psk",
            },
            Node {
                id: "qa2",
                user: "qanode",
                password: "qanode-pw",
                collectives: &qa,
                psk: "interop-psk",
            },
            Node {
                id: "prod1",
                user: "prodnode",
                password: "prodnode-pw",
                collectives: &prod,
                psk: "interop-psk",
            },
        ],
    );
    // The QA admin, who has also put prodcollective in its client.cfg.
    let qa_client = fleet.client(
        "qa",
        "qaadmin",
        "muppetsfromspace",
        &["qacollective", "prodcollective"],
    );
    let out = fleet.mco(&qa_client, &["ping", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["qa1", "qa2"], "{out}");
    let out = fleet.mco(&qa_client, &["ping", "-T", "prodcollective", "-t", "3"]);
    assert!(ping_replies(&out).is_empty(), "{out}");
    assert!(
        out.contains("access denied: qaadmin may not read /queue/prodcollective.reply."),
        "the user sees why:\n{out}"
    );
    assert!(
        !fleet.node_log("prod1").contains("Handling message"),
        "{}",
        fleet.node_log("prod1")
    );
    // Nor can the QA admin address the main collective, which reaches production nodes too.
    let main = fleet.client("qa-main", "qaadmin", "muppetsfromspace", &["mcollective"]);
    let out = fleet.mco(&main, &["ping", "-t", "3"]);
    assert!(out.contains("access denied: qaadmin may not"), "{out}");
    // The full-scope admin reaches everyone through the main collective, and production
    // through its subcollective.
    let full = fleet.client(
        "full",
        "admin",
        "root-pw",
        &["mcollective", "qacollective", "prodcollective"],
    );
    let out = fleet.mco(&full, &["ping", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["prod1", "qa1", "qa2"], "{out}");
    let out = fleet.mco(&full, &["ping", "-T", "prodcollective", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["prod1"], "{out}");
}

/// Nodes on broker B answer `mco ping` and a directed rpc issued on broker A, through a duplex
/// bridge from B to A.
#[test]
fn mco_on_one_broker_reaches_nodes_on_another_through_a_bridge() {
    if !have_mcollective() {
        return;
    }
    let open = common::OPEN;
    let a = Broker::start_with(
        &format!("{open}[cluster]\nlisten = [\"127.0.0.1:0\"]\n"),
        &["--name", "mqbroker01"],
    );
    let b = Broker::start_with(
        &format!("{open}[[bridge]]\nname = \"amq2-amq1\"\nuri = \"static:(tcp://{})\"\nduplex = true\nnetwork_ttl = 2\n", a.cluster[0]),
        &["--name", "mqbroker02"],
    );
    assert!(b.wait_log("bridge connected"), "{}", b.log());
    let both = ["mcollective", "qacollective"];
    let fleet = plain_fleet(&b);
    let on_a = fleet.client_at(a.port(), "client-a", "mcollective", "marionette", &both);
    // Demand crosses the bridge asynchronously: the first ping may come early.
    let mut out = String::new();
    for _ in 0..5 {
        out = fleet.mco(&on_a, &["ping", "-t", "3"]);
        if ping_replies(&out).len() == 3 {
            break;
        }
    }
    assert_eq!(ping_replies(&out), NODES, "{out}");
    let out = fleet.mco(&on_a, &["ping", "-T", "qacollective", "-t", "3"]);
    assert_eq!(ping_replies(&out), NODES, "{out}");
    let out = fleet.mco(&on_a, &["rpc", "rpcutil", "ping", "-I", "node2", "-t", "3"]);
    assert!(
        out.contains("Finished processing 1 / 1 hosts")
            && out.contains("node2")
            && !out.contains("node1"),
        "{out}"
    );
    assert!(common::eventually(|| fleet
        .node_log("node2")
        .contains("for agent 'rpcutil'")));
    assert!(!fleet.node_log("node1").contains("for agent 'rpcutil'"));
}

/// Real mcollectived nodes on B answer `mco ping` issued on A through a bridge that goes
/// through a fault-injecting proxy: before a partition, not during it (the bridge reports
/// back-off), and again after it heals.
#[test]
fn mco_ping_through_a_bridge_survives_a_partition() {
    if !have_mcollective() {
        return;
    }
    let open = common::OPEN;
    let a = Broker::start_with(
        &format!("{open}[cluster]\nlisten = [\"127.0.0.1:0\"]\n"),
        &["--name", "wan-a"],
    );
    let proxy = common::FaultProxy::start(&a.cluster[0]);
    let b = Broker::start_with(
        &format!(
            "{open}[[bridge]]\nname = \"b-a\"\nuri = \"static:(tcp://{})\"\nduplex = true\nnetwork_ttl = 2\n\
             heartbeat_ms = 200\nlink_timeout_ms = 600\ninitial_reconnect_delay_ms = 100\nmax_reconnect_delay_ms = 500\n",
            proxy.addr
        ),
        &["--name", "wan-b"],
    );
    assert!(b.wait_log("bridge connected"), "{}", b.log());
    let both = ["mcollective", "qacollective"];
    let fleet = plain_fleet(&b);
    let on_a = fleet.client_at(a.port(), "client-a", "mcollective", "marionette", &both);
    let ping_until = |want: usize| {
        let mut out = String::new();
        for _ in 0..5 {
            out = fleet.mco(&on_a, &["ping", "-t", "2"]);
            if ping_replies(&out).len() == want {
                break;
            }
        }
        out
    };
    let out = ping_until(3);
    assert_eq!(ping_replies(&out), NODES, "before: {out}");

    proxy.partition();
    assert!(b.wait_log("bridge backoff bridge=b-a"), "{}", b.log());
    let out = fleet.mco(&on_a, &["ping", "-t", "2"]);
    assert!(ping_replies(&out).is_empty(), "during the partition: {out}");

    let connects = b.log().matches("bridge connected bridge=b-a").count();
    proxy.heal();
    assert!(
        common::eventually(|| b.log().matches("bridge connected bridge=b-a").count() > connects),
        "{}",
        b.log()
    );
    let out = ping_until(3);
    assert_eq!(ping_replies(&out), NODES, "after healing: {out}");
}
