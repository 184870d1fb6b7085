//! Running as a systemd service: the unit in packaging/ passes `systemd-analyze verify`, and
//! the broker tells systemd READY=1 only once its listeners accept connections (Type=notify),
//! and STOPPING=1 when SIGTERM starts the shutdown — over a real notify socket.

mod common;
use common::{require_tool, TempDir};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

const UNIT: &str = include_str!("../packaging/debian/shoal.service");

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !require_tool("systemd-analyze", &["--version"], "apt-get install systemd") {
        return;
    }
    let dir = TempDir::new("unit");
    let unit = dir.write(
        "shoal.service",
        &UNIT.replace("/usr/bin/shoal", env!("CARGO_BIN_EXE_shoal")),
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    // Other units on the machine may warn; ours must not.
    let ours: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("shoal.service"))
        .map(str::to_string)
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{out:?}");
    assert!(UNIT.contains("Type=notify") && UNIT.contains("--log-format json"));
}

#[test]
fn ready_is_told_after_the_listeners_are_bound_reloading_at_sighup_and_stopping_at_sigterm() {
    let dir = TempDir::new("notify");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let cfg = dir.write(
        "broker.toml",
        "[auth]\nanonymous = true\n[store]\nenabled = false\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("RUST_LOG", "info")
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.split("listening for STOMP on ").nth(1) {
                let _ = tx.send(a.split_whitespace().next().unwrap().to_string());
            }
        }
    });
    let pid = child.id();
    let _guard = common::Daemon(child);
    let next = || {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).trim().to_string()
    };
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
    };
    assert_eq!(next(), "READY=1");
    // Ready means accepting: the address was logged before, and a client gets in now.
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    common::Stomp::connect(&addr);
    // systemctl reload (ExecReload sends SIGHUP): RELOADING=1, then READY=1 once done.
    signal("-HUP");
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), "READY=1");
    signal("-TERM");
    assert_eq!(next(), "STOPPING=1");
}
