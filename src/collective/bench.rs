//! `shoal bench ping`: how long an MCollective ping round takes with N nodes — N simulated
//! nodes (each its own connection) in this process, a discovery ping per round, the round's
//! time being when the last node answered. Any round missing a reply fails the run.

use super::connector::Connector;
use super::filter::Filter;
use super::mco_config::PoolBroker;
use super::node::{self, NodeSettings};
use super::ping::{self, PingOptions};
use super::security::Psk;
use crate::client::tls::TlsFiles;
use crate::client::ConnectOptions;
use clap::Args;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct PingBenchArgs {
    /// Simulated nodes.
    #[arg(long, short, default_value_t = 1000)]
    pub nodes: usize,
    /// Measured rounds (after a warm-up that waits for every node to answer).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

fn pool(addr: &str, o: &ConnectOptions, tls: Option<&TlsFiles>) -> anyhow::Result<PoolBroker> {
    Ok(PoolBroker {
        user: o.login.clone(),
        password: o.passcode.clone(),
        tls: tls.cloned(),
        ..PoolBroker::at(addr).map_err(anyhow::Error::msg)?
    })
}

pub async fn run(
    addr: &str,
    nodes_addr: Option<&str>,
    o: &ConnectOptions,
    tls: Option<&TlsFiles>,
    label: &str,
    a: &PingBenchArgs,
) -> anyhow::Result<bool> {
    let key = Arc::new(Psk::new("bench-psk"));
    let stop = CancellationToken::new();
    let base = NodeSettings {
        identity: "bench".into(),
        main_collective: "mcollective".into(),
        collectives: vec!["mcollective".into()],
        brokers: vec![pool(nodes_addr.unwrap_or(addr), o, tls)?],
        vhost: o.host.clone(),
        connector: Connector::ActiveMq,
        facts: Default::default(),
        classes: Vec::new(),
        security: key.clone(),
        config_file: String::new(),
    };
    let started = Instant::now();
    for s in node::simulated(&base, a.nodes) {
        tokio::spawn(node::run_node(Arc::new(s), stop.clone()));
    }
    let opts = PingOptions {
        collective: "mcollective".into(),
        filter: Filter::default(),
        timeout: Duration::from_secs(10),
        identity: "bench-client".into(),
        caller_id: "uid=0".into(),
        ttl: 60,
        connector: Connector::ActiveMq,
        brokers: vec![pool(addr, o, tls)?],
        vhost: o.host.clone(),
        stop_after: Some(a.nodes),
    };
    // Warm-up: until every node is connected, subscribed (and, through bridges, its demand
    // has reached the client's broker).
    let warm = PingOptions {
        timeout: Duration::from_secs(2),
        ..opts.clone()
    };
    let ready = loop {
        let out = ping::ping(&warm, key.as_ref(), |_| {}).await?;
        if out.replies.len() >= a.nodes {
            break true;
        }
        if started.elapsed() > Duration::from_secs(120) {
            eprintln!(
                "only {} of {} nodes answered after 120 s",
                out.replies.len(),
                a.nodes
            );
            break false;
        }
    };
    println!(
        "{label} ping nodes={} ready after {:.1} s",
        a.nodes,
        started.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    let mut complete = ready;
    for _ in 0..a.rounds {
        let out = ping::ping(&opts, key.as_ref(), |_| {}).await?;
        let last = out.replies.iter().map(|r| r.rtt_ms).fold(0.0, f64::max);
        if out.replies.len() != a.nodes {
            complete = false;
            eprintln!("round lost replies: {} of {}", out.replies.len(), a.nodes);
        }
        times.push(last);
    }
    stop.cancel();
    times.sort_by(|x, y| x.total_cmp(y));
    println!(
        "{label} ping nodes={} rounds={} all-replies: p50 {:.0} ms  max {:.0} ms  (complete: {complete})",
        a.nodes,
        a.rounds,
        times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        times.last().copied().unwrap_or(f64::NAN),
    );
    Ok(complete)
}
