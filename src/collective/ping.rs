//! `shoal ping`: MCollective's discovery ping (`mco ping`) from any STOMP connection, plus
//! what mco cannot tell — which known members of the collective did not answer (from a shoal
//! broker's membership view).

use super::connector::Connector;
use super::filter::Filter;
use super::marshal::Value;
use super::mco_config::PoolBroker;
use super::membership::{Membership, MEMBERSHIP_QUEUE};
use super::message::{new_request_id, now_secs, Reply, Request};
use super::security::SecurityProvider;
use crate::client::tls::ClientTls;
use crate::client::{self, ClientError, ConnectOptions};
use crate::stomp::{Command, Frame};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What to ping and how.
#[derive(Clone)]
pub struct PingOptions {
    pub collective: String,
    pub filter: Filter,
    pub timeout: Duration,
    /// Our identity (`senderid`, and part of the reply queue's name).
    pub identity: String,
    pub caller_id: String,
    pub ttl: i64,
    pub connector: Connector,
    pub brokers: Vec<PoolBroker>,
    pub vhost: Option<String>,
    /// Stop waiting once this many replies arrived (benchmarks: the round is complete).
    pub stop_after: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PingReply {
    pub identity: String,
    pub rtt_ms: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PingOutcome {
    pub collective: String,
    pub request_id: String,
    pub replies: Vec<PingReply>,
    /// Replies that failed verification: (sender, why).
    pub rejected: Vec<(String, String)>,
    /// Known members that did not answer; `None` when that cannot be told.
    pub missing: Option<Vec<String>>,
    /// Why `missing` is `None`.
    pub missing_note: Option<String>,
}

/// min / max / avg of the round-trip times, as `mco ping` prints them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PingStats {
    pub replies: usize,
    pub min_ms: f64,
    pub max_ms: f64,
    pub avg_ms: f64,
}

impl PingOutcome {
    pub fn stats(&self) -> Option<PingStats> {
        if self.replies.is_empty() {
            return None;
        }
        let rtts = self.replies.iter().map(|r| r.rtt_ms);
        Some(PingStats {
            replies: self.replies.len(),
            min_ms: rtts.clone().fold(f64::INFINITY, f64::min),
            max_ms: rtts.clone().fold(0.0, f64::max),
            avg_ms: rtts.sum::<f64>() / self.replies.len() as f64,
        })
    }

    /// The members of `membership` for this collective that did not answer. With fact, class
    /// or agent filters the broker cannot tell who should have answered, so nobody is listed;
    /// identity filters narrow the list to the identities they name.
    pub fn set_missing(&mut self, membership: &Membership, filter: &Filter) {
        if !(filter.facts.is_empty() && filter.classes.is_empty() && filter.agents.is_empty()) {
            self.missing_note =
                Some("not compared with membership: fact/class/agent filters".into());
            return;
        }
        let named = |id: &str| {
            let f = Filter {
                identities: filter.identities.clone(),
                ..Filter::default()
            };
            f.matches(&super::filter::NodeFacts {
                identity: id.to_string(),
                ..Default::default()
            })
        };
        let mut missing: Vec<String> = membership
            .get(&self.collective)
            .into_iter()
            .flatten()
            .map(|m| m.identity.clone())
            .filter(|id| !self.replies.iter().any(|r| &r.identity == id) && named(id))
            .collect();
        missing.sort();
        self.missing = Some(missing);
    }
}

/// The discovery request for `opts`: (request id, STOMP body).
pub fn discovery_request(opts: &PingOptions, security: &dyn SecurityProvider) -> (String, Vec<u8>) {
    let req = Request {
        request_id: new_request_id(),
        sender_id: opts.identity.clone(),
        caller_id: opts.caller_id.clone(),
        collective: opts.collective.clone(),
        agent: "discovery".into(),
        filter: opts.filter.clone(),
        ttl: opts.ttl,
        msgtime: now_secs(),
        payload: Value::str("ping"),
    };
    let body = req.encode(security);
    (req.request_id, body)
}

impl PingOutcome {
    /// Takes one reply body: a valid pong to this request is recorded (with its round-trip
    /// time since `start`) and returned; one that fails verification is recorded as rejected
    /// and logged; a reply to another request is ignored.
    pub fn take_reply(
        &mut self,
        body: &[u8],
        security: &dyn SecurityProvider,
        start: Instant,
    ) -> Option<&PingReply> {
        match Reply::decode(body, security) {
            Ok(r) if r.request_id == self.request_id => {
                self.replies.push(PingReply {
                    identity: r.sender_id,
                    rtt_ms: start.elapsed().as_secs_f64() * 1000.0,
                });
                self.replies.last()
            }
            Ok(_) => None,
            Err(e) => {
                let sender = super::message::sender_of(body);
                tracing::warn!(sender = %sender, "rejected reply: {e}");
                self.rejected.push((sender, e.to_string()));
                None
            }
        }
    }
}

async fn connect_any(
    opts: &PingOptions,
) -> Result<(client::ClientReader, client::ClientWriter, Frame, String), ClientError> {
    let mut last = ClientError::Closed;
    for b in &opts.brokers {
        let c = ConnectOptions {
            login: b.user.clone(),
            passcode: b.password.clone(),
            host: opts.vhost.clone(),
            heartbeat: (0, 0),
            tls: match b.tls.as_ref().map(ClientTls::load).transpose() {
                Ok(t) => t,
                Err(e) => {
                    last = e.into();
                    continue;
                }
            },
        };
        match client::connect(&b.addr(), &c).await {
            Ok((r, w, f)) => return Ok((r, w, f, b.addr())),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Asks a shoal broker for membership on its own connection (an ACL refusal or a non-shoal
/// broker must not disturb the ping). `None` when it cannot tell.
async fn fetch_membership(opts: &PingOptions, collective: &str) -> Option<Membership> {
    let (mut r, mut w, connected, _) = connect_any(opts).await.ok()?;
    if !connected.get("server").unwrap_or("").starts_with("shoal") {
        return None;
    }
    let reply = format!("/queue/shoal.membership.reply.{}", new_request_id());
    w.push(
        &Frame::new(Command::Subscribe)
            .header("destination", reply.clone())
            .header("id", "m")
            .header("ack", "auto"),
    );
    w.push(
        &Frame::new(Command::Send)
            .header("destination", MEMBERSHIP_QUEUE)
            .header("reply-to", reply)
            .with_body(collective.to_string()),
    );
    w.flush().await.ok()?;
    let f = tokio::time::timeout(Duration::from_secs(5), r.next_message())
        .await
        .ok()?
        .ok()?;
    let m = serde_json::from_slice(&f.body).ok();
    let _ = w.send(&Frame::new(Command::Disconnect)).await;
    m
}

/// Tells a shoal broker who answered, so its membership view shows them as seen.
async fn report_seen(opts: &PingOptions, ids: &[String]) {
    let Ok((_r, mut w, connected, _)) = connect_any(opts).await else {
        return;
    };
    if !connected.get("server").unwrap_or("").starts_with("shoal") || ids.is_empty() {
        return;
    }
    let body = serde_json::to_vec(ids).unwrap_or_default();
    w.push(
        &Frame::new(Command::Send)
            .header("destination", MEMBERSHIP_QUEUE)
            .header("shoal-seen", "1")
            .with_body(body),
    );
    let _ = w
        .send(&Frame::new(Command::Disconnect).header("receipt", "bye"))
        .await;
}

/// Sends the ping and collects replies until the timeout, calling `on_reply` for each as it
/// arrives (so a terminal shows them live).
pub async fn ping(
    opts: &PingOptions,
    security: &dyn SecurityProvider,
    mut on_reply: impl FnMut(&PingReply),
) -> Result<PingOutcome, ClientError> {
    let membership = tokio::spawn({
        let opts = opts.clone();
        async move { fetch_membership(&opts, &opts.collective).await }
    });
    let (mut reader, mut writer, _, _) = connect_any(opts).await?;
    let (reply_to, subscribe) = opts.connector.reply_to(&opts.collective, &opts.identity, 1);
    if subscribe {
        writer.push(
            &Frame::new(Command::Subscribe)
                .header("destination", reply_to.clone())
                .header("id", "replies")
                .header("ack", "auto")
                .header("receipt", "subscribed"),
        );
        writer.flush().await?;
        loop {
            let f = tokio::time::timeout(Duration::from_secs(10), reader.next_message())
                .await
                .map_err(|_| ClientError::Timeout("the reply subscription's RECEIPT"))??;
            if f.command == Command::Receipt {
                break;
            }
        }
    }
    let (request_id, body) = discovery_request(opts, security);
    let now_ms = now_secs() * 1000;
    writer.push(
        &Frame::new(Command::Send)
            .header(
                "destination",
                opts.connector.broadcast(&opts.collective, "discovery"),
            )
            .header("reply-to", reply_to)
            .header("timestamp", now_ms.to_string())
            .header("expires", (now_ms + (opts.ttl + 10) * 1000).to_string())
            .header("mc_sender", opts.identity.clone())
            .with_body(body),
    );
    let start = Instant::now();
    writer.flush().await?;
    let mut out = PingOutcome {
        collective: opts.collective.clone(),
        request_id: request_id.clone(),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + opts.timeout;
    loop {
        let f = match tokio::time::timeout_at(deadline, reader.next_message()).await {
            Err(_) => break,
            Ok(f) => f?,
        };
        if f.command != Command::Message {
            continue;
        }
        if let Some(r) = out.take_reply(&f.body, security, start) {
            on_reply(r);
            if opts.stop_after.is_some_and(|n| out.replies.len() >= n) {
                break;
            }
        }
    }
    let _ = writer.send(&Frame::new(Command::Disconnect)).await;
    match membership.await {
        Ok(Some(m)) => out.set_missing(&m, &opts.filter),
        _ => {
            out.missing_note =
                Some("membership unknown: the broker is not shoal, or refused the query".into())
        }
    }
    let ids: Vec<String> = out.replies.iter().map(|r| r.identity.clone()).collect();
    report_seen(opts, &ids).await;
    Ok(out)
}

/// `mco ping`'s text: one line per reply is printed as it comes; this is the rest.
pub fn summary_text(out: &PingOutcome) -> String {
    let mut s = String::from("\n---- ping statistics ----\n");
    match out.stats() {
        Some(st) => s.push_str(&format!(
            "{} replies max: {:.2} min: {:.2} avg: {:.2}\n",
            st.replies, st.max_ms, st.min_ms, st.avg_ms
        )),
        None => s.push_str("No responses received\n"),
    }
    for (sender, why) in &out.rejected {
        s.push_str(&format!("rejected reply from {sender}: {why}\n"));
    }
    match &out.missing {
        Some(m) if m.is_empty() => s.push_str(&format!(
            "every known member of {} answered\n",
            out.collective
        )),
        Some(m) => s.push_str(&format!(
            "{} known member(s) of {} did not answer: {}\n",
            m.len(),
            out.collective,
            m.join(", ")
        )),
        None => s.push_str(&format!(
            "({})\n",
            out.missing_note.as_deref().unwrap_or("membership unknown")
        )),
    }
    s
}

pub fn reply_line(r: &PingReply) -> String {
    format!("{:<40} time={:.2} ms", r.identity, r.rtt_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::membership::Member;

    fn member(id: &str) -> Member {
        Member {
            identity: id.into(),
            via: None,
            conn: None,
            address: String::new(),
            agents: vec![],
            since: 0,
            last_seen: 0,
        }
    }

    fn outcome(ids: &[(&str, f64)]) -> PingOutcome {
        PingOutcome {
            collective: "qa".into(),
            replies: ids
                .iter()
                .map(|(i, r)| PingReply {
                    identity: i.to_string(),
                    rtt_ms: *r,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn statistics_and_the_silent_members() {
        let membership: Membership = [(
            "qa".to_string(),
            vec![member("a"), member("b"), member("c")],
        )]
        .into();
        let mut out = outcome(&[("a", 2.0), ("c", 4.0)]);
        let st = out.stats().unwrap();
        assert_eq!(
            (st.replies, st.min_ms, st.max_ms, st.avg_ms),
            (2, 2.0, 4.0, 3.0)
        );
        out.set_missing(&membership, &Filter::default());
        assert_eq!(out.missing, Some(vec!["b".to_string()]));
        let text = summary_text(&out);
        assert!(
            text.contains("2 replies max: 4.00 min: 2.00 avg: 3.00"),
            "{text}"
        );
        assert!(
            text.contains("1 known member(s) of qa did not answer: b"),
            "{text}"
        );

        // An identity filter narrows who was expected; a fact filter makes it unknowable.
        let mut out = outcome(&[]);
        let only_c = Filter {
            identities: vec!["/[bc]/".into()],
            ..Filter::default()
        };
        out.set_missing(&membership, &only_c);
        assert_eq!(out.missing, Some(vec!["b".to_string(), "c".to_string()]));
        assert!(summary_text(&out).contains("No responses received"));
        let mut out = outcome(&[]);
        let by_fact = Filter {
            facts: vec![crate::collective::filter::FactFilter::parse("os=x").unwrap()],
            ..Filter::default()
        };
        out.set_missing(&membership, &by_fact);
        assert_eq!(out.missing, None);
        assert!(summary_text(&out).contains("not compared with membership"));
    }
}
