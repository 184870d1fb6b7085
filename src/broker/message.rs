//! A message as the engine holds it: immutable once published and shared by every delivery
//! (`Arc<Message>`), so a topic fan-out to a thousand subscribers copies nothing but a pointer.

use super::destination::Destination;
use crate::stomp::Headers;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a queued message costs beyond its body and header bytes: its id, destination, header
/// index and the structures that hold it (593 bytes of RSS each for 200 000 three-byte
/// messages with one header, release build, 64-bit Linux). The byte limits count it, as
/// ActiveMQ counts a minimum size per message, so that a flood of tiny messages cannot hold
/// ten times the memory the limits allow.
pub const MESSAGE_OVERHEAD: usize = 512;

/// What the byte limits count for a message of this body and header size: both, and
/// `MESSAGE_OVERHEAD`.
pub fn counted_size(body_bytes: usize, header_bytes: usize) -> usize {
    body_bytes + header_bytes + MESSAGE_OVERHEAD
}

#[derive(Debug)]
pub struct Message {
    /// Broker-assigned, unique for the broker's lifetime (`ID-<broker>-<boot>-<seq>`: no
    /// colon, so nothing to escape in STOMP 1.1/1.2 headers).
    pub id: String,
    pub destination: Destination,
    /// `destination` rendered once, since every delivery writes it.
    pub destination_header: String,
    /// Headers carried through to consumers, in the sender's order: custom headers, reply-to,
    /// correlation-id, expires, priority, persistent, timestamp, content-type… Never the
    /// frame-level ones (destination, receipt, transaction, content-length, message-id).
    pub headers: Headers,
    pub body: Bytes,
    /// Milliseconds since the epoch after which the message must not be delivered; 0 = never.
    pub expires: u64,
    pub priority: u8,
    pub persistent: bool,
    /// Bridges crossed so far (`shoal-hops`), 0 for a message published here.
    pub hops: u32,
    /// Called once when a queue message is consumed here (acknowledged, auto-acked on
    /// delivery, or expired): how a bridge learns it may acknowledge the message upstream.
    pub on_consumed: Option<ConsumedHook>,
}

/// See `Message::on_consumed`: who to tell (`sink`) and what (`token`, the sink's own number
/// for the message). A shared sink and a number rather than a closure per message: a bridge
/// forwards hundreds of thousands of queue messages a second, and each closure was an
/// allocation and a free on its hot path.
#[derive(Clone)]
pub struct ConsumedHook {
    pub sink: std::sync::Arc<dyn ConsumedSink>,
    pub token: u64,
}

/// Hears that messages it holds a hook on were consumed.
pub trait ConsumedSink: Send + Sync {
    fn consumed(&self, token: u64);

    /// The message will not be consumed here after all (no consumer for it any more): it
    /// was taken out of its queue, for its sender to deliver elsewhere.
    fn returned(&self, _token: u64) {}
}

impl std::fmt::Debug for ConsumedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsumedHook({})", self.token)
    }
}

impl Message {
    /// Tells the consumed hook, if any, that the message goes back to its sender.
    pub fn returned(&self) {
        if let Some(h) = &self.on_consumed {
            h.sink.returned(h.token);
        }
    }

    /// Runs the consumed hook, if any.
    pub fn consumed(&self) {
        if let Some(h) = &self.on_consumed {
            h.sink.consumed(h.token);
        }
    }
}

/// Headers a bridge adds to a forwarded message; see `bridge::wire`.
pub const PATH_HEADER: &str = "shoal-path";
pub const HOPS_HEADER: &str = "shoal-hops";
/// The network-wide id of a forwarded message (its first broker's message id).
pub const ORIGIN_HEADER: &str = "shoal-origin";
/// A queue message a bridge forwarded without demand (see `bridge::wire::PINNED`).
pub const PINNED_HEADER: &str = "shoal-static";
/// How many times a redelivered message was delivered before (with `redelivered:true`).
pub const REDELIVERY_COUNT_HEADER: &str = "redelivery-count";
/// Where a dead-lettered or expired message was first sent.
pub const ORIGINAL_DESTINATION_HEADER: &str = "original-destination";

/// Whether `name` is a frame-level header, not part of the message itself: destination,
/// receipt, transaction, content-length, and the ones a broker sets on delivery. A `match`
/// (lengths first) rather than a list search: every header of every SEND is asked.
pub fn is_frame_only(name: &str) -> bool {
    matches!(
        name,
        "destination"
            | "receipt"
            | "transaction"
            | "content-length"
            | "message-id"
            | "subscription"
            | "ack"
            | "redelivered"
            | REDELIVERY_COUNT_HEADER
    )
}

impl Message {
    /// Header lookup for selectors: message headers plus the broker-set ones.
    pub fn header(&self, name: &str) -> Option<&str> {
        match name {
            "destination" => Some(&self.destination_header),
            "message-id" => Some(&self.id),
            _ => self.headers.get(name),
        }
    }

    /// This message re-sent to `to` (a dead-letter or expiry queue): same id, headers and
    /// body, plus where it was first sent; no bridge hook (it is this broker's now).
    pub fn moved_to(&self, to: &Destination) -> Message {
        let mut headers = self.headers.clone();
        if !headers.contains(ORIGINAL_DESTINATION_HEADER) {
            headers.push(ORIGINAL_DESTINATION_HEADER, &self.destination_header);
        }
        Message {
            id: self.id.clone(),
            destination: to.clone(),
            destination_header: to.to_string(),
            headers,
            body: self.body.clone(),
            expires: self.expires,
            priority: self.priority,
            persistent: self.persistent,
            hops: self.hops,
            on_consumed: None,
        }
    }

    /// Brokers the message has been on, comma-separated (`shoal-path`); `None` for a message
    /// published here. Bridges never forward a message to a broker on its path.
    pub fn path(&self) -> Option<&str> {
        self.headers.get(PATH_HEADER)
    }

    /// Whether the message has already been on `broker`.
    pub fn been_on(&self, broker: &str) -> bool {
        self.path()
            .is_some_and(|p| p.split(',').any(|b| b == broker))
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires != 0 && now_ms > self.expires
    }

    /// What the byte limits count for it: body, headers and structures (see `counted_size`;
    /// a message of headers alone is not free: 200 of 1.5 MB once passed an 8 MiB limit).
    pub fn size(&self) -> usize {
        counted_size(self.body.len(), self.headers.byte_len())
    }

    pub fn wire_size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>()
            + self.destination_header.len()
            + self.id.len()
            + 64
    }
}

/// Hands out message ids. The boot stamp makes ids unique across restarts of the same broker.
#[derive(Debug)]
pub struct MessageIds {
    prefix: String,
    next: AtomicU64,
}

impl MessageIds {
    pub fn new(broker: &str) -> MessageIds {
        MessageIds {
            prefix: format!("ID-{broker}-{}-", now_ms()),
            next: AtomicU64::new(1),
        }
    }

    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut s = String::with_capacity(self.prefix.len() + 12);
        s.push_str(&self.prefix);
        s.push_str(itoa::Buffer::new().format(n));
        s
    }
}

/// A boolean header (`persistent:true`): STOMP clients write `true`, with stray spaces at most.
pub fn is_true(v: &str) -> bool {
    v.trim() == "true"
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
