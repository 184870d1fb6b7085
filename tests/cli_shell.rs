//! What a package and a service need from the binary: shell completions that a shell accepts,
//! man pages for every command, and log lines a log shipper can parse (`--log-format json`).

mod common;
use common::TempDir;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn shoal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run shoal")
}

#[test]
fn bash_completion_is_valid_bash_and_knows_the_commands() {
    let out = shoal(&["completions", "bash"]);
    assert!(out.status.success(), "{out:?}");
    let script = String::from_utf8(out.stdout).unwrap();
    for word in [
        "broker",
        "ping",
        "node",
        "doctor",
        "completions",
        "--log-format",
    ] {
        assert!(script.contains(word), "{word} missing from the completions");
    }
    let dir = TempDir::new("completions");
    let file = dir.write("shoal.bash", &script);
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(check.status.success(), "bash -n: {check:?}");
    // Every shell clap_complete knows is accepted by name; an unknown one is refused by name.
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(shoal(&["completions", shell]).status.success(), "{shell}");
    }
    let bad = shoal(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tcsh"));
}

#[test]
fn man_pages_for_shoal_and_each_command() {
    let out = shoal(&["man"]);
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH shoal"),
        "{page}"
    );
    let dir = TempDir::new("man");
    let out = shoal(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    for name in [
        "shoal.1",
        "shoal-broker.1",
        "shoal-ping.1",
        "shoal-doctor.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        assert!(text.contains(".TH"), "{name}: {text}");
    }
    // The broker's page carries its flags' help.
    let broker = std::fs::read_to_string(dir.path().join("shoal-broker.1")).unwrap();
    assert!(broker.contains("listen"), "{broker}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = TempDir::new("jsonlog");
    let cfg = dir.write("broker.toml", "[auth]\nanonymous = true\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let _guard = common::Daemon(child);
    let mut seen = Vec::new();
    for line in lines.map_while(Result::ok) {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        let message = v["fields"]["message"].as_str().unwrap_or("").to_string();
        seen.push(message.clone());
        if message.starts_with("listening for STOMP on 127.0.0.1:") {
            assert_eq!(v["fields"]["name"], "shoal", "{line}");
            return;
        }
    }
    panic!("no listening line among {seen:?}");
}
