//! N idle connections: how long opening them takes, what each costs the broker in memory
//! (with `--pid`, from /proc), and whether every one still answers after the hold.

use super::BenchArgs;
use crate::stomp::{Command, Frame};
use clap::Args;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[arg(long, default_value_t = 1_000)]
    pub connections: usize,
    /// Seconds to hold them idle.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,
    /// The broker's process id, to read its resident memory before and after.
    #[arg(long)]
    pub pid: Option<u32>,
}

pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub async fn run(b: &BenchArgs, a: &IdleArgs) -> anyhow::Result<bool> {
    let before = a.pid.and_then(rss_kib);
    let start = Instant::now();
    let mut conns = Vec::with_capacity(a.connections);
    for _ in 0..a.connections {
        conns.push(b.connect().await?);
    }
    let open_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(a.hold)).await;
    let after = a.pid.and_then(rss_kib);
    let mut alive = 0;
    for (r, w) in conns.iter_mut() {
        w.push(&Frame::new(Command::Disconnect).header("receipt", "bye"));
        if w.flush().await.is_err() {
            continue;
        }
        if let Ok(Ok(f)) = tokio::time::timeout(Duration::from_secs(5), r.next_frame()).await {
            if f.command == Command::Receipt {
                alive += 1;
            }
        }
    }
    let per_conn = match (before, after) {
        (Some(x), Some(y)) => format!("{:.1}", (y as f64 - x as f64) / a.connections as f64),
        _ => "n/a".into(),
    };
    println!(
        "idle label={} connections={} open_seconds={:.2} rate={:.0} conn/s rss_kib_per_conn={} alive_after_hold={}",
        b.label,
        a.connections,
        open_secs,
        a.connections as f64 / open_secs,
        per_conn,
        alive
    );
    Ok(alive == a.connections)
}
