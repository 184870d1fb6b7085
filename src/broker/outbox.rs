//! The bounded queue between the engine and one connection's writer task.
//!
//! The engine pushes deliveries while holding its lock, so pushing must never wait: a full
//! outbox answers "no" at once and the engine decides (queue messages stay queued for another
//! consumer; topic messages follow the slow-consumer policy). Control frames (RECEIPT, ERROR)
//! always go in, so a client is never denied the answer to its own request. The writer drains
//! everything at once and writes it in one syscall: batching is where the throughput comes from.

use super::message::Message;
use super::subscription::AckToken;
use crate::stomp::{Frame, Version};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// One MESSAGE to write: the shared message plus what is specific to this delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The client's subscription id; `None` for STOMP 1.0 subscriptions made without one.
    pub subscription: Option<Arc<str>>,
    /// The `ack` header (1.2) for client acknowledgement modes.
    pub ack: Option<AckToken>,
    pub message: Arc<Message>,
    /// See `Queued`: `redelivered:true`, and `redelivery-count` when it is above 0.
    pub redelivered: bool,
    pub redeliveries: u32,
}

#[derive(Debug)]
pub enum Outgoing {
    Frame(Frame),
    Message(Delivery),
    /// Flush what came before, then close the connection.
    Close,
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Outgoing>,
    bytes: usize,
    closed: bool,
    /// A push was refused since the last drain: tell the engine when there is room again.
    starved: bool,
}

#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    max_messages: usize,
    max_bytes: usize,
    version: AtomicU8,
    /// Heart-beat period the writer must keep, in ms (0: none). Set once CONNECT is negotiated.
    heartbeat_ms: AtomicU64,
    closing: AtomicBool,
}

/// What the writer took from the outbox in one go.
pub struct Drained {
    pub starved: bool,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            max_messages,
            max_bytes,
            version: AtomicU8::new(0),
            heartbeat_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        })
    }

    pub fn set_version(&self, v: Version) {
        self.version.store(v as u8, Ordering::Relaxed);
    }

    pub fn version(&self) -> Version {
        match self.version.load(Ordering::Relaxed) {
            0 => Version::V1_0,
            1 => Version::V1_1,
            _ => Version::V1_2,
        }
    }

    pub fn set_heartbeat_ms(&self, ms: u64) {
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
        self.notify.notify_one();
    }

    pub fn heartbeat_ms(&self) -> u64 {
        self.heartbeat_ms.load(Ordering::Relaxed)
    }

    /// Tries to queue a delivery; gives it back when the outbox is full or closed.
    pub fn try_push(&self, d: Delivery) -> Result<(), Delivery> {
        let size = d.message.wire_size();
        {
            let mut g = self.inner.lock();
            if g.closed || g.queue.len() >= self.max_messages || g.bytes + size > self.max_bytes {
                g.starved = true;
                return Err(d);
            }
            g.bytes += size;
            g.queue.push_back(Outgoing::Message(d));
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Queues a control frame regardless of limits (dropped only when already closed).
    pub fn push_frame(&self, f: Frame) {
        {
            let mut g = self.inner.lock();
            if g.closed {
                return;
            }
            g.queue.push_back(Outgoing::Frame(f));
        }
        self.notify.notify_one();
    }

    /// Queues `frame` (usually an ERROR) followed by a close. Later pushes are refused.
    pub fn close_with(&self, frame: Option<Frame>) {
        {
            let mut g = self.inner.lock();
            if g.closed {
                return;
            }
            if let Some(f) = frame {
                g.queue.push_back(Outgoing::Frame(f));
            }
            g.queue.push_back(Outgoing::Close);
            g.closed = true;
        }
        self.closing.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Moves everything queued into `into`.
    pub fn drain(&self, into: &mut VecDeque<Outgoing>) -> Drained {
        let mut g = self.inner.lock();
        std::mem::swap(&mut g.queue, into);
        g.bytes = 0;
        let starved = std::mem::take(&mut g.starved);
        Drained { starved }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until something is pushed (or a heart-beat setting changes).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}
