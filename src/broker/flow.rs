//! Producer flow control. A queue holds at most `max_queue_messages` messages and
//! `max_queue_bytes` body bytes; all queues together hold at most `max_memory_bytes`; the store
//! at most `max_disk_bytes` (persistent messages). A SEND that does not fit does not grow
//! memory or disk: the producer's session stops reading (so TCP pushes back on the producer)
//! and retries for up to `producer_wait_ms`; only then does the producer get an ERROR naming
//! the limit. Nothing it had sent before is lost, and other connections carry on.

use super::destination::Destination;
use super::engine::{Engine, EngineError};
use super::queue::MessageQueue;
use std::sync::atomic::Ordering;

impl Engine {
    /// Whether a message of `incoming` body bytes fits in `q` now, with `total` body bytes
    /// waiting broker-wide.
    pub(super) fn has_room(
        &self,
        q: &MessageQueue,
        incoming: usize,
        persistent: bool,
        total: usize,
    ) -> bool {
        let l = &self.limits;
        q.len() < l.max_queue_messages
            && (q.is_empty() || q.bytes() + incoming <= l.max_queue_bytes)
            && (total == 0 || total + incoming <= l.max_memory_bytes)
            && !(persistent && self.store.as_ref().is_some_and(|s| s.is_full()))
    }

    /// The ERROR for a SEND that did not fit: which limit it hit.
    pub(super) fn queue_full(
        &self,
        dest: &Destination,
        q: &MessageQueue,
        incoming: usize,
        total: usize,
    ) -> EngineError {
        let l = &self.limits;
        if q.len() < l.max_queue_messages
            && (q.is_empty() || q.bytes() + incoming <= l.max_queue_bytes)
        {
            if total + incoming > l.max_memory_bytes {
                return EngineError::MemoryFull {
                    destination: dest.to_string(),
                    used: total,
                    max: l.max_memory_bytes,
                };
            }
            if let Some(u) = self.store.as_ref().map(|s| s.usage()) {
                return EngineError::StoreFull {
                    destination: dest.to_string(),
                    used: u.disk_bytes,
                    max: u.max_disk_bytes,
                };
            }
        }
        EngineError::QueueFull {
            destination: dest.to_string(),
            messages: q.len(),
            bytes: q.bytes(),
            max_messages: l.max_queue_messages,
            max_bytes: l.max_queue_bytes,
        }
    }

    /// Whether a SEND of `incoming` body bytes to `dest` would fit now. Topics always fit
    /// (slow subscribers are handled per subscriber, see `state`).
    pub fn has_room_for(&self, dest: &Destination, incoming: usize, persistent: bool) -> bool {
        if !dest.kind.is_queue() {
            return true;
        }
        let core = self.core.lock();
        let total = core.queued_total.load(Ordering::Relaxed);
        match core.dests.get(dest) {
            Some(d) => self.has_room(&d.queue, incoming, persistent, total),
            None => self.has_room(&MessageQueue::default(), incoming, persistent, total),
        }
    }
}
