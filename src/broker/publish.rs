//! SEND: a frame's headers and body become a `Message` (frame-level headers dropped, the
//! broker's added), which the destination takes — a queue holds it and dispatches it to a
//! consumer, a topic hands a copy to each subscriber.
//!
//! A bridge link publishes the messages of a whole read at once (`send_batch`): one engine
//! lock, one dispatch pass per queue, for what a client's SEND does one at a time.

use super::destination::Destination;
use super::engine::{Engine, EngineError};
use super::message::{is_frame_only, is_true, now_ms, ConsumedHook, Message, HOPS_HEADER};
use super::queue::{Queued, Scan};
use super::state::Core;
use super::subscription::ConnId;
use crate::stomp::Headers;
use bytes::Bytes;
use smallvec::SmallVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One message of a `send_batch`.
pub struct Publish {
    pub destination: Destination,
    pub headers: Headers,
    pub body: Bytes,
    pub on_consumed: Option<ConsumedHook>,
    /// A forwarded queue message that no subscription here will take goes straight back
    /// to its sender (`Message::returned`) instead of waiting here: its demand moved on
    /// while it was on the way (see `drain`).
    pub return_unwanted: bool,
    /// A topic message already delivered here, which this copy carries further: only to
    /// bridges' subscriptions, not again to local subscribers.
    pub onward_only: bool,
}

impl Engine {
    /// Publishes a SEND. `headers` are the frame's headers; frame-only ones are dropped here.
    /// Returns the store sequence the SEND's receipt must wait for (0: nothing journaled).
    pub fn send(
        &self,
        conn: ConnId,
        destination: Destination,
        headers: Headers,
        body: Bytes,
    ) -> Result<u64, EngineError> {
        self.send_hooked(conn, destination, headers, body, None)
    }

    /// `send` with a hook run when the (queue) message is consumed here; see `Message`.
    pub fn send_hooked(
        &self,
        conn: ConnId,
        destination: Destination,
        headers: Headers,
        body: Bytes,
        on_consumed: Option<ConsumedHook>,
    ) -> Result<u64, EngineError> {
        let now = now_ms();
        let message = self.make_message(conn, destination, headers, body, now, on_consumed);
        let mut guard = self.core.lock();
        let core = &mut *guard;
        core.ticket = 0;
        if let Some(queued) = self.publish_locked(core, conn, message, now)? {
            core.dispatch_queue(&queued.destination, now, Scan::New);
        }
        self.settle(core);
        Ok(core.ticket)
    }

    /// Publishes several messages under one lock, dispatching each queue once at the end
    /// (in order: a queue's messages keep theirs). Returns the refused ones, by index, with
    /// why; the others are published.
    pub fn send_batch(
        &self,
        conn: ConnId,
        batch: Vec<Publish>,
    ) -> SmallVec<[(usize, EngineError); 1]> {
        let now = now_ms();
        let flags: SmallVec<[(bool, bool); 16]> = batch
            .iter()
            .map(|p| (p.return_unwanted, p.onward_only))
            .collect();
        let messages: Vec<Arc<Message>> = batch
            .into_iter()
            .map(|p| self.make_message(conn, p.destination, p.headers, p.body, now, p.on_consumed))
            .collect();
        let mut refused = SmallVec::new();
        // One message of each queue the batch went to, naming it.
        let mut queues: SmallVec<[Arc<Message>; 2]> = SmallVec::new();
        let mut guard = self.core.lock();
        let core = &mut *guard;
        core.ticket = 0;
        for (i, m) in messages.into_iter().enumerate() {
            let (return_unwanted, onward_only) = flags[i];
            if return_unwanted && m.destination.kind.is_queue() && !core.has_taker(&m) {
                m.returned();
                continue;
            }
            if onward_only && !m.destination.kind.is_queue() {
                let dest = m.destination.clone();
                core.publish_topic(&dest, m, &self.settings(), true);
                continue;
            }
            match self.publish_locked(core, conn, m, now) {
                Ok(Some(q)) if !queues.iter().any(|m| m.destination == q.destination) => {
                    queues.push(q)
                }
                Ok(_) => {}
                Err(e) => refused.push((i, e)),
            }
        }
        for q in &queues {
            core.dispatch_queue(&q.destination, now, Scan::New);
        }
        self.settle(core);
        refused
    }

    /// Hands `message` to its destination: checks, counts, queues it (returning it: its
    /// queue is to be dispatched) or publishes it to a topic's subscribers.
    fn publish_locked(
        &self,
        core: &mut Core,
        conn: ConnId,
        message: Arc<Message>,
        now: u64,
    ) -> Result<Option<Arc<Message>>, EngineError> {
        core.totals.msgs_in += 1;
        core.totals.bytes_in += message.body.len() as u64;
        if let Some(c) = core.conns.get_mut(&conn) {
            c.msgs_in += 1;
            c.bytes_in += message.body.len() as u64;
        }
        let dest_key = &message.destination;
        if dest_key.kind.is_temp() {
            match Engine::temp_owner(&dest_key.name) {
                Some(owner) if core.conns.contains_key(&owner) => {}
                _ => return Err(EngineError::TempGone(dest_key.to_string())),
            }
        }
        self.authorize_send(core, conn, &message)?;
        if !core.dests.contains_key(dest_key) {
            let owner = core.conns.get(&conn).and_then(|c| c.principal.clone());
            core.may_create(dest_key, owner.as_deref(), &self.limits())?;
            core.ensure_dest(dest_key, &self.events, &self.security.acl(), owner.as_ref());
        }
        let total = core.queued_total.bytes.load(Ordering::Relaxed);
        let dest = core.dests.get_mut(dest_key).expect("just ensured");
        let size = message.size();
        if dest_key.kind.is_queue() {
            self.check_room(dest_key, &dest.queue, size, message.persistent, total)
                .inspect_err(|e| self.counters.refused(e))?;
        }
        dest.stats.enqueued += 1;
        dest.stats.bytes_in += message.body.len() as u64;
        dest.last_active_ms = now;
        if conn != 0 && dest.producers.insert(conn) {
            if let Some(c) = core.conns.get_mut(&conn) {
                c.produced.insert(dest_key.clone());
            }
        }
        if message.is_expired(now) {
            dest.stats.expired += 1;
            message.consumed();
            return Ok(None);
        }
        // The message's own destination names it from here on (an Arc clone, not a copy).
        let held = message.clone();
        let key = &held.destination;
        if !key.kind.is_queue() {
            core.publish_topic(key, message, &self.settings(), false);
            return Ok(None);
        }
        let mut queued = Queued::new(message);
        core.journal(key, &mut queued);
        core.dests
            .get_mut(key)
            .expect("exists")
            .queue
            .push_back(queued);
        Ok(Some(held))
    }

    /// The message a SEND of `conn` makes. A reply-to naming the sender's own temp
    /// destination must reach the sender, whoever answers: it gets the internal name
    /// (network sessions and local clients alike).
    fn make_message(
        &self,
        conn: ConnId,
        destination: Destination,
        mut headers: Headers,
        body: Bytes,
        now: u64,
        on_consumed: Option<ConsumedHook>,
    ) -> Arc<Message> {
        if let Some(i) = headers.position("reply-to") {
            if let Ok(d) = Destination::parse(headers.at(i).1) {
                if d.kind.is_temp() {
                    let internal = Engine::internal(conn, d).to_string();
                    headers.set_value(i, &internal);
                }
            }
        }
        // Filtered in place: the frame's headers become the message's, and the frame-level
        // headers dropped leave room for the two added.
        let mut kept = headers;
        let (mut has_ts, mut has_prio) = (false, false);
        let (mut expires, mut priority, mut persistent) = (0u64, 4u8, false);
        let mut hops = 0u32;
        let mut keep: smallvec::SmallVec<[bool; 16]> = smallvec::SmallVec::new();
        // Names seen so far, by a 6-bit digest: a name whose bit is clear is certainly its
        // first occurrence, so repeats are searched for only on a collision (rare: a SEND
        // has a handful of headers), not for every header.
        let mut seen = 0u64;
        for (i, (k, v)) in kept.iter().enumerate() {
            // Frame-level headers go, and repeats (the first one wins).
            let bit = 1u64 << ((k.len() ^ usize::from(k.bytes().last().unwrap_or(0))) & 63);
            let first = seen & bit == 0 || kept.position(k) == Some(i);
            seen |= bit;
            keep.push(first && !is_frame_only(k));
            if !keep[i] {
                continue;
            }
            match k {
                "timestamp" => has_ts = true,
                "priority" => {
                    has_prio = true;
                    priority = v.trim().parse().unwrap_or(4).min(9);
                }
                "expires" => expires = v.trim().parse().unwrap_or(0),
                "persistent" => persistent = is_true(v),
                HOPS_HEADER => hops = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        if keep.iter().any(|k| !k) {
            kept.retain(|i, _, _| keep[i]);
        }
        if !has_prio {
            kept.push("priority", "4");
        }
        if !has_ts {
            kept.push("timestamp", itoa::Buffer::new().format(now));
        }
        Arc::new(Message {
            id: self.ids.next(),
            destination_header: destination.render(),
            destination,
            headers: kept,
            body,
            expires,
            priority,
            persistent,
            hops,
            on_consumed,
        })
    }
}
