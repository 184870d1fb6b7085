//! Opening a link: the dialer's CONNECT and the listener's answer (see `wire` for headers).

use super::link::link_decoder;
use super::wire;
use crate::stomp::codec::encode;
use crate::stomp::{Command, Frame, Version};
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Any stream a link can run on: TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one frame (within the handshake timeout); returns it and whatever came after it.
/// `read_frame`'s error for a connection closed before sending anything (a backing-off
/// peer's probe, a port scanner).
pub const CLOSED_SILENT: &str = "closed before sending anything";

pub async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> Result<(Frame, BytesMut), String> {
    let mut d = link_decoder();
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            if let Some(f) = d.decode(&mut buf).map_err(|e| format!("bad frame: {e}"))? {
                return Ok(f);
            }
            if s.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err(if buf.is_empty() {
                    CLOSED_SILENT.to_string()
                } else {
                    "closed during the handshake".to_string()
                });
            }
        }
    };
    let f = tokio::time::timeout(HANDSHAKE_TIMEOUT, read)
        .await
        .map_err(|_| "no answer within 10 s".to_string())??;
    Ok((f, buf))
}

pub async fn write_frame<S: AsyncWrite + Unpin>(s: &mut S, f: &Frame) -> Result<(), String> {
    let mut out = BytesMut::new();
    encode(f, Version::V1_2, &mut out);
    s.write_all(&out).await.map_err(|e| e.to_string())
}

/// What the dialer says about the link it opens.
pub struct Hello<'a> {
    pub local: &'a str,
    pub bridge: &'a str,
    pub duplex: bool,
    pub message_ttl: u32,
    pub consumer_ttl: u32,
    pub login: Option<&'a str>,
    pub passcode: Option<&'a str>,
    pub heartbeat_ms: u64,
    pub link_timeout_ms: u64,
    pub suppress_queues: bool,
    pub conduit: bool,
}

/// Dials: CONNECT, then CONNECTED naming the peer broker (or its ERROR).
pub async fn dial<S: Io>(s: &mut S, h: &Hello<'_>) -> Result<(String, BytesMut), String> {
    let mut f = Frame::new(Command::Connect)
        .header("accept-version", "1.2")
        .header("host", "/")
        .header("heart-beat", format!("{0},{0}", h.heartbeat_ms))
        .header(wire::BROKER, h.local)
        .header(wire::BRIDGE, h.bridge)
        .header(wire::DUPLEX, h.duplex.to_string())
        .header(wire::MESSAGE_TTL, h.message_ttl.to_string())
        .header(wire::CONSUMER_TTL, h.consumer_ttl.to_string())
        .header(wire::SUPPRESS, h.suppress_queues.to_string())
        .header(wire::CONDUIT, h.conduit.to_string())
        .header(wire::LINK_TIMEOUT, h.link_timeout_ms.to_string());
    if let Some(l) = h.login {
        f = f.header("login", l);
    }
    if let Some(p) = h.passcode {
        f = f.header("passcode", p);
    }
    write_frame(s, &f).await?;
    let (reply, rest) = read_frame(s).await?;
    match reply.command {
        Command::Connected => match reply.get(wire::BROKER) {
            Some(peer) if peer == h.local => Err(format!("the peer is this broker itself ({peer}): check the URI, and give every broker its own name")),
            Some(peer) => Ok((peer.to_string(), rest)),
            None => Err(format!(
                "the peer is not a shoal broker (server: {}); bridges to other brokers are kind = \"stomp\"",
                reply.get("server").unwrap_or("unknown")
            )),
        },
        Command::Error => Err(format!("peer refused the link: {}", reply.get("message").unwrap_or(""))),
        c => Err(format!("unexpected {c} during the handshake")),
    }
}
