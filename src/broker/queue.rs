//! A queue destination's waiting messages, with their byte total kept up to date so that the
//! byte limit (and the TUI's "bytes pending") costs nothing to read.

use super::message::Message;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug)]
pub struct Queued {
    pub message: Arc<Message>,
    pub redelivered: bool,
}

#[derive(Debug, Default)]
pub struct MessageQueue {
    items: VecDeque<Queued>,
    bytes: usize,
}

impl MessageQueue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Body bytes of everything waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, i: usize) -> Option<&Queued> {
        self.items.get(i)
    }

    pub fn push_back(&mut self, q: Queued) {
        self.bytes += q.message.body.len();
        self.items.push_back(q);
    }

    /// Redeliveries go back in front, ahead of newer messages.
    pub fn push_front(&mut self, q: Queued) {
        self.bytes += q.message.body.len();
        self.items.push_front(q);
    }

    pub fn remove(&mut self, i: usize) -> Option<Queued> {
        let q = self.items.remove(i)?;
        self.bytes -= q.message.body.len();
        Some(q)
    }

    /// Drops expired messages; returns how many.
    pub fn drop_expired(&mut self, now_ms: u64) -> usize {
        let before = self.items.len();
        let mut freed = 0;
        self.items.retain(|q| {
            let keep = !q.message.is_expired(now_ms);
            if !keep {
                freed += q.message.body.len();
                q.message.consumed();
            }
            keep
        });
        self.bytes -= freed;
        before - self.items.len()
    }
}
