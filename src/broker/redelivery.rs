//! Where queue messages go other than to a consumer: back to their queue (redelivery), to a
//! dead-letter or expiry queue, out of the store once consumed — and into it when they arrive.
//! The rules of the `[delivery]` policy live here, in one place.

use super::destination::{DestKind, Destination};
use super::message::Message;
use super::queue::{Queued, Scan};
use super::settings::ExpiredPolicy;
use super::state::Core;
use super::subscription::Unacked;
use std::sync::Arc;

impl Core {
    /// A queue message is consumed (acknowledged, auto-acked, expired, moved): tell whoever
    /// handed it to us (a bridge) and take it out of the store.
    pub fn consumed(&mut self, message: &Message, store_id: Option<u64>) {
        message.consumed();
        if let (Some(id), Some(store)) = (store_id, &self.store) {
            self.ticket = self.ticket.max(store.remove(id));
        }
    }

    /// Journals a message entering the queue `dest` if it is persistent and ours to keep: a
    /// message that came over a bridge stays the upstream broker's until consumed here.
    pub fn journal(&mut self, dest: &Destination, q: &mut Queued) {
        if q.store_id.is_some()
            || dest.kind != DestKind::Queue
            || !q.message.persistent
            || q.message.on_consumed.is_some()
        {
            return;
        }
        if let Some(store) = &self.store {
            let (id, seq) = store.add(dest, &q.message, q.redeliveries);
            q.store_id = Some(id);
            self.ticket = self.ticket.max(seq);
        }
    }

    /// An expired queue message: dropped, or moved to the expiry queue, by policy.
    pub fn expire(&mut self, dest: &Destination, q: Queued) {
        let p = &self.policy;
        if p.expired == ExpiredPolicy::Queue && dest.name != p.expiry_queue {
            let to = Destination::new(DestKind::Queue, p.expiry_queue.clone());
            let mut moved = q.message.moved_to(&to);
            moved.expires = 0; // or it would expire again, there
            self.moves.push_back((to, Queued::new(Arc::new(moved))));
        }
        self.consumed(&q.message, q.store_id);
    }

    /// The dead-letter queue for messages of `queue`, unless they are in one already.
    fn dead_letter_queue(&self, queue: &Destination) -> Option<Destination> {
        let p = &self.policy;
        if queue.kind != DestKind::Queue || queue.name.starts_with(&p.dead_letter_prefix) {
            return None;
        }
        Some(Destination::new(
            DestKind::Queue,
            format!("{}{}", p.dead_letter_prefix, queue.name),
        ))
    }

    /// Returns unacknowledged queue messages to the front of their queues, in their original
    /// order, marked redelivered (past `max_redeliveries`, to the dead-letter queue); topic
    /// messages are dropped. `counts`: the return counts towards `max_redeliveries`.
    pub fn requeue(&mut self, unacked: Vec<Unacked>, now: u64, counts: bool) {
        let mut touched: Vec<Destination> = Vec::new();
        for u in unacked.into_iter().rev() {
            let Some(q) = u.queue().cloned() else {
                continue;
            };
            let redeliveries = u.redeliveries + counts as u32;
            let limit = self.policy.max_redeliveries;
            if counts && limit >= 0 && redeliveries as i64 > limit {
                if let Some(dlq) = self.dead_letter_queue(&q) {
                    let moved = u.message.moved_to(&dlq);
                    tracing::info!(message = %u.message.id, from = %q, to = %dlq, redeliveries = u.redeliveries, "dead-lettered after too many redeliveries");
                    self.moves.push_back((dlq, Queued::new(Arc::new(moved))));
                    self.consumed(&u.message, u.store_id);
                    continue;
                }
            }
            if let Some(d) = self.dests.get_mut(&q) {
                d.queue.push_front(Queued {
                    message: u.message,
                    redelivered: true,
                    redeliveries,
                    store_id: u.store_id,
                });
                if !touched.contains(&q) {
                    touched.push(q);
                }
            }
        }
        for q in touched {
            self.dispatch_queue(&q, now, Scan::All);
        }
    }
}
