//! Reload without restart, as an operator does it to a broker a fleet hangs on: `shoal
//! reload` (over the control queue) and SIGHUP re-read the config file; users, ACLs and
//! bridges change in place; a subscription the new ACL no longer allows ends with an ERROR
//! naming the ACL; every other client keeps its connection and its messages; a broken file
//! changes nothing and says why.

mod common;
use common::net::{node, wait_for_route};
use common::seed::{prod, qa, seed_config};
use common::{eventually, frame, Broker, Stomp, TempDir, OPEN};
use serde_json::Value;
use shoal::broker::auth::password::hash_password;
use std::process::{Command as Process, Output, Stdio};
use std::time::Duration;

/// `shoal ARGS…` as the seed's admin.
fn shoal_as_admin(args: &[&str]) -> Output {
    let dir = TempDir::new("reload");
    let file = dir.path().join("password");
    common::pki::private(&file, "root-secret");
    Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .args(["--user", "admin", "--password-file"])
        .arg(file)
        .stdin(Stdio::null())
        .env_remove("STOMP_USER")
        .env_remove("STOMP_PASSWORD")
        .output()
        .expect("run shoal")
}

fn reload(b: &Broker) -> (bool, String) {
    let out = shoal_as_admin(&["reload", "-a", &b.addr]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn rewrite(b: &Broker, text: &str) {
    std::fs::write(b.dir.path().join("broker.toml"), text).unwrap();
}

/// The seed with qa's rights on its collective's topics withdrawn (admins only), and a new
/// user in group prod.
fn revoked_config() -> String {
    seed_config(&format!(
        "[[user]]\nname = \"newops\"\npassword_hash = \"{}\"\ngroups = [\"prod\"]\n",
        hash_password("fresh-secret").unwrap()
    ))
    .replace(
        "destination = \"topic://qacollective.>\"\nread = [\"qa\", \"admins\"]",
        "destination = \"topic://qacollective.>\"\nread = [\"admins\"]",
    )
}

#[test]
fn reload_adds_a_user_and_revokes_an_acl_while_others_keep_receiving() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut q = qa(&b);
    q.subscribe("qa-agents", "/topic/qacollective.discovery.agent", &[]);
    let mut p = prod(&b);
    p.subscribe("prod-agents", "/topic/prodcollective.discovery.agent", &[]);
    assert!(Stomp::login(&b.addr, "newops", "fresh-secret").is_err());

    let cfg = revoked_config();
    assert!(
        cfg.contains("newops") && cfg.contains("read = [\"admins\"]"),
        "{cfg}"
    );
    rewrite(&b, &cfg);
    let (ok, out) = reload(&b);
    assert!(ok, "shoal reload failed:\n{out}\n{}", b.log());
    assert!(out.contains("user newops added"), "{out}");
    assert!(out.contains("subscription qa-agents revoked"), "{out}");

    // The revoked subscriber is told which ACL decided, then closed.
    let e = q.expect_error("subscription revoked");
    let detail = String::from_utf8_lossy(&e.body).to_string();
    assert!(
        detail.contains("qa-agents") && detail.contains("/topic/qacollective.>"),
        "{detail}"
    );
    assert!(q.closed(), "the revoked subscriber's connection stays open");

    // prodadmin's connection was never touched: the next message arrives on it.
    let mut sender = common::seed::login_with(&b, "admin", &[]);
    sender.send_sync(
        "/topic/prodcollective.discovery.agent",
        &[],
        b"after reload",
    );
    assert_eq!(p.expect_body(), "after reload");

    // The new user logs in with the rights of its group; qa may no longer subscribe.
    let mut n = Stomp::login(&b.addr, "newops", "fresh-secret").expect("newops logs in");
    n.subscribe("x", "/topic/prodcollective.discovery.agent", &[]);
    let mut q2 = qa(&b);
    q2.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "again"),
            ("destination", "/topic/qacollective.discovery.agent"),
        ],
        b"",
    ));
    q2.expect_error("access denied");
    assert!(b.log().contains("reload: user newops added"), "{}", b.log());
    assert!(
        b.log()
            .contains("reload asked for on the control queue by admin from 127.0.0.1:"),
        "who asked is not logged:\n{}",
        b.log()
    );
}

#[test]
fn a_removed_user_is_disconnected_and_a_changed_group_takes_effect_at_once() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut q = qa(&b);
    q.subscribe("qa", "/topic/qacollective.x", &[]);
    let mut p = prod(&b);
    p.subscribe("prod", "/topic/prodcollective.x", &[]);
    // qaadmin gone; prodadmin moved from prod to qa: its prod subscription ends.
    let cfg = seed_config("");
    let start = cfg.find("[[user]]\nname = \"qaadmin\"").unwrap();
    let end = start + cfg[start..].find("[[user]]\nname = \"prodadmin\"").unwrap();
    let cfg = format!("{}{}", &cfg[..start], &cfg[end..])
        .replace("groups = [\"prod\"]", "groups = [\"qa\"]");
    rewrite(&b, &cfg);
    b.hangup();
    q.expect_error("user removed");
    assert!(q.closed());
    p.expect_error("subscription revoked");
    assert!(
        b.wait_log("reload: connection"),
        "no reload lines in the log:\n{}",
        b.log()
    );
    assert!(Stomp::login(&b.addr, "qaadmin", "muppetsfromspace").is_err());
}

#[test]
fn a_broken_config_changes_nothing_and_says_why() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut q = qa(&b);
    q.subscribe("qa", "/topic/qacollective.x", &[]);
    // A typo'd key: refused with its line, by `shoal reload` (exit 1) and by SIGHUP (log).
    rewrite(
        &b,
        &format!("{}\n[limits]\nmax_frame_byte = 10\n", seed_config("")),
    );
    let (ok, out) = reload(&b);
    assert!(!ok, "a broken config was accepted:\n{out}");
    assert!(
        out.contains("reload refused, nothing changed") && out.contains("max_frame_byte"),
        "{out}"
    );
    // An ACL naming no valid destination, sent by SIGHUP.
    rewrite(
        &b,
        &seed_config("[[acl]]\ndestination = \"bogus://x\"\nread = [\"qa\"]\n"),
    );
    b.hangup();
    assert!(b.wait_log("reload refused, nothing changed"), "{}", b.log());
    // Nothing changed: the subscription still delivers, users still log in.
    let mut sender = common::seed::login_with(&b, "admin", &[]);
    sender.send_sync("/topic/qacollective.x", &[], b"still here");
    assert_eq!(q.expect_body(), "still here");
    assert!(Stomp::login(&b.addr, "qaadmin", "muppetsfromspace").is_ok());
    // A key that needs a restart is reported, not applied; the rest is.
    rewrite(&b, &seed_config("[metrics]\nlisten = \"127.0.0.1:0\"\n"));
    let (ok, out) = reload(&b);
    assert!(ok, "{out}");
    assert!(
        out.contains("not applied until the broker restarts: [metrics]"),
        "{out}"
    );
}

fn bridge(name: &str, peer: &Broker) -> String {
    format!(
        "[[bridge]]\nname = \"{name}\"\nuri = \"static:(tcp://{})\"\n",
        peer.cluster[0]
    )
}

fn bridges_of(b: &Broker) -> Vec<Value> {
    let out = shoal_as_admin(&["status", "-a", &b.addr, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["bridges"].as_array().cloned().unwrap_or_default()
}

fn connected(bridges: &[Value], name: &str) -> bool {
    bridges
        .iter()
        .any(|b| b["name"] == name && b["state"] == "connected")
}

#[test]
fn bridges_are_added_and_removed_by_a_reload_without_touching_the_others() {
    let (peer_b, peer_c) = (node("PB", &[], ""), node("PC", &[], ""));
    // A broker with no bridges at all gains one.
    let a = Broker::start_with(OPEN, &["--name", "PA"]);
    rewrite(&a, &format!("{OPEN}{}", bridge("to-b", &peer_b)));
    let (ok, out) = reload(&a);
    assert!(ok && out.contains("bridge to-b added"), "{out}");
    assert!(a.wait_log("bridge connected bridge=to-b"), "{}", a.log());
    let mut sub = Stomp::connect(&peer_b.addr);
    sub.subscribe("s", "/topic/over.bridge", &[]);
    wait_for_route(&a, &mut sub, "/topic/over.bridge");

    // A second bridge is added; then the first is removed: the second stays up throughout.
    rewrite(
        &a,
        &format!(
            "{OPEN}{}{}",
            bridge("to-b", &peer_b),
            bridge("to-c", &peer_c)
        ),
    );
    let (ok, out) = reload(&a);
    assert!(ok && out.contains("bridge to-c added"), "{out}");
    assert!(!out.contains("to-b"), "to-b was touched: {out}");
    assert!(a.wait_log("bridge connected bridge=to-c"), "{}", a.log());
    let before = bridges_of(&a);
    let reconnects = |v: &[Value]| {
        v.iter()
            .find(|b| b["name"] == "to-c")
            .map(|b| b["reconnects"].clone())
    };
    rewrite(&a, &format!("{OPEN}{}", bridge("to-c", &peer_c)));
    a.hangup();
    let mut now = Vec::new();
    assert!(
        eventually(|| {
            now = bridges_of(&a);
            !now.iter().any(|b| b["name"] == "to-b")
        }),
        "to-b still listed: {now:?}"
    );
    assert!(connected(&now, "to-c"), "{now:?}");
    assert_eq!(reconnects(&before), reconnects(&now), "to-c reconnected");
    // Nothing crosses to B any more.
    let mut p = Stomp::connect(&a.addr);
    p.send_sync("/topic/over.bridge", &[], b"not forwarded");
    assert!(sub.recv_within(Duration::from_millis(500)).is_none());
}

#[test]
fn a_wildcard_subscription_follows_the_reloaded_acl_without_resubscribing() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let mut admin = common::seed::login_with(&b, "admin", &[]);
    let mut watcher = common::seed::login_with(&b, "admin", &[]);
    watcher.subscribe("w", "/topic/shared.news", &[]); // the destination exists
    let mut q = qa(&b);
    q.subscribe("all", "/topic/>", &[]);
    admin.send_sync("/topic/shared.news", &[], b"before");
    assert_eq!(watcher.expect_body(), "before");
    assert!(
        q.recv_within(common::QUIET).is_none(),
        "qa read shared.news"
    );
    // qa is granted topic://shared.>: the same subscription now carries it.
    rewrite(
        &b,
        &seed_config("[[acl]]\ndestination = \"topic://shared.>\"\nread = [\"qa\", \"admins\"]\nwrite = [\"admins\"]\nadmin = [\"admins\"]\n"),
    );
    let (ok, out) = reload(&b);
    assert!(ok, "{out}");
    admin.send_sync("/topic/shared.news", &[], b"after");
    assert_eq!(q.expect_body(), "after");
    admin.send_sync("/topic/prodcollective.x", &[], b"never");
    admin.send_sync("/topic/qacollective.x", &[], b"own");
    assert_eq!(q.expect_body(), "own");
}

#[test]
fn only_a_user_with_the_control_right_may_reload_and_a_wrong_password_says_so() {
    let b = Broker::start_with(&seed_config(""), &[]);
    let run = |user: &str, password: &str| {
        let dir = TempDir::new("reload-as");
        let file = dir.path().join("password");
        common::pki::private(&file, password);
        let out = Process::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["reload", "-a", &b.addr, "--user", user, "--password-file"])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run("admin", "wrong");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    let (code, err) = run("qaadmin", "muppetsfromspace");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("denied"), "{err}");
    assert!(
        !b.log().contains("reload:"),
        "a refused user reloaded:\n{}",
        b.log()
    );
}

/// `shoal pub` over TLS trusting `ca`: whether the broker's certificate passed.
fn pub_over_tls(port: u16, ca: &std::path::Path) -> (bool, String) {
    pub_over_tls_to(port, ca, "/queue/rotated")
}

fn pub_over_tls_to(port: u16, ca: &std::path::Path, dest: &str) -> (bool, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args([
            "pub",
            "-a",
            &format!("stomp+ssl://127.0.0.1:{port}"),
            "--tls-ca",
        ])
        .arg(ca)
        .args([dest, "x"])
        .stdin(Stdio::null())
        .env_remove("STOMP_USER")
        .env_remove("STOMP_PASSWORD")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_renewed_certificate_is_served_after_a_reload_and_open_connections_stay() {
    let (old, new) = (common::pki::pki("old"), common::pki::pki("new"));
    let dir = TempDir::new("rotate");
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    let install = |p: &common::pki::Pki| {
        std::fs::copy(&p.cert, &cert).unwrap();
        common::pki::private(&key, &std::fs::read_to_string(&p.key).unwrap());
    };
    install(&old);
    let b = Broker::start_with(
        &format!(
            "{OPEN}[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        &["--listen", "stomp+ssl://127.0.0.1:0"],
    );
    assert!(pub_over_tls(b.port(), &old.ca).0);
    assert!(!pub_over_tls(b.port(), &new.ca).0);
    // A client that stays connected through the renewal (its TLS session is the old one):
    // accepted before the files change (the broker holds one more socket).
    let sockets = b.sockets();
    let mut open = Process::new(env!("CARGO_BIN_EXE_shoal"))
        .args([
            "sub",
            "-a",
            &format!("stomp+ssl://127.0.0.1:{}", b.port()),
            "--tls-ca",
        ])
        .arg(&old.ca)
        .args(["/queue/rotated.kept", "-n", "1", "--wait", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(|| b.sockets() > sockets),
        "the subscriber never connected"
    );
    // The files are renewed in place (as certbot or a PKI agent does), then SIGHUP.
    install(&new);
    b.hangup();
    assert!(
        b.wait_log("[tls]: certificate, key or client CA renewed"),
        "{}",
        b.log()
    );
    let (ok, err) = pub_over_tls(b.port(), &new.ca);
    assert!(ok, "the renewed certificate is not served: {err}");
    let (ok, _) = pub_over_tls(b.port(), &old.ca);
    assert!(!ok, "the old certificate is still served");
    assert!(pub_over_tls_to(b.port(), &new.ca, "/queue/rotated.kept").0);
    let status = open.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut open.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "the connection opened before the renewal got nothing: {err}"
    );
}

#[test]
fn reloaded_limits_apply_to_the_next_send() {
    let b = Broker::start_with(OPEN, &[]);
    let mut p = Stomp::connect(&b.addr);
    for i in 0..3 {
        p.send_sync("/queue/capped", &[], format!("m{i}").as_bytes());
    }
    rewrite(
        &b,
        &format!("{OPEN}[limits]\nmax_queue_messages = 3\nproducer_wait_ms = 0\n"),
    );
    let (ok, out) = reload(&b);
    assert!(ok && out.contains("[limits] changed"), "{out}");
    p.send(&frame(
        "SEND",
        &[("destination", "/queue/capped"), ("receipt", "r")],
        b"one too many",
    ));
    p.expect_error("queue /queue/capped is full");
}
