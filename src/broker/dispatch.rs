//! Queue dispatch: which consumer gets each waiting message, and when a pass looks at what.
//!
//! Each message goes to one consumer, chosen round-robin among those of the highest priority
//! level (local consumers before bridges) whose selector accepts it and who have credit
//! (prefetch) and room (outbox); otherwise it waits. A pass after a SEND looks only at the new
//! messages, and one for a consumer with room again only at what it may take (`Scan`,
//! `MessageQueue::with_identity`): with 100 000 directed requests waiting for absent nodes, a
//! node reconnecting took a scan of all of them under the engine's lock.

use super::destination::Destination;
use super::message::Message;
use super::queue::{Scan, Seq};
use super::state::{Core, Offer};
use super::subscription::{AckMode, SubKey};
use smallvec::SmallVec;
use std::sync::Arc;

/// A waiting message as a pass offers it.
struct Waiting {
    message: Arc<Message>,
    redelivered: bool,
    redeliveries: u32,
    store_id: Option<u64>,
}

impl Core {
    /// Hands queued messages of `dest` to consumers while any can take them.
    pub fn dispatch_queue(&mut self, dest: &Destination, now: u64, scan: Scan) {
        let Some(d) = self.dests.get_mut(dest) else {
            return;
        };
        if d.subscribers.is_empty() || d.queue.is_empty() {
            return;
        }
        let mut at = d.queue.scan_from(scan);
        // Borrow the consumer list for the pass (put back below) instead of cloning it on
        // every SEND; `offer` never touches destinations.
        let consumers = std::mem::take(&mut d.subscribers);
        let mut rr = d.rr;
        let n = consumers.len();
        // Consumers that cannot take anything more in this pass (no credit, or outbox full).
        // Once all are, stop: scanning the rest of the queue could only fail again, and doing
        // it on every SEND would make a backed-up queue quadratic.
        let mut closed: Vec<bool> = Vec::new();
        let mut open = n;
        // Priority levels, highest first: local consumers (0) before bridges (below 0).
        let (mut hi, mut lo) = (i32::MIN, i32::MAX);
        for k in consumers.iter() {
            if let Some(s) = self.subs.get(k) {
                hi = hi.max(s.priority);
                lo = lo.min(s.priority);
            }
        }
        while open > 0 {
            let d = self.dests.get_mut(dest).expect("exists");
            let Some((seq, _)) = d.queue.first_from(at) else {
                break;
            };
            at = seq + 1;
            let Some(w) = self.look_at(dest, seq, now) else {
                continue;
            };
            let mut taken: Option<SubKey> = None;
            let mut level = hi;
            'levels: while taken.is_none() && level >= lo {
                for step in 0..n {
                    let idx = (rr + step) % n;
                    if closed.get(idx).copied().unwrap_or(false) {
                        continue;
                    }
                    let key = consumers[idx];
                    let busy = match self.subs.get(&key) {
                        None => true,
                        Some(sub) if sub.priority != level => continue,
                        Some(sub) if !sub.has_credit() => true,
                        Some(sub) if !sub.accepts(&w.message) => continue,
                        Some(_) => match self.offer_waiting(key, &w, dest) {
                            Offer::Taken => {
                                rr = (idx + 1) % n;
                                taken = Some(key);
                                break 'levels;
                            }
                            Offer::Busy => true,
                        },
                    };
                    if busy {
                        if closed.is_empty() {
                            closed.resize(n, false);
                        }
                        closed[idx] = true;
                        open -= 1;
                    }
                }
                if level == i32::MIN {
                    break;
                }
                level -= 1;
            }
            // Taken, or nobody open wants it (selectors): on down the queue either way.
            if let Some(key) = taken {
                self.taken_from(dest, seq, key, &w);
            }
        }
        if let Some(d) = self.dests.get_mut(dest) {
            d.rr = rr;
            d.subscribers = consumers;
            // Offered to every consumer with room, or waiting for room: either way the next
            // pass that is not for a consumer gaining room starts after them.
            d.queue.all_offered();
        }
    }

    /// Runs dispatch for a subscription that arrived or gained credit or room, on every
    /// queue it is attached to. Only it can take what it could not before, so a node's
    /// `mc_identity` selector needs only the messages for that identity (see `Scan`).
    pub fn dispatch_for_sub(&mut self, key: SubKey) {
        let Some(sub) = self.subs.get(&key) else {
            return;
        };
        if !sub.pattern.kind.is_queue() {
            return;
        }
        let now = super::message::now_ms();
        let identity: Option<Box<str>> = sub
            .selector
            .as_ref()
            .and_then(|s| s.mc_identity())
            .map(Into::into);
        // Usually one destination: dispatch it without copying the list.
        let attached = if sub.attached.len() == 1 {
            SmallVec::<[Destination; 1]>::from_elem(sub.attached[0].clone(), 1)
        } else {
            sub.attached.iter().cloned().collect()
        };
        for d in attached {
            match &identity {
                Some(id) => self.dispatch_identity(&d, key, id, now),
                None => self.dispatch_queue(&d, now, Scan::All),
            }
        }
    }

    /// Offers `key` (whose selector is `mc_identity = 'identity'`) the messages of `dest`
    /// for that identity, front first, while it can take them.
    fn dispatch_identity(&mut self, dest: &Destination, key: SubKey, identity: &str, now: u64) {
        let Some(d) = self.dests.get_mut(dest) else {
            return;
        };
        let seqs: SmallVec<[Seq; 4]> = d.queue.with_identity(identity).collect();
        for seq in seqs {
            let Some(w) = self.look_at(dest, seq, now) else {
                continue;
            };
            match self.subs.get(&key) {
                Some(sub) if sub.has_credit() && sub.accepts(&w.message) => {}
                _ => return,
            }
            match self.offer_waiting(key, &w, dest) {
                Offer::Taken => self.taken_from(dest, seq, key, &w),
                Offer::Busy => return,
            }
        }
    }

    /// The message at `seq` of `dest`, counted as looked at; `None` when it is gone or has
    /// expired (moved to the expiry queue).
    fn look_at(&mut self, dest: &Destination, seq: Seq, now: u64) -> Option<Waiting> {
        let d = self.dests.get_mut(dest)?;
        let q = d.queue.get(seq)?;
        d.stats.examined += 1;
        if q.message.is_expired(now) {
            d.stats.expired += 1;
            if let Some(q) = d.queue.remove(seq) {
                self.expire(dest, q);
            }
            return None;
        }
        Some(Waiting {
            message: q.message.clone(),
            redelivered: q.redelivered,
            redeliveries: q.redeliveries,
            store_id: q.store_id,
        })
    }

    fn offer_waiting(&mut self, key: SubKey, w: &Waiting, dest: &Destination) -> Offer {
        let Waiting {
            message,
            redelivered,
            redeliveries,
            store_id,
        } = w;
        self.offer(
            key,
            message,
            *redelivered,
            *redeliveries,
            *store_id,
            Some(dest),
        )
    }

    /// Bookkeeping for the message at `seq` of `dest`, taken by `key`.
    fn taken_from(&mut self, dest: &Destination, seq: Seq, key: SubKey, w: &Waiting) {
        let (message, store_id) = (&w.message, w.store_id);
        let auto = self.subs.get(&key).is_some_and(|s| s.ack == AckMode::Auto);
        let d = self.dests.get_mut(dest).expect("exists");
        d.queue.remove(seq);
        d.stats.dispatched += 1;
        d.stats.bytes_out += message.body.len() as u64;
        if auto {
            d.stats.dequeued += 1;
            self.consumed(message, store_id);
        }
    }
}
