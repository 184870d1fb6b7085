//! The link protocol between shoal brokers: STOMP frames (our own codec, 1.2 escaping) with a
//! few `shoal-` headers. Reading a captured link needs nothing but a STOMP eye:
//!
//! | frame | meaning |
//! |---|---|
//! | CONNECT `shoal-broker`, `shoal-bridge`, `shoal-duplex`, `shoal-message-ttl`, `shoal-consumer-ttl`, `login`, `passcode`, `heart-beat` | the dialer introduces itself |
//! | CONNECTED `shoal-broker` | the listener answers with its name |
//! | SUBSCRIBE `id`, `destination`, `selector`?, `shoal-hops`, `shoal-path` | "my side has consumers for this" (demand) |
//! | UNSUBSCRIBE `id` | demand withdrawn |
//! | SEND …message headers…, `shoal-path`, `shoal-hops`, `shoal-origin`, `receipt`? | a forwarded message; queue messages carry a receipt |
//! | RECEIPT `receipt-id` | the peer has taken responsibility for that message |
//! | BEGIN `transaction:ping-N` / RECEIPT `receipt-id:ping-N` | heart-beat with round-trip time |
//! | ERROR | refusal (bad credentials, a bridge to itself…), then close |

use crate::broker::message::{Message, HOPS_HEADER, PATH_HEADER};
use crate::stomp::codec::{put_header, put_header_num};
use crate::stomp::{Headers, Version};
use bytes::{BufMut, BytesMut};

pub const BROKER: &str = "shoal-broker";
pub const BRIDGE: &str = "shoal-bridge";
pub const DUPLEX: &str = "shoal-duplex";
pub const MESSAGE_TTL: &str = "shoal-message-ttl";
pub const CONSUMER_TTL: &str = "shoal-consumer-ttl";
/// The dialer's suppress_duplicate_queue_subscriptions, which the listening side of a duplex
/// link applies too.
pub const SUPPRESS: &str = "shoal-suppress-duplicate-queues";
/// The dialer's conduit_subscriptions (`false`: one queue demand per consumer), which both
/// sides of the link apply to what they advertise.
pub const CONDUIT: &str = "shoal-conduit";
/// The id the message got on the broker where it was published: with `shoal-path`'s first
/// element it names the message network-wide, for de-duplication.
pub const ORIGIN: &str = "shoal-origin";
pub const PING_PREFIX: &str = "ping-";

/// Encodes a SEND forwarding `m` to `peer`'s side: the message's own headers, with path,
/// hops and origin id set for the next broker.
pub fn encode_forward(out: &mut BytesMut, m: &Message, local: &str, receipt: Option<u64>) {
    let v = Version::V1_2;
    out.reserve(256 + m.body.len());
    out.put_slice(b"SEND\n");
    put_header(out, "destination", &m.destination_header, v, true);
    let mut origin_written = false;
    for (k, val) in &m.headers {
        match k {
            PATH_HEADER | HOPS_HEADER => continue,
            ORIGIN => origin_written = true,
            _ => {}
        }
        put_header(out, k, val, v, true);
    }
    if !origin_written {
        put_header(out, ORIGIN, &m.id, v, true);
    }
    match m.path() {
        Some(p) => put_header(out, PATH_HEADER, p, v, true),
        None => put_header(out, PATH_HEADER, local, v, true),
    }
    put_header_num(out, HOPS_HEADER, u64::from(m.hops) + 1);
    if let Some(r) = receipt {
        put_header_num(out, "receipt", r);
    }
    put_header_num(out, "content-length", m.body.len() as u64);
    out.put_u8(b'\n');
    out.put_slice(&m.body);
    out.put_u8(0);
}

/// The origin broker (first on the path) and origin id of a forwarded message.
pub fn origin(headers: &Headers) -> Option<(&str, &str)> {
    let id = headers.get(ORIGIN)?;
    let path = headers.get(PATH_HEADER)?;
    Some((path.split(',').next().unwrap_or(""), id))
}
