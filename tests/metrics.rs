//! The metrics endpoint as Prometheus meets it: `curl` against a real broker, the text checked
//! by the Prometheus project's own OpenMetrics parser (tests/python/parse_metrics.py), the
//! families and values after real traffic, the bearer token, HTTPS, and a bounded series
//! count with 10 000 destinations.

mod common;
use common::{eventually, frame, require_tool, Broker, Stomp};
use serde_json::Value;
use std::process::{Command, Stdio};

/// The `http(s)://…/metrics` URL the broker logged.
fn metrics_url(b: &Broker) -> String {
    assert!(b.wait_log("serving metrics on "), "{}", b.log());
    let log = b.log();
    let at = log.split("serving metrics on ").nth(1).unwrap();
    at.split_whitespace().next().unwrap().to_string()
}

/// `curl` with `args`: (HTTP status, body).
fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The exposition text through the strict parser: its families (name → type) and samples.
fn parse(text: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/parse_metrics.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of sample `name` whose labels include every `(key, value)` of `labels`.
fn sample(parsed: &Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parsed["samples"].as_array().unwrap().iter().find_map(|s| {
        let l = &s[1];
        (s[0] == name && labels.iter().all(|(k, v)| l[*k] == *v)).then(|| s[2].as_f64().unwrap())
    })
}

fn tools() -> bool {
    require_tool("curl", &["--version"], "apt-get install curl")
        && require_tool(
            "python3",
            &["-c", "import prometheus_client"],
            "pip install prometheus-client",
        )
}

#[test]
fn metrics_cover_the_broker_destinations_bridges_and_collectives() {
    if !tools() {
        return;
    }
    let cfg = common::seed::seed_config(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [[bridge]]\nname = \"to-nowhere\"\nuri = \"static:(tcp://127.0.0.1:1)\"\n",
    );
    let b = Broker::start_with(&cfg, &[]);
    let url = metrics_url(&b);
    let mut admin = common::seed::login_with(&b, "admin", &[]);
    for i in 0..3 {
        admin.send_sync("/queue/work", &[], format!("job {i}").as_bytes());
    }
    // A node of the collective, as mcollectived subscribes.
    admin.subscribe(
        "nodes",
        "/queue/mcollective.nodes",
        &[("selector", "mc_identity = 'web01'")],
    );
    // Refused: a wrong password, and a qa admin reaching for production.
    assert!(Stomp::login(&b.addr, "admin", "wrong").is_err());
    let mut qa = common::seed::qa(&b);
    qa.send(&frame(
        "SEND",
        &[("destination", "/topic/prodcollective.discovery.agent")],
        b"x",
    ));
    qa.expect_error("access denied");

    let mut parsed = Value::Null;
    assert!(
        eventually(|| {
            let (code, body) = curl(&url, &[]);
            assert_eq!(code, 200, "{body}");
            parsed = parse(&body);
            sample(
                &parsed,
                "shoal_collective_members",
                &[("collective", "mcollective")],
            ) == Some(1.0)
        }),
        "no member counted: {parsed}"
    );
    let families = &parsed["families"];
    for (name, ty) in [
        ("shoal", "info"),
        ("shoal_connections", "gauge"),
        ("shoal_messages_received", "counter"),
        ("shoal_store_live_messages", "gauge"),
        ("shoal_logins_failed", "counter"),
        ("shoal_sends_refused", "counter"),
        ("shoal_destination_depth", "gauge"),
        ("shoal_bridge_up", "gauge"),
        ("shoal_bridge_reconnects", "counter"),
        ("shoal_collective_members", "gauge"),
    ] {
        assert_eq!(families[name], ty, "{name} in {families}");
    }
    let q = [("destination", "/queue/work"), ("kind", "queue")];
    assert_eq!(sample(&parsed, "shoal_destination_depth", &q), Some(3.0));
    assert_eq!(
        sample(&parsed, "shoal_destination_enqueued_total", &q),
        Some(3.0)
    );
    assert!(sample(&parsed, "shoal_messages_received_total", &[]).unwrap() >= 3.0);
    assert_eq!(sample(&parsed, "shoal_logins_failed_total", &[]), Some(1.0));
    // 127.0.0.1 and the name "admin" failed: both are spaced now.
    assert_eq!(
        sample(&parsed, "shoal_login_throttled_addresses", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&parsed, "shoal_login_throttled_users", &[]),
        Some(1.0)
    );
    assert_eq!(sample(&parsed, "shoal_access_denied_total", &[]), Some(1.0));
    assert_eq!(
        sample(&parsed, "shoal_config_last_reload_successful", &[]),
        None,
        "no reload yet"
    );
    assert_eq!(
        sample(&parsed, "shoal_sends_refused_total", &[("limit", "memory")]),
        Some(0.0)
    );
    assert!(sample(&parsed, "shoal_connections", &[]).unwrap() >= 2.0);
    assert_eq!(
        sample(&parsed, "shoal_bridge_up", &[("bridge", "to-nowhere")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&parsed, "shoal_info", &[("name", "testbroker")]),
        Some(1.0)
    );

    // A reload (the same file) is reported for alerting.
    b.hangup();
    assert!(
        eventually(|| {
            let parsed = parse(&curl(&url, &[]).1);
            sample(&parsed, "shoal_config_last_reload_successful", &[]) == Some(1.0)
        }),
        "{}",
        b.log()
    );

    // Health: alive and ready; other paths and methods are refused by name.
    let base = url.trim_end_matches("/metrics");
    assert_eq!(curl(&format!("{base}/healthz"), &[]), (200, "ok\n".into()));
    assert_eq!(
        curl(&format!("{base}/readyz"), &[]),
        (200, "ready\n".into())
    );
    assert_eq!(curl(&format!("{base}/nope"), &[]).0, 404);
    assert_eq!(curl(&url, &["-X", "POST"]).0, 405);
}

#[test]
fn a_token_is_required_when_configured_and_an_exposed_token_file_is_refused() {
    if !tools() {
        return;
    }
    let dir = common::TempDir::new("metrics-token");
    let token = dir.path().join("metrics.token");
    common::pki::private(&token, "s3cret-token\n");
    let cfg = dir.write(
        "broker.toml",
        &format!(
            "[auth]\nanonymous = true\n[metrics]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
    );
    let b = Broker::start_in(dir, &cfg, &[]);
    let url = metrics_url(&b);
    assert_eq!(curl(&url, &[]).0, 401);
    assert_eq!(curl(&url, &["-H", "Authorization: Bearer wrong"]).0, 401);
    let (code, body) = curl(&url, &["-H", "Authorization: Bearer s3cret-token"]);
    assert_eq!(code, 200, "{body}");
    parse(&body);
    // The probes need no token.
    let base = url.trim_end_matches("/metrics");
    assert_eq!(curl(&format!("{base}/healthz"), &[]).0, 200);

    // A token others may read: the broker does not start, and says which file and why.
    let dir = common::TempDir::new("metrics-exposed");
    let token = dir.write("metrics.token", "s3cret-token\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = dir.write(
        "broker.toml",
        "[auth]\nanonymous = true\n[metrics]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"metrics.token\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("token_file") && err.contains("metrics.token") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn metrics_over_https_with_the_brokers_certificate() {
    if !tools() {
        return;
    }
    let pki = common::pki::pki("scraper");
    let cfg = format!(
        "[auth]\nanonymous = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\ntls = true\n",
        pki.cert.display(),
        pki.key.display()
    );
    let b = Broker::start_with(&cfg, &[]);
    let url = metrics_url(&b);
    assert!(url.starts_with("https://"), "{url}");
    let ca = pki.ca.to_str().unwrap();
    let (code, body) = curl(&url, &["--cacert", ca]);
    assert_eq!(code, 200, "{body}");
    assert!(sample(&parse(&body), "shoal_connections", &[]).is_some());
    // Plain HTTP to the HTTPS port gets nothing.
    assert_eq!(curl(&url.replace("https://", "http://"), &[]).0, 0);
}

#[test]
fn series_stay_bounded_with_ten_thousand_destinations() {
    if !tools() {
        return;
    }
    let b = Broker::open_with(
        "[limits]\nmax_destinations_per_user = 20000\n[metrics]\nlisten = \"127.0.0.1:0\"\ntop_destinations = 5\n",
    );
    let url = metrics_url(&b);
    let mut c = Stomp::connect(&b.addr);
    for i in 0..10_000 {
        c.send(&frame(
            "SEND",
            &[("destination", &format!("/queue/q{i}"))],
            b"x",
        ));
    }
    c.send_sync("/queue/deep", &[], b"last");
    let (code, body) = curl(&url, &[]);
    assert_eq!(code, 200);
    let parsed = parse(&body);
    assert!(sample(&parsed, "shoal_destinations", &[]).unwrap() >= 10_001.0);
    let depth = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == "shoal_destination_depth")
        .count();
    assert!((1..=10).contains(&depth), "{depth} depth series");
    let total = parsed["samples"].as_array().unwrap().len();
    assert!(total < 200, "{total} samples for 10 001 destinations");
}
