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

/// Names one delivery to a client-ack subscription: the subscription's engine-wide key and
/// the delivery's number within it. Numbers grow with each delivery, so a subscription's
/// unacknowledged deliveries are sorted by them and an ACK finds its own by bisection —
/// not by comparing message ids along the list. On the wire (the 1.2 `ack` header) it is
/// `<sub>-<seq>`, which needs no escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckToken {
    pub sub: SubKey,
    pub seq: u64,
}

impl AckToken {
    /// The token in an ACK's `id` header; `None` for anything else (a message id).
    pub fn parse(s: &str) -> Option<AckToken> {
        let (sub, seq) = s.split_once('-')?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(sub) || !digits(seq) {
            return None;
        }
        Some(AckToken {
            sub: sub.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// Writes the token as the `ack` header's value.
    pub fn write(&self, out: &mut bytes::BytesMut) {
        use bytes::BufMut;
        out.put_slice(itoa::Buffer::new().format(self.sub).as_bytes());
        out.put_u8(b'-');
        out.put_slice(itoa::Buffer::new().format(self.seq).as_bytes());
    }
}

impl std::fmt::Display for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.sub, self.seq)
    }
}

/// A delivered message awaiting ACK/NACK.
#[derive(Debug)]
pub struct Unacked {
    /// This delivery's number in its subscription (see `AckToken`).
    pub seq: u64,
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
    /// The number the next delivery gets (see `AckToken`).
    pub next_seq: u64,
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
    /// Taking nothing new; ends once what is in flight is settled (see `drain`).
    pub draining: bool,
}

impl Subscription {
    /// Whether one more message may be handed to this subscription now.
    pub fn has_credit(&self) -> bool {
        !self.draining && (self.ack == AckMode::Auto || self.unacked.len() < self.prefetch)
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

    /// The token of the next delivery, counted as made.
    pub fn next_token(&mut self) -> AckToken {
        self.next_seq += 1;
        AckToken {
            sub: self.key,
            seq: self.next_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_tokens_round_trip_and_message_ids_are_not_tokens() {
        let t = AckToken { sub: 12, seq: 345 };
        assert_eq!(t.to_string(), "12-345");
        let mut out = bytes::BytesMut::new();
        t.write(&mut out);
        assert_eq!(&out[..], b"12-345");
        assert_eq!(AckToken::parse("12-345"), Some(t));
        for not in [
            "ID-A-17-5",
            "ID:A-1",
            "12-",
            "-5",
            "12:345",
            "1-2-3",
            "x-1",
            "",
        ] {
            assert_eq!(AckToken::parse(not), None, "{not}");
        }
    }
}
