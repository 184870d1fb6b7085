//! One connection looked at closely, and closed by an operator: what the TUI's connections
//! pane and `shoal connections` act on. Both touch one connection under the lock, whatever
//! the number of others.

use super::engine::Engine;
use super::snapshot::{connection_snapshot, ConnectionSnapshot};
use super::subscription::{AckMode, ConnId};
use crate::stomp::Frame;
use serde::{Deserialize, Serialize};

/// One subscription of a connection, as an operator reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionDetail {
    /// The client's id (the destination for a STOMP 1.0 SUBSCRIBE without one).
    pub id: String,
    pub destination: String,
    pub selector: Option<String>,
    /// auto, client or client-individual.
    pub ack: String,
    pub prefetch: usize,
    pub delivered: u64,
    /// Delivered and not yet acknowledged.
    pub unacked: usize,
    /// Topic messages it could not take.
    pub dropped: u64,
    /// The durable subscription's name, if it is one.
    pub durable: Option<String>,
}

/// A connection with its subscriptions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionDetail {
    pub connection: ConnectionSnapshot,
    pub subscriptions: Vec<SubscriptionDetail>,
}

fn ack_name(a: AckMode) -> &'static str {
    match a {
        AckMode::Auto => "auto",
        AckMode::Client => "client",
        AckMode::ClientIndividual => "client-individual",
    }
}

impl Engine {
    /// A client connection and its subscriptions (`None`: no such client connection).
    pub fn connection_detail(&self, id: ConnId) -> Option<ConnectionDetail> {
        let core = self.core.lock();
        let c = core.conns.get(&id).filter(|c| !c.info.is_in_process())?;
        let mut subscriptions: Vec<SubscriptionDetail> = c
            .subs
            .iter()
            .filter_map(|(key, k)| core.subs.get(k).map(|s| (key, s)))
            .map(|(key, s)| SubscriptionDetail {
                id: key.clone(),
                destination: s.pattern.to_string(),
                selector: s.selector.as_ref().map(|x| x.source().to_string()),
                ack: ack_name(s.ack).to_string(),
                prefetch: s.prefetch,
                delivered: s.delivered,
                unacked: s.unacked.len(),
                dropped: s.dropped,
                durable: s.durable.clone(),
            })
            .collect();
        subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
        Some(ConnectionDetail {
            connection: connection_snapshot(id, c),
            subscriptions,
        })
    }

    /// Who sent a request whose `reply-to` is a temporary destination (the control queue's
    /// requests: `shoal connections`, `reload`, the TUI): "USER from PEER", for the log.
    /// `None` when the reply-to is not a live connection's temporary destination.
    pub fn requester(&self, reply_to: &str) -> Option<String> {
        let name = reply_to.rsplit('/').next()?;
        let conn = Engine::temp_owner(name)?;
        let core = self.core.lock();
        let c = core.conns.get(&conn)?;
        Some(format!(
            "{} from {}",
            c.info.login.as_deref().unwrap_or("anonymous"),
            c.info.peer
        ))
    }

    /// Closes a client connection for an operator: it gets an ERROR saying so, its
    /// unacknowledged messages go back to their queues. `false`: no such client connection.
    pub fn close_client(&self, id: ConnId, by: &str) -> bool {
        let core = self.core.lock();
        let Some(c) = core.conns.get(&id).filter(|c| !c.info.is_in_process()) else {
            return false;
        };
        c.outbox.close_with(Some(Frame::error(
            "closed by an operator",
            format!("connection {id} was closed by {by}"),
        )));
        tracing::info!(conn = id, peer = %c.info.peer, user = ?c.info.login, "connection closed by {by}");
        true
    }
}
