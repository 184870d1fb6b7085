//! ACK and NACK: a consumer (or a bridge, on its peer's receipt) settles deliveries it holds.
//!
//! An ACK frees the subscription's prefetch credit, so it is also when the next queued
//! messages go out. A bridge link acknowledges hundreds of messages under one lock
//! (`ack_many`); their subscriptions are refilled once at the end, not once per message.

use super::engine::{Engine, EngineError};
use super::message::now_ms;
use super::state::Core;
use super::subscription::{AckMode, ConnId, SubKey, Unacked};
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

    /// Several ACKs under one lock: a bridge link's batched receipts. Returns the ids that
    /// were not acknowledged (unknown, or the connection is gone).
    pub fn ack_many<'a>(
        &self,
        conn: ConnId,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        let mut guard = self.core.lock();
        let mut failed = Vec::new();
        let mut refills: SmallVec<[Refill; 4]> = SmallVec::new();
        for id in ids {
            match self.ack_locked(&mut guard, conn, id, None, false) {
                Ok(r) if !refills.contains(&r) => refills.push(r),
                Ok(_) => {}
                Err(_) => failed.push(id.to_string()),
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
        // Candidate subscriptions: named by the token, by the header, or all of the connection's.
        let (by_token, message_id) = match id.split_once(':') {
            Some((k, rest)) if k.bytes().all(|b| b.is_ascii_digit()) && !k.is_empty() => {
                (k.parse::<SubKey>().ok(), rest)
            }
            _ => (None, id),
        };
        // The token's subscription, if it is this connection's (a map lookup: a bridge link's
        // connection may hold thousands of subscriptions).
        let by_token = by_token.filter(|k| core.subs.get(k).is_some_and(|s| s.conn == conn));
        let candidates: SmallVec<[SubKey; 1]> = if let Some(k) = by_token {
            SmallVec::from_elem(k, 1)
        } else if let Some(s) = subscription {
            c.subs.get(s).into_iter().copied().collect()
        } else {
            c.subs.values().copied().collect()
        };
        for key in candidates {
            let Some(sub) = core.subs.get_mut(&key) else {
                continue;
            };
            let pos = sub
                .unacked
                .iter()
                .position(|u| u.message.id == message_id || u.message.id == id);
            let Some(pos) = pos else { continue };
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
            let blocked = core
                .conns
                .get_mut(&conn)
                .map(|c| std::mem::take(&mut c.bytes_blocked))
                .unwrap_or(false);
            return Ok(if blocked {
                Refill::Conn(conn)
            } else {
                Refill::Sub(key)
            });
        }
        Err(EngineError::UnknownAck(id.to_string()))
    }
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
