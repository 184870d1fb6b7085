//! PyPI's stomp-py (the reference Python client) against the real broker, STOMP 1.0–1.2.
//! The checks live in tests/python/stomp_py_interop.py; this test starts the broker, runs them
//! and fails with their report.

mod common;
use common::{require_tool, Broker};
use std::process::Command;

#[test]
fn stomp_py_works_against_shoal() {
    if !require_tool("python3", &["-c", "import stomp"], "pip install stomp-py") {
        return;
    }
    let b = Broker::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/stomp_py_interop.py"
    );
    let out = Command::new("timeout")
        .args(["120", "python3", script, &b.addr])
        .output()
        .expect("run python3");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "stomp-py checks failed:\n{report}\nbroker log:\n{}",
        b.log()
    );
    assert!(report.contains(" 0 failed"), "{report}");
}
