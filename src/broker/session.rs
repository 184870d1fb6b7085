//! One client connection: reads frames, checks them, applies them to the engine.
//!
//! The reader side lives here; the writer side is `writer::run`, joined through the
//! connection's outbox. Every protocol error ends the same way: an ERROR frame naming what was
//! wrong, then the connection is closed (STOMP 1.2 §ERROR), and the engine returns the
//! connection's unacknowledged messages to their queues — the rest of the broker carries on.

use super::auth::{Principal, AUTH_FAILED};
use super::destination::{DestPattern, Destination};
use super::engine::{Engine, SubscribeRequest};
use super::events::BrokerEvent;
use super::login::{Credentials, LoginError};
use super::outbox::Outbox;
use super::receipts::Receipts;
use super::selector::Selector;
use super::state::ConnInfo;
use super::subscription::{AckMode, ConnId};
use super::writer;
use crate::stomp::{Command, Decoder, Frame, Version};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// How long a closing connection's writer may take to flush what is queued (receipts, the
/// ERROR) before it is stopped and the socket closed regardless.
const WRITER_FLUSH: Duration = Duration::from_secs(5);

/// A protocol error: the short `message` header and a longer explanation for the body.
struct Fatal {
    message: String,
    detail: String,
    /// Headers the spec wants on this ERROR (e.g. `version` when negotiation fails).
    extra: Vec<(String, String)>,
}

impl Fatal {
    fn new(message: impl Into<String>, detail: impl Into<String>) -> Fatal {
        Fatal {
            message: message.into(),
            detail: detail.into(),
            extra: Vec::new(),
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Fatal {
        self.extra.push((name.to_string(), value.to_string()));
        self
    }
}

/// What a handled frame asks the reader loop to do next.
enum Next {
    Continue,
    /// DISCONNECT: the receipt (if any) is queued; close after flushing.
    Disconnect,
}

/// A transaction's buffered work, applied in order on COMMIT.
enum TxOp {
    Send(Frame),
    Ack(Frame, bool),
}

/// Who is on the other end of the socket, as the listener saw it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
    /// Subject CN of a client certificate the TLS layer verified.
    pub cert_cn: Option<String>,
}

impl Peer {
    pub fn plain(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            tls: false,
            cert_cn: None,
        }
    }
}

struct Session {
    peer: Peer,
    engine: Arc<Engine>,
    outbox: Arc<Outbox>,
    conn: ConnId,
    version: Option<Version>,
    transactions: HashMap<String, Vec<TxOp>>,
    /// How long the client may stay silent before it is considered dead.
    read_timeout: Option<Duration>,
    /// The highest store sequence the frame being handled appended (see `receipts`).
    ticket: u64,
    receipts: Receipts,
}

/// Serves one accepted connection until it ends.
pub async fn serve<S>(engine: Arc<Engine>, stream: S, peer: Peer, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    // Its own Arc, not the swap's guard: a guard held for a connection's life (10 000 of
    // them) would exhaust arc-swap's per-thread slots and slow every other load.
    let limits = engine.limits().clone();
    let outbox = Outbox::new(limits.outbox_messages, limits.outbox_bytes);
    let label = if peer.tls {
        format!("{} (tls)", peer.addr)
    } else {
        peer.addr.to_string()
    };
    let conn = engine.open_connection(ConnInfo::new(label), outbox.clone());
    let (mut reader, write_half) = tokio::io::split(stream);
    let done = CancellationToken::new();
    let writer = tokio::spawn(writer::run(
        write_half,
        outbox.clone(),
        engine.clone(),
        conn,
        done.clone(),
    ));
    let mut session = Session {
        engine: engine.clone(),
        outbox: outbox.clone(),
        conn,
        version: None,
        transactions: HashMap::new(),
        read_timeout: Some(Duration::from_millis(limits.connect_timeout_ms)),
        peer: peer.clone(),
        ticket: 0,
        receipts: Receipts::new(engine.store.clone()),
    };
    let connect_deadline =
        tokio::time::Instant::now() + Duration::from_millis(limits.connect_timeout_ms);
    let mut decoder = Decoder::new(limits.frame_limits());
    let mut rb = super::readbuf::ReadBuf::new();
    let reason = 'conn: loop {
        // Handle every whole frame already buffered before reading more.
        loop {
            match decoder.decode(&mut rb.buf) {
                Ok(Some(frame)) => match session.dispatch(frame).await {
                    Ok(Next::Continue) => {
                        if let Some(v) = session.version {
                            decoder.version = v;
                        }
                        // A client that sent thousands of frames at once gets them handled a
                        // budget at a time, so the others on this worker thread get their turn
                        // (10 000 SUBSCRIBEs in one read held another client's round trip 1.6 s).
                        tokio::task::consume_budget().await;
                    }
                    Ok(Next::Disconnect) => {
                        session.receipts.flush(&outbox).await;
                        outbox.close_with(None);
                        break 'conn "client disconnected".to_string();
                    }
                    Err(f) => break 'conn session.fail(f),
                },
                Ok(None) => break,
                Err(e) => {
                    break 'conn session
                        .fail(Fatal::new(format!("malformed frame: {e}"), e.to_string()))
                }
            }
        }
        session.receipts.release(&outbox);
        let room = rb.fit();
        let read = reader.read_buf(&mut rb.buf);
        // Until CONNECT, the deadline counts from accept (a client trickling a byte a second
        // would otherwise restart it with every byte); after, from the last read.
        let read_deadline = match (session.version, session.read_timeout) {
            (None, _) => Some(connect_deadline),
            (Some(_), Some(t)) => Some(tokio::time::Instant::now() + t),
            (Some(_), None) => None,
        };
        let waiting = session.receipts.is_waiting();
        let n = tokio::select! {
            r = async {
                match read_deadline {
                    Some(at) => tokio::time::timeout_at(at, read).await.map_err(|_| ()),
                    None => Ok(read.await),
                }
            } => r,
            // Receipts waiting for the store: send them as soon as it catches up.
            _ = session.receipts.store_moved(), if waiting => continue 'conn,
            _ = done.cancelled() => break 'conn "connection closed by broker".to_string(),
            _ = shutdown.cancelled() => {
                outbox.close_with(Some(Frame::error("broker shutting down", "the broker is shutting down; reconnect to another broker or later")));
                break 'conn "broker shutting down".to_string();
            }
        };
        match n {
            Ok(Ok(0)) => break "peer closed the connection".to_string(),
            Ok(Ok(n)) => rb.filled(n, room),
            Ok(Err(e)) => break format!("read error: {e}"),
            Err(()) if session.version.is_none() => {
                break session.fail(Fatal::new(
                    "no CONNECT frame in time",
                    format!(
                        "CONNECT must arrive within {} ms of connecting",
                        engine.limits().connect_timeout_ms
                    ),
                ))
            }
            Err(()) => {
                break session.fail(Fatal::new(
                    "heart-beat timeout",
                    "nothing received from the client within the negotiated heart-beat period",
                ))
            }
        }
    };
    // Let the writer flush what is queued (receipts, the ERROR), but not forever: a peer
    // that does not read would keep the writer — and the socket — alive.
    outbox.close_with(None);
    let writer_abort = writer.abort_handle();
    if tokio::time::timeout(WRITER_FLUSH, writer).await.is_err() {
        writer_abort.abort();
    }
    done.cancel();
    tracing::debug!(conn, peer = %peer.addr, %reason, "connection closed");
    engine.close_connection(conn, &reason);
}

impl Session {
    /// Sends the ERROR and schedules the close; returns the reason for the log.
    fn fail(&mut self, f: Fatal) -> String {
        tracing::info!(conn = self.conn, message = %f.message, "closing connection after ERROR");
        self.engine.emit(BrokerEvent::ClientError {
            conn: self.conn,
            message: f.message.clone(),
        });
        let mut error = Frame::error(f.message.clone(), f.detail);
        error.headers.extend(f.extra);
        self.outbox.close_with(Some(error));
        f.message
    }

    /// CONNECT may wait (throttling, password hashing off the reactor); everything after it is
    /// handled synchronously.
    async fn dispatch(&mut self, frame: Frame) -> Result<Next, Fatal> {
        match (self.version, frame.command) {
            (None, Command::Connect | Command::Stomp) => self.connect(&frame).await,
            (None, c) => Err(Fatal::new(
                format!("expected CONNECT, got {c}"),
                "the first frame of a connection must be CONNECT or STOMP",
            )),
            (Some(_), Command::Send) if frame.get("transaction").is_none() => {
                self.wait_for_room(&frame).await;
                self.handle(frame)
            }
            (Some(_), _) => self.handle(frame),
        }
    }

    /// Producer flow control (see `flow`): while the target queue is full, stop reading this
    /// connection and look again whenever a message leaves a queue, up to
    /// `producer_wait_ms`. The SEND then goes through, or fails with the queue-full ERROR.
    async fn wait_for_room(&self, frame: &Frame) {
        // Only queues fill up: topic SENDs (the MCollective broadcasts) skip the check.
        let queue = frame
            .get("destination")
            .is_some_and(|d| d.starts_with("/queue/") || d.starts_with("/temp-queue/"));
        if !queue || self.engine.producer_wait_ms() == 0 {
            return;
        }
        let persistent = frame.get("persistent").is_some_and(super::message::is_true);
        let size = super::message::counted_size(frame.body.len(), frame.headers.byte_len());
        if self.engine.room_everywhere(size, persistent) {
            return;
        }
        let Ok(dest) = self.destination(frame) else {
            return; // `handle` reports the bad destination
        };
        if self.engine.has_room_for(&dest, size, persistent) {
            return;
        }
        tracing::debug!(conn = self.conn, %dest, "queue full: producer waits");
        self.engine.wait_for_room(&dest, size, persistent).await;
    }

    fn handle(&mut self, frame: Frame) -> Result<Next, Fatal> {
        let Some(version) = self.version else {
            return Err(Fatal::new("not connected", "CONNECT first"));
        };
        let receipt = frame.get("receipt").map(str::to_string);
        if receipt.is_some() {
            self.outbox.hold(); // released with the RECEIPT, or by the ERROR's close
        }
        self.ticket = 0;
        let next = match frame.command {
            Command::Connect | Command::Stomp => {
                return Err(Fatal::new(
                    "already connected",
                    "CONNECT sent twice on one connection",
                ))
            }
            Command::Send => {
                if frame.get("transaction").is_some() {
                    let dest = self.destination(&frame)?;
                    self.engine
                        .authorize_send_now(self.conn, &dest, frame.get("reply-to"))
                        .map_err(|e| Fatal::new(e.to_string(), "SEND refused"))?;
                }
                self.in_tx_or(frame, |s, f| s.send(f).map(|_| Next::Continue), TxOp::Send)?
            }
            Command::Subscribe => self.subscribe(&frame, version)?,
            Command::Unsubscribe => self.unsubscribe(&frame, version)?,
            Command::Ack => self.in_tx_or(
                frame,
                |s, f| s.ack(&f, version, false),
                |f| TxOp::Ack(f, false),
            )?,
            Command::Nack if version == Version::V1_0 => {
                return Err(Fatal::new(
                    "NACK is not part of STOMP 1.0",
                    "negotiate 1.1 or 1.2 to use NACK",
                ))
            }
            Command::Nack => self.in_tx_or(
                frame,
                |s, f| s.ack(&f, version, true),
                |f| TxOp::Ack(f, true),
            )?,
            Command::Begin => self.begin(&frame)?,
            Command::Commit => self.commit(&frame, version)?,
            Command::Abort => {
                let tx = required(&frame, "transaction")?;
                self.transactions.remove(tx).ok_or_else(|| {
                    Fatal::new(
                        format!("unknown transaction {tx:?}"),
                        "ABORT of a transaction that was never begun",
                    )
                })?;
                Next::Continue
            }
            Command::Disconnect => {
                self.engine.unsubscribe_all(self.conn);
                Next::Disconnect
            }
            c => {
                return Err(Fatal::new(
                    format!("{c} is a server frame"),
                    "clients may not send this frame",
                ))
            }
        };
        if let Some(r) = receipt {
            let receipt = Frame::new(Command::Receipt).header("receipt-id", r);
            self.receipts.send(&self.outbox, self.ticket, receipt);
        }
        Ok(next)
    }

    /// Buffers the frame when it names a transaction, else applies it now.
    fn in_tx_or(
        &mut self,
        frame: Frame,
        now: impl FnOnce(&mut Session, Frame) -> Result<Next, Fatal>,
        later: impl FnOnce(Frame) -> TxOp,
    ) -> Result<Next, Fatal> {
        match frame.get("transaction").map(str::to_string) {
            None => now(self, frame),
            Some(tx) => match self.transactions.get_mut(&tx) {
                Some(ops) => {
                    ops.push(later(frame));
                    Ok(Next::Continue)
                }
                None => Err(Fatal::new(
                    format!("unknown transaction {tx:?}"),
                    "the frame names a transaction that was never begun (or already ended)",
                )),
            },
        }
    }

    async fn connect(&mut self, frame: &Frame) -> Result<Next, Fatal> {
        let version = Version::negotiate(frame.get("accept-version")).map_err(|supported| {
            Fatal::new(
                "unsupported protocol version",
                format!(
                    "this broker speaks STOMP {supported}; the client accepts {:?}",
                    frame.get("accept-version").unwrap_or("")
                ),
            )
            .with_header("version", supported)
        })?;
        let (send_floor, receive_floor) = {
            let s = self.engine.settings(); // not held across the login below
            (s.heartbeat_send_ms, s.heartbeat_receive_ms)
        };
        let (cx, cy) = parse_heartbeat(frame.get("heart-beat")).ok_or_else(|| {
            Fatal::new(
                "invalid heart-beat header",
                "heart-beat must be two comma-separated integers, e.g. 10000,10000",
            )
        })?;
        // We send every max(our floor, what they want); they must send every max(theirs, ours):
        // a client asking for 500 ms gets 500 ms (the floor only stops a 1 ms heart-beat).
        let send_every = if send_floor == 0 || cy == 0 {
            0
        } else {
            send_floor.max(cy)
        };
        let expect_every = if receive_floor == 0 || cx == 0 {
            0
        } else {
            receive_floor.max(cx)
        };
        let principal = self.authenticate(frame).await?;
        if let Some(id) = frame.get("client-id").filter(|id| !id.is_empty()) {
            self.engine.set_client_id(self.conn, id);
        }
        let s = self.engine.settings();
        let idle = self.engine.limits().idle_timeout_secs;
        self.read_timeout = if expect_every > 0 {
            Some(Duration::from_millis(
                (expect_every as f64 * s.heartbeat_grace.max(1.0)) as u64 + 1000,
            ))
        } else {
            (idle > 0).then(|| Duration::from_secs(idle))
        };
        self.version = Some(version);
        self.outbox.set_version(version);
        self.outbox.set_heartbeat_ms(send_every);
        self.engine.set_principal(self.conn, principal, version);
        let mut reply = Frame::new(Command::Connected)
            .header("version", version.as_str())
            .header("server", format!("shoal/{}", env!("CARGO_PKG_VERSION")))
            .header("session", format!("{}-{}", s.name, self.conn));
        if version > Version::V1_0 {
            reply = reply.header("heart-beat", format!("{send_every},{expect_every}"));
        }
        self.outbox.push_frame(reply);
        Ok(Next::Continue)
    }

    /// Checks the CONNECT's credentials (or the TLS client certificate). A failure waits out
    /// the throttle, is logged, and ends with the same ERROR text whatever went wrong.
    async fn authenticate(&mut self, frame: &Frame) -> Result<Arc<Principal>, Fatal> {
        let creds = Credentials {
            login: frame.get("login").map(str::to_string),
            passcode: frame.get("passcode").map(str::to_string),
            cert_cn: self.peer.cert_cn.clone(),
        };
        let (login, cn) = (creds.login.clone(), creds.cert_cn.clone());
        match self.engine.login(self.peer.addr.ip(), creds).await {
            Ok(p) => Ok(p),
            Err(LoginError::Failed { failures, next }) => {
                tracing::warn!(
                    peer = %self.peer.addr,
                    login = login.as_deref().unwrap_or("(none)"),
                    certificate = cn.as_deref().unwrap_or("(none)"),
                    failures,
                    "authentication failed; next attempt from this address waits {} ms",
                    next.as_millis()
                );
                Err(Fatal::new(
                    AUTH_FAILED,
                    "the login, passcode or client certificate was not accepted",
                ))
            }
            Err(e @ LoginError::Busy) => {
                tracing::warn!(peer = %self.peer.addr, login = login.as_deref().unwrap_or("(none)"), "login turned away: {e}");
                Err(Fatal::new(e.to_string(), "reconnect in a moment"))
            }
        }
    }

    /// Parses a destination header, mapping temp names to this connection's private ones.
    fn destination(&self, frame: &Frame) -> Result<Destination, Fatal> {
        let raw = required(frame, "destination")?;
        let d = Destination::parse(raw)
            .map_err(|e| Fatal::new(format!("invalid destination {raw:?}"), e.to_string()))?;
        reserved(d.kind, &d.name, raw)?;
        // Every node that answers replies there: a reply-to that is no destination would
        // get each of them an ERROR and a closed connection, so its sender gets the ERROR.
        if let Some(r) = frame.get("reply-to") {
            Destination::parse(r)
                .map_err(|e| Fatal::new(format!("invalid reply-to {r:?}"), e.to_string()))?;
        }
        Ok(Engine::internal(self.conn, d))
    }

    fn send(&mut self, mut frame: Frame) -> Result<(), Fatal> {
        let dest = self.destination(&frame)?;
        // The network's own headers are the bridges' to set: a client's `shoal-origin` could
        // make the next broker drop another origin's messages as duplicates, its
        // `shoal-path` keep a message from the brokers it names.
        if frame.headers.text_contains("shoal-") {
            frame.headers.retain(|_, k, _| !is_link_header(k));
        }
        let ticket = self
            .engine
            .send(self.conn, dest, frame.headers, frame.body)
            .map_err(|e| Fatal::new(e.to_string(), "SEND refused"))?;
        self.ticket = self.ticket.max(ticket);
        Ok(())
    }

    fn subscribe(&mut self, frame: &Frame, version: Version) -> Result<Next, Fatal> {
        let raw = required(frame, "destination")?;
        let mut pattern = DestPattern::parse(raw)
            .map_err(|e| Fatal::new(format!("invalid destination {raw:?}"), e.to_string()))?;
        reserved(pattern.kind, &pattern.pattern, raw)?;
        if pattern.kind.is_temp() {
            let internal = Engine::temp_name(self.conn, pattern.kind, &pattern.pattern);
            pattern = DestPattern::parse(&format!("{}{}", pattern.kind.prefix(), internal))
                .map_err(|e| Fatal::new("invalid destination", e.to_string()))?;
        }
        let id = frame.get("id").map(str::to_string);
        if id.is_none() && version > Version::V1_0 {
            return Err(Fatal::new(
                "SUBSCRIBE without id",
                "STOMP 1.1 and 1.2 require an id header on SUBSCRIBE",
            ));
        }
        let ack = AckMode::parse(frame.get("ack")).ok_or_else(|| {
            Fatal::new(
                format!("invalid ack mode {:?}", frame.get("ack").unwrap_or("")),
                "ack must be auto, client or client-individual",
            )
        })?;
        let selector = match frame.get("selector").filter(|s| !s.trim().is_empty()) {
            Some(src) if src.len() > self.engine.limits().max_selector_bytes => {
                return Err(Fatal::new(
                    format!(
                        "selector of {} bytes is over max_selector_bytes ({})",
                        src.len(),
                        self.engine.limits().max_selector_bytes
                    ),
                    "the broker's [limits] max_selector_bytes bounds a SUBSCRIBE's selector",
                ))
            }
            Some(src) => Some(
                Selector::parse(src)
                    .map_err(|e| Fatal::new(e.to_string(), format!("selector: {src}")))?,
            ),
            None => None,
        };
        let prefetch = match frame.get("activemq.prefetchSize") {
            Some(p) => Some(p.trim().parse::<usize>().map_err(|_| {
                Fatal::new(
                    format!("invalid activemq.prefetchSize {p:?}"),
                    "prefetch must be a positive integer",
                )
            })?),
            None => None,
        };
        self.engine
            .subscribe(
                self.conn,
                SubscribeRequest {
                    id,
                    pattern,
                    selector,
                    ack,
                    prefetch,
                    priority: 0,
                    network: None,
                    durable: durable_name(frame).map(str::to_string),
                },
            )
            .map_err(|e| Fatal::new(e.to_string(), "SUBSCRIBE refused"))?;
        Ok(Next::Continue)
    }

    fn unsubscribe(&mut self, frame: &Frame, version: Version) -> Result<Next, Fatal> {
        let key = match (frame.get("id"), frame.get("destination")) {
            (Some(id), _) => id.to_string(),
            (None, Some(d)) if version == Version::V1_0 => match DestPattern::parse(d) {
                Ok(p) if p.kind.is_temp() => format!(
                    "{}{}",
                    p.kind.prefix(),
                    Engine::temp_name(self.conn, p.kind, &p.pattern)
                ),
                Ok(p) => p.to_string(),
                Err(e) => {
                    return Err(Fatal::new(
                        format!("invalid destination {d:?}"),
                        e.to_string(),
                    ))
                }
            },
            _ => {
                return Err(Fatal::new(
                    "UNSUBSCRIBE without id",
                    "name the subscription with an id header",
                ))
            }
        };
        if let Some(name) = durable_name(frame) {
            let held = frame.get("id").map(|_| key.as_str());
            let ticket = self
                .engine
                .unsubscribe_durable(self.conn, held, name)
                .map_err(|e| Fatal::new(e.to_string(), "UNSUBSCRIBE refused"))?;
            self.ticket = self.ticket.max(ticket);
            return Ok(Next::Continue);
        }
        self.engine
            .unsubscribe(self.conn, &key)
            .map_err(|e| Fatal::new(e.to_string(), "UNSUBSCRIBE refused"))?;
        Ok(Next::Continue)
    }

    fn ack(&mut self, frame: &Frame, version: Version, nack: bool) -> Result<Next, Fatal> {
        let what = if nack { "NACK" } else { "ACK" };
        let id = match version {
            Version::V1_2 => frame.get("id"),
            _ => frame.get("message-id").or_else(|| frame.get("id")),
        }
        .ok_or_else(|| {
            Fatal::new(
                format!("{what} without message id"),
                format!("{what} needs an id (1.2) or message-id (1.0/1.1) header"),
            )
        })?;
        let subscription = (version == Version::V1_1)
            .then(|| frame.get("subscription"))
            .flatten();
        let ticket = self
            .engine
            .ack(self.conn, id, subscription, nack)
            .map_err(|e| Fatal::new(e.to_string(), format!("{what} refused")))?;
        self.ticket = self.ticket.max(ticket);
        Ok(Next::Continue)
    }

    fn begin(&mut self, frame: &Frame) -> Result<Next, Fatal> {
        let tx = required(frame, "transaction")?;
        if self.transactions.contains_key(tx) {
            return Err(Fatal::new(
                format!("transaction {tx:?} already begun"),
                "BEGIN twice for one transaction",
            ));
        }
        self.transactions.insert(tx.to_string(), Vec::new());
        Ok(Next::Continue)
    }

    fn commit(&mut self, frame: &Frame, version: Version) -> Result<Next, Fatal> {
        let tx = required(frame, "transaction")?;
        let ops = self.transactions.remove(tx).ok_or_else(|| {
            Fatal::new(
                format!("unknown transaction {tx:?}"),
                "COMMIT of a transaction that was never begun",
            )
        })?;
        for op in ops {
            match op {
                TxOp::Send(f) => self.send(f)?,
                TxOp::Ack(f, nack) => {
                    self.ack(&f, version, nack)?;
                }
            }
        }
        Ok(Next::Continue)
    }
}

/// The durable subscription a SUBSCRIBE or UNSUBSCRIBE names (ActiveMQ's header, or the
/// one STOMP clients such as stomp.py's `durable-subscription-name` use).
fn durable_name(frame: &Frame) -> Option<&str> {
    frame
        .get("activemq.subscriptionName")
        .or_else(|| frame.get("durable-subscription-name"))
        .filter(|n| !n.is_empty())
}

/// Refuses the engine's reserved destinations (durable subscriptions' queues).
/// Headers the network of brokers sets on forwarded messages (`bridge::wire`).
fn is_link_header(name: &str) -> bool {
    matches!(
        name,
        super::message::PATH_HEADER
            | super::message::HOPS_HEADER
            | super::message::ORIGIN_HEADER
            | super::message::PINNED_HEADER
    )
}

fn reserved(kind: super::destination::DestKind, name: &str, raw: &str) -> Result<(), Fatal> {
    if super::durable::is_reserved(kind, name) {
        return Err(Fatal::new(
            format!("destination {raw:?} is reserved"),
            "queues named shoal.durable.… hold durable subscriptions' messages; subscribe to the topic with a durable subscription name instead",
        ));
    }
    Ok(())
}

fn required<'f>(frame: &'f Frame, name: &str) -> Result<&'f str, Fatal> {
    frame.get(name).ok_or_else(|| {
        Fatal::new(
            format!("{} without {name} header", frame.command),
            format!("a {} frame must carry a {name} header", frame.command),
        )
    })
}

/// `heart-beat: cx,cy`; absent means `0,0`.
fn parse_heartbeat(h: Option<&str>) -> Option<(u64, u64)> {
    let Some(h) = h else { return Some((0, 0)) };
    let (a, b) = h.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}
