//! A small async STOMP client: the benchmark's load generator, and later the bridges' and
//! collective tools' way to reach any STOMP broker (shoal, ActiveMQ, RabbitMQ).
//!
//! It is split into a reader and a writer half so that one task can pump frames out while
//! another reads, and the writer batches: `push` encodes, `flush` writes everything at once.

use crate::stomp::codec::encode;
use crate::stomp::{Command, Decoder, Frame, FrameError, FrameLimits, Version};
use bytes::BytesMut;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

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
}

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub login: Option<String>,
    pub passcode: Option<String>,
    /// Virtual host; ActiveMQ ignores it, RabbitMQ maps it to a vhost.
    pub host: Option<String>,
    /// Heart-beats in ms we send / want (0,0: none).
    pub heartbeat: (u64, u64),
}

pub struct ClientReader {
    read: OwnedReadHalf,
    decoder: Decoder,
    buf: BytesMut,
}

pub struct ClientWriter {
    write: OwnedWriteHalf,
    buf: BytesMut,
    pub version: Version,
}

/// Connects, sends CONNECT (accepting 1.0–1.2), and waits for CONNECTED.
pub async fn connect(
    addr: &str,
    opts: &ConnectOptions,
) -> Result<(ClientReader, ClientWriter, Frame), ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
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
    let mut f = Frame::new(Command::Connect)
        .header("accept-version", "1.0,1.1,1.2")
        .header("host", opts.host.clone().unwrap_or_else(|| "/".to_string()))
        .header(
            "heart-beat",
            format!("{},{}", opts.heartbeat.0, opts.heartbeat.1),
        );
    if let Some(l) = &opts.login {
        f = f.header("login", l.clone());
    }
    if let Some(p) = &opts.passcode {
        f = f.header("passcode", p.clone());
    }
    writer.push(&f);
    writer.flush().await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), reader.next_frame())
        .await
        .map_err(|_| ClientError::Timeout("CONNECTED"))??;
    match reply.command {
        Command::Connected => {
            let v = match reply.get("version") {
                Some("1.2") => Version::V1_2,
                Some("1.1") => Version::V1_1,
                _ => Version::V1_0,
            };
            writer.version = v;
            reader.decoder.version = v;
            Ok((reader, writer, reply))
        }
        Command::Error => Err(broker_error(&reply)),
        c => Err(ClientError::Unexpected(c)),
    }
}

fn broker_error(f: &Frame) -> ClientError {
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
        Ok(())
    }
}
