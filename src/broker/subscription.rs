//! Subscriptions and their acknowledgement state.

use super::auth::{Acl, Action, Principal};
use super::destination::{DestPattern, Destination};
use super::message::Message;
use super::selector::Selector;
use std::collections::VecDeque;
use std::sync::Arc;

/// Engine-wide key of a subscription (a client's own ids are only unique per connection).
pub type SubKey = u64;
pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// Delivered = consumed.
    Auto,
    /// An ACK acknowledges that message and every earlier one of the subscription.
    Client,
    ClientIndividual,
}

impl AckMode {
    pub fn parse(s: Option<&str>) -> Option<AckMode> {
        match s {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }
}

/// A delivered message awaiting ACK/NACK.
#[derive(Debug)]
pub struct Unacked {
    pub message: Arc<Message>,
    /// Where a redelivery goes back to; see `queue`.
    pub from_queue: FromQueue,
    /// The message's store id (journaled queue messages), removed from the store on ACK.
    pub store_id: Option<u64>,
    /// See `Queued`.
    pub redelivered: bool,
    pub redeliveries: u32,
}

/// The queue an unacknowledged message came from. Nearly always its own destination, which
/// is then not copied (one allocation less per delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromQueue {
    /// A topic message: not redelivered to other subscribers (each got its own copy).
    Topic,
    /// The message's own destination.
    Own,
    /// Another queue (a durable subscription's, fed from a topic).
    Other(Destination),
}

impl Unacked {
    /// The queue a redelivery goes back to; `None` for topic messages.
    pub fn queue(&self) -> Option<&Destination> {
        match &self.from_queue {
            FromQueue::Topic => None,
            FromQueue::Own => Some(&self.message.destination),
            FromQueue::Other(d) => Some(d),
        }
    }
}

/// Marks a bridge's subscription: what it receives is forwarded to `peer`, so a message that
/// has already been on `peer`, or has crossed `message_ttl` bridges, is not for it.
#[derive(Debug, Clone)]
pub struct NetworkSub {
    pub peer: Arc<str>,
    pub message_ttl: u32,
}

#[derive(Debug)]
pub struct Subscription {
    pub key: SubKey,
    pub conn: ConnId,
    /// The client's id (`None`: a STOMP 1.0 SUBSCRIBE without one, keyed by destination).
    pub id: Option<Arc<str>>,
    pub pattern: DestPattern,
    pub selector: Option<Selector>,
    pub ack: AckMode,
    /// Most unacknowledged messages in flight (`activemq.prefetchSize`).
    pub prefetch: usize,
    pub unacked: VecDeque<Unacked>,
    /// Destinations this subscription is attached to, so unsubscribing touches only those.
    pub attached: Vec<Destination>,
    pub delivered: u64,
    /// Topic messages dropped because the consumer was too slow.
    pub dropped: u64,
    /// Whose subscription this is: a wildcard attaches only to destinations it may read.
    pub principal: Option<Arc<Principal>>,
    /// Queue dispatch tries higher priorities first (round-robin within one); bridges'
    /// subscriptions sit below local consumers, so queue messages prefer local consumers.
    pub priority: i32,
    pub network: Option<NetworkSub>,
    /// The durable subscription (`client-id:name`) this subscription consumes, if any.
    pub durable: Option<String>,
}

impl Subscription {
    /// Whether one more message may be handed to this subscription now.
    pub fn has_credit(&self) -> bool {
        self.ack == AckMode::Auto || self.unacked.len() < self.prefetch
    }

    /// Whether this subscription may be attached to `dest` (the ACL's read right).
    pub fn may_read(&self, acl: &Acl, dest: &Destination) -> bool {
        match &self.principal {
            None => true,
            Some(p) => acl.allows(p, Action::Read, dest),
        }
    }

    pub fn accepts(&self, m: &Message) -> bool {
        if let Some(n) = &self.network {
            if m.hops >= n.message_ttl || m.been_on(&n.peer) {
                return false;
            }
        }
        match &self.selector {
            None => true,
            Some(s) => s.matches(&|name| m.header(name)),
        }
    }

    /// The ack token written in the MESSAGE's `ack` header: the subscription key and the
    /// message id, so a 1.2 ACK finds its subscription without a search.
    pub fn ack_token(&self, m: &Message) -> String {
        let mut s = String::with_capacity(m.id.len() + 8);
        s.push_str(itoa::Buffer::new().format(self.key));
        s.push(':');
        s.push_str(&m.id);
        s
    }
}
