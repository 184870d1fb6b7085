//! Durable topic subscriptions and recovery from the store: the engine's side of persistence.
//!
//! A durable subscription (ActiveMQ's `client-id` on CONNECT plus `activemq.subscriptionName`,
//! or `durable-subscription-name`, on SUBSCRIBE) is a private queue that the topic feeds
//! whether or not its subscriber is connected: the subscriber consumes that queue with the
//! usual acks and redelivery, and persistent messages in it are journaled like any queue's.
//! The queue's name (`shoal.durable.<client-id>.<name>`) is reserved: clients cannot send to
//! or subscribe to it directly, and `shoal.` names never cross bridges.

use super::destination::{DestKind, DestPattern, Destination};
use super::engine::{Engine, EngineError, SubscribeRequest};
use super::message::{Message, HOPS_HEADER};
use super::queue::Queued;
use super::selector::Selector;
use super::state::{Core, Durable};
use super::store::durable::DurableRecord;
use super::store::Recovery;
use super::subscription::ConnId;
use std::sync::Arc;

/// Internal queues of durable subscriptions start with this.
pub const DURABLE_PREFIX: &str = "shoal.durable.";

/// Whether a client-given destination name is one of the engine's reserved ones.
pub fn is_reserved(kind: DestKind, name: &str) -> bool {
    kind == DestKind::Queue && name.starts_with(DURABLE_PREFIX)
}

/// CONNECT's `client-id` of `conn`: durable subscriptions are named within it.
fn client_id_of(core: &Core, conn: ConnId) -> Result<String, EngineError> {
    core.conns
        .get(&conn)
        .and_then(|c| c.client_id.clone())
        .ok_or(EngineError::DurableWithoutClientId)
}

/// The reserved queue that holds a durable subscription's messages. The client-id is
/// escaped (`.`, `:` and `%` as `%2E`, `%3A`, `%25`) so that no two (client-id, name) pairs
/// share a queue: `P.reports` + `audit` and `P` + `reports.audit` once both meant
/// `shoal.durable.P.reports.audit`. Client-ids without those characters keep the name they
/// always had, so stored subscriptions find their messages.
fn queue_of(client_id: &str, name: &str) -> Destination {
    Destination::new(
        DestKind::Queue,
        format!("{DURABLE_PREFIX}{}.{name}", escape_client_id(client_id)),
    )
}

fn key_of(client_id: &str, name: &str) -> String {
    format!("{}:{name}", escape_client_id(client_id))
}

fn escape_client_id(client_id: &str) -> std::borrow::Cow<'_, str> {
    if !client_id.contains(['.', ':', '%']) {
        return client_id.into();
    }
    let mut s = String::with_capacity(client_id.len() + 8);
    for c in client_id.chars() {
        match c {
            '.' => s.push_str("%2E"),
            ':' => s.push_str("%3A"),
            '%' => s.push_str("%25"),
            c => s.push(c),
        }
    }
    s.into()
}

/// A durable subscription belongs to the user who made it: another user reusing its
/// client-id and name may neither take it over nor delete it.
fn owned_by(d: &Durable, user: Option<&str>) -> bool {
    d.record.user.as_deref() == user
}

/// A durable subscription as the handle shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DurableSnapshot {
    pub client_id: String,
    pub name: String,
    pub destination: String,
    pub selector: Option<String>,
    pub active: bool,
    /// Messages kept for it (waiting, not counting those delivered and unacknowledged).
    pub pending: usize,
}

impl Engine {
    /// Records CONNECT's `client-id` for the connection's durable subscriptions.
    pub fn set_client_id(&self, conn: ConnId, client_id: &str) {
        if let Some(c) = self.core.lock().conns.get_mut(&conn) {
            c.client_id = Some(client_id.to_string());
        }
    }

    /// Finds or makes the durable subscription `name` of the connection's client-id for
    /// `req`; returns its key and queue. A changed topic or selector starts it afresh (its
    /// kept messages are dropped), as ActiveMQ does.
    pub(super) fn open_durable(
        &self,
        core: &mut Core,
        conn: ConnId,
        name: &str,
        req: &SubscribeRequest,
    ) -> Result<(String, Destination), EngineError> {
        if req.pattern.kind != DestKind::Topic {
            return Err(EngineError::DurableNotTopic(req.pattern.to_string()));
        }
        let client_id = client_id_of(core, conn)?;
        let key = key_of(&client_id, name);
        let principal = core.conns.get(&conn).and_then(|c| c.principal.clone());
        let record = DurableRecord {
            client_id: client_id.clone(),
            name: name.to_string(),
            destination: req.pattern.to_string(),
            selector: req.selector.as_ref().map(|s| s.source().to_string()),
            user: principal.as_ref().map(|p| p.user.clone()),
        };
        if let Some(d) = core.durables.get(&key) {
            if !owned_by(d, record.user.as_deref()) {
                tracing::warn!(durable = %key, user = ?record.user, owner = ?d.record.user, "refused: another user's durable subscription");
                return Err(EngineError::DurableNotOwned(key));
            }
            if d.active.is_some() {
                return Err(EngineError::DurableActive(key));
            }
            if d.record == record {
                let queue = d.queue.clone();
                if let Some(d) = core.durables.get_mut(&key) {
                    d.principal = principal; // the user's current groups
                    d.orphaned = false;
                }
                return Ok((key, queue));
            }
            tracing::info!(durable = %key, "durable subscription changed topic or selector: starting afresh");
            self.drop_durable(core, &key);
        }
        let queue = queue_of(&client_id, name);
        core.ensure_dest(&queue, &self.events, &self.security.acl(), None);
        core.durables.insert(
            key.clone(),
            Durable {
                record,
                pattern: req.pattern.clone(),
                selector: req.selector.clone(),
                queue: queue.clone(),
                active: None,
                principal,
                orphaned: false,
            },
        );
        self.save_durables(core);
        Ok((key, queue))
    }

    /// UNSUBSCRIBE naming a durable subscription: ends the connection's subscription to it
    /// (if `client_key` names one) and deletes it with every message kept for it.
    pub fn unsubscribe_durable(
        &self,
        conn: ConnId,
        client_key: Option<&str>,
        name: &str,
    ) -> Result<u64, EngineError> {
        if let Some(k) = client_key {
            let held = self
                .core
                .lock()
                .conns
                .get(&conn)
                .is_some_and(|c| c.subs.contains_key(k));
            if held {
                self.unsubscribe(conn, k)?;
            }
        }
        let mut guard = self.core.lock();
        let core = &mut *guard;
        core.ticket = 0;
        let key = key_of(&client_id_of(core, conn)?, name);
        let user = core
            .conns
            .get(&conn)
            .and_then(|c| c.principal.as_ref().map(|p| p.user.clone()));
        match core.durables.get(&key) {
            None => return Err(EngineError::NoSuchDurable(key)),
            Some(d) if !owned_by(d, user.as_deref()) => {
                tracing::warn!(durable = %key, user = ?user, owner = ?d.record.user, "refused: deleting another user's durable subscription");
                return Err(EngineError::DurableNotOwned(key));
            }
            Some(d) if d.active.is_some() => return Err(EngineError::DurableActive(key)),
            Some(_) => {}
        }
        self.drop_durable(core, &key);
        self.save_durables(core);
        Ok(core.ticket)
    }

    fn drop_durable(&self, core: &mut Core, key: &str) {
        let Some(d) = core.durables.remove(key) else {
            return;
        };
        if let Some(mut dest) = core.forget_dest(&d.queue) {
            for q in dest.queue.drain() {
                core.consumed(&q.message, q.store_id);
            }
        }
    }

    fn save_durables(&self, core: &Core) {
        let Some(store) = &self.store else { return };
        let mut all: Vec<DurableRecord> =
            core.durables.values().map(|d| d.record.clone()).collect();
        all.sort_by(|a, b| (&a.client_id, &a.name).cmp(&(&b.client_id, &b.name)));
        if let Err(e) = store.save_durables(&all) {
            tracing::error!(error = %e, "cannot save durable subscriptions; they will not survive a restart");
        }
    }

    /// Whether the topic may feed `message` to the durable subscription whose queue is
    /// `queue`: its owner must be allowed to read the message's destination.
    pub(super) fn durable_may_read(
        &self,
        core: &Core,
        queue: &Destination,
        message: &Message,
    ) -> bool {
        core.durables
            .values()
            .find(|d| &d.queue == queue)
            .is_none_or(|d| {
                !d.orphaned
                    && d.principal.as_ref().is_none_or(|p| {
                        self.security.acl().allows(
                            p,
                            super::auth::Action::Read,
                            &message.destination,
                        )
                    })
            })
    }

    pub(super) fn durables_of(core: &Core) -> Vec<DurableSnapshot> {
        let mut v: Vec<DurableSnapshot> = core
            .durables
            .values()
            .map(|d| DurableSnapshot {
                client_id: d.record.client_id.clone(),
                name: d.record.name.clone(),
                destination: d.record.destination.clone(),
                selector: d.record.selector.clone(),
                active: d.active.is_some(),
                pending: core.dests.get(&d.queue).map_or(0, |q| q.queue.len()),
            })
            .collect();
        v.sort_by(|a, b| (&a.client_id, &a.name).cmp(&(&b.client_id, &b.name)));
        v
    }

    /// Puts what the store recovered back: durable subscriptions, then every message in its
    /// queue in its original order. A message that may have been delivered before (its
    /// delivery was journaled, or the broker crashed) comes back `redelivered:true`.
    pub fn restore(&self, recovery: Recovery) {
        let mut guard = self.core.lock();
        let core = &mut *guard;
        for r in recovery.durables {
            let pattern = match DestPattern::parse(&r.destination) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(client_id = %r.client_id, name = %r.name, error = %e, "skipping a stored durable subscription");
                    continue;
                }
            };
            let selector = match r.selector.as_deref().map(Selector::parse).transpose() {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(client_id = %r.client_id, name = %r.name, error = %e, "skipping a stored durable subscription");
                    continue;
                }
            };
            let queue = queue_of(&r.client_id, &r.name);
            core.ensure_dest(&queue, &self.events, &self.security.acl(), None);
            let principal = r
                .user
                .as_deref()
                .and_then(|u| self.security.auth.principal_of(u));
            let orphaned = r.user.is_some() && principal.is_none();
            if orphaned {
                tracing::warn!(client_id = %r.client_id, name = %r.name, user = ?r.user, "durable subscription of a user that no longer exists: it receives nothing until that user subscribes again");
            }
            core.durables.insert(
                key_of(&r.client_id, &r.name),
                Durable {
                    record: r,
                    pattern,
                    selector,
                    queue,
                    active: None,
                    principal,
                    orphaned,
                },
            );
        }
        let count = recovery.messages.len();
        for rec in recovery.messages {
            let m = rec.message;
            let queue = Destination::new(DestKind::Queue, m.queue.clone());
            let destination = Destination::parse(&m.destination).unwrap_or_else(|_| queue.clone());
            let message = Message {
                id: m.message_id.clone(),
                destination_header: m.destination.clone(),
                destination,
                hops: m
                    .headers
                    .get(HOPS_HEADER)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                headers: m.headers,
                body: m.body,
                expires: m.expires,
                priority: m.priority,
                persistent: true,
                on_consumed: None,
            };
            let redelivered = rec.delivered || recovery.crashed || m.redeliveries > 0;
            core.ensure_dest(&queue, &self.events, &self.security.acl(), None);
            let d = core.dests.get_mut(&queue).expect("just ensured");
            d.stats.enqueued += 1;
            d.queue.push_back(Queued {
                message: Arc::new(message),
                redelivered,
                redeliveries: m.redeliveries,
                store_id: Some(m.store_id),
            });
        }
        let r = &recovery.report;
        tracing::info!(
            messages = count,
            durables = core.durables.len(),
            segments = r.segments,
            records = r.records,
            crashed = recovery.crashed,
            "message store recovered"
        );
        if r.torn_tail > 0 {
            tracing::warn!(bytes = r.torn_tail, "message store: cut a torn write at the end of the journal (a crash mid-write; nothing receipted is lost)");
        }
        for (file, offset, bytes) in &r.skipped {
            tracing::warn!(%file, offset, bytes, "message store: skipped a damaged region of the journal; the messages recorded there are lost");
        }
    }
}
