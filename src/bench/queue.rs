//! Queue throughput: every message must be consumed exactly once across all consumers.

use super::payload::{self, Tally};
use super::BenchArgs;
use crate::stomp::Command;
use clap::Args;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct QueueArgs {
    #[arg(short, long, default_value_t = 1)]
    pub producers: usize,
    #[arg(short, long, default_value_t = 1)]
    pub consumers: usize,
    /// Body size in bytes.
    #[arg(short, long, default_value_t = 256)]
    pub size: usize,
    /// Messages in total (split evenly among producers).
    #[arg(short = 'n', long, default_value_t = 200_000)]
    pub count: u64,
    /// Send with `persistent:true`.
    #[arg(long)]
    pub persistent: bool,
    /// Ask a RECEIPT for every SEND and keep at most this many unconfirmed per producer
    /// (0: no receipts). With `--persistent`, a receipt means the message is on disk.
    #[arg(long, default_value_t = 0)]
    pub window: usize,
    /// Give up when nothing arrives for this many seconds.
    #[arg(long, default_value_t = 15)]
    pub stall_secs: u64,
}

pub async fn run(b: &BenchArgs, a: &QueueArgs) -> anyhow::Result<bool> {
    let dest = format!("/queue/bench.q{}", super::run_id());
    let per = a.count / a.producers as u64;
    let total = per * a.producers as u64;
    let received = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::new(a.producers, per)));
    let mut consumers = Vec::new();
    for i in 0..a.consumers {
        let (mut r, mut w) = b.connect_receiver().await?;
        super::subscribe(&mut r, &mut w, &dest, &format!("c{i}")).await?;
        let (received, tally) = (received.clone(), tally.clone());
        consumers.push(tokio::spawn(async move {
            let _keep = w;
            while let Ok(f) = r.next_message().await {
                if f.command == Command::Message {
                    tally.lock().record(&f.body);
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    b.settle().await;
    let start = Instant::now();
    let mut producers = Vec::new();
    for p in 0..a.producers {
        let (mut r, mut w) = b.connect().await?;
        let mut head = format!(
            "SEND\ndestination:{dest}\ncontent-length:{}\n",
            a.size.max(payload::HEADER)
        );
        if a.persistent {
            head.push_str("persistent:true\n");
        }
        let (size, window) = (a.size, a.window);
        // Receipts free window slots as they come back.
        let credit = Arc::new(tokio::sync::Semaphore::new(window));
        let confirmed = Arc::new(AtomicU64::new(0));
        let (c, n) = (credit.clone(), confirmed.clone());
        let receipts = tokio::spawn(async move {
            while let Ok(f) = r.next_message().await {
                if f.command == Command::Receipt {
                    n.fetch_add(1, Ordering::Relaxed);
                    c.add_permits(1);
                }
            }
        });
        producers.push(tokio::spawn(async move {
            for seq in 0..per {
                if window > 0 {
                    let permit = match credit.try_acquire() {
                        Ok(p) => p,
                        Err(_) => {
                            w.flush().await?; // what is buffered must go before we wait
                            credit.acquire().await?
                        }
                    };
                    permit.forget();
                    w.push_bytes(head.as_bytes());
                    w.push_bytes(b"receipt:r");
                    w.push_bytes(itoa::Buffer::new().format(seq).as_bytes());
                    w.push_bytes(b"\n\n");
                } else {
                    w.push_bytes(head.as_bytes());
                    w.push_bytes(b"\n");
                }
                w.push_bytes(&payload::make(p as u64, seq, size));
                w.push_bytes(b"\0");
                if w.buffered() >= 64 * 1024 {
                    w.flush().await?;
                }
            }
            w.flush().await?;
            // Every SEND confirmed (or the run stalls and fails its count).
            while window > 0 && confirmed.load(Ordering::Relaxed) < per {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            receipts.abort();
            anyhow::Ok(w)
        }));
    }
    // Wait for the count, or a stall.
    let mut last = 0;
    let mut last_change = Instant::now();
    let mut end = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let n = received.load(Ordering::Relaxed);
        if n >= total {
            end = Instant::now();
            break;
        }
        if n != last {
            last = n;
            last_change = Instant::now();
            end = last_change;
        } else if last_change.elapsed() > Duration::from_secs(a.stall_secs) {
            break;
        }
    }
    // Let stragglers (duplicates) arrive before judging.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut writers = Vec::new();
    for p in producers {
        writers.push(p.await??);
    }
    for c in &consumers {
        c.abort();
    }
    for c in consumers {
        let _ = c.await;
    }
    let secs = end.duration_since(start).as_secs_f64();
    let t = tally.lock();
    let lost = total - t.received;
    println!(
        "queue label={} producers={} consumers={} size={} persistent={} window={} messages={} seconds={:.3} rate={:.0} msg/s lost={} duplicates={}",
        b.label,
        a.producers,
        a.consumers,
        a.size,
        a.persistent,
        a.window,
        total,
        secs,
        t.received as f64 / secs,
        lost,
        t.duplicates
    );
    drop(writers);
    Ok(lost == 0 && t.duplicates == 0 && t.foreign == 0)
}
