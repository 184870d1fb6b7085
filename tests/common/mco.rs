//! Helpers for tests with Debian's real MCollective: mcollectived fleets, mco clients, and
//! shoal's own nodes and ping.

use super::{require_tool, Broker, Daemon, TempDir};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// The activemq connector settings every config here shares.
pub fn connector(port: u16, user: &str, password: &str, psk: &str) -> String {
    format!(
        "libdir = /usr/share/mcollective/plugins\n\
         securityprovider = psk\n\
         plugin.psk = {psk}\n\
         connector = activemq\n\
         plugin.activemq.pool.size = 1\n\
         plugin.activemq.pool.1.host = 127.0.0.1\n\
         plugin.activemq.pool.1.port = {port}\n\
         plugin.activemq.pool.1.user = {user}\n\
         plugin.activemq.pool.1.password = {password}\n\
         plugin.activemq.initial_reconnect_delay = 0.1\n"
    )
}

/// One mcollectived: identity, broker login, collectives (the first is the main one).
pub struct Node<'a> {
    pub id: &'a str,
    pub user: &'a str,
    pub password: &'a str,
    pub collectives: &'a [&'a str],
    pub psk: &'a str,
}

pub struct Fleet {
    pub nodes: Vec<Daemon>,
    pub dir: TempDir,
    pub port: u16,
}

impl Fleet {
    pub fn start(b: &Broker, nodes: &[Node]) -> Fleet {
        Fleet::start_on(b.port(), nodes, &|| b.log())
    }

    /// mcollectived nodes on the broker at 127.0.0.1:`port`; `broker_log` for failure messages.
    pub fn start_on(port: u16, nodes: &[Node], broker_log: &dyn Fn() -> String) -> Fleet {
        Fleet::start_configured(
            TempDir::new("mco"),
            port,
            nodes,
            &|_| String::new(),
            broker_log,
        )
    }

    /// `start_on` in `dir`, with `extra(identity)` appended to each node's server.cfg (later
    /// lines win, in MCollective as in shoal: e.g. `securityprovider = ssl` and its keys).
    pub fn start_configured(
        dir: TempDir,
        port: u16,
        nodes: &[Node],
        extra: &dyn Fn(&str) -> String,
        broker_log: &dyn Fn() -> String,
    ) -> Fleet {
        let facts = dir.write("facts.yaml", "--- {}\n");
        let mut daemons = Vec::new();
        for n in nodes {
            let classes = dir.write(
                &format!("{}.classes", n.id),
                &format!("role::{}\nbase\n", n.id),
            );
            let log = dir.path().join(format!("{}.log", n.id));
            let cfg = dir.write(
                &format!("{}.cfg", n.id),
                &format!(
                    "{}main_collective = {}\ncollectives = {}\nidentity = {}\nlogfile = {}\n\
                     loglevel = debug\ndaemonize = 0\nfactsource = yaml\nplugin.yaml = {}\nclassesfile = {}\n{}",
                    connector(port, n.user, n.password, n.psk),
                    n.collectives[0],
                    n.collectives.join(","),
                    n.id,
                    log.display(),
                    facts.display(),
                    classes.display(),
                    extra(n.id)
                ),
            );
            let child = Command::new("mcollectived")
                .arg("--config")
                .arg(&cfg)
                .arg("--pidfile")
                .arg(dir.path().join(format!("{}.pid", n.id)))
                .arg("--no-daemonize")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start mcollectived");
            daemons.push(Daemon(child));
        }
        let fleet = Fleet {
            nodes: daemons,
            dir,
            port,
        };
        // Ready when every node has subscribed to its agents in its last collective.
        for n in nodes {
            let last = n.collectives[n.collectives.len() - 1];
            let needle = format!("Subscribing to /topic/{last}.rpcutil.agent");
            assert!(
                super::eventually_within(Duration::from_secs(30), || fleet
                    .node_log(n.id)
                    .contains(&needle)),
                "{} did not subscribe; log:\n{}\nbroker log:\n{}",
                n.id,
                fleet.node_log(n.id),
                broker_log()
            );
        }
        fleet
    }

    pub fn node_log(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    /// A client.cfg for this broker: login, main collective first.
    pub fn client(
        &self,
        name: &str,
        user: &str,
        password: &str,
        collectives: &[&str],
    ) -> std::path::PathBuf {
        self.client_at(self.port, name, user, password, collectives)
    }

    /// A client.cfg for a broker on `port` (another broker of the network).
    pub fn client_at(
        &self,
        port: u16,
        name: &str,
        user: &str,
        password: &str,
        collectives: &[&str],
    ) -> std::path::PathBuf {
        self.dir.write(
            &format!("{name}.cfg"),
            &format!(
                "{}main_collective = {}\ncollectives = {}\nlogger_type = console\nloglevel = warn\ncolor = 0\n",
                connector(port, user, password, "interop-psk"),
                collectives[0],
                collectives.join(",")
            ),
        )
    }

    pub fn mco(&self, cfg: &std::path::Path, args: &[&str]) -> String {
        let started = std::time::Instant::now();
        let out = Command::new("timeout")
            .args(["60", "mco"])
            .args(args)
            .arg("--config")
            .arg(cfg)
            .stdin(Stdio::null())
            .output()
            .expect("run mco");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "$ mco {}  ({:.1} s)\n{text}",
            args.join(" "),
            started.elapsed().as_secs_f64()
        );
        text
    }
}

/// node1..node3 in mcollective and qacollective, logging in as mcollective.
pub fn plain_fleet(b: &Broker) -> Fleet {
    let both = ["mcollective", "qacollective"];
    let nodes: Vec<Node> = NODES
        .iter()
        .map(|id| Node {
            id,
            user: "mcollective",
            password: "marionette",
            collectives: &both,
            psk: "interop-psk",
        })
        .collect();
    Fleet::start(b, &nodes)
}

pub fn have_mcollective() -> bool {
    require_tool("mco", &["help"], "apt-get install mcollective-client")
        && require_tool("mcollectived", &["--help"], "apt-get install mcollective")
}

/// Identities that answered, from `mco ping` output lines `IDENTITY   time=N ms`.
pub fn ping_replies(out: &str) -> Vec<String> {
    let mut ids: Vec<String> = out
        .lines()
        .filter(|l| l.contains("time="))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// A `shoal node` process (one node, or `--simulate N`), logging to a file.
pub struct ShoalNode {
    pub daemon: Daemon,
    pub log: std::path::PathBuf,
}

impl ShoalNode {
    /// Starts `shoal node --config server.cfg ARGS…` against 127.0.0.1:`port`, with the
    /// server.cfg written as MCollective's (pool, psk), and waits until `ready` nodes connected.
    pub fn start(
        dir: &TempDir,
        port: u16,
        name: &str,
        psk: &str,
        args: &[&str],
        ready: usize,
    ) -> ShoalNode {
        let text = connector(port, "mcollective", "marionette", psk);
        ShoalNode::start_with_config(dir, name, &text, args, ready)
    }

    /// `start` with `config` as its server.cfg.
    pub fn start_with_config(
        dir: &TempDir,
        name: &str,
        config: &str,
        args: &[&str],
        ready: usize,
    ) -> ShoalNode {
        let cfg = dir.write(&format!("{name}-server.cfg"), config);
        let log = dir.path().join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("node")
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("MCOLLECTIVE_PSK")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start shoal node");
        let node = ShoalNode {
            daemon: Daemon(child),
            log,
        };
        assert!(
            super::eventually_within(Duration::from_secs(10), || node
                .log_text()
                .matches("node connected")
                .count()
                >= ready),
            "{name} did not connect:\n{}",
            node.log_text()
        );
        node
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs `shoal ping --config CFG ARGS…`: (stdout, stderr, success).
pub fn shoal_ping(cfg: &std::path::Path, args: &[&str]) -> (String, String, bool) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_shoal"))
        .arg("ping")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env_remove("MCOLLECTIVE_PSK")
        .stdin(Stdio::null())
        .output()
        .expect("run shoal ping");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("$ shoal ping {}\n{stdout}{stderr}", args.join(" "));
    (stdout, stderr, out.status.success())
}
