//! The connections pane's data: the busiest connections about once a second, one
//! connection's detail on demand, and the operator's close — from a hosted broker directly,
//! or over `shoal.control` from an attached one (the `connections`, `connection` and
//! `close-connection` actions of `stats::CONTROL_QUEUE`).

use super::source::{Incoming, Source, Tx};
use crate::broker::inspect::ConnectionDetail;
use crate::broker::snapshot::ConnSort;
use crate::broker::subscription::ConnId;
use crate::client::{ClientError, ClientReader, ClientWriter};
use crate::stats::{ConnectionsReply, CONTROL_QUEUE};
use crate::stomp::{Command, Frame};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Whether the connections pane is on screen (set by the runtime, read by the feed).
pub type Shown = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// Connections the pane lists (the busiest by messages in; the rest are counted).
pub const PANE_CONNECTIONS: usize = 500;
const REPLY_TO: &str = "/temp-queue/tui-connections";

/// One request on the control queue over an open connection; the answer's frame.
async fn ask(
    r: &mut ClientReader,
    w: &mut ClientWriter,
    headers: &[(&str, String)],
) -> Result<Frame, ClientError> {
    let mut f = Frame::new(Command::Send)
        .header("destination", CONTROL_QUEUE)
        .header("reply-to", REPLY_TO);
    for (k, v) in headers {
        f = f.header(k, v);
    }
    w.send(&f).await?;
    tokio::time::timeout(Duration::from_secs(5), r.next_message())
        .await
        .map_err(|_| ClientError::Timeout("the control queue's answer"))?
}

/// Once a second, while the pane is shown.
struct Pace {
    tick: tokio::time::Interval,
    shown: Shown,
}

impl Pace {
    fn new(shown: Shown) -> Pace {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Pace { tick, shown }
    }

    async fn next(&mut self) {
        loop {
            self.tick.tick().await;
            if self.shown.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

impl Source {
    async fn control_connection(&self) -> Result<(ClientReader, ClientWriter), ClientError> {
        let (r, mut w) = self.connect().await?;
        w.send(
            &Frame::new(Command::Subscribe)
                .header("destination", REPLY_TO)
                .header("id", "control"),
        )
        .await?;
        Ok((r, w))
    }

    /// Sends the busiest connections about once a second while `shown` (the pane is on
    /// screen: listing 10 000 connections costs the broker a pass over them) until `stop`.
    pub fn start_connections_feed(&self, tx: Tx, shown: Shown, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut pace = Pace::new(shown);
            loop {
                let run = async {
                    match &me {
                        Source::Embedded(s) => loop {
                            pace.next().await;
                            let (total, connections) =
                                s.handle.connections_top(ConnSort::MsgsIn, PANE_CONNECTIONS);
                            let reply = ConnectionsReply { total, connections };
                            if tx.send(Incoming::Connections(Box::new(reply))).is_err() {
                                return Ok(());
                            }
                        },
                        Source::Attached { .. } => {
                            let (mut r, mut w) = me.control_connection().await?;
                            let headers = [
                                ("shoal-action", "connections".to_string()),
                                ("shoal-top", PANE_CONNECTIONS.to_string()),
                            ];
                            loop {
                                pace.next().await;
                                let f = ask(&mut r, &mut w, &headers).await?;
                                if let Some(e) = f.get("shoal-error") {
                                    let _ = tx.send(Incoming::Notice(format!("connections: {e}")));
                                    continue;
                                }
                                match serde_json::from_slice::<ConnectionsReply>(&f.body) {
                                    Ok(reply) => {
                                        if tx.send(Incoming::Connections(Box::new(reply))).is_err()
                                        {
                                            return Ok(());
                                        }
                                    }
                                    Err(e) => {
                                        let _ = tx.send(Incoming::Notice(format!(
                                            "bad connections reply: {e}"
                                        )));
                                    }
                                }
                            }
                        }
                    }
                };
                let what = "connections from the broker";
                if !super::source::retry(run, what, Duration::from_secs(5), &tx, &stop).await {
                    return;
                }
            }
        });
    }

    /// Fetches one connection's detail (its subscriptions); it arrives on `tx`.
    pub fn inspect_connection(&self, id: ConnId, tx: Tx) {
        self.connection_action(id, false, tx);
    }

    /// Closes a client connection; the outcome arrives as a notice.
    pub fn close_connection(&self, id: ConnId, tx: Tx) {
        self.connection_action(id, true, tx);
    }

    fn connection_action(&self, id: ConnId, close: bool, tx: Tx) {
        let me = self.clone();
        tokio::spawn(async move {
            let result: Result<Option<ConnectionDetail>, String> = match &me {
                Source::Embedded(s) if close => s
                    .handle
                    .close_client(id, "an operator (TUI)")
                    .then_some(None)
                    .ok_or_else(|| format!("no client connection {id}")),
                Source::Embedded(s) => s
                    .handle
                    .connection_detail(id)
                    .map(Some)
                    .ok_or_else(|| format!("no client connection {id}")),
                Source::Attached { .. } => {
                    let action = if close {
                        "close-connection"
                    } else {
                        "connection"
                    };
                    let run = async {
                        let (mut r, mut w) = me.control_connection().await?;
                        let headers = [
                            ("shoal-action", action.to_string()),
                            ("shoal-conn", id.to_string()),
                        ];
                        ask(&mut r, &mut w, &headers).await
                    };
                    match run.await {
                        Err(e) => Err(e.to_string()),
                        Ok(f) => match f.get("shoal-error") {
                            Some(e) => Err(e.to_string()),
                            None if close => Ok(None),
                            None => serde_json::from_slice(&f.body)
                                .map(Some)
                                .map_err(|e| format!("bad reply: {e}")),
                        },
                    }
                }
            };
            let _ = tx.send(match result {
                Ok(Some(d)) => Incoming::ConnectionDetail(Box::new(d)),
                Ok(None) => Incoming::Notice(format!("connection {id} closed")),
                Err(e) => Incoming::Notice(format!("connection {id}: {e}")),
            });
        });
    }
}
