//! `shoal bench`: a load generator for any STOMP broker, with count checks.
//!
//! Every scenario verifies what it received: a lost or duplicated message fails the run (exit
//! code 1), so a fast number can never hide a broken broker. Results are printed one line per
//! scenario in a fixed format that BENCHMARKS.md quotes.

mod fanout;
mod fleet;
mod idle;
mod payload;
mod queue;
mod relay;
mod render;
mod rpc;

use crate::client::tls::{parse_addr, ClientTls, TlsArgs, TlsFiles};
use crate::client::{self, ClientReader, ClientWriter, ConnectOptions};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Broker address HOST:PORT, or stomp+ssl://HOST:PORT for TLS (see --tls-ca).
    #[arg(long, default_value = "127.0.0.1:6163", global = true)]
    pub addr: String,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The TLS files and setup the address and flags ask for (resolved by `run`).
    #[arg(skip)]
    pub tls_files: Option<TlsFiles>,
    #[arg(skip)]
    pub client_tls: Option<ClientTls>,
    /// CONNECT `login` (RabbitMQ's default user is guest).
    #[arg(long, global = true)]
    pub login: Option<String>,
    /// CONNECT `passcode`.
    #[arg(long, global = true)]
    pub passcode: Option<String>,
    /// STOMP `host` header (RabbitMQ: the vhost, usually "/").
    #[arg(long, global = true)]
    pub vhost: Option<String>,
    /// Consumers, subscribers and responders connect here instead of `--addr`: measures a
    /// path through a network of brokers (producers on one broker, consumers on another).
    #[arg(long, global = true)]
    pub remote_addr: Option<String>,
    /// Label printed with each result (e.g. shoal, activemq, rabbitmq).
    #[arg(long, default_value = "broker", global = true)]
    pub label: String,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Queue throughput: P producers, C consumers, N messages of S bytes.
    Queue(queue::QueueArgs),
    /// Topic fan-out: one publisher, N subscribers, latency percentiles.
    Fanout(fanout::FanoutArgs),
    /// Request/reply rounds: one requester, N responders replying to its reply-to queue.
    Rpc(rpc::RpcArgs),
    /// N idle connections: time to open them and the broker's memory per connection.
    Idle(idle::IdleArgs),
    /// The TUI's frame time per pane with many destinations and nodes (no broker needed).
    Render(render::RenderArgs),
    /// MCollective ping rounds: N simulated nodes (started here, on --remote-addr if given)
    /// answering pings sent on --addr; time until every node answered.
    Ping(crate::collective::bench::PingBenchArgs),
    /// A fleet of MCollective-shaped nodes connecting at once, cycle after cycle: time until
    /// all are subscribed and in membership, the broker's CPU and memory per cycle.
    Fleet(fleet::FleetArgs),
    /// Runs a minimal STOMP relay (no ACLs, no bookkeeping) until killed: the machine's
    /// practical ceiling to run the other scenarios against, beside a real broker.
    Relay(relay::RelayArgs),
}

impl BenchArgs {
    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            login: self.login.clone(),
            passcode: self.passcode.clone(),
            host: self.vhost.clone(),
            heartbeat: (0, 0),
            tls: self.client_tls.clone(),
        }
    }

    async fn connect(&self) -> anyhow::Result<(ClientReader, ClientWriter)> {
        let (r, w, _) = client::connect(&self.addr, &self.options()).await?;
        Ok((r, w))
    }

    /// Through a bridge, subscriptions take a moment to reach the producers' broker (demand
    /// propagation): wait before sending, so that topic messages have somewhere to go.
    async fn settle(&self) {
        if self.remote_addr.is_some() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// A connection for the receiving side (`--remote-addr`, else `--addr`).
    async fn connect_receiver(&self) -> anyhow::Result<(ClientReader, ClientWriter)> {
        let addr = self.remote_addr.as_deref().unwrap_or(&self.addr);
        let (r, w, _) = client::connect(addr, &self.options()).await?;
        Ok((r, w))
    }
}

pub async fn run(mut args: BenchArgs) -> anyhow::Result<()> {
    // `stomp+ssl://` on either address (or a --tls-* flag): TLS for every connection.
    let (addr, tls) = parse_addr(&args.addr);
    let mut wants_tls = tls || args.tls.given();
    args.addr = addr.to_string();
    if let Some(r) = args.remote_addr.take() {
        let (addr, tls) = parse_addr(&r);
        wants_tls |= tls;
        args.remote_addr = Some(addr.to_string());
    }
    if wants_tls {
        let files = args.tls.over(None);
        args.client_tls = Some(ClientTls::load(&files)?);
        args.tls_files = Some(files);
    }
    let ok = match &args.scenario {
        Scenario::Queue(q) => queue::run(&args, q).await?,
        Scenario::Fanout(f) => fanout::run(&args, f).await?,
        Scenario::Rpc(r) => rpc::run(&args, r).await?,
        Scenario::Idle(i) => idle::run(&args, i).await?,
        Scenario::Fleet(f) => fleet::run(&args, f).await?,
        Scenario::Relay(r) => relay::run(r).await?,
        Scenario::Render(r) => render::run(r)?,
        Scenario::Ping(p) => {
            crate::collective::bench::run(
                &args.addr,
                args.remote_addr.as_deref(),
                &args.options(),
                args.tls_files.as_ref(),
                &args.label,
                p,
            )
            .await?
        }
    };
    if !ok {
        anyhow::bail!("benchmark failed its count check (lost or duplicated messages)");
    }
    Ok(())
}

/// SUBSCRIBE and wait for its RECEIPT, so that nothing is sent before the subscription
/// exists (a topic message sent earlier would be lost and fail the count check).
async fn subscribe(
    r: &mut ClientReader,
    w: &mut ClientWriter,
    destination: &str,
    id: &str,
) -> anyhow::Result<()> {
    w.send(
        &crate::stomp::Frame::new(crate::stomp::Command::Subscribe)
            .header("destination", destination)
            .header("id", id)
            .header("receipt", "subscribed"),
    )
    .await?;
    let f = r.next_message().await?;
    anyhow::ensure!(
        f.command == crate::stomp::Command::Receipt,
        "expected RECEIPT for SUBSCRIBE, got {}",
        f.command
    );
    Ok(())
}

/// A unique suffix so repeated runs against a long-lived broker never share destinations.
fn run_id() -> String {
    format!(
        "{}{}",
        std::process::id(),
        crate::broker::message::now_ms() % 1_000_000
    )
}

/// p-th percentile (0–100) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
