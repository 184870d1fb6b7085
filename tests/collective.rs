//! shoal's collective tools with Debian's real MCollective: `shoal ping` against real
//! mcollectived nodes, real `mco` against `shoal node`, a mixed fleet with a wrong PSK and an
//! expired request, and the broker's membership view.

mod common;
use common::mco::{have_mcollective, ping_replies, shoal_ping, Fleet, Node, ShoalNode};
use common::{Broker, Stomp, TempDir};
use shoal::collective::filter::Filter;
use shoal::collective::marshal::Value;
use shoal::collective::message::{now_secs, Request};
use shoal::collective::security::Psk;
use std::time::Duration;

const ALL: [&str; 3] = ["mcollective", "qacollective", "prodcollective"];

/// A discovery ping on `mcollective` from `test`, sent `age` seconds ago (TTL 60).
fn discovery_ping(id: &str, age: i64) -> Request {
    Request {
        request_id: id.into(),
        sender_id: "test".into(),
        caller_id: "uid=0".into(),
        collective: "mcollective".into(),
        agent: "discovery".into(),
        filter: Filter::default(),
        ttl: 60,
        msgtime: now_secs() - age,
        payload: Value::str("ping"),
    }
}

fn node<'a>(id: &'a str, collectives: &'a [&'a str], psk: &'a str) -> Node<'a> {
    Node {
        id,
        user: "mcollective",
        password: "marionette",
        collectives,
        psk,
    }
}

#[test]
fn shoal_ping_reaches_real_mcollectived_nodes_with_filters() {
    if !have_mcollective() {
        return;
    }
    let b = Broker::start();
    let qa = ["mcollective", "qacollective"];
    let prod = ["mcollective", "prodcollective"];
    let fleet = Fleet::start(
        &b,
        &[
            node("node1", &qa, "interop-psk"),
            node("node2", &qa, "interop-psk"),
            node("node3", &prod, "interop-psk"),
            node("rogue", &qa, "not-the-fleet-psk"),
        ],
    );
    let client = fleet.client("client", "mcollective", "marionette", &ALL);

    let (out, err, ok) = shoal_ping(&client, &["-t", "2"]);
    assert!(ok, "{err}");
    assert_eq!(ping_replies(&out), ["node1", "node2", "node3"], "{out}");
    assert!(
        out.contains("---- ping statistics ----\n3 replies max:"),
        "{out}"
    );
    // The node with the wrong key: it refuses the request and says so in its log; the client
    // lists it as a known member that did not answer.
    assert!(
        out.contains("1 known member(s) of mcollective did not answer: rogue"),
        "{out}"
    );
    assert!(
        common::eventually(|| fleet.node_log("rogue").contains("invalid signature")),
        "{}",
        fleet.node_log("rogue")
    );

    let (out, _, _) = shoal_ping(&client, &["-T", "qacollective", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["node1", "node2"], "{out}");
    let (out, _, _) = shoal_ping(&client, &["-I", "node2", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["node2"], "{out}");
    let (out, _, _) = shoal_ping(&client, &["-I", "/node[13]/", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["node1", "node3"], "{out}");
    assert!(
        out.contains("every known member of mcollective answered"),
        "{out}"
    );
    let (out, _, _) = shoal_ping(&client, &["-C", "role::node3", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["node3"], "{out}");
    let (out, _, _) = shoal_ping(&client, &["-A", "rpcutil", "-C", "base", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["node1", "node2", "node3"], "{out}");

    let (out, _, ok) = shoal_ping(&client, &["-T", "prodcollective", "--json", "-t", "2"]);
    assert!(ok);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["replies"][0]["identity"], "node3", "{doc}");
    assert_eq!(doc["stats"]["replies"], 1);
    assert_eq!(doc["missing"], serde_json::json!([]));
    assert!(doc["replies"][0]["rtt_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn real_mco_drives_shoal_nodes() {
    if !have_mcollective() {
        return;
    }
    let b = Broker::start();
    let dir = TempDir::new("shoal-nodes");
    let facts = dir.write("web1.yaml", "---\nos: Debian\nrole: web\ncpus: 8\n");
    let classes = dir.write("web1.classes", "role::web\nbase\n");
    let port = b.port();
    let _web = ShoalNode::start(
        &dir,
        port,
        "web1",
        "interop-psk",
        &[
            "--identity",
            "web1",
            "-T",
            "mcollective",
            "-T",
            "qacollective",
            "--facts",
            facts.to_str().unwrap(),
            "--classes",
            classes.to_str().unwrap(),
        ],
        1,
    );
    let _sims = ShoalNode::start(
        &dir,
        port,
        "sims",
        "interop-psk",
        &["--identity", "sim", "-T", "mcollective", "--simulate", "3"],
        3,
    );
    let rogue = ShoalNode::start(
        &dir,
        port,
        "rogue",
        "not-the-fleet-psk",
        &["--identity", "rogue", "-T", "mcollective"],
        1,
    );
    let fleet = Fleet::start_on(port, &[], &|| b.log());
    let client = fleet.client("client", "mcollective", "marionette", &ALL);

    let out = fleet.mco(&client, &["ping", "-t", "3"]);
    assert_eq!(
        ping_replies(&out),
        ["sim-001", "sim-002", "sim-003", "web1"],
        "{out}"
    );
    assert!(
        common::eventually(|| rogue
            .log_text()
            .contains("refused request: invalid signature")),
        "{}",
        rogue.log_text()
    );
    let out = fleet.mco(&client, &["ping", "-T", "qacollective", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["web1"], "{out}");
    let out = fleet.mco(
        &client,
        &["rpc", "rpcutil", "ping", "-I", "sim-002", "-t", "3"],
    );
    assert!(
        out.contains("Finished processing 1 / 1 hosts") && out.contains("sim-002"),
        "{out}"
    );
    let out = fleet.mco(&client, &["inventory", "web1"]);
    assert!(
        out.contains("Inventory for web1:")
            && out.contains("os => Debian")
            && out.contains("cpus => 8")
            && out.contains("role::web")
            && out.contains("Collectives: mcollective, qacollective"),
        "{out}"
    );
    let out = fleet.mco(
        &client,
        &["rpc", "rpcutil", "get_fact", "fact=role", "-I", "web1"],
    );
    assert!(out.contains("web"), "{out}");
    // Fact filters, evaluated by shoal nodes (Debian's mcollectived cannot load YAML facts).
    let (out, _, _) = shoal_ping(&client, &["-F", "os=Debian", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["web1"], "{out}");
    let (out, _, _) = shoal_ping(&client, &["-F", "cpus>4", "-F", "role=/^we/", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["web1"], "{out}");
    let (out, _, _) = shoal_ping(&client, &["-F", "shoal_index>=2", "-t", "2"]);
    assert_eq!(ping_replies(&out), ["sim-002", "sim-003"], "{out}");
    let out = fleet.mco(&client, &["ping", "-F", "os=Debian", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["web1"], "{out}");
}

/// A request older than its TTL is ignored and logged, by shoal nodes and real ones alike.
#[test]
fn expired_requests_are_ignored_and_logged() {
    if !have_mcollective() {
        return;
    }
    let b = Broker::start();
    let dir = TempDir::new("expired");
    let both = ["mcollective"];
    let fleet = Fleet::start(&b, &[node("real1", &both, "interop-psk")]);
    let shoal_node = ShoalNode::start(
        &dir,
        b.port(),
        "s1",
        "interop-psk",
        &["--identity", "s1", "-T", "mcollective"],
        1,
    );
    let psk = Psk::new("interop-psk");
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("r", "/queue/mcollective.reply.test_1.1", &[]);
    for (age, id) in [
        (300, "0000000000000000000000000000dead"),
        (0, "0000000000000000000000000000beef"),
    ] {
        let req = discovery_ping(id, age);
        c.send_sync(
            "/topic/mcollective.discovery.agent",
            &[("reply-to", "/queue/mcollective.reply.test_1.1")],
            &req.encode(&psk),
        );
    }
    // Only the fresh request is answered, by both nodes.
    let mut senders = Vec::new();
    for _ in 0..2 {
        let m = c.recv_within(Duration::from_secs(10)).expect("a reply");
        let r = shoal::collective::message::Reply::decode(&m.body, &psk).unwrap();
        assert_eq!(r.request_id, "0000000000000000000000000000beef");
        senders.push(r.sender_id);
    }
    senders.sort();
    assert_eq!(senders, ["real1", "s1"]);
    c.expect_nothing();
    assert!(
        common::eventually(|| shoal_node.log_text().contains(
            "ignored request: request 0000000000000000000000000000dead from test expired"
        )),
        "{}",
        shoal_node.log_text()
    );
    assert!(
        common::eventually(|| fleet.node_log("real1").contains("seconds old, TTL is 60")),
        "{}",
        fleet.node_log("real1")
    );
}

/// `shoal ping -c broker.toml`: a shoal broker config names the broker to ping through (its
/// plain listeners, a wildcard address reached on loopback); the PSK comes from --psk-file.
#[test]
fn shoal_ping_reads_a_shoal_broker_config() {
    let b = Broker::start();
    let dir = TempDir::new("ping-shoal-cfg");
    let _nodes = ShoalNode::start(
        &dir,
        b.port(),
        "sims",
        "cfg-psk",
        &["--identity", "s", "-T", "mcollective", "--simulate", "2"],
        2,
    );
    let cfg = dir.write(
        "broker.toml",
        &format!(
            "listen = [\"stomp+ssl://127.0.0.1:1\", \"0.0.0.0:{}\"]\n{}",
            b.port(),
            common::OPEN
        ),
    );
    let psk = dir.write("psk", "cfg-psk\n");
    let (out, err, ok) = shoal_ping(&cfg, &["--psk-file", psk.to_str().unwrap(), "-t", "2"]);
    assert!(ok, "{err}");
    assert_eq!(ping_replies(&out), ["s-001", "s-002"], "{out}");
    assert!(
        out.contains("every known member of mcollective answered"),
        "{out}"
    );
}

/// A request whose envelope is a Marshal "link bomb" (object links doubling at each level:
/// a few hundred bytes, terabytes decoded) is refused by `shoal node`, which goes on
/// answering real requests (it once aborted on allocation failure).
#[test]
fn a_marshal_link_bomb_leaves_a_shoal_node_answering() {
    let b = Broker::start();
    let dir = TempDir::new("bomb");
    let shoal_node = ShoalNode::start(
        &dir,
        b.port(),
        "n1",
        "bomb-psk",
        &["--identity", "n1", "-T", "mcollective"],
        1,
    );
    let mut bomb = vec![4u8, 8];
    bomb.extend(std::iter::repeat_n(*b"[\x07", 60).flatten());
    bomb.extend_from_slice(b"\"\x06x");
    for k in (1..=60u8).rev() {
        bomb.extend_from_slice(&[b'@', k + 5]);
    }
    let mut c = Stomp::connect(&b.addr);
    c.subscribe("r", "/queue/mcollective.reply.test_1.1", &[]);
    c.send_sync(
        "/topic/mcollective.discovery.agent",
        &[("reply-to", "/queue/mcollective.reply.test_1.1")],
        &bomb,
    );
    let psk = Psk::new("bomb-psk");
    let req = discovery_ping("00000000000000000000000000000b0b", 0);
    c.send_sync(
        "/topic/mcollective.discovery.agent",
        &[("reply-to", "/queue/mcollective.reply.test_1.1")],
        &req.encode(&psk),
    );
    let m = c
        .recv_within(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no reply after the bomb:\n{}", shoal_node.log_text()));
    let r = shoal::collective::message::Reply::decode(&m.body, &psk).unwrap();
    assert_eq!(r.request_id, "00000000000000000000000000000b0b");
    assert!(
        common::eventually(|| shoal_node.log_text().contains("decodes to more than")),
        "{}",
        shoal_node.log_text()
    );
}

#[test]
fn a_node_starts_without_the_facts_file_its_config_names() {
    // Debian's server.cfg names /etc/mcollective/facts.yaml, which Puppet writes later:
    // mcollectived starts without it, and so does `shoal node` (saying so).
    let b = Broker::start();
    let dir = TempDir::new("shoal-nofacts");
    let missing = dir.path().join("facts.yaml");
    let cfg = format!(
        "{}plugin.yaml = {}\n",
        common::mco::connector(b.port(), "mcollective", "marionette", "psk"),
        missing.display()
    );
    let node = ShoalNode::start_with_config(&dir, "nofacts", &cfg, &["-i", "bare"], 1);
    assert!(node.log_text().contains("not found: no facts from it"));
}
