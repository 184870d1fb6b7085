//! shoal's one STOMP client, plain TCP or TLS: the collective tools (`ping`, `node`), the
//! TUI's `--attach`, the benchmarks' load generator; the `kind = "stomp"` bridges share its
//! handshake. It reaches any STOMP broker (shoal, ActiveMQ, RabbitMQ).
//!
//! It is split into a reader and a writer half so that one task can pump frames out while
//! another reads, and the writer batches: `push` encodes, `flush` writes everything at once.

pub mod handshake;
pub mod tls;

use crate::broker::tls::TlsError;
use crate::stomp::codec::encode;
use crate::stomp::{Command, Decoder, Frame, FrameError, FrameLimits, Version};
use bytes::BytesMut;
use std::time::Duration;
use thiserror::Error;
use tls::ClientTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame from broker: {0}")]
    Frame(#[from] FrameError),
    #[error("broker sent ERROR: {message}{}", if .detail.is_empty() { String::new() } else { format!(" ({})", .detail) })]
    Broker { message: String, detail: String },
    #[error("connection closed by broker")]
    Closed,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("unexpected {0} frame while connecting")]
    Unexpected(Command),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("the TLS session with {addr} ended before CONNECTED ({detail}): does the broker accept this client certificate?")]
    TlsRefused { addr: String, detail: String },
    #[error("TLS handshake with {addr}: {source}")]
    Handshake {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub login: Option<String>,
    pub passcode: Option<String>,
    /// Virtual host; ActiveMQ ignores it, RabbitMQ maps it to a vhost.
    pub host: Option<String>,
    /// Heart-beats in ms we send / want (0,0: none).
    pub heartbeat: (u64, u64),
    /// TLS to the broker (None: plain TCP).
    pub tls: Option<ClientTls>,
}

pub struct ClientReader {
    read: ReadHalf,
    decoder: Decoder,
    buf: BytesMut,
}

pub struct ClientWriter {
    write: WriteHalf,
    buf: BytesMut,
    pub version: Version,
}

/// Connects (TLS when the options say so), sends CONNECT (accepting 1.0–1.2), and waits for
/// CONNECTED.
pub async fn connect(
    addr: &str,
    opts: &ConnectOptions,
) -> Result<(ClientReader, ClientWriter, Frame), ClientError> {
    let (read, write) = open(addr, opts.tls.as_ref()).await?;
    let mut reader = ClientReader {
        read,
        decoder: Decoder::new(FrameLimits {
            max_frame_bytes: 64 * 1024 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
            max_headers: 1024,
            max_header_line: 1024 * 1024,
        }),
        buf: BytesMut::with_capacity(64 * 1024),
    };
    let mut writer = ClientWriter {
        write,
        buf: BytesMut::with_capacity(64 * 1024),
        version: Version::V1_0,
    };
    writer.push(&handshake::connect_frame(opts));
    writer.flush().await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), reader.next_frame())
        .await
        .map_err(|_| ClientError::Timeout("CONNECTED"))?
        .map_err(|e| match e {
            // TLS 1.3 checks our certificate after the handshake: a refusal is an alert here.
            ClientError::Io(_) | ClientError::Closed if opts.tls.is_some() => {
                ClientError::TlsRefused {
                    addr: addr.to_string(),
                    detail: e.to_string(),
                }
            }
            e => e,
        })?;
    let c = handshake::connected(reply)?;
    writer.version = c.version;
    reader.decoder.version = c.version;
    Ok((reader, writer, c.frame))
}

/// A TCP connection to `addr`, wrapped in TLS when `tls` is given.
async fn open(addr: &str, tls: Option<&ClientTls>) -> Result<(ReadHalf, WriteHalf), ClientError> {
    let failed = |source| ClientError::Connect {
        addr: addr.to_string(),
        source,
    };
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| failed(std::io::ErrorKind::TimedOut.into()))?
        .map_err(failed)?;
    stream.set_nodelay(true)?;
    let Some(tls) = tls else {
        let (r, w) = stream.into_split();
        return Ok((Box::new(r), Box::new(w)));
    };
    let name = tls.name_for(addr)?;
    let s = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(tls.config.clone()).connect(name, stream),
    )
    .await
    .map_err(|_| ClientError::Timeout("the TLS handshake"))?
    .map_err(|source| ClientError::Handshake {
        addr: addr.to_string(),
        source,
    })?;
    let (r, w) = tokio::io::split(s);
    Ok((Box::new(r), Box::new(w)))
}

pub(crate) fn broker_error(f: &Frame) -> ClientError {
    ClientError::Broker {
        message: f.get("message").unwrap_or("").to_string(),
        detail: String::from_utf8_lossy(&f.body).trim().to_string(),
    }
}

impl ClientReader {
    /// The next frame (heart-beats skipped). An ERROR frame is returned as a frame, not an
    /// error, so callers can inspect it.
    pub async fn next_frame(&mut self) -> Result<Frame, ClientError> {
        loop {
            if let Some(f) = self.decoder.decode(&mut self.buf)? {
                return Ok(f);
            }
            if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            if self.read.read_buf(&mut self.buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Like `next_frame`, but an ERROR frame becomes `Err`.
    pub async fn next_message(&mut self) -> Result<Frame, ClientError> {
        let f = self.next_frame().await?;
        if f.command == Command::Error {
            return Err(broker_error(&f));
        }
        Ok(f)
    }
}

impl ClientWriter {
    /// Encodes a frame into the write buffer (nothing is sent until `flush`).
    pub fn push(&mut self, f: &Frame) {
        encode(f, self.version, &mut self.buf);
    }

    /// Appends already-encoded bytes (the benchmark pre-encodes its SEND headers once).
    pub fn push_bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if !self.buf.is_empty() {
            self.write.write_all(&self.buf).await?;
            self.write.flush().await?; // TLS: out of the session's buffer
            self.buf.clear();
        }
        Ok(())
    }

    pub async fn send(&mut self, f: &Frame) -> Result<(), ClientError> {
        self.push(f);
        self.flush().await
    }

    /// Writes raw bytes as they are (tests of malformed input use this).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.flush().await?;
        self.write.write_all(bytes).await?;
        self.write.flush().await?;
        Ok(())
    }
}
