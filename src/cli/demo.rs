//! `shoal demo`: everything alive in one process, for a first look and for screenshots —
//! three bridged brokers (hub, east, west; plus a bridge to a datacenter that is down), a
//! simulated fleet answering pings in mcollective, qacollective and prodcollective, some topic
//! and queue traffic, and the TUI on the hub.

use crate::collective::connector::Connector;
use crate::collective::mco_config::PoolBroker;
use crate::collective::node::{self, NodeSettings};
use crate::collective::security::Psk;
use crate::config::Config;
use crate::tui::app::{App, Pane};
use crate::tui::source::Source;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const DEMO_PSK: &str = "demo-psk";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated nodes, spread over the three brokers.
    #[arg(long, default_value_t = 60)]
    pub nodes: usize,
    /// Keymap: default, vim, emacs or a file.
    #[arg(long)]
    pub keymap: Option<String>,
    /// ASCII borders and symbols.
    #[arg(long)]
    pub ascii: bool,
    /// Instead of the TUI: let the demo settle, run a ping, and write each pane as text to DIR
    /// (WIDTHxHEIGHT from --size), then exit.
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,
    /// Size for --snapshot.
    #[arg(long, default_value = "100x30")]
    pub size: String,
}

type DemoBroker = super::hosted::HostedBroker;

async fn start_broker(name: &str, extra: &str) -> anyhow::Result<DemoBroker> {
    let text = format!(
        "listen = [\"127.0.0.1:0\"]\n[broker]\nname = \"{name}\"\n[auth]\nanonymous = true\n\
         [cluster]\nlisten = [\"127.0.0.1:0\"]\n[store]\nenabled = false\n{extra}"
    );
    DemoBroker::start(&Config::parse(&text, std::path::Path::new("demo.toml"))?).await
}

fn bridge_to(name: &str, addr: &str) -> String {
    format!(
        "[[bridge]]\nname = \"{name}\"\nuri = \"static:(tcp://{addr})\"\nduplex = true\nnetwork_ttl = 2\n"
    )
}

fn fleet(n: usize, brokers: &[(&str, u16)], stop: &CancellationToken) {
    let roles = ["web", "db", "cache", "lb"];
    for i in 0..n {
        let (dc, port) = brokers[i % brokers.len()];
        let role = roles[(i / brokers.len()) % roles.len()];
        let scope = if i % 2 == 0 {
            "qacollective"
        } else {
            "prodcollective"
        };
        let settings = NodeSettings {
            identity: format!("{role}{:02}.{dc}", i / brokers.len() + 1),
            main_collective: "mcollective".into(),
            collectives: vec!["mcollective".into(), scope.into()],
            brokers: vec![PoolBroker {
                host: "127.0.0.1".into(),
                port,
                user: None,
                password: None,
                tls: None,
            }],
            vhost: None,
            connector: Connector::ActiveMq,
            facts: [
                ("role", role),
                ("dc", dc),
                ("os", "Debian"),
                ("scope", scope),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            classes: vec![format!("role::{role}"), "base".into()],
            security: Arc::new(Psk::new(DEMO_PSK)),
            config_file: "(shoal demo)".into(),
        };
        tokio::spawn(node::run_node(Arc::new(settings), stop.clone()));
    }
}

/// Topic metrics from every datacenter to a dashboard on the hub, and jobs queued in east
/// for a worker on the hub: traffic for the traffic pane and the bridges' counters.
fn traffic(hub: &DemoBroker, edges: &[&DemoBroker], stop: &CancellationToken) {
    let mut dashboard = hub.broker.handle().connect_local("dashboard");
    let _ = dashboard.subscribe("metrics", "/topic/demo.metrics.>", None);
    let mut worker = hub.broker.handle().connect_local("worker");
    let _ = worker.subscribe("jobs", "/queue/demo.jobs", None);
    let producers: Vec<_> = edges
        .iter()
        .map(|b| {
            (
                b.broker.handle().connect_local("metrics"),
                b.broker.handle().name().to_string(),
            )
        })
        .collect();
    let stop = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                _ = dashboard.recv() => continue,
                _ = worker.recv() => continue,
            }
            n += 1;
            for (p, dc) in &producers {
                let _ = p.send(
                    &format!("/topic/demo.metrics.{dc}"),
                    crate::stomp::Headers::new(),
                    format!(
                        "{{\"dc\":\"{dc}\",\"seq\":{n},\"load\":{:.2}}}",
                        (n % 17) as f64 / 10.0
                    ),
                );
                if n.is_multiple_of(5) {
                    let _ = p.send(
                        "/queue/demo.jobs",
                        crate::stomp::Headers::new(),
                        format!("job {n} from {dc}"),
                    );
                }
            }
        }
    });
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let keymap = super::tui::choose_keymap(args.keymap.as_deref())?;
    let theme = super::tui::theme(args.ascii);
    use std::io::IsTerminal;
    if args.snapshot.is_none()
        && !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal())
    {
        return Err(crate::config::ConfigError::Usage(
            "the demo's TUI needs a terminal (or use --snapshot DIR)".into(),
        )
        .into());
    }
    let hub = start_broker(
        "hub",
        // A datacenter that is down: its bridge shows back-off and the last error.
        &bridge_to("hub-south", "127.0.0.1:9"),
    )
    .await?;
    let cluster = hub
        .bridges
        .as_ref()
        .context("the hub's cluster listener")?
        .cluster_addrs()[0]
        .to_string();
    let east = start_broker("east", &bridge_to("east-hub", &cluster)).await?;
    let west = start_broker("west", &bridge_to("west-hub", &cluster)).await?;
    let stop = CancellationToken::new();
    let port = |b: &DemoBroker| b.broker.local_addrs()[0].port();
    fleet(
        args.nodes,
        &[
            ("hub", port(&hub)),
            ("east", port(&east)),
            ("west", port(&west)),
        ],
        &stop,
    );
    traffic(&hub, &[&east, &west], &stop);
    let source = Source::Embedded(hub.sources.clone());
    let result = match &args.snapshot {
        Some(dir) => snapshot(keymap, theme, source, dir, &args.size, args.nodes).await,
        None => {
            let app = App::new(keymap, "demo", false);
            crate::tui::runtime::run(app, source, theme, Some(Arc::new(Psk::new(DEMO_PSK)))).await
        }
    };
    stop.cancel();
    for b in [hub, east, west] {
        b.shutdown(Duration::from_millis(500), Duration::from_millis(500))
            .await;
    }
    result
}

/// Renders every pane to text files (screenshots, and a smoke test of the whole demo).
async fn snapshot(
    keymap: crate::tui::keymap::Keymap,
    theme: crate::tui::ui::theme::Theme,
    source: Source,
    dir: &std::path::Path,
    size: &str,
    nodes: usize,
) -> anyhow::Result<()> {
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .context("--size: expected WIDTHxHEIGHT")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut app = App::new(keymap, "demo", false);
    app.ascii = theme.ascii;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    source.start_feed(tx.clone(), stop.clone());
    let shown = crate::tui::source_conns::Shown::default();
    shown.store(true, std::sync::atomic::Ordering::Relaxed);
    source.start_connections_feed(tx.clone(), shown, stop.clone());
    // Let bridges connect, demand spread and rates build up (4 s), and every node show up
    // in the hub's membership (every node is in `mcollective`), for at most 15 s.
    let start = tokio::time::Instant::now();
    let (settle, give_up) = (
        start + Duration::from_secs(4),
        start + Duration::from_secs(15),
    );
    let all_seen =
        |app: &App| app.report.membership.get("mcollective").map_or(0, Vec::len) >= nodes;
    loop {
        let now = tokio::time::Instant::now();
        if now >= give_up || (now >= settle && all_seen(&app)) {
            break;
        }
        let until = if now < settle { settle } else { give_up };
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(m)) => app.on_incoming(m),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    app.ping.form.timeout = "1".into();
    for e in app.ping.start() {
        if let crate::tui::app::Effect::Ping(req) = e {
            source.ping(req, Some(Arc::new(Psk::new(DEMO_PSK))), tx.clone());
        }
    }
    let done = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.ping.running {
        match tokio::time::timeout_at(done, rx.recv()).await {
            Ok(Some(m)) => app.on_incoming(m),
            _ => break,
        }
    }
    stop.cancel();
    // Each view as text (diffable, greppable) and as an SVG image (colours included).
    let write = |app: &App, name: &str| -> anyhow::Result<()> {
        let buf = crate::tui::ui::render_buffer(app, &theme, w, h);
        std::fs::write(
            dir.join(format!("{name}.txt")),
            crate::tui::ui::text_of(&buf),
        )?;
        std::fs::write(
            dir.join(format!("{name}.svg")),
            crate::tui::ui::svg::render(&buf),
        )?;
        Ok(())
    };
    for pane in crate::tui::app::PANES {
        app.pane = pane;
        write(&app, pane.context())?;
    }
    app.pane = Pane::Bridges;
    app.bridge_detail = Some("hub-south".into());
    write(&app, "bridge-detail")?;
    app.bridge_detail = None;
    app.help_scroll = Some(0);
    write(&app, "help")?;
    println!(
        "wrote 7 pane snapshots (.txt and .svg) to {}",
        dir.display()
    );
    Ok(())
}
