//! ACK and NACK: a consumer (or a bridge, on its peer's receipt) settles deliveries it holds.
//!
//! An ACK frees the subscription's prefetch credit, so it is also when the next queued
//! messages go out. A bridge link acknowledges hundreds of messages under one lock
//! (`ack_tokens`); their subscriptions are refilled once at the end, not once per message.

use super::engine::{Engine, EngineError};
use super::message::now_ms;
use super::state::Core;
use super::subscription::{AckMode, AckToken, ConnId, SubKey, Unacked};
use smallvec::SmallVec;

/// Who may take more messages after an ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refill {
    /// The acknowledged message's subscription.
    Sub(SubKey),
    /// Every subscription of the connection: the ACK freed the unacked-bytes credit that was
    /// holding all of them back.
    Conn(ConnId),
}

impl Engine {
    /// ACK (or NACK) of `id`: the 1.2 `ack` token, or a 1.0/1.1 `message-id`, optionally
    /// narrowed by the 1.1 `subscription` header.
    pub fn ack(
        &self,
        conn: ConnId,
        id: &str,
        subscription: Option<&str>,
        nack: bool,
    ) -> Result<u64, EngineError> {
        let mut guard = self.core.lock();
        guard.ticket = 0;
        let refill = self.ack_locked(&mut guard, conn, id, subscription, nack)?;
        refill_after_ack(&mut guard, refill);
        self.settle(&mut guard);
        Ok(guard.ticket)
    }

    /// ACKs (or NACKs) deliveries by token under one lock: a local client's (a bridge
    /// link's batched receipts, or one refused message). Returns the tokens that were not
    /// held (unknown, or the connection is gone).
    pub fn ack_tokens(&self, conn: ConnId, tokens: &[AckToken], nack: bool) -> Vec<AckToken> {
        let mut guard = self.core.lock();
        let mut failed = Vec::new();
        let mut refills: SmallVec<[Refill; 4]> = SmallVec::new();
        for &t in tokens {
            match self.ack_held(&mut guard, conn, t.sub, Held::Seq(t.seq), nack) {
                Some(r) if !refills.contains(&r) => refills.push(r),
                Some(_) => {}
                None => failed.push(t),
            }
        }
        for r in refills {
            refill_after_ack(&mut guard, r);
        }
        self.settle(&mut guard);
        failed
    }

    fn ack_locked(
        &self,
        core: &mut Core,
        conn: ConnId,
        id: &str,
        subscription: Option<&str>,
        nack: bool,
    ) -> Result<Refill, EngineError> {
        let c = core.conns.get(&conn).ok_or(EngineError::ConnectionClosed)?;
        // A 1.2 ack token names its subscription and delivery; anything else is a message
        // id (1.0/1.1), looked for in the subscription the header names, or in all of the
        // connection's.
        if let Some(t) = AckToken::parse(id) {
            if let Some(r) = self.ack_held(core, conn, t.sub, Held::Seq(t.seq), nack) {
                return Ok(r);
            }
            return Err(EngineError::UnknownAck(id.to_string()));
        }
        let candidates: SmallVec<[SubKey; 4]> = if let Some(s) = subscription {
            c.subs.get(s).into_iter().copied().collect()
        } else {
            c.subs.values().copied().collect()
        };
        for key in candidates {
            if let Some(r) = self.ack_held(core, conn, key, Held::MessageId(id), nack) {
                return Ok(r);
            }
        }
        Err(EngineError::UnknownAck(id.to_string()))
    }

    /// Settles the delivery `which` of subscription `key`, if `conn` holds it there (and,
    /// in client mode, every earlier one).
    fn ack_held(
        &self,
        core: &mut Core,
        conn: ConnId,
        key: SubKey,
        which: Held<'_>,
        nack: bool,
    ) -> Option<Refill> {
        let sub = core.subs.get_mut(&key).filter(|s| s.conn == conn)?;
        let pos = match which {
            // Nearly always the oldest: deliveries are acknowledged in order.
            Held::Seq(seq) => match sub.unacked.front() {
                Some(u) if u.seq == seq => Some(0),
                _ => sub.unacked.binary_search_by_key(&seq, |u| u.seq).ok(),
            },
            Held::MessageId(id) => sub.unacked.iter().position(|u| u.message.id == id),
        }?;
        let taken: SmallVec<[Unacked; 1]> = match sub.ack {
            AckMode::Client => sub.unacked.drain(..=pos).collect(),
            _ => sub.unacked.remove(pos).into_iter().collect(),
        };
        // A bridge NACKs what its peer could not take (its demand went): not the message's
        // fault, so not a redelivery that counts towards the dead-letter queue.
        let counts = sub.network.is_none();
        core.release_unacked(conn, &taken);
        if nack {
            core.requeue(taken.into_vec(), now_ms(), counts);
        } else {
            for u in &taken {
                if let Some(q) = u.queue() {
                    if let Some(d) = core.dests.get_mut(q) {
                        d.stats.dequeued += 1;
                    }
                    core.consumed(&u.message, u.store_id);
                }
            }
        }
        self.end_if_drained(core, conn, key);
        let blocked = core
            .conns
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.bytes_blocked))
            .unwrap_or(false);
        Some(if blocked {
            Refill::Conn(conn)
        } else {
            Refill::Sub(key)
        })
    }
}

/// Which delivery an ACK names.
#[derive(Clone, Copy)]
enum Held<'a> {
    Seq(u64),
    MessageId(&'a str),
}

/// Hands out what the ACK made room for.
fn refill_after_ack(core: &mut Core, refill: Refill) {
    match refill {
        Refill::Sub(key) => core.dispatch_for_sub(key),
        Refill::Conn(conn) => {
            let subs: Vec<SubKey> = core
                .conns
                .get(&conn)
                .map(|c| c.subs.values().copied().collect())
                .unwrap_or_default();
            for k in subs {
                core.dispatch_for_sub(k);
            }
        }
    }
}
