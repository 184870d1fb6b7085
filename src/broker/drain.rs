//! When queue demand moves between brokers, the messages follow it — once, and without being
//! stranded.
//!
//! - **Sender side** (`Engine::drain`): a bridge's network subscription whose remote demand
//!   went is not removed at once — that would put its in-flight messages back in the queue
//!   while the peer still holds copies (which a consumer returning there would get again:
//!   duplicates). It takes nothing new and ends once the peer has settled every message in
//!   flight: a receipt (consumed there) or a NACK (handed back, see below).
//! - **Receiver side** (`Core::hand_back`): when a queue subscription ends, forwarded copies
//!   in that queue that no remaining subscription will take are removed and handed back to
//!   their sender (the consumed hook's `returned`, which the bridge turns into a NACK), so
//!   the sender delivers them where the demand went instead of leaving them here. One that
//!   arrives with no subscription to take it (it was on the way when the demand left) goes
//!   back the same way (`Publish::return_unwanted`), except those forwarded without demand
//!   (`statically_included_destinations`), which wait here as configured.
//!
//! The scan on the receiver side looks at each queued message's hook (a pointer test) once
//! per queue subscription that ends; only forwarded, unconsumed copies are touched.

use super::destination::Destination;
use super::engine::{Engine, EngineError};
use super::message::Message;
use super::state::Core;
use super::subscription::{AckMode, ConnId, SubKey};

impl Engine {
    /// Ends a bridge's queue subscription once the peer has settled what is in flight (see
    /// the module docs); at once when nothing is. Its client key is free again immediately.
    pub fn drain(&self, conn: ConnId, client_key: &str) -> Result<(), EngineError> {
        let mut guard = self.core.lock();
        let core = &mut *guard;
        let key = core.take_client_key(conn, client_key)?;
        let settled = core
            .subs
            .get(&key)
            .is_none_or(|s| s.ack == AckMode::Auto || s.unacked.is_empty());
        if settled {
            self.remove_subscription(core, conn, key);
            return Ok(());
        }
        if let Some(s) = core.subs.get_mut(&key) {
            s.draining = true;
        }
        // Still the connection's (closing it requeues what is left), under a name no client
        // id can have.
        if let Some(c) = core.conns.get_mut(&conn) {
            c.subs.insert(format!("\0draining-{key}"), key);
        }
        Ok(())
    }

    /// After an ACK or NACK on `key`: a draining subscription with nothing left in flight
    /// ends.
    pub(super) fn end_if_drained(&self, core: &mut Core, conn: ConnId, key: SubKey) {
        let drained = core
            .subs
            .get(&key)
            .is_some_and(|s| s.draining && s.unacked.is_empty());
        if drained {
            if let Some(c) = core.conns.get_mut(&conn) {
                c.subs.remove(&format!("\0draining-{key}"));
            }
            self.remove_subscription(core, conn, key);
        }
    }
}

impl Core {
    /// Takes a client's subscription id off its connection: the subscription it named.
    pub(super) fn take_client_key(
        &mut self,
        conn: ConnId,
        client_key: &str,
    ) -> Result<SubKey, EngineError> {
        self.conns
            .get_mut(&conn)
            .ok_or(EngineError::ConnectionClosed)?
            .subs
            .remove(client_key)
            .ok_or_else(|| EngineError::NoSuchSubscription(client_key.to_string()))
    }

    /// Whether some subscription of `m`'s queue (not a draining one) would take it.
    pub(super) fn has_taker(&self, m: &Message) -> bool {
        self.dests.get(&m.destination).is_some_and(|d| {
            d.subscribers.iter().any(|k| {
                self.subs
                    .get(k)
                    .is_some_and(|s| !s.draining && s.accepts(m))
            })
        })
    }

    /// Hands back the forwarded copies queued in `dest` that none of its subscriptions
    /// will take (see the module docs).
    pub(super) fn hand_back(&mut self, dest: &Destination) {
        let Some(d) = self.dests.get(dest) else {
            return;
        };
        if !dest.kind.is_queue() || !d.queue.iter().any(|q| q.message.on_consumed.is_some()) {
            return;
        }
        let takers: Vec<SubKey> = d
            .subscribers
            .iter()
            .copied()
            .filter(|k| self.subs.get(k).is_some_and(|s| !s.draining))
            .collect();
        let subs = &self.subs;
        let d = self.dests.get_mut(dest).expect("looked up above");
        let returned = d.queue.take_where(|q| {
            q.message.on_consumed.is_some()
                && q.store_id.is_none()
                && !takers
                    .iter()
                    .any(|k| subs.get(k).is_some_and(|s| s.accepts(&q.message)))
        });
        if !returned.is_empty() {
            tracing::debug!(%dest, count = returned.len(), "forwarded copies handed back: no consumer here any more");
        }
        for q in returned {
            q.message.returned();
        }
    }
}
