//! `shoal bench fleet`: a fleet of MCollective-shaped nodes connecting at once, and coming
//! back again and again (churn).
//!
//! Each node is one connection with the subscriptions a real `mcollectived` makes in each of
//! its collectives: one `/topic/<c>.<agent>.agent` per agent and `/queue/<c>.nodes` with its
//! `mc_identity` selector (see `collective::connector`). A cycle connects every node at once,
//! waits for each one's last RECEIPT ("subscribed"), then — on a shoal broker — asks its
//! membership service until every node is counted in every collective ("in membership"),
//! holds, and drops every connection. With `--pid`, the broker's CPU seconds per cycle and
//! its resident memory once the fleet is gone are read from /proc: memory that grows cycle
//! after cycle is what a connection left behind.

use super::BenchArgs;
use crate::collective::connector::Connector;
use crate::collective::membership::{Membership, MEMBERSHIP_QUEUE};
use crate::stomp::{Command, Frame};
use clap::Args;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Nodes (one connection each).
    #[arg(long, short, default_value_t = 5_000)]
    pub nodes: usize,
    /// Collectives every node is in (`mcollective`, then `c1`, `c2`, …).
    #[arg(long, default_value_t = 3)]
    pub collectives: usize,
    /// Agents per collective (discovery, rpcutil, then `agent2`, …).
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// Connect / hold / drop cycles.
    #[arg(long, default_value_t = 1)]
    pub cycles: usize,
    /// Seconds to hold the fleet connected in each cycle.
    #[arg(long, default_value_t = 1)]
    pub hold: u64,
    /// The broker's process id: CPU seconds per cycle and resident memory after each.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Skip the membership check (brokers other than shoal have no membership service).
    #[arg(long)]
    pub no_membership: bool,
}

fn collectives(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i {
            0 => "mcollective".to_string(),
            i => format!("c{i}"),
        })
        .collect()
}

/// The SUBSCRIBE frames of node `identity`; the last asks for a RECEIPT.
fn node_frames(identity: &str, a: &FleetArgs) -> Vec<Frame> {
    let mut frames = Vec::new();
    for c in collectives(a.collectives) {
        for i in 0..a.agents {
            let agent = match i {
                0 => "discovery".to_string(),
                1 => "rpcutil".to_string(),
                i => format!("agent{i}"),
            };
            let s = Connector::ActiveMq.broadcast_subscription(&c, &agent);
            frames.push(
                Frame::new(Command::Subscribe)
                    .header("destination", s.destination)
                    .header("id", s.id),
            );
        }
        let s = Connector::ActiveMq.directed_subscription(&c, identity);
        let mut f = Frame::new(Command::Subscribe)
            .header("destination", s.destination)
            .header("id", s.id);
        if let Some(sel) = s.selector {
            f = f.header("selector", sel);
        }
        frames.push(f);
    }
    if let Some(last) = frames.pop() {
        frames.push(last.header("receipt", "subscribed"));
    }
    frames
}

fn proc_stat(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let rss = super::idle::rss_kib(pid)?;
    Some((ticks as f64 / 100.0, rss))
}

fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Waits (up to 30 s) until the broker holds no more sockets than before the cycle: its side
/// of every connection closed, so what memory it still holds is what connections left.
async fn until_fds(pid: u32, fds: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && open_fds(pid).is_some_and(|n| n > fds) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Conn = (crate::client::ClientReader, crate::client::ClientWriter);

async fn join_node(
    addr: std::sync::Arc<str>,
    opts: std::sync::Arc<crate::client::ConnectOptions>,
    identity: String,
    frames: Vec<Frame>,
) -> anyhow::Result<Conn> {
    let (mut r, mut w, _) = crate::client::connect(&addr, &opts).await?;
    for f in &frames {
        w.push(f);
    }
    w.flush().await?;
    let f = r.next_message().await?;
    anyhow::ensure!(
        f.command == Command::Receipt,
        "{identity}: expected RECEIPT, got {} {}",
        f.command,
        f.get("message").unwrap_or("")
    );
    Ok((r, w))
}

/// Asks the broker's membership service how many members each collective has.
async fn member_counts(conn: &mut Conn, reply: &str) -> anyhow::Result<Vec<usize>> {
    let (r, w) = conn;
    w.send(
        &Frame::new(Command::Send)
            .header("destination", MEMBERSHIP_QUEUE)
            .header("reply-to", reply),
    )
    .await?;
    let f = tokio::time::timeout(Duration::from_secs(10), r.next_message()).await??;
    let m: Membership = serde_json::from_slice(&f.body)?;
    Ok(m.values().map(Vec::len).collect())
}

/// Polls membership until every collective counts `want` members (or 60 s pass).
async fn until_members(
    conn: &mut Conn,
    reply: &str,
    a: &FleetArgs,
    want: usize,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let counts = member_counts(conn, reply).await?;
        let full = counts.len() == a.collectives && counts.iter().all(|&n| n == want);
        if full || (want == 0 && counts.iter().all(|&n| n == 0)) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}

pub async fn run(b: &BenchArgs, a: &FleetArgs) -> anyhow::Result<bool> {
    let id = super::run_id();
    let mut probe = b.connect().await?;
    let reply = format!("/queue/bench.fleet.reply.{id}");
    super::subscribe(&mut probe.0, &mut probe.1, &reply, "membership").await?;
    let addr: std::sync::Arc<str> = b.addr.as_str().into();
    let opts = std::sync::Arc::new(b.options());
    let mut ok = true;
    let mut first_rss = None;
    for cycle in 1..=a.cycles {
        let before = a.pid.and_then(proc_stat);
        let fds_before = a.pid.and_then(open_fds);
        let start = Instant::now();
        let mut joins = tokio::task::JoinSet::new();
        for n in 0..a.nodes {
            let identity = format!("fleet{id}-{n:05}");
            let frames = node_frames(&identity, a);
            joins.spawn(join_node(addr.clone(), opts.clone(), identity, frames));
        }
        let mut fleet = Vec::with_capacity(a.nodes);
        let mut failed = 0;
        while let Some(j) = joins.join_next().await {
            match j? {
                Ok(c) => fleet.push(c),
                Err(e) => {
                    failed += 1;
                    if failed <= 3 {
                        eprintln!("fleet: {e:#}");
                    }
                }
            }
        }
        let subscribed = start.elapsed().as_secs_f64();
        let in_membership = if a.no_membership {
            None
        } else {
            let full = until_members(&mut probe, &reply, a, fleet.len()).await?;
            ok &= full;
            Some(start.elapsed().as_secs_f64())
        };
        let cpu = match (before, a.pid.and_then(proc_stat)) {
            (Some((x, _)), Some((y, _))) => format!("{:.2}", y - x),
            _ => "n/a".into(),
        };
        tokio::time::sleep(Duration::from_secs(a.hold)).await;
        drop(fleet);
        if !a.no_membership {
            ok &= until_members(&mut probe, &reply, a, 0).await?;
        }
        if let (Some(pid), Some(fds)) = (a.pid, fds_before) {
            until_fds(pid, fds).await;
        }
        let rss = a.pid.and_then(proc_stat).map(|(_, r)| r);
        let first = *first_rss.get_or_insert(rss);
        ok &= failed == 0;
        println!(
            "fleet label={} cycle={cycle} nodes={} collectives={} subscribed_s={subscribed:.2} in_membership_s={} broker_cpu_s={cpu} rss_mib_after={} growth_since_first_mib={} failed={failed}",
            b.label,
            a.nodes,
            a.collectives,
            in_membership.map_or("n/a".into(), |s| format!("{s:.2}")),
            rss.map_or("n/a".into(), |r| format!("{:.1}", r as f64 / 1024.0)),
            match (first, rss) {
                (Some(f), Some(r)) => format!("{:+.1}", (r as f64 - f as f64) / 1024.0),
                _ => "n/a".into(),
            },
        );
    }
    Ok(ok)
}
