//! A connection's writer task: drains the outbox, encodes, writes, keeps heart-beats.
//!
//! Everything queued since the last wake-up is encoded into one buffer and written with one
//! `write_all`: under load a single syscall carries hundreds of MESSAGE frames.

use super::engine::Engine;
use super::message::REDELIVERY_COUNT_HEADER;
use super::outbox::{Delivery, Outbox, Outgoing};
use super::subscription::ConnId;
use crate::stomp::codec::{encode, put_header, put_header_num};
use crate::stomp::Version;
use bytes::{BufMut, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Writes one MESSAGE frame for `d`.
pub fn encode_delivery(out: &mut BytesMut, d: &Delivery, version: Version) {
    let m = &d.message;
    out.reserve(128 + m.body.len());
    out.put_slice(b"MESSAGE\n");
    if let Some(sub) = &d.subscription {
        put_header(out, "subscription", sub, version, true);
    }
    put_header(out, "message-id", &m.id, version, true);
    put_header(out, "destination", &m.destination_header, version, true);
    if let Some(ack) = &d.ack {
        if version == Version::V1_2 {
            out.put_slice(b"ack:");
            ack.write(out);
            out.put_u8(b'\n');
        }
    }
    if d.redelivered {
        out.put_slice(b"redelivered:true\n");
    }
    if d.redeliveries > 0 {
        put_header_num(out, REDELIVERY_COUNT_HEADER, d.redeliveries as u64);
    }
    m.headers.encode_into(out, version, true, &[]);
    put_header_num(out, "content-length", m.body.len() as u64);
    out.put_u8(b'\n');
    out.put_slice(&m.body);
    out.put_u8(0);
}

/// The write buffer of a quiet connection.
const QUIET: usize = 4 * 1024;

/// Runs until the outbox says Close, the socket fails, or `stop` is cancelled. Cancels `done`
/// on the way out so the reader side stops too.
pub async fn run<W: AsyncWrite + Unpin>(
    mut socket: W,
    outbox: Arc<Outbox>,
    engine: Arc<Engine>,
    conn: ConnId,
    done: CancellationToken,
) {
    let mut batch: VecDeque<Outgoing> = VecDeque::new();
    // Small while the connection is quiet (most of a fleet's are, for hours); it grows with
    // the batches it encodes, and goes back once they are small again.
    let mut buf = BytesMut::with_capacity(QUIET);
    'outer: loop {
        let hb = outbox.heartbeat_ms();
        let woke = if hb == 0 {
            tokio::select! {
                _ = outbox.notified() => true,
                _ = done.cancelled() => break,
            }
        } else {
            tokio::select! {
                r = tokio::time::timeout(Duration::from_millis(hb), outbox.notified()) => r.is_ok(),
                _ = done.cancelled() => break,
            }
        };
        let drained = outbox.drain(&mut batch);
        let version = outbox.version();
        let mut close = false;
        for item in batch.drain(..) {
            match item {
                Outgoing::Message(d) => encode_delivery(&mut buf, &d, version),
                Outgoing::Frame(f) => encode(&f, version, &mut buf),
                Outgoing::Close => {
                    close = true;
                    break;
                }
            }
        }
        if buf.is_empty() && !woke && !close {
            buf.put_u8(b'\n'); // heart-beat: nothing else was sent for a whole period
        }
        if !buf.is_empty() {
            if socket.write_all(&buf).await.is_err() {
                break 'outer;
            }
            let written = buf.len();
            buf.clear();
            if buf.capacity() > 4 * 1024 * 1024 {
                buf = BytesMut::with_capacity(64 * 1024);
            } else if written < QUIET && buf.capacity() > 4 * QUIET {
                buf = BytesMut::with_capacity(QUIET);
            }
        }
        if close {
            let _ = socket.flush().await;
            let _ = socket.shutdown().await;
            break;
        }
        if drained.starved {
            engine.outbox_ready(conn);
        }
    }
    done.cancel();
}
