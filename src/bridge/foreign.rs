//! A bridge of `kind = "stomp"` to any STOMP broker (ActiveMQ, RabbitMQ): shoal connects as a
//! plain client, so a shoal bastion broker can join an existing deployment.
//!
//! - `statically_included_destinations`: topics go both ways; queues go out (local → foreign).
//! - `inbound_destinations`: brought in (foreign → local), queues or topics.
//!
//! A topic flowing both ways would echo: what we publish there comes back through our own
//! subscription. Every message we send carries `shoal-path` with this broker's name, and a
//! message coming back with it is dropped; what we bring in carries the bridge's label on its
//! path, so our network subscription never sends it back out. Queue messages are acknowledged
//! on the side they came from only once the other side has them (RECEIPT out, ACK in).

use super::demand::LinkView;
use super::dialer::Dialer;
use super::handshake::{read_frame, write_frame, Io};
use super::link::{link_decoder, subscribe_network, CLOSE_WAIT, OUT_HIGH};
use super::network::{LinkCmd, Network};
use super::status::{BridgeState, SharedStatus};
use super::wire;
use crate::broker::local::Received;
use crate::broker::message::{HOPS_HEADER, PATH_HEADER};
use crate::broker::subscription::{AckToken, NetworkSub};
use crate::client::{handshake, ClientError, ConnectOptions};
use crate::stomp::codec::encode;
use crate::stomp::{Command, Frame, Version};
use bytes::{Buf, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Headers the foreign broker sets per delivery; not part of the message we republish.
const DELIVERY_HEADERS: &[&str] = &[
    "message-id",
    "subscription",
    "ack",
    "destination",
    "content-length",
    "redelivered",
    "receipt",
];

pub async fn run(
    net: Arc<Network>,
    mut s: Box<dyn Io>,
    d: &Dialer,
    status: SharedStatus,
    stop: CancellationToken,
) -> Result<String, String> {
    let label = format!("stomp:{}", d.cfg.name);
    let heartbeat = Duration::from_millis(d.cfg.heartbeat_ms.max(50));
    let hb = heartbeat.as_millis() as u64;
    let connect = handshake::connect_frame(&ConnectOptions {
        login: d.cfg.user.clone(),
        passcode: d.password.clone(),
        host: Some(d.cfg.vhost.clone().unwrap_or_else(|| "/".into())),
        heartbeat: (hb, hb),
        tls: None, // the dialer opened the stream (TLS from the bridge's [tls] table)
    });
    write_frame(&mut s, &connect).await?;
    let (reply, mut buf) = read_frame(&mut s).await?;
    let agreed = handshake::connected(reply).map_err(|e| match e {
        ClientError::Broker { message, .. } => format!("refused: {message}"),
        e => e.to_string(),
    })?;
    let version = agreed.version;
    let beats = Beats::negotiate(heartbeat, agreed.heartbeat);
    {
        let mut st = status.lock();
        st.remote_broker = Some(agreed.server().unwrap_or("STOMP broker").to_string());
        st.set_state(BridgeState::Connected);
    }
    // Registered like a native link, for the operator's controls (reconnect) and the status;
    // it takes no part in demand (it advertises nothing).
    let view = LinkView {
        peer: label.clone(),
        consumer_ttl: 0,
        filters: d.filters.clone(),
        conduit: true,
    };
    let mut reg = net.register(view, false, status.clone());
    let mut local = net.handle.connect_local(&format!("bridge:{label}"));
    let mut out = BytesMut::new();
    // Outward: a network subscription per static destination, skipping what came from there.
    for (i, p) in d.filters.statics.iter().enumerate() {
        let network = NetworkSub {
            peer: Arc::from(label.as_str()),
            message_ttl: u32::MAX,
        };
        subscribe_network(
            &local,
            &format!("out-{i}"),
            &p.to_string(),
            None,
            d.cfg.queue_window.max(1),
            -1,
            network,
        )
        .map_err(|e| format!("{p}: {e}"))?;
    }
    // Inward: foreign subscriptions (topics of the static list too, for both ways).
    let mut inward: Vec<String> = d
        .filters
        .statics
        .iter()
        .filter(|p| !p.kind.is_queue())
        .map(|p| p.to_string())
        .collect();
    inward.extend(d.cfg.inbound_destinations.iter().map(|x| stomp_name(x)));
    let ack_mode = if version == Version::V1_0 {
        "client"
    } else {
        "client-individual"
    };
    for (i, dest) in inward.iter().enumerate() {
        let f = Frame::new(Command::Subscribe)
            .header("id", format!("in-{i}"))
            .header("destination", dest.clone())
            .header(
                "ack",
                if dest.starts_with("/queue/") {
                    ack_mode
                } else {
                    "auto"
                },
            );
        encode(&f, version, &mut out);
    }
    let mut decoder = link_decoder();
    decoder.version = version;
    let (mut reader, mut writer) = tokio::io::split(s);
    let mut pending: HashMap<u64, AckToken> = HashMap::new();
    let mut next = 0u64;
    let (mut last_heard, mut last_sent) = (Instant::now(), Instant::now());
    let mut tick = tokio::time::interval(heartbeat / 2);
    let why = 'run: loop {
        loop {
            let f = match decoder.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => break 'run format!("bad frame from the foreign broker: {e}"),
            };
            match f.command {
                Command::Message => inbound(&net, &local, &label, f, version, &mut out, &status),
                Command::Receipt => {
                    if let Some(token) = f
                        .get("receipt-id")
                        .and_then(|r| r.parse().ok())
                        .and_then(|r: u64| pending.remove(&r))
                    {
                        let _ = local.ack(token, false);
                    }
                }
                Command::Error => {
                    break 'run format!(
                        "foreign broker sent ERROR: {}",
                        f.get("message").unwrap_or("")
                    )
                }
                _ => {}
            }
        }
        // Writing is a branch like the others (see `link::run`): the foreign broker may stop
        // reading while it writes to us, and we must keep reading.
        tokio::select! {
            _ = stop.cancelled() => break "stopped".to_string(),
            w = writer.write(&out), if !out.is_empty() => match w {
                Ok(0) => break "write failed: connection closed".to_string(),
                Ok(n) => {
                    out.advance(n);
                    last_sent = Instant::now();
                }
                Err(e) => break format!("write failed: {e}"),
            },
            r = reader.read_buf(&mut buf) => match r {
                Ok(0) => break "the foreign broker closed the connection".to_string(),
                Ok(_) => last_heard = Instant::now(),
                Err(e) => break format!("read failed: {e}"),
            },
            m = local.recv(), if out.len() < OUT_HIGH => match m {
                Some(m) => outbound(&net, m, version, &mut out, &mut pending, &mut next, &status),
                None => break "local side closed".to_string(),
            },
            cmd = reg.commands.recv() => match cmd {
                Some(LinkCmd::Close { reason }) => break reason,
                Some(LinkCmd::Pause(_)) => tracing::warn!(bridge = %d.cfg.name,
                    "pause is not supported on kind = \"stomp\" bridges: use reconnect, or stop the bridge"),
                Some(_) => {} // demand: not for a foreign broker
                None => break "network shut down".to_string(),
            },
            _ = tick.tick() => {
                if let Some(silence) = beats.dead_after().filter(|t| last_heard.elapsed() > *t) {
                    break format!(
                        "no heart-beat from the foreign broker for {:.1} s (expected every {} ms): connection dead",
                        last_heard.elapsed().as_secs_f64(),
                        silence.as_millis() / 3
                    );
                }
                if out.is_empty() && last_sent.elapsed() >= beats.send_every() {
                    out.extend_from_slice(b"\n"); // a heart-beat (and keeps NATs from cutting us)
                }
            }
        }
    };
    net.unregister(reg.id);
    let _ = tokio::time::timeout(CLOSE_WAIT, writer.shutdown()).await;
    Ok(why)
}

/// The heart-beats agreed with the foreign broker (STOMP 1.1 and 1.2): both sides offered
/// `heartbeat`; each sends at the slower of what it offers and what the other wants.
struct Beats {
    send: Option<Duration>,
    expect: Option<Duration>,
}

impl Beats {
    fn negotiate(ours: Duration, theirs: (u64, u64)) -> Beats {
        let at_least = |ms: u64| (ms > 0).then(|| ours.max(Duration::from_millis(ms)));
        Beats {
            send: at_least(theirs.1),
            expect: at_least(theirs.0),
        }
    }

    /// How often to send something: the agreed rate, or every 30 s to keep NATs and idle
    /// timeouts from cutting a quiet connection.
    fn send_every(&self) -> Duration {
        self.send.unwrap_or(Duration::from_secs(30))
    }

    /// Silence after which the connection is dead: three of the broker's periods.
    fn dead_after(&self) -> Option<Duration> {
        self.expect.map(|e| e * 3)
    }
}

/// `topic://x` / `queue://x` (ACL style) or `/topic/x` → `/topic/x`.
fn stomp_name(d: &str) -> String {
    match d.split_once("://") {
        Some((kind, name)) => format!("/{kind}/{name}"),
        None => d.to_string(),
    }
}

fn outbound(
    net: &Network,
    m: Received,
    version: Version,
    out: &mut BytesMut,
    pending: &mut HashMap<u64, AckToken>,
    next: &mut u64,
    status: &SharedStatus,
) {
    let msg = &m.message;
    let mut f = Frame::new(Command::Send).header("destination", &msg.destination_header);
    for (k, v) in &msg.headers {
        if k != PATH_HEADER && k != HOPS_HEADER {
            f = f.header(k, v);
        }
    }
    let path = match msg.path() {
        Some(p) => format!("{p},{}", net.local),
        None => net.local.clone(),
    };
    f = f.header(PATH_HEADER, path).header(wire::ORIGIN, &msg.id);
    if let Some(token) = m.ack {
        *next += 1;
        pending.insert(*next, token);
        f = f.header("receipt", next.to_string());
    }
    f.body = msg.body.clone();
    encode(&f, version, out);
    let mut st = status.lock();
    st.traffic.msgs_out += 1;
    st.traffic.bytes_out += msg.body.len() as u64;
    st.in_flight = pending.len();
}

fn inbound(
    net: &Network,
    local: &crate::broker::local::LocalClient,
    label: &str,
    f: Frame,
    version: Version,
    out: &mut BytesMut,
    status: &SharedStatus,
) {
    let dest = f.get("destination").unwrap_or("").to_string();
    let ack = match version {
        Version::V1_2 => f
            .get("ack")
            .map(|a| Frame::new(Command::Ack).header("id", a)),
        _ => f.get("message-id").map(|id| {
            let a = Frame::new(Command::Ack).header("message-id", id);
            match f.get("subscription") {
                Some(s) if version == Version::V1_1 => a.header("subscription", s),
                _ => a,
            }
        }),
    };
    let echo = f
        .get(PATH_HEADER)
        .is_some_and(|p| p.split(',').any(|b| b == net.local));
    let body_len = f.body.len() as u64;
    if !echo {
        let mut headers = f.headers;
        // The link headers are ours to set: a foreign client's `shoal-origin` must not
        // decide what our network drops as a duplicate.
        headers.retain(|_, k, _| {
            !DELIVERY_HEADERS.contains(&k)
                && k != PATH_HEADER
                && k != HOPS_HEADER
                && k != wire::ORIGIN
        });
        headers.push(PATH_HEADER, label);
        if let Err(e) = local.send(&dest, headers, f.body) {
            tracing::warn!(
                bridge = label,
                "message from the foreign broker for {dest} refused here: {e}"
            );
            return; // not acknowledged: the foreign broker redelivers it
        }
        let mut st = status.lock();
        st.traffic.msgs_in += 1;
        st.traffic.bytes_in += body_len;
    }
    let client_acked = dest.starts_with("/queue/");
    if let (true, Some(a)) = (client_acked, ack) {
        encode(&a, version, out);
    }
}
