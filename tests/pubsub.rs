//! `shoal pub` and `shoal sub` as a shell script uses them, against a real broker with the
//! seed's users: bodies from arguments, stdin and lines; receipts; MCollective bodies decoded;
//! JSON output; refusals and timeouts with their exit codes; TLS.

mod common;
use common::{Broker, TempDir};
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// `shoal ARGS…` logged in as `user`, `stdin` fed; not yet waited for.
fn spawn(args: &[&str], user: Option<(&str, &str)>, dir: &TempDir) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.args(args)
        .env_remove("STOMP_USER")
        .env_remove("STOMP_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((name, password)) = user {
        let file = dir.path().join(format!("{name}.password"));
        common::pki::private(&file, password);
        cmd.args(["--user", name, "--password-file"]).arg(file);
    }
    cmd.spawn().expect("run shoal")
}

fn run(args: &[&str], user: Option<(&str, &str)>, stdin: &[u8]) -> Output {
    let dir = TempDir::new("pubsub");
    let mut child = spawn(args, user, &dir);
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

const ADMIN: Option<(&str, &str)> = Some(("admin", "root-secret"));

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn pub_from_arguments_stdin_and_lines_then_sub_counts_them() {
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let a = b.addr.as_str();
    let ok = |o: Output| assert!(o.status.success(), "{}", text(&o.stderr));
    ok(run(&["pub", "-a", a, "/queue/jobs", "hello"], ADMIN, b""));
    ok(run(
        &["pub", "-a", a, "/queue/jobs", "-", "-H", "x-kind:stdin"],
        ADMIN,
        b"from stdin",
    ));
    ok(run(
        &["pub", "-a", a, "/queue/jobs", "--lines", "--persistent"],
        ADMIN,
        b"one\ntwo\nthree\n",
    ));
    let out = run(
        &["sub", "-a", a, "/queue/jobs", "-n", "5", "--wait", "20"],
        ADMIN,
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\nfrom stdin\none\ntwo\nthree\n");
    // JSON: one object per message, headers included.
    ok(run(
        &["pub", "-a", a, "/queue/jobs", "j", "-H", "x-kind:json"],
        ADMIN,
        b"",
    ));
    let out = run(
        &[
            "sub",
            "-a",
            a,
            "/queue/jobs",
            "-n",
            "1",
            "--json",
            "--wait",
            "20",
        ],
        ADMIN,
        b"",
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["destination"], "/queue/jobs");
    assert_eq!(v["body"], "j");
    let headers = v["headers"].as_array().unwrap();
    assert!(
        headers.iter().any(|h| h[0] == "x-kind" && h[1] == "json"),
        "{v}"
    );
}

#[test]
fn sub_decodes_an_mcollective_request_as_the_tap_does() {
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let a = b.addr.as_str();
    // A request as Ruby's Marshal wrote it (binary, NULs included) sent from stdin.
    let request = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ssl/request-signed-by-ops.marshal"
    ))
    .unwrap();
    assert!(request.contains(&0));
    let out = run(
        &["pub", "-a", a, "/queue/mcollective.tap", "-"],
        ADMIN,
        &request,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        &["pub", "-a", a, "/queue/mcollective.tap", "-"],
        ADMIN,
        &request,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        &[
            "sub",
            "-a",
            a,
            "/queue/mcollective.tap",
            "-n",
            "1",
            "--decode",
        ],
        ADMIN,
        b"",
    );
    let decoded = text(&out.stdout);
    assert!(
        decoded.starts_with("request ")
            && decoded.contains("(cert=ops)")
            && decoded.contains("discovery"),
        "{decoded}"
    );
    // Without --decode the bytes come as they are. The second copy is still there: the
    // first `sub -n 1` left what it was sent ahead and did not print.
    let out = run(
        &[
            "sub",
            "-a",
            a,
            "/queue/mcollective.tap",
            "-n",
            "1",
            "--wait",
            "20",
        ],
        ADMIN,
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).starts_with("request "));
}

#[test]
fn refusals_and_timeouts_exit_1_with_the_reason() {
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let a = b.addr.as_str();
    let out = run(
        &["pub", "-a", a, "/queue/jobs", "x"],
        Some(("admin", "wrong")),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("authentication failed"),
        "{}",
        text(&out.stderr)
    );
    // The qa admin may not write production's queues.
    let qa = Some(("qaadmin", "muppetsfromspace"));
    let out = run(&["pub", "-a", a, "/queue/prodcollective.x", "x"], qa, b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("access denied") && err.contains("prodcollective.x"),
        "{err}"
    );
    // Fewer messages than asked for within --wait.
    let out = run(
        &["sub", "-a", a, "/queue/empty", "-n", "2", "--wait", "0.5"],
        ADMIN,
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("received 0 of 2"),
        "{}",
        text(&out.stderr)
    );
    // --wait alone is a clean end.
    let out = run(
        &["sub", "-a", a, "/queue/empty", "--wait", "0.3"],
        ADMIN,
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A malformed header is a usage error.
    let out = run(
        &["pub", "-a", a, "/queue/jobs", "x", "-H", "novalue"],
        ADMIN,
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NAME:VALUE"));
}

#[test]
fn pub_and_sub_over_tls() {
    let pki = common::pki::pki("ops");
    let cfg = format!(
        "[auth]\nanonymous = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        pki.cert.display(),
        pki.key.display()
    );
    let b = Broker::start_with(&cfg, &["--listen", "stomp+ssl://127.0.0.1:0"]);
    let a = format!("stomp+ssl://127.0.0.1:{}", b.port());
    let ca = pki.ca.to_str().unwrap();
    let out = run(
        &["pub", "-a", &a, "--tls-ca", ca, "/queue/secure", "over tls"],
        None,
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        &[
            "sub",
            "-a",
            &a,
            "--tls-ca",
            ca,
            "/queue/secure",
            "-n",
            "1",
            "--wait",
            "20",
        ],
        None,
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "over tls\n");
}
