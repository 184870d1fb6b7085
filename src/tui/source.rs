//! Where the TUI's data comes from and where its actions go: a broker hosted in this process
//! (its handle, bridges and membership directly), or a broker daemon reached over STOMP as an
//! admin user (the stats stream on `shoal.stats.report`, controls on `shoal.control`, pings and
//! taps as a client). Everything runs in tasks that report back on a channel: the UI never
//! waits on the network.

use super::app::TapMessage;
use super::ping_view::PingRequest;
use crate::bridge::network::BridgeControl;
use crate::client::tls::{ClientTls, TlsFiles};
use crate::client::{self, ClientError, ConnectOptions};
use crate::collective::connector::Connector;
use crate::collective::mco_config::{hostname, PoolBroker};
use crate::collective::message::{describe, now_secs};
use crate::collective::ping::{self, PingOptions, PingOutcome, PingReply};
use crate::collective::security::SecurityProvider;
use crate::stats::{StatsReport, StatsSources, CONTROL_QUEUE, STATS_TOPIC};
use crate::stomp::{Command, Frame};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// What tasks tell the UI.
#[derive(Debug)]
pub enum Incoming {
    Report(Box<StatsReport>),
    PingReply(PingReply),
    PingDone(Result<PingOutcome, String>),
    Tap(TapMessage),
    Notice(String),
    Connections(Box<crate::stats::ConnectionsReply>),
    ConnectionDetail(Box<crate::broker::inspect::ConnectionDetail>),
}

pub type Tx = UnboundedSender<Incoming>;

#[derive(Clone)]
pub enum Source {
    Embedded(StatsSources),
    Attached {
        addr: String,
        login: Option<String>,
        passcode: Option<String>,
        /// TLS to the broker (`stomp+ssl://` or `--tls-*`).
        tls: Option<TlsFiles>,
    },
}

fn tap_message(headers: Vec<(String, String)>, body: &[u8]) -> TapMessage {
    let text = describe(body).unwrap_or_else(|| {
        let s = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
        if body.len() > 2048 {
            format!("{s}… ({} bytes)", body.len())
        } else {
            s
        }
    });
    TapMessage {
        at_ms: crate::broker::message::now_ms(),
        headers,
        body: text,
    }
}

impl Source {
    pub fn origin(&self) -> String {
        match self {
            Source::Embedded(_) => "embedded".into(),
            Source::Attached { addr, .. } => format!("attached to {addr}"),
        }
    }

    pub(super) async fn connect(
        &self,
    ) -> Result<(client::ClientReader, client::ClientWriter), ClientError> {
        let Source::Attached {
            addr,
            login,
            passcode,
            tls,
        } = self
        else {
            return Err(ClientError::Closed);
        };
        let opts = ConnectOptions {
            login: login.clone(),
            passcode: passcode.clone(),
            host: None,
            heartbeat: (0, 0),
            tls: tls.as_ref().map(ClientTls::load).transpose()?,
        };
        let (r, w, _) = client::connect(addr, &opts).await?;
        Ok((r, w))
    }

    /// Sends a report about once a second until `stop`.
    pub fn start_feed(&self, tx: Tx, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            match &me {
                Source::Embedded(s) => {
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tick.tick() => {
                                if tx.send(Incoming::Report(Box::new(s.report()))).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                Source::Attached { addr, .. } => loop {
                    let run = async {
                        let (mut r, mut w) = me.connect().await?;
                        w.send(
                            &Frame::new(Command::Subscribe)
                                .header("destination", STATS_TOPIC)
                                .header("id", "stats")
                                .header("ack", "auto"),
                        )
                        .await?;
                        loop {
                            let f = r.next_message().await?;
                            match serde_json::from_slice::<StatsReport>(&f.body) {
                                Ok(rep) => {
                                    if tx.send(Incoming::Report(Box::new(rep))).is_err() {
                                        return Ok(());
                                    }
                                }
                                Err(e) => {
                                    let _ =
                                        tx.send(Incoming::Notice(format!("bad stats report: {e}")));
                                }
                            }
                        }
                    };
                    let what = format!("stats stream from {addr}");
                    if !retry(run, &what, Duration::from_secs(2), &tx, &stop).await {
                        return;
                    }
                },
            }
        });
    }

    /// Runs a discovery ping; replies and the outcome arrive on `tx`.
    pub fn ping(&self, req: PingRequest, security: Option<Arc<dyn SecurityProvider>>, tx: Tx) {
        let me = self.clone();
        tokio::spawn(async move {
            let Some(security) = security else {
                let _ = tx.send(Incoming::PingDone(Err(
                    "no pre-shared key: start with --psk-file FILE, $MCOLLECTIVE_PSK or --mco-config client.cfg".into(),
                )));
                return;
            };
            let identity = format!("{}-tui", hostname());
            let opts = PingOptions {
                collective: req.collective.clone(),
                filter: req.filter.clone(),
                timeout: req.timeout,
                caller_id: security.caller_id().unwrap_or_else(|| {
                    format!(
                        "user={}",
                        std::env::var("USER").unwrap_or_else(|_| "shoal".into())
                    )
                }),
                identity,
                ttl: 60,
                connector: Connector::ActiveMq,
                brokers: Vec::new(),
                vhost: None,
                stop_after: None,
            };
            let result = match &me {
                Source::Embedded(s) => embedded_ping(s, &opts, security.as_ref(), &tx).await,
                Source::Attached {
                    addr,
                    login,
                    passcode,
                    tls,
                } => {
                    let t = tx.clone();
                    match PoolBroker::at(addr) {
                        Ok(at) => {
                            let mut opts = opts;
                            opts.brokers = vec![PoolBroker {
                                user: login.clone(),
                                password: passcode.clone(),
                                tls: tls.clone(),
                                ..at
                            }];
                            ping::ping(&opts, security.as_ref(), |r| {
                                let _ = t.send(Incoming::PingReply(r.clone()));
                            })
                            .await
                            .map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            let _ = tx.send(Incoming::PingDone(result));
        });
    }

    /// Watches a topic until the returned token is cancelled.
    pub fn tap(&self, destination: String, tx: Tx) -> CancellationToken {
        let stop = CancellationToken::new();
        let me = self.clone();
        let token = stop.clone();
        tokio::spawn(async move {
            match &me {
                Source::Embedded(s) => {
                    let mut c = s.handle.connect_local("tui-tap");
                    if let Err(e) = c.subscribe("tap", &destination, None) {
                        let _ = tx.send(Incoming::Notice(format!("tap {destination}: {e}")));
                        return;
                    }
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            r = c.recv() => {
                                let Some(r) = r else { return };
                                let m = &r.message;
                                if tx.send(Incoming::Tap(tap_message(m.headers.to_vec(), &m.body))).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                Source::Attached { .. } => {
                    let run = async {
                        let (mut r, mut w) = me.connect().await?;
                        w.send(
                            &Frame::new(Command::Subscribe)
                                .header("destination", destination.clone())
                                .header("id", "tap")
                                .header("ack", "auto"),
                        )
                        .await?;
                        loop {
                            let f = r.next_message().await?;
                            if tx
                                .send(Incoming::Tap(tap_message(f.headers.to_vec(), &f.body)))
                                .is_err()
                            {
                                return Ok::<(), ClientError>(());
                            }
                        }
                    };
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        r = run => if let Err(e) = r {
                            let _ = tx.send(Incoming::Notice(format!("tap {destination}: {e}")));
                        }
                    }
                }
            }
        });
        token
    }

    /// Reconnects, pauses or resumes a bridge; the result arrives as a notice.
    pub fn control(&self, bridge: String, what: BridgeControl, tx: Tx) {
        let me = self.clone();
        tokio::spawn(async move {
            let text = match &me {
                Source::Embedded(s) => match s.control(&bridge, what) {
                    Ok(n) => format!("bridge {bridge}: {what:?} applied to {n} link(s)"),
                    Err(e) => format!("bridge {bridge}: {e}"),
                },
                Source::Attached { .. } => {
                    let action = match what {
                        BridgeControl::Reconnect => "reconnect",
                        BridgeControl::Pause => "pause",
                        BridgeControl::Resume => "resume",
                    };
                    let run = async {
                        let (mut r, mut w) = me.connect().await?;
                        w.send(
                            &Frame::new(Command::Send)
                                .header("destination", CONTROL_QUEUE)
                                .header("shoal-bridge", bridge.clone())
                                .header("shoal-action", action)
                                .header("receipt", "control"),
                        )
                        .await?;
                        let f = tokio::time::timeout(Duration::from_secs(5), r.next_message())
                            .await
                            .map_err(|_| ClientError::Timeout("the control RECEIPT"))??;
                        Ok::<Frame, ClientError>(f)
                    };
                    match run.await {
                        Ok(_) => format!("bridge {bridge}: {action} sent"),
                        Err(e) => format!("bridge {bridge}: {action} failed: {e}"),
                    }
                }
            };
            let _ = tx.send(Incoming::Notice(text));
        });
    }
}

/// Runs one attempt of a feed's connection until `stop`. `true`: it failed and the wait
/// before the next attempt is over (the failure told on the event line); `false`: stop
/// (done, stopped, or nobody listens any more).
pub(super) async fn retry(
    attempt: impl std::future::Future<Output = Result<(), ClientError>>,
    what: &str,
    wait: Duration,
    tx: &Tx,
    stop: &CancellationToken,
) -> bool {
    let result = tokio::select! {
        _ = stop.cancelled() => return false,
        r = attempt => r,
    };
    let Err(e) = result else { return false };
    let text = format!("{what}: {e}; retrying in {} s", wait.as_secs());
    if tx.send(Incoming::Notice(text)).is_err() {
        return false;
    }
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// A ping through an in-process client: no credentials needed on our own broker.
async fn embedded_ping(
    s: &StatsSources,
    opts: &PingOptions,
    security: &dyn SecurityProvider,
    tx: &Tx,
) -> Result<PingOutcome, String> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reply = format!(
        "/queue/{}.reply.{}_{}.{seq}",
        opts.collective,
        opts.identity,
        std::process::id()
    );
    let mut c = s.handle.connect_local("tui-ping");
    c.subscribe("replies", &reply, None)
        .map_err(|e| e.to_string())?;
    let (request_id, body) = ping::discovery_request(opts, security);
    let now_ms = now_secs() * 1000;
    let headers = vec![
        ("reply-to".to_string(), reply.clone()),
        ("timestamp".to_string(), now_ms.to_string()),
        ("expires".to_string(), (now_ms + 70_000).to_string()),
        ("mc_sender".to_string(), opts.identity.clone()),
    ];
    let start = std::time::Instant::now();
    c.send(
        &Connector::ActiveMq.broadcast(&opts.collective, "discovery"),
        headers,
        body,
    )
    .map_err(|e| e.to_string())?;
    let mut out = PingOutcome {
        collective: opts.collective.clone(),
        request_id: request_id.clone(),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + opts.timeout;
    while let Ok(Some(r)) = tokio::time::timeout_at(deadline, c.recv()).await {
        if let Some(reply) = out.take_reply(&r.message.body, security, start) {
            s.members.touch(&reply.identity);
            let _ = tx.send(Incoming::PingReply(reply.clone()));
        }
    }
    out.set_missing(&s.members.snapshot(), &opts.filter);
    Ok(out)
}
