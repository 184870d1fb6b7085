//! Listeners, the accept loop, and shutdown that every task hears.
//!
//! As in mini-redis' server.rs: a cap on connections, one task per connection, and a single
//! cancellation token that tells every session to send its clients a notice and close.

use super::engine::Engine;
use super::session;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
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
    #[error("invalid listen address {0:?}: use HOST:PORT, e.g. 127.0.0.1:6163")]
    BadAddress(String),
}

/// Strips an optional `tcp://` or `stomp://` scheme.
pub fn listen_address(s: &str) -> Result<String, ListenError> {
    let a = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("stomp://"))
        .unwrap_or(s);
    if a.is_empty() || !a.contains(':') {
        return Err(ListenError::BadAddress(s.to_string()));
    }
    Ok(a.to_string())
}

pub async fn bind(addr: &str) -> Result<TcpListener, ListenError> {
    let a = listen_address(addr)?;
    TcpListener::bind(&a)
        .await
        .map_err(|source| ListenError::Bind { addr: a, source })
}

/// Accepts connections until `shutdown` fires.
pub async fn accept_loop(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
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
        if engine.connection_count() >= engine.limits.max_connections {
            tracing::warn!(%peer, limit = engine.limits.max_connections, "connection refused: limit reached");
            tracker.spawn(refuse(stream, engine.limits.max_connections));
            continue;
        }
        let _ = stream.set_nodelay(true);
        tracker.spawn(session::serve(
            engine.clone(),
            stream,
            peer.to_string(),
            shutdown.clone(),
        ));
    }
}

async fn refuse(mut stream: TcpStream, limit: usize) {
    use tokio::io::AsyncWriteExt;
    let frame = crate::stomp::Frame::error(
        "too many connections",
        format!("the broker allows {limit} connections"),
    );
    let bytes = crate::stomp::codec::to_bytes(&frame, crate::stomp::Version::V1_0);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes)).await;
}

/// The address a listener actually got (port 0 becomes a real port).
pub fn local_addr(l: &TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}
