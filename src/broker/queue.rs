//! A queue destination's waiting messages, with their byte total kept up to date so that the
//! byte limits (per queue, and the broker's memory limit summed over every queue) and the
//! TUI's "bytes pending" cost nothing to read.

use super::message::Message;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct Queued {
    pub message: Arc<Message>,
    /// It may have been delivered before (`redelivered:true`): it went back to its queue, or
    /// was recovered after a restart.
    pub redelivered: bool,
    /// Times it went back to its queue unconsumed because of its consumer (NACK, consumer
    /// gone; not a bridge's link failing). Past the policy's maximum: the dead-letter queue.
    pub redeliveries: u32,
    /// The message's id in the store, when it is journaled (persistent, on a durable queue).
    pub store_id: Option<u64>,
}

impl Queued {
    pub fn new(message: Arc<Message>) -> Queued {
        Queued {
            message,
            redelivered: false,
            redeliveries: 0,
            store_id: None,
        }
    }
}

/// What waits in all of a broker's queues together, shared by every queue and readable
/// without the engine's lock.
#[derive(Debug, Default)]
pub struct QueuedTotals {
    /// Bytes, bodies and headers (the memory limit).
    pub bytes: AtomicUsize,
    pub messages: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct MessageQueue {
    items: VecDeque<Queued>,
    bytes: usize,
    total: Arc<QueuedTotals>,
    /// How many messages at the front every consumer able to take one has been offered since
    /// it last gained room: selectors declined them, or every taker is full. A message that
    /// arrives needs only itself offered (see `Scan`); a consumer that gains room or arrives
    /// looks at them all again. A queue holding 100 000 messages for an absent `mc_identity`
    /// took 102 SENDs a second when every SEND walked them all (27 000 when empty).
    offered: usize,
}

/// Where a dispatch pass starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// At the front: a consumer arrived or gained room, or messages came back.
    All,
    /// After the messages already offered: only new ones arrived.
    New,
}

impl MessageQueue {
    pub fn new(total: Arc<QueuedTotals>) -> MessageQueue {
        MessageQueue {
            items: VecDeque::new(),
            bytes: 0,
            total,
            offered: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes (bodies and headers) of everything waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, i: usize) -> Option<&Queued> {
        self.items.get(i)
    }

    /// Where a dispatch pass of this kind starts.
    pub fn scan_from(&self, scan: Scan) -> usize {
        match scan {
            Scan::All => 0,
            Scan::New => self.offered,
        }
    }

    /// A dispatch pass has offered everything now waiting.
    pub fn all_offered(&mut self) {
        self.offered = self.items.len();
    }

    fn grew(&mut self, n: usize) {
        self.bytes += n;
        self.total.bytes.fetch_add(n, Ordering::Relaxed);
        self.total.messages.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` bytes in `count` messages left.
    fn shrank(&mut self, n: usize, count: usize) {
        self.bytes -= n;
        self.total.bytes.fetch_sub(n, Ordering::Relaxed);
        self.total.messages.fetch_sub(count, Ordering::Relaxed);
    }

    pub fn push_back(&mut self, q: Queued) {
        self.grew(q.message.size());
        self.items.push_back(q);
    }

    /// Redeliveries go back in front, ahead of newer messages.
    pub fn push_front(&mut self, q: Queued) {
        self.grew(q.message.size());
        self.items.push_front(q);
        self.offered = 0;
    }

    pub fn remove(&mut self, i: usize) -> Option<Queued> {
        let q = self.items.remove(i)?;
        if i < self.offered {
            self.offered -= 1;
        }
        self.shrank(q.message.size(), 1);
        Some(q)
    }

    /// Takes out every expired message.
    pub fn take_expired(&mut self, now_ms: u64) -> Vec<Queued> {
        self.take_where(|q| q.message.is_expired(now_ms))
    }

    /// Takes out the messages `pick` chooses, keeping the others in order.
    pub fn take_where(&mut self, mut pick: impl FnMut(&Queued) -> bool) -> Vec<Queued> {
        if !self.items.iter().any(&mut pick) {
            return Vec::new();
        }
        let (taken, kept): (VecDeque<Queued>, VecDeque<Queued>) =
            std::mem::take(&mut self.items).into_iter().partition(pick);
        self.items = kept;
        self.offered = 0;
        let freed: usize = taken.iter().map(|q| q.message.size()).sum();
        self.shrank(freed, taken.len());
        taken.into()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.items.iter()
    }

    /// Takes out everything (a durable subscription removed).
    pub fn drain(&mut self) -> Vec<Queued> {
        let all: Vec<Queued> = std::mem::take(&mut self.items).into();
        self.offered = 0;
        let freed = self.bytes;
        self.shrank(freed, all.len());
        all
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        self.total.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        self.total
            .messages
            .fetch_sub(self.items.len(), Ordering::Relaxed);
    }
}
