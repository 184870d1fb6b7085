//! The TUI for real: `shoal tui` in a real terminal (tmux, 80x24) hosting a broker and
//! attached to a broker daemon, driven by keys and read back from the screen; the stats stream
//! and bridge controls it relies on; `shoal keymap check`; and `shoal demo --snapshot`.

mod common;
use common::mco::ShoalNode;
use common::{require_tool, Broker, Stomp, TempDir, OPEN};
use std::process::Command;
use std::time::Duration;

/// A tmux session running one command; killed on drop.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(name: &str, cmd: &[&str], env: &[(&str, &str)]) -> Tmux {
        let name = format!("shoal-test-{name}-{}", std::process::id());
        let mut c = Command::new("tmux");
        c.args(["new-session", "-d", "-s", &name, "-x", "80", "-y", "24"]);
        for (k, v) in env {
            c.args(["-e", &format!("{k}={v}")]);
        }
        c.arg("--");
        c.args(cmd);
        assert!(c.status().unwrap().success(), "tmux new-session");
        Tmux { name }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        let mut s = String::new();
        let ok = common::eventually_within(Duration::from_secs(15), || {
            s = self.screen();
            s.contains(needle)
        });
        assert!(ok, "screen never showed {needle:?}:\n{s}");
        s
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.name])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn have_tmux() -> bool {
    require_tool("tmux", &["-V"], "apt-get install tmux")
}

fn shoal() -> &'static str {
    env!("CARGO_BIN_EXE_shoal")
}

#[test]
fn hosted_tui_shows_its_broker_and_a_fleet_and_pings_it() {
    if !have_tmux() {
        return;
    }
    let dir = TempDir::new("tui-hosted");
    let port = common::free_port();
    let cfg = dir.write(
        "broker.toml",
        &format!("listen = [\"127.0.0.1:{port}\"]\n{OPEN}[broker]\nname = \"bastion\"\n"),
    );
    let psk = dir.write("psk", "tui-psk\n");
    let home = dir.path().to_str().unwrap().to_string();
    let t = Tmux::start(
        "hosted",
        &[
            shoal(),
            "tui",
            "-c",
            cfg.to_str().unwrap(),
            "--psk-file",
            psk.to_str().unwrap(),
        ],
        &[
            ("HOME", &home),
            ("LANG", "C.UTF-8"),
            ("XDG_STATE_HOME", &home),
            ("XDG_DATA_HOME", &home),
        ],
    );
    let s = t.wait_for("bastion (embedded)");
    assert!(s.contains("1 Bridges") && s.contains("no bridges"), "{s}");
    // Nodes join the hosted broker; the collectives pane lists them.
    let _nodes = ShoalNode::start(
        &dir,
        port,
        "fleet",
        "tui-psk",
        &[
            "--identity",
            "n",
            "-T",
            "mcollective",
            "-T",
            "qacollective",
            "--simulate",
            "3",
        ],
        3,
    );
    t.keys(&["3"]);
    let s = t.wait_for("n-003");
    assert!(
        s.contains("qacollective") && s.contains("3 (0 remote, 0 stale)"),
        "{s}"
    );
    // p pings the selected collective; replies and the summary appear without blocking keys.
    t.keys(&["p"]);
    let s = t.wait_for("3 replies max:");
    assert!(
        s.contains("every known member of") && s.contains("n-002"),
        "{s}"
    );
    // The help overlay is generated from the keymap.
    t.keys(&["?"]);
    t.wait_for("Show every key of this keymap");
    t.keys(&["Escape", "2"]);
    t.wait_for("/queue/mcollective.nodes");
    t.keys(&["q"]);
    assert!(
        common::eventually_within(Duration::from_secs(10), || !t.alive()),
        "q did not exit:\n{}",
        t.screen()
    );
}

#[test]
fn attached_tui_reads_the_stats_stream_and_controls_bridges() {
    if !have_tmux() {
        return;
    }
    let hub = Broker::start_with(
        &format!("{OPEN}[cluster]\nlisten = [\"127.0.0.1:0\"]\n"),
        &["--name", "hub"],
    );
    let edge = Broker::start_with(
        &format!(
            "{OPEN}[[bridge]]\nname = \"edge-hub\"\nuri = \"static:(tcp://{})\"\nduplex = true\n",
            hub.cluster[0]
        ),
        &["--name", "edge"],
    );
    assert!(edge.wait_log("bridge connected"), "{}", edge.log());

    // The stats stream itself: JSON with the broker and its bridges, once a second.
    let mut s = Stomp::connect(&edge.addr);
    s.subscribe("stats", "/topic/shoal.stats.report", &[]);
    let f = s
        .recv_within(Duration::from_secs(5))
        .expect("a stats report");
    let report: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(report["broker"]["name"], "edge");
    assert_eq!(report["bridges"][0]["name"], "edge-hub");
    assert_eq!(report["bridges"][0]["state"]["state"], "connected");

    let dir = TempDir::new("tui-attached");
    let home = dir.path().to_str().unwrap().to_string();
    let t = Tmux::start(
        "attached",
        &[shoal(), "tui", "--attach", &edge.addr],
        &[
            ("HOME", &home),
            ("LANG", "C.UTF-8"),
            ("XDG_STATE_HOME", &home),
            ("XDG_DATA_HOME", &home),
            ("NO_COLOR", "1"),
        ],
    );
    let screen = t.wait_for("edge-hub");
    assert!(
        screen.contains(&format!("attached to {}", edge.addr)),
        "{screen}"
    );
    assert!(screen.contains("● connected"), "{screen}");
    // Reconnect asks first; "n" leaves the bridge alone, "y" reconnects it.
    t.keys(&["r"]);
    t.wait_for("Reconnect bridge edge-hub? (y/n)");
    t.keys(&["n"]);
    t.wait_for("cancelled");
    t.keys(&["r", "y"]);
    t.wait_for("bridge edge-hub: reconnect sent");
    assert!(edge.wait_log("operator: Reconnect"), "{}", edge.log());
    assert!(
        common::eventually_within(Duration::from_secs(10), || edge
            .log()
            .matches("bridge connected")
            .count()
            >= 2),
        "{}",
        edge.log()
    );
    // Detail view: demand and history.
    t.keys(&["Enter"]);
    t.wait_for("history");
    t.keys(&["Escape"]);
    // The connections pane: the stats subscriber above is listed (the TUI's own connections
    // too); its detail shows its subscription; closing it asks first, then it gets an ERROR.
    t.keys(&["5"]);
    t.wait_for("Connections (");
    t.keys(&["/"]);
    t.keys(&[&format!("{}", s.stream.local_addr().unwrap().port())]);
    t.keys(&["Enter"]);
    t.wait_for(&format!(":{}", s.stream.local_addr().unwrap().port()));
    t.keys(&["Enter"]);
    t.wait_for("/topic/shoal.stats.report");
    t.keys(&["x"]);
    t.wait_for("Close connection");
    t.keys(&["y"]);
    t.wait_for("closed");
    let error = loop {
        match s.recv_within(Duration::from_secs(5)) {
            Some(f) if f.command == shoal::stomp::Command::Error => break f,
            Some(_) => continue, // stats reports until then
            None => panic!("no ERROR for the closed connection"),
        }
    };
    assert_eq!(error.get("message"), Some("closed by an operator"));
    assert!(s.closed());
    // The broker's log says who closed it (the TUI's user and address).
    assert!(
        edge.wait_log("connection closed by anonymous from 127.0.0.1:"),
        "{}",
        edge.log()
    );
    t.keys(&["q"]);
    assert!(common::eventually_within(Duration::from_secs(10), || !t.alive()));
}

#[test]
fn read_only_refuses_actions() {
    if !have_tmux() {
        return;
    }
    let b = Broker::start_with(
        &format!("{OPEN}[[bridge]]\nname = \"nowhere\"\nuri = \"static:(tcp://127.0.0.1:9)\"\n"),
        &["--name", "lonely"],
    );
    let dir = TempDir::new("tui-ro");
    let home = dir.path().to_str().unwrap().to_string();
    let t = Tmux::start(
        "ro",
        &[shoal(), "tui", "--attach", &b.addr, "--readonly", "--ascii"],
        &[
            ("HOME", &home),
            ("XDG_STATE_HOME", &home),
            ("XDG_DATA_HOME", &home),
        ],
    );
    let s = t.wait_for("nowhere");
    assert!(s.contains("read-only lonely"), "{s}");
    assert!(!s.contains('│') && !s.contains('●'), "ASCII mode:\n{s}");
    t.keys(&["r"]);
    t.wait_for("read-only: actions that change the broker are disabled");
    t.keys(&["q"]);
}

#[test]
fn attached_over_tls_with_a_client_certificate() {
    if !have_tmux() {
        return;
    }
    let p = common::pki::pki("ops");
    let b = Broker::start_with(
        &format!(
            "{OPEN}[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\nclient_auth = \"required\"\n\
             [[bridge]]\nname = \"over-tls\"\nuri = \"static:(tcp://127.0.0.1:9)\"\n",
            p.cert.display(),
            p.key.display(),
            p.ca.display()
        ),
        &["--name", "secure", "--listen", "stomp+ssl://127.0.0.1:0"],
    );
    let dir = TempDir::new("tui-tls");
    let home = dir.path().to_str().unwrap().to_string();
    let addr = format!("stomp+ssl://{}", b.addr);
    let t = Tmux::start(
        "tls",
        &[
            shoal(),
            "tui",
            "--attach",
            &addr,
            "--tls-ca",
            p.ca.to_str().unwrap(),
            "--tls-cert",
            p.client_pem.0.to_str().unwrap(),
            "--tls-key",
            p.client_pem.1.to_str().unwrap(),
            "--ascii",
        ],
        &[
            ("HOME", &home),
            ("XDG_STATE_HOME", &home),
            ("XDG_DATA_HOME", &home),
        ],
    );
    // The bridges pane comes from the stats stream, read over TLS.
    let s = t.wait_for("over-tls");
    assert!(s.contains(&format!("attached to {}", b.addr)), "{s}");
    t.keys(&["q"]);
}

#[test]
fn keymap_check_reports_every_problem_before_the_terminal_changes() {
    let dir = TempDir::new("keymaps");
    let out = Command::new(shoal())
        .args(["keymap", "check", "default", "vim", "emacs"])
        .args([concat!(env!("CARGO_MANIFEST_DIR"), "/keymaps/vim.toml")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.write(
        "bad.toml",
        "[global]\nquit = { keys = [\"q\"], description = \"Quit\" }\nhelp = { keys = [\"q\"], description = \"x\" }\nup = { keys = [\"hyperup\"], description = \"x\" }\n",
    );
    let out = Command::new(shoal())
        .args(["keymap", "check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = bad.display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:3: key \"q\" for help in [global] is already bound to quit"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:4: unknown key \"hyperup\"")),
        "{err}"
    );
    // The TUI refuses it the same way, without touching the terminal.
    let out = Command::new(shoal())
        .args([
            "tui",
            "--attach",
            "127.0.0.1:9",
            "--keymap",
            bad.to_str().unwrap(),
        ])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key \"hyperup\""));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("\x1b[?1049h"),
        "entered the alternate screen"
    );
}

#[test]
fn demo_brings_every_pane_to_life() {
    let dir = TempDir::new("demo");
    let out = Command::new("timeout")
        .args(["60", shoal(), "demo", "--nodes", "30", "--snapshot"])
        .arg(dir.path())
        .env("HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let bridges = read("bridges.txt");
    assert!(
        bridges.contains("bridges 2/3 up") && bridges.contains("hub-south"),
        "{bridges}"
    );
    let collectives = read("collectives.txt");
    assert!(collectives.contains("30 (20 remote"), "{collectives}");
    let ping = read("ping.txt");
    assert!(
        ping.contains("30 replies max:") && ping.contains("every known member"),
        "{ping}"
    );
    let traffic = read("traffic.txt");
    assert!(traffic.contains("/topic/demo.metrics"), "{traffic}");
    // Every view also as an image, with the theme's colours and the same words.
    for view in [
        "bridges",
        "traffic",
        "collectives",
        "ping",
        "bridge-detail",
        "help",
    ] {
        let svg = read(&format!("{view}.svg"));
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{view}.svg"
        );
        assert!(svg.contains(">shoal</text>"), "{view}.svg lacks the header");
    }
    let svg = read("bridges.svg");
    assert!(
        svg.contains(">hub-south</text>") && svg.contains("#00cd00"),
        "{svg}"
    );
    assert!(read("bridge-detail.txt").contains("last error"));
    assert!(read("help.txt").contains("keymap:"));
}

/// `shoal demo` driven by keys in a real terminal: panes, a ping, a tap, help, quit — and the
/// terminal is back in cooked mode afterwards.
#[test]
fn demo_in_a_terminal_end_to_end() {
    if !have_tmux() {
        return;
    }
    let dir = TempDir::new("demo-e2e");
    let home = dir.path().to_str().unwrap().to_string();
    let script = format!(
        "{} demo --nodes 24; echo \"EXITED $?\"; stty -a | tr ' ' '\\n' | grep -x -e -icanon -e icanon -e -echo -e echo | tr '\\n' ' '; echo; sleep 30",
        shoal()
    );
    let t = Tmux::start(
        "demo",
        &["sh", "-c", &script],
        &[
            ("HOME", &home),
            ("LANG", "C.UTF-8"),
            ("XDG_STATE_HOME", &home),
            ("XDG_DATA_HOME", &home),
        ],
    );
    t.wait_for("bridges 2/3 up");
    // The bridge to the datacenter that is down shows "connecting" at first, then backs off.
    let s = t.wait_for("↻ backoff");
    assert!(s.contains("hub-south"), "{s}");
    t.keys(&["2"]);
    t.wait_for("/topic/demo.metrics.east");
    // Filter to the east metrics topic, tap it: decoded messages stream in.
    t.keys(&["/", "e", "a", "s", "t", "Enter", "t"]);
    let s = t.wait_for("\"dc\":\"east\"");
    assert!(s.contains("tap /topic/demo.metrics.east"), "{s}");
    t.keys(&["space"]);
    t.wait_for("PAUSED");
    t.keys(&["Escape", "3"]);
    t.wait_for("24 (16 remote, 0 stale)");
    t.keys(&["4", "r"]);
    let s = t.wait_for("24 replies max:");
    assert!(s.contains("every known member of"), "{s}");
    t.keys(&["?"]);
    t.wait_for("Send the ping");
    t.keys(&["Escape", "q"]);
    let s = t.wait_for("EXITED 0");
    assert!(
        s.contains("icanon echo") && !s.contains("-icanon") && !s.contains("-echo"),
        "terminal not restored:\n{s}"
    );
}
