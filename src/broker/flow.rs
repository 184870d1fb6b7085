//! Producer flow control: a queue holds at most `max_queue_messages` messages and
//! `max_queue_bytes` body bytes. A SEND to a full queue does not grow memory: the producer's
//! session stops reading (so TCP pushes back on the producer) and retries for up to
//! `producer_wait_ms`; only then does the producer get an ERROR naming the queue and limits.
//! Nothing it had sent before is lost, and other connections carry on.

use super::destination::Destination;
use super::engine::{Engine, EngineError};
use super::queue::MessageQueue;

impl Engine {
    pub(super) fn has_room(&self, q: &MessageQueue, incoming: usize) -> bool {
        q.len() < self.limits.max_queue_messages
            && (q.is_empty() || q.bytes() + incoming <= self.limits.max_queue_bytes)
    }

    pub(super) fn queue_full(&self, dest: &Destination, q: &MessageQueue) -> EngineError {
        EngineError::QueueFull {
            destination: dest.to_string(),
            messages: q.len(),
            bytes: q.bytes(),
            max_messages: self.limits.max_queue_messages,
            max_bytes: self.limits.max_queue_bytes,
        }
    }

    /// Whether a SEND of `incoming` body bytes to `dest` would fit now. Topics always fit
    /// (slow subscribers are handled per subscriber, see `state`).
    pub fn has_room_for(&self, dest: &Destination, incoming: usize) -> bool {
        if !dest.kind.is_queue() {
            return true;
        }
        let core = self.core.lock();
        core.dests
            .get(dest)
            .is_none_or(|d| self.has_room(&d.queue, incoming))
    }
}
