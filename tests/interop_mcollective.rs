//! Debian's real MCollective 2.12 (`mcollectived` nodes, the `mco` client, activemq connector,
//! psk security) against the real `shoal broker`: broadcast pings in two collectives, class
//! filters, and a directed rpc that must reach only its node.

mod common;
use common::{require_tool, Broker, Daemon, Stomp, TempDir};
use std::process::{Command, Stdio};
use std::time::Duration;

const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn connector(port: u16) -> String {
    format!(
        "main_collective = mcollective\n\
         collectives = mcollective,qacollective\n\
         libdir = /usr/share/mcollective/plugins\n\
         securityprovider = psk\n\
         plugin.psk = interop-psk\n\
         connector = activemq\n\
         plugin.activemq.pool.size = 1\n\
         plugin.activemq.pool.1.host = 127.0.0.1\n\
         plugin.activemq.pool.1.port = {port}\n\
         plugin.activemq.pool.1.user = mcollective\n\
         plugin.activemq.pool.1.password = marionette\n\
         plugin.activemq.initial_reconnect_delay = 0.1\n"
    )
}

struct Fleet {
    _nodes: Vec<Daemon>,
    dir: TempDir,
    client_cfg: std::path::PathBuf,
}

impl Fleet {
    fn start(b: &Broker) -> Fleet {
        let dir = TempDir::new("mco");
        let facts = dir.write("facts.yaml", "--- {}\n");
        let mut nodes = Vec::new();
        for id in NODES {
            let classes = dir.write(&format!("{id}.classes"), &format!("role::{id}\nbase\n"));
            let log = dir.path().join(format!("{id}.log"));
            let cfg = dir.write(
                &format!("{id}.cfg"),
                &format!(
                    "{}identity = {id}\nlogfile = {}\nloglevel = debug\ndaemonize = 0\n\
                     factsource = yaml\nplugin.yaml = {}\nclassesfile = {}\n",
                    connector(b.port()),
                    log.display(),
                    facts.display(),
                    classes.display()
                ),
            );
            let child = Command::new("mcollectived")
                .arg("--config")
                .arg(&cfg)
                .arg("--pidfile")
                .arg(dir.path().join(format!("{id}.pid")))
                .arg("--no-daemonize")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start mcollectived");
            nodes.push(Daemon(child));
        }
        let client_cfg = dir.write(
            "client.cfg",
            &format!(
                "{}logger_type = console\nloglevel = warn\ncolor = 0\n",
                connector(b.port())
            ),
        );
        let fleet = Fleet {
            _nodes: nodes,
            dir,
            client_cfg,
        };
        // Ready when every node has subscribed to its agents in both collectives.
        assert!(
            common::eventually_within(Duration::from_secs(30), || NODES.iter().all(|id| fleet
                .node_log(id)
                .matches("Subscribing to /topic/qacollective.rpcutil.agent")
                .count()
                >= 1)),
            "nodes did not subscribe; node1 log:\n{}",
            fleet.node_log("node1")
        );
        fleet
    }

    fn node_log(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    fn mco(&self, args: &[&str]) -> String {
        let out = Command::new("timeout")
            .args(["60", "mco"])
            .args(args)
            .arg("--config")
            .arg(&self.client_cfg)
            .stdin(Stdio::null())
            .output()
            .expect("run mco");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("$ mco {}\n{text}", args.join(" "));
        text
    }
}

/// Identities that answered, from `mco ping` output lines `IDENTITY   time=N ms`.
fn ping_replies(out: &str) -> Vec<String> {
    let mut ids: Vec<String> = out
        .lines()
        .filter(|l| l.contains("time="))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[test]
fn real_mcollective_fleet_works_through_shoal() {
    if !require_tool("mco", &["help"], "apt-get install mcollective-client")
        || !require_tool("mcollectived", &["--help"], "apt-get install mcollective")
    {
        return;
    }
    let b = Broker::start();
    let fleet = Fleet::start(&b);

    // Broadcast discovery ping in the main collective and in a subcollective.
    let out = fleet.mco(&["ping", "-t", "3"]);
    assert_eq!(ping_replies(&out), NODES, "{out}");
    assert!(out.contains("3 replies"), "{out}");
    let out = fleet.mco(&["ping", "-T", "qacollective", "-t", "3"]);
    assert_eq!(ping_replies(&out), NODES, "{out}");

    // A class filter is evaluated by the nodes: only node2 answers.
    let out = fleet.mco(&["ping", "-C", "role::node2", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["node2"], "{out}");

    // A directed request: it must travel on /queue/mcollective.nodes to node1 alone, never as
    // a broadcast. A spy on the broadcast topic proves it was not broadcast.
    let mut spy = Stomp::connect(&b.addr);
    spy.subscribe("spy", "/topic/mcollective.rpcutil.agent", &[]);
    let out = fleet.mco(&["rpc", "rpcutil", "ping", "-I", "node1", "-t", "3"]);
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
