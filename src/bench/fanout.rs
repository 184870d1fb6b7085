//! Topic fan-out: one publisher at a steady rate, N subscribers; every subscriber must get
//! every message; reports delivery latency percentiles over all deliveries.

use super::payload::{self, Tally};
use super::BenchArgs;
use crate::stomp::{Command, Frame};
use clap::Args;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    #[arg(short = 'n', long, default_value_t = 5_000)]
    pub count: u64,
    /// Messages per second the publisher sends.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    #[arg(short, long, default_value_t = 256)]
    pub size: usize,
}

pub async fn run(b: &BenchArgs, a: &FanoutArgs) -> anyhow::Result<bool> {
    let dest = format!("/topic/bench.f{}", super::run_id());
    let mut subs = Vec::new();
    for i in 0..a.subscribers {
        let (mut r, mut w) = b.connect_receiver().await?;
        super::subscribe(&mut r, &mut w, &dest, &format!("s{i}")).await?;
        let count = a.count;
        subs.push(tokio::spawn(async move {
            let _keep = w;
            let mut tally = Tally::new(1, count);
            let mut lat = Vec::with_capacity(count as usize);
            while tally.received + tally.duplicates < count {
                let f = match tokio::time::timeout(Duration::from_secs(10), r.next_message()).await
                {
                    Ok(Ok(f)) => f,
                    _ => break,
                };
                if f.command != Command::Message {
                    continue;
                }
                if let Some((_, _, sent)) = payload::read(&f.body) {
                    lat.push(payload::now_us().saturating_sub(sent) as f64 / 1000.0);
                }
                tally.record(&f.body);
            }
            (tally, lat)
        }));
    }
    let (_r, mut w) = b.connect().await?;
    b.settle().await;
    let start = Instant::now();
    let per_tick = (a.rate / 1000).max(1);
    let tick = Duration::from_micros(1_000_000 * per_tick / a.rate.max(1));
    let mut next = Instant::now();
    let mut seq = 0;
    while seq < a.count {
        for _ in 0..per_tick.min(a.count - seq) {
            w.push(
                &Frame::new(Command::Send)
                    .header("destination", dest.clone())
                    .with_body(payload::make(0, seq, a.size)),
            );
            seq += 1;
        }
        w.flush().await?;
        next += tick;
        tokio::time::sleep_until(next.into()).await;
    }
    let mut all = Vec::new();
    let (mut lost, mut dups) = (0, 0);
    for s in subs {
        let (t, lat) = s.await?;
        lost += a.count - t.received;
        dups += t.duplicates;
        all.extend(lat);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(|x, y| x.total_cmp(y));
    println!(
        "fanout label={} subscribers={} messages={} rate={} size={} deliveries={} seconds={:.2} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} lost={} duplicates={}",
        b.label,
        a.subscribers,
        a.count,
        a.rate,
        a.size,
        all.len(),
        secs,
        super::percentile(&all, 50.0),
        super::percentile(&all, 99.0),
        all.last().copied().unwrap_or(f64::NAN),
        lost,
        dups
    );
    Ok(lost == 0 && dups == 0)
}
