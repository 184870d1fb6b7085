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
/// The dialer's `link_timeout_ms`, which the accepting end follows too.
pub const LINK_TIMEOUT: &str = "shoal-link-timeout";
/// The id the message got on the broker where it was published: with `shoal-path`'s first
/// element it names the message network-wide, for de-duplication.
pub const ORIGIN: &str = crate::broker::message::ORIGIN_HEADER;
/// On a queue message forwarded without demand (`statically_included_destinations`): the
/// receiver keeps it even with no consumer for it (see `broker::drain`).
pub const PINNED: &str = crate::broker::message::PINNED_HEADER;
pub const PING_PREFIX: &str = "ping-";

/// Encodes a SEND forwarding `m` to `peer`'s side: the message's own headers, with path,
/// hops and origin id set for the next broker.
pub fn encode_forward(
    out: &mut BytesMut,
    m: &Message,
    local: &str,
    receipt: Option<u64>,
    pinned: bool,
) {
    let v = Version::V1_2;
    out.reserve(256 + m.body.len());
    out.put_slice(b"SEND\n");
    // First: the decoder looks for it before anything else.
    put_header_num(out, "content-length", m.body.len() as u64);
    put_header(out, "destination", &m.destination_header, v, true);
    // Path and hops are written anew below; the rest goes as it came.
    m.headers
        .encode_into(out, v, true, &[PATH_HEADER, HOPS_HEADER, PINNED]);
    if pinned {
        put_header(out, PINNED, "true", v, true);
    }
    if !m.headers.contains(ORIGIN) {
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
    out.put_u8(b'\n');
    out.put_slice(&m.body);
    out.put_u8(0);
}

/// What a link reads from a forwarded SEND, found in one pass over its headers (the first of
/// repeated headers wins, as everywhere in STOMP): a forwarded message carries eight or so,
/// and looking each of five up by name was a tenth of the receiving link's work.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forwarded<'a> {
    pub destination: Option<&'a str>,
    /// Our peers number their receipts (see `Link::forward`).
    pub receipt: Option<u64>,
    pub hops: u32,
    /// Index of the `shoal-path` header, and its value.
    pub path: Option<(usize, &'a str)>,
    pub origin_id: Option<&'a str>,
    /// Forwarded without demand (`PINNED`).
    pub pinned: bool,
}

impl<'a> Forwarded<'a> {
    pub fn read(headers: &'a Headers) -> Forwarded<'a> {
        let mut f = Forwarded::default();
        let (mut receipt, mut hops) = (None, None);
        for (i, (k, v)) in headers.iter().enumerate() {
            let slot = match k {
                "destination" => &mut f.destination,
                "receipt" => &mut receipt,
                HOPS_HEADER => &mut hops,
                ORIGIN => &mut f.origin_id,
                PATH_HEADER => {
                    f.path.get_or_insert((i, v));
                    continue;
                }
                PINNED => {
                    f.pinned = v == "true";
                    continue;
                }
                _ => continue,
            };
            slot.get_or_insert(v);
        }
        f.receipt = receipt.and_then(|r| r.parse().ok());
        f.hops = hops.and_then(|h| h.parse().ok()).unwrap_or(0);
        f
    }

    /// The origin broker (first on the path) and origin id: the message's network-wide name.
    pub fn origin(&self) -> Option<(&'a str, &'a str)> {
        let id = self.origin_id?;
        let (_, path) = self.path?;
        Some((path.split(',').next().unwrap_or(""), id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_are_read_in_one_pass_first_wins() {
        let h: Headers = vec![
            ("destination", "/queue/a"),
            ("priority", "4"),
            (ORIGIN, "ID-A-1-7"),
            (PATH_HEADER, "A,B"),
            (HOPS_HEADER, "2"),
            ("receipt", "41"),
            ("destination", "/queue/other"),
            (PATH_HEADER, "X"),
        ]
        .into();
        let f = Forwarded::read(&h);
        assert_eq!(f.destination, Some("/queue/a"));
        assert_eq!(f.receipt, Some(41));
        assert_eq!(f.hops, 2);
        assert_eq!(f.path, Some((3, "A,B")));
        assert_eq!(f.origin(), Some(("A", "ID-A-1-7")));
        // A plain SEND: no receipt, no hops, no network name.
        let plain: Headers = vec![("destination", "/topic/t"), ("receipt", "r-1")].into();
        let f = Forwarded::read(&plain);
        assert_eq!((f.receipt, f.hops, f.origin()), (None, 0, None));
    }
}
