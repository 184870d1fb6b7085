//! Listeners, the accept loop, admission limits, TLS handshakes, and shutdown that every task
//! hears.
//!
//! As in mini-redis' server.rs: a cap on connections, one task per connection, and a single
//! cancellation token that tells every session to send its clients a notice and close.

use super::engine::Engine;
use super::session::{self, Peer};
use crate::stomp::{codec::to_bytes, Frame, Version};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "invalid listen address {0:?}: use HOST:PORT, tcp://HOST:PORT or stomp+ssl://HOST:PORT"
    )]
    BadAddress(String),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error("{0} is a stomp+ssl:// listener but the config has no [tls] table")]
    NoTls(String),
}

/// One address to listen on, plain or TLS.
#[derive(Clone)]
pub struct ListenerSpec {
    /// `HOST:PORT`.
    pub addr: String,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Splits `stomp+ssl://HOST:PORT` (TLS), `tcp://`, `stomp://` or a bare `HOST:PORT` (plain).
pub fn parse_listen(s: &str) -> Result<(String, bool), ListenError> {
    let (a, tls) = crate::stomp::scheme::split_scheme(s);
    if a.is_empty() || !a.contains(':') || a.contains("://") {
        return Err(ListenError::BadAddress(s.to_string()));
    }
    Ok((a.to_string(), tls))
}

/// Binds `addr` with `backlog` connections waiting for `accept` (`Limits::listen_backlog`;
/// ActiveMQ and RabbitMQ ask for 4096 — a backlog of 128 overflows when 10 000 nodes
/// reconnect at once).
pub async fn bind(addr: &str, backlog: u32) -> Result<TcpListener, ListenError> {
    let failed = |source| ListenError::Bind {
        addr: addr.to_string(),
        source,
    };
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await.map_err(failed)? {
        match listen_on(a, backlog) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(failed(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
    })))
}

fn listen_on(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio's `TcpListener::bind` do: a restarted broker rebinds its port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Admission control shared by every listener: connections in total and per source address.
/// A slot is held by the returned guard for the connection's whole life.
#[derive(Default)]
pub struct Gate {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

pub struct Admitted {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut m = self.gate.per_ip.lock();
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Gate {
    fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        total_now: usize,
        max_total: usize,
        max_per_ip: usize,
    ) -> Result<Admitted, String> {
        let mut m = self.per_ip.lock();
        if total_now >= max_total {
            return Err(format!("the broker allows {max_total} connections"));
        }
        let n = m.entry(ip).or_insert(0);
        if *n >= max_per_ip {
            return Err(format!(
                "the broker allows {max_per_ip} connections per address"
            ));
        }
        *n += 1;
        Ok(Admitted {
            gate: self.clone(),
            ip,
        })
    }
}

/// The log of refused connections: the first at once, then at most a line a second saying
/// how many more were refused — a fleet hitting a limit is 10 000 refusals, not a reason for
/// 10 000 log lines.
#[derive(Default)]
struct Refusals {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl Refusals {
    fn note(&mut self, peer: SocketAddr, why: &str) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            self.unlogged += 1;
            return;
        }
        self.last = Some(std::time::Instant::now());
        match std::mem::take(&mut self.unlogged) {
            0 => tracing::warn!(%peer, "connection refused: {why}"),
            n => {
                tracing::warn!(%peer, "connection refused: {why} ({n} more refused since the last line)")
            }
        }
    }
}

/// Accepts connections until `shutdown` fires.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<super::tls::TlsSlot>,
    engine: Arc<Engine>,
    gate: Arc<Gate>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let mut refusals = Refusals::default();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let l = engine.limits();
        let slot = match gate.admit(
            peer.ip(),
            engine.connection_count(),
            l.max_connections,
            l.max_connections_per_address,
        ) {
            Ok(slot) => slot,
            Err(why) => {
                refusals.note(peer, &why);
                engine.counters.connection_refused();
                tracker.spawn(refuse(stream, "too many connections", why));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        match tls.as_ref().map(super::tls::acceptor) {
            None => {
                tracker.spawn(async move {
                    session::serve(engine, stream, Peer::plain(peer), shutdown).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                tracker.spawn(async move {
                    if let Some((tls, cn)) = handshake(acceptor, stream, peer, &engine).await {
                        session::serve(
                            engine,
                            tls,
                            Peer {
                                addr: peer,
                                tls: true,
                                cert_cn: cn,
                            },
                            shutdown,
                        )
                        .await;
                    }
                    drop(slot);
                });
            }
        }
    }
}

/// Completes a TLS handshake, or explains to a plaintext STOMP client (in plaintext) that this
/// port wants TLS. Returns the stream and the verified client certificate's CN.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    engine: &Engine,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<String>)> {
    let deadline = Duration::from_millis(engine.limits().connect_timeout_ms);
    let mut first = [0u8; 1];
    match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == 0x16 => {} // a TLS handshake record
        Ok(Ok(1)) => {
            tracing::info!(%peer, "plaintext client on a TLS listener");
            refuse(
                stream,
                "TLS required",
                "this port speaks STOMP over TLS (stomp+ssl://); connect with TLS".to_string(),
            )
            .await;
            return None;
        }
        _ => return None,
    }
    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let cn = super::tls::peer_common_name(tls.get_ref().1.peer_certificates());
            Some((tls, cn))
        }
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, "TLS handshake timed out");
            None
        }
    }
}

async fn refuse(mut stream: TcpStream, message: &str, detail: String) {
    let bytes = to_bytes(&Frame::error(message, detail), Version::V1_0);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes)).await;
    let _ = stream.shutdown().await;
}

/// The address a listener actually got (port 0 becomes a real port).
pub fn local_addr(l: &TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}
