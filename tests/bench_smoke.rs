//! `shoal bench` against the real broker, at small sizes: every scenario must finish with its
//! count check passing (no message lost or duplicated). The numbers themselves belong in
//! BENCHMARKS.md, never in assertions.

mod common;
use common::Broker;
use std::process::Command;

fn bench(b: &Broker, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["bench", "--addr", &b.addr, "--label", "smoke"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bench {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn every_scenario_passes_its_count_check() {
    let b = Broker::start();
    let q = bench(&b, &["queue", "-p", "2", "-c", "3", "-n", "20000"]);
    assert!(
        q.starts_with("queue label=smoke producers=2 consumers=3")
            && q.contains("lost=0 duplicates=0"),
        "{q}"
    );
    let f = bench(
        &b,
        &[
            "fanout",
            "--subscribers",
            "10",
            "-n",
            "200",
            "--rate",
            "2000",
        ],
    );
    assert!(
        f.contains("deliveries=2000") && f.contains("lost=0 duplicates=0"),
        "{f}"
    );
    let r = bench(&b, &["rpc", "--responders", "10", "--rounds", "20"]);
    assert!(r.contains("lost=0 duplicates=0"), "{r}");
    let i = bench(&b, &["idle", "--connections", "50", "--hold", "1"]);
    assert!(i.contains("alive_after_hold=50"), "{i}");
}

#[test]
fn a_backed_up_queue_drains_completely() {
    // Producers far ahead of one consumer: the queue backs up into the hundreds of thousands
    // and the consumer's outbox stays full; every message must still arrive exactly once.
    let b = Broker::start();
    let q = bench(
        &b,
        &[
            "queue",
            "-p",
            "4",
            "-c",
            "1",
            "-n",
            "200000",
            "--stall-secs",
            "20",
        ],
    );
    assert!(q.contains("lost=0 duplicates=0"), "{q}");
}
