//! Why the engine refused a request: each variant's text becomes an ERROR frame's `message`,
//! so it names the destination, the limit or the rule that said no.

use super::auth::Action;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    #[error("subscription id {0:?} is already in use on this connection")]
    DuplicateSubscription(String),
    #[error("no subscription {0:?} on this connection")]
    NoSuchSubscription(String),
    #[error("ACK/NACK for unknown message id {0:?} (not delivered to this connection, or already acknowledged)")]
    UnknownAck(String),
    #[error("queue {destination} is full ({messages} messages, {bytes} bytes; limits {max_messages} messages, {max_bytes} bytes); message refused")]
    QueueFull {
        destination: String,
        messages: usize,
        bytes: usize,
        max_messages: usize,
        max_bytes: usize,
    },
    #[error("{destination} cannot take the message: the broker's queues hold {used} bytes (max_memory_bytes {max}); message refused")]
    MemoryFull {
        destination: String,
        used: usize,
        max: usize,
    },
    #[error("{destination} cannot take the persistent message: the message store holds {used} bytes (max_disk_bytes {max}); message refused")]
    StoreFull {
        destination: String,
        used: u64,
        max: u64,
    },
    #[error("durable subscription {0:?} is already active on another connection")]
    DurableActive(String),
    #[error("a durable subscription needs a client-id header on CONNECT")]
    DurableWithoutClientId,
    #[error("durable subscriptions are for topics, not {0}")]
    DurableNotTopic(String),
    #[error("no durable subscription {0:?}")]
    NoSuchDurable(String),
    #[error("durable subscription {0:?} belongs to another user")]
    DurableNotOwned(String),
    #[error("{0} is a temporary destination of another connection")]
    TempNotOwned(String),
    #[error("temporary destination {0} no longer exists")]
    TempGone(String),
    #[error("more than {0} subscriptions on one connection")]
    TooManySubscriptions(usize),
    #[error("cannot create {destination}: {who} has {max} destinations ({limit})")]
    TooManyDestinations {
        destination: String,
        who: String,
        max: usize,
        limit: &'static str,
    },
    #[error("connection is closed")]
    ConnectionClosed,
    #[error("access denied: {user} may not {action} {destination}")]
    Denied {
        user: String,
        action: Action,
        destination: String,
    },
}
