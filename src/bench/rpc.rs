//! Request/reply rounds, shaped like an MCollective ping: one request on a topic, N responders
//! answer to the request's `reply-to` queue; a round ends when all N replies are in.

use super::BenchArgs;
use crate::stomp::{Command, Frame};
use clap::Args;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct RpcArgs {
    #[arg(long, default_value_t = 100)]
    pub responders: usize,
    #[arg(long, default_value_t = 50)]
    pub rounds: usize,
}

pub async fn run(b: &BenchArgs, a: &RpcArgs) -> anyhow::Result<bool> {
    let id = super::run_id();
    let topic = format!("/topic/bench.rpc{id}");
    let reply = format!("/queue/bench.reply{id}");
    let mut tasks = Vec::new();
    for i in 0..a.responders {
        let (mut r, mut w) = b.connect_receiver().await?;
        super::subscribe(&mut r, &mut w, &topic, "rpc").await?;
        tasks.push(tokio::spawn(async move {
            while let Ok(f) = r.next_message().await {
                let Some(to) = f.get("reply-to") else {
                    continue;
                };
                let mut body = f.body.to_vec();
                body.extend_from_slice(format!(":{i}").as_bytes());
                w.push(
                    &Frame::new(Command::Send)
                        .header("destination", to)
                        .with_body(body),
                );
                if w.flush().await.is_err() {
                    break;
                }
            }
        }));
    }
    let (mut r, mut w) = b.connect().await?;
    super::subscribe(&mut r, &mut w, &reply, "replies").await?;
    b.settle().await;
    let mut rounds = Vec::new();
    let mut lost = 0usize;
    let mut dups = 0usize;
    for round in 0..a.rounds {
        let tag = format!("r{round}");
        let start = Instant::now();
        w.send(
            &Frame::new(Command::Send)
                .header("destination", topic.clone())
                .header("reply-to", reply.clone())
                .with_body(tag.clone()),
        )
        .await?;
        let mut got: HashSet<String> = HashSet::new();
        let deadline = start + Duration::from_secs(10);
        while got.len() < a.responders {
            let f = match tokio::time::timeout_at(deadline.into(), r.next_message()).await {
                Ok(f) => f?,
                Err(_) => break,
            };
            let body = String::from_utf8_lossy(&f.body).to_string();
            let Some((t, who)) = body.split_once(':') else {
                continue;
            };
            if t != tag {
                continue; // a late reply from an earlier round
            }
            if !got.insert(who.to_string()) {
                dups += 1;
            }
        }
        lost += a.responders - got.len();
        rounds.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    for t in tasks {
        t.abort();
    }
    rounds.sort_by(|x, y| x.total_cmp(y));
    println!(
        "rpc label={} responders={} rounds={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} lost={} duplicates={}",
        b.label,
        a.responders,
        a.rounds,
        super::percentile(&rounds, 50.0),
        super::percentile(&rounds, 99.0),
        rounds.last().copied().unwrap_or(f64::NAN),
        lost,
        dups
    );
    Ok(lost == 0 && dups == 0)
}
