//! A queue destination's waiting messages, with their byte total kept up to date so that the
//! byte limits (per queue, and the broker's memory limit summed over every queue) and the
//! TUI's "bytes pending" cost nothing to read.

use super::message::Message;
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
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
    /// Producers waiting for room (see `flow`), and how they are woken when a message leaves
    /// a queue — instead of each looking at the engine every millisecond.
    pub waiting: AtomicUsize,
    pub drained: tokio::sync::Notify,
}

/// Position of a message in its queue: messages are kept in `Seq` order, front first.
pub type Seq = u64;

/// Where the first `push_back` and `push_front` land: far from either end of `u64`.
const MIDDLE: Seq = 1 << 62;

#[derive(Debug)]
pub struct MessageQueue {
    /// In order, by a sequence number given when a message goes in at the back (or, for one
    /// coming back, at the front): removing one from the middle — the message a node's
    /// selector picks out of 100 000 waiting for others — costs a log, not a shift of all the
    /// ones behind it.
    items: BTreeMap<Seq, Queued>,
    next_back: Seq,
    next_front: Seq,
    /// The waiting messages of each `mc_identity` (MCollective's directed requests, all in
    /// one `/queue/<collective>.nodes`): a node that arrives or gains room finds its own
    /// without looking at everyone else's (see `Core::dispatch_identity`).
    by_identity: HashMap<Box<str>, BTreeSet<Seq>>,
    /// The messages that expire, by deadline: the once-a-second expiry takes the ones due
    /// without looking at the rest (every MCollective request and reply has a TTL, and a
    /// queue may hold a million).
    by_expiry: BTreeSet<(u64, Seq)>,
    bytes: usize,
    total: Arc<QueuedTotals>,
    /// Every message before this one has been offered to each consumer able to take one since
    /// it last gained room: selectors declined them, or every taker is full. A message that
    /// arrives needs only itself offered (see `Scan`); a consumer that gains room or arrives
    /// looks at them all again. A queue holding 100 000 messages for an absent `mc_identity`
    /// took 102 SENDs a second when every SEND walked them all (27 000 when empty).
    offered: Seq,
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
            items: BTreeMap::new(),
            next_back: MIDDLE,
            next_front: MIDDLE - 1,
            by_identity: HashMap::default(),
            by_expiry: BTreeSet::new(),
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

    /// Bytes of everything waiting, as `Message::size` counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The first message at or after `from`.
    pub fn first_from(&self, from: Seq) -> Option<(Seq, &Queued)> {
        self.items.range(from..).next().map(|(s, q)| (*s, q))
    }

    pub fn get(&self, seq: Seq) -> Option<&Queued> {
        self.items.get(&seq)
    }

    /// The waiting messages whose `mc_identity` is `identity`, front first.
    pub fn with_identity(&self, identity: &str) -> impl Iterator<Item = Seq> + '_ {
        self.by_identity
            .get(identity)
            .into_iter()
            .flat_map(|seqs| seqs.iter().copied())
    }

    /// Where a dispatch pass of this kind starts.
    pub fn scan_from(&self, scan: Scan) -> Seq {
        match scan {
            Scan::All => 0,
            Scan::New => self.offered,
        }
    }

    /// A dispatch pass has offered everything now waiting.
    pub fn all_offered(&mut self) {
        self.offered = self.next_back;
    }

    fn grew(&mut self, seq: Seq, q: &Queued) {
        let n = q.message.size();
        self.bytes += n;
        self.total.bytes.fetch_add(n, Ordering::Relaxed);
        self.total.messages.fetch_add(1, Ordering::Relaxed);
        if q.message.expires != 0 {
            self.by_expiry.insert((q.message.expires, seq));
        }
        if let Some(id) = q.message.header("mc_identity") {
            match self.by_identity.get_mut(id) {
                Some(seqs) => {
                    seqs.insert(seq);
                }
                None => {
                    self.by_identity.insert(id.into(), BTreeSet::from([seq]));
                }
            }
        }
    }

    /// `q` (at `seq`) left.
    fn shrank(&mut self, seq: Seq, q: &Queued) {
        let n = q.message.size();
        self.bytes -= n;
        self.total.bytes.fetch_sub(n, Ordering::Relaxed);
        self.total.messages.fetch_sub(1, Ordering::Relaxed);
        if self.total.waiting.load(Ordering::Relaxed) > 0 {
            self.total.drained.notify_waiters();
        }
        if q.message.expires != 0 {
            self.by_expiry.remove(&(q.message.expires, seq));
        }
        if let Some(id) = q.message.header("mc_identity") {
            if let Some(seqs) = self.by_identity.get_mut(id) {
                seqs.remove(&seq);
                if seqs.is_empty() {
                    self.by_identity.remove(id);
                }
            }
        }
    }

    pub fn push_back(&mut self, q: Queued) {
        let seq = self.next_back;
        self.next_back += 1;
        self.grew(seq, &q);
        self.items.insert(seq, q);
    }

    /// Redeliveries go back in front, ahead of newer messages.
    pub fn push_front(&mut self, q: Queued) {
        let seq = self.next_front;
        self.next_front -= 1;
        self.grew(seq, &q);
        self.items.insert(seq, q);
        self.offered = 0;
    }

    pub fn remove(&mut self, seq: Seq) -> Option<Queued> {
        let q = self.items.remove(&seq)?;
        self.shrank(seq, &q);
        Some(q)
    }

    /// Takes out every expired message (those due, found by deadline: see `by_expiry`).
    pub fn take_expired(&mut self, now_ms: u64) -> Vec<Queued> {
        let due: Vec<Seq> = self
            .by_expiry
            .range(..(now_ms, 0))
            .map(|&(_, seq)| seq)
            .collect();
        due.into_iter().filter_map(|s| self.remove(s)).collect()
    }

    /// Takes out the messages `pick` chooses, keeping the others in order.
    pub fn take_where(&mut self, mut pick: impl FnMut(&Queued) -> bool) -> Vec<Queued> {
        let seqs: Vec<Seq> = self
            .items
            .iter()
            .filter(|(_, q)| pick(q))
            .map(|(s, _)| *s)
            .collect();
        seqs.into_iter().filter_map(|s| self.remove(s)).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.items.values()
    }

    /// Takes out everything (a durable subscription removed).
    pub fn drain(&mut self) -> Vec<Queued> {
        let seqs: Vec<Seq> = self.items.keys().copied().collect();
        seqs.into_iter().filter_map(|s| self.remove(s)).collect()
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
