//! `shoal status` and `shoal check` against a real broker as a script or a monitoring system
//! runs them: text and JSON, the seed's users (a wrong password, a user without the stats
//! right), TLS, and the plugin's exit codes for each threshold.

mod common;
use common::{eventually, Broker, TempDir};
use serde_json::Value;
use std::process::{Command, Output, Stdio};

const BRIDGE: &str = "[[bridge]]\nname = \"to-nowhere\"\nuri = \"static:(tcp://127.0.0.1:1)\"\n";

/// `shoal ARGS…` as `user` (password through a file), with the output.
fn shoal(args: &[&str], user: Option<(&str, &str)>) -> Output {
    let dir = TempDir::new("status");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.args(args).stdin(Stdio::null()).env_remove("STOMP_USER");
    cmd.env_remove("STOMP_PASSWORD");
    if let Some((name, password)) = user {
        let file = dir.path().join("password");
        common::pki::private(&file, password);
        cmd.args(["--user", name, "--password-file"]).arg(file);
    }
    cmd.output().expect("run shoal")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

const ADMIN: Option<(&str, &str)> = Some(("admin", "root-secret"));

/// A seed broker with a bridge that cannot connect, 3 messages in /queue/work and one node
/// of `mcollective`; returns it with the admin's connection (which holds the node).
fn busy_broker() -> (Broker, common::Stomp) {
    let b = Broker::start_with(&common::seed::seed_config(BRIDGE), &[]);
    let mut admin = common::seed::login_with(&b, "admin", &[]);
    for i in 0..3 {
        admin.send_sync("/queue/work", &[], format!("job {i}").as_bytes());
    }
    admin.subscribe(
        "nodes",
        "/queue/mcollective.nodes",
        &[("selector", "mc_identity = 'web01'")],
    );
    (b, admin)
}

#[test]
fn status_shows_the_broker_bridges_destinations_and_collectives() {
    let (b, _admin) = busy_broker();
    let mut json = Value::Null;
    assert!(
        eventually(|| {
            let out = shoal(&["status", "-a", &b.addr, "--json"], ADMIN);
            assert!(out.status.success(), "{out:?}");
            json = serde_json::from_slice(&out.stdout).unwrap();
            json["collectives"]["mcollective"]["members"] == 1
        }),
        "{json}"
    );
    assert_eq!(json["broker"]["name"], "testbroker");
    assert_eq!(json["bridges"][0]["name"], "to-nowhere");
    assert_ne!(json["bridges"][0]["state"], "connected");
    let dests = json["destinations"].as_array().unwrap();
    let work = dests
        .iter()
        .find(|d| d["destination"] == "/queue/work")
        .unwrap();
    assert_eq!(work["depth"], 3);
    assert!(
        dests
            .iter()
            .all(|d| !d["destination"].as_str().unwrap().contains("shoal.")),
        "shoal's own destinations listed without --all: {dests:?}"
    );
    let out = shoal(&["status", "-a", &b.addr, "--all"], ADMIN);
    let text = stdout(&out);
    for needle in [
        "broker testbroker",
        "to-nowhere",
        "/queue/work",
        "/topic/shoal.stats.report",
        "mcollective",
        "1 members",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}

#[test]
fn status_refusals_are_named_and_exit_1() {
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let out = shoal(&["status", "-a", &b.addr], Some(("admin", "wrong")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    // The qa admin may not read shoal's stats: the ACL that said no is named.
    let out = shoal(
        &["status", "-a", &b.addr],
        Some(("qaadmin", "muppetsfromspace")),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("access denied") && err.contains("shoal.stats"),
        "{err}"
    );
    // Nobody listening.
    let out = shoal(&["status", "-a", "127.0.0.1:1"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"));
}

#[test]
fn status_over_tls() {
    let pki = common::pki::pki("ops");
    let cfg = format!(
        "[auth]\nanonymous = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        pki.cert.display(),
        pki.key.display()
    );
    let b = Broker::start_with(&cfg, &["--listen", "stomp+ssl://127.0.0.1:0"]);
    let addr = format!("stomp+ssl://127.0.0.1:{}", b.port());
    let ca = pki.ca.to_str().unwrap();
    let out = shoal(&["status", "-a", &addr, "--tls-ca", ca], None);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("broker testbroker"));
    // Plain STOMP to the TLS port: refused, with the reason.
    let out = shoal(&["status", "-a", &format!("127.0.0.1:{}", b.port())], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS"),
        "{out:?}"
    );
}

#[test]
fn check_exit_codes_follow_the_plugin_convention() {
    let (b, _admin) = busy_broker();
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "-a", &b.addr];
        args.extend_from_slice(extra);
        let out = shoal(&args, ADMIN);
        (out.status.code(), stdout(&out))
    };
    // The bridge cannot connect: CRITICAL, naming it; without the bridges: OK.
    let (code, line) = check(&[]);
    assert_eq!(code, Some(2), "{line}");
    assert!(
        line.starts_with("SHOAL CRITICAL - bridge to-nowhere"),
        "{line}"
    );
    let (code, line) = check(&["--no-bridges"]);
    assert_eq!(code, Some(0), "{line}");
    assert!(
        line.starts_with("SHOAL OK") && line.contains("| connections="),
        "{line}"
    );
    // Queue depth: /queue/work holds 3.
    let (code, line) = check(&["--no-bridges", "--depth-warn", "2", "--depth-crit", "10"]);
    assert_eq!(code, Some(1), "{line}");
    assert!(
        line.contains("/queue/work holds 3 messages (> 2)"),
        "{line}"
    );
    let (code, _) = check(&["--no-bridges", "--depth-warn", "1", "--depth-crit", "2"]);
    assert_eq!(code, Some(2));
    // Collectives: one member of mcollective (once the report has counted it).
    assert!(eventually(|| check(&[
        "--no-bridges",
        "--collective",
        "mcollective:1"
    ])
    .0 == Some(0)));
    let (code, line) = check(&["--no-bridges", "--collective", "mcollective:2"]);
    assert_eq!(code, Some(2), "{line}");
    assert!(
        line.contains("collective mcollective has 1 members (< 2)"),
        "{line}"
    );
    assert!(line.contains("members_mcollective=1;;2:"), "{line}");
    // UNKNOWN: bad flags, a wrong password.
    let (code, line) = check(&["--collective", "mcollective"]);
    assert_eq!(code, Some(3), "{line}");
    let out = shoal(&["check", "-a", &b.addr], Some(("admin", "wrong")));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).starts_with("SHOAL UNKNOWN - ")
            && stdout(&out).contains("authentication failed")
    );
}

#[test]
fn connections_lists_who_sends_most_first_and_needs_the_control_right() {
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let mut producer = common::seed::login_with(&b, "admin", &[]);
    for i in 0..5 {
        producer.send_sync("/queue/flood", &[], format!("m{i}").as_bytes());
    }
    let mut consumer = common::seed::qa(&b);
    consumer.subscribe("s1", "/topic/qacollective.discovery.agent", &[]);
    consumer.subscribe("s2", "/topic/qacollective.rpcutil.agent", &[]);
    consumer.send_sync("/queue/qacollective.x", &[], b"one");
    let out = shoal(
        &["connections", "-a", &b.addr, "--json", "--top", "1"],
        ADMIN,
    );
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The producer, the consumer and this command itself; the broker's own are not listed.
    assert_eq!(v["total"], 3, "{v}");
    let top = &v["connections"].as_array().unwrap()[..];
    assert_eq!(top.len(), 1);
    assert_eq!(top[0]["login"], "admin");
    assert_eq!(top[0]["msgs_in"], 5);
    let out = shoal(
        &["connections", "-a", &b.addr, "--sort", "subscriptions"],
        ADMIN,
    );
    let text = stdout(&out);
    let first = text.lines().nth(1).unwrap_or_default();
    assert!(first.contains("qaadmin"), "{text}");
    assert!(text.contains("3 of 3 connections"), "{text}");
    // The qa admin may not write shoal's control queue.
    let out = shoal(
        &["connections", "-a", &b.addr],
        Some(("qaadmin", "muppetsfromspace")),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("access denied") && err.contains("shoal.control"),
        "{err}"
    );
    // --close ID: the qa admin's connection gets an ERROR; an unknown id is an error.
    let out = shoal(
        &[
            "connections",
            "-a",
            &b.addr,
            "--json",
            "--sort",
            "subscriptions",
        ],
        ADMIN,
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["connections"][0]["login"], "qaadmin", "{all}");
    let id = all["connections"][0]["id"].as_u64().unwrap();
    let out = shoal(
        &["connections", "-a", &b.addr, "--close", &id.to_string()],
        ADMIN,
    );
    assert!(out.status.success(), "{out:?}");
    consumer.expect_error("closed by an operator");
    let out = shoal(&["connections", "-a", &b.addr, "--close", "999999"], ADMIN);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no client connection 999999"));
    // An unknown sort is a usage error that lists the good ones.
    let out = shoal(&["connections", "-a", &b.addr, "--sort", "loudest"], ADMIN);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("msgs-in, msgs-out"));
}
