//! The bounded queue between the engine and one connection's writer task.
//!
//! The engine pushes deliveries while holding its lock, so pushing must never wait: a full
//! outbox answers "no" at once and the engine decides (queue messages stay queued for another
//! consumer; topic messages follow the slow-consumer policy). Control frames (RECEIPT, ERROR)
//! always go in, so a client is never denied the answer to its own request. The writer drains
//! everything at once and writes it in one syscall: batching is where the throughput comes from.
//!
//! A frame with a `receipt` opens a *hold* while it is handled: deliveries pushed meanwhile
//! wait beside the queue until its RECEIPT is queued, so the RECEIPT precedes everything the
//! frame caused (a SUBSCRIBE to a queue that holds messages gets its RECEIPT before the first
//! MESSAGE, as ActiveMQ and RabbitMQ send them; clients that wait for the receipt before
//! reading rely on it). Held deliveries count against the limits like queued ones. A receipt
//! that must wait for the store (a persistent SEND's) does not hold deliveries behind the disk:
//! the hold ends with the frame's handling and the RECEIPT follows when the store has it.

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
    /// A receipted frame is being handled (see the module docs): deliveries wait in `held`.
    holding: bool,
    held: VecDeque<Outgoing>,
    held_bytes: usize,
}

impl Inner {
    /// Puts the held deliveries at the end of the queue.
    fn unhold(&mut self) {
        self.holding = false;
        self.bytes += std::mem::take(&mut self.held_bytes);
        let held = std::mem::take(&mut self.held);
        self.queue.extend(held);
    }
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
            let len = g.queue.len() + g.held.len();
            let bytes = g.bytes + g.held_bytes;
            if g.closed || len >= self.max_messages || bytes + size > self.max_bytes {
                g.starved = true;
                return Err(d);
            }
            if g.holding {
                g.held_bytes += size;
                g.held.push_back(Outgoing::Message(d));
                return Ok(()); // nothing for the writer yet
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

    /// Opens the hold for a receipted frame: deliveries wait until `release_hold`.
    pub fn hold(&self) {
        let mut g = self.inner.lock();
        if !g.closed {
            g.holding = true;
        }
    }

    /// Ends the hold: the receipt (unless it waits for the store), then what was held.
    pub fn release_hold(&self, receipt: Option<Frame>) {
        {
            let mut g = self.inner.lock();
            if g.closed {
                return;
            }
            if let Some(r) = receipt {
                g.queue.push_back(Outgoing::Frame(r));
            }
            g.unhold();
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
            g.unhold();
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
        let g = self.inner.lock();
        g.queue.len() + g.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until something is pushed (or a heart-beat setting changes).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}
