//! Messages on a link: forwarding what our network subscriptions receive, publishing what the
//! peer forwards (de-duplicated, with this broker on its path), and the receipts that
//! acknowledge queue messages end to end.

use super::Link;
use crate::bridge::dedup::Sighting;
use crate::bridge::filter;
use crate::bridge::held::Owed;
use crate::bridge::wire::{self, Forwarded};
use crate::broker::destination::{DestKind, Destination};
use crate::broker::local::Received;
use crate::broker::message::{ConsumedHook, ConsumedSink};
use crate::broker::publish::Publish;
use crate::broker::subscription::AckToken;
use crate::stomp::codec::encode;
use crate::stomp::{Command, Frame, Version};
use smallvec::SmallVec;

/// The receipts of forwarded queue messages consumed here, collected from whichever task
/// consumed them until the link's task sends them. The link is woken once per batch (when the
/// list stops being empty), not once per message.
#[derive(Default)]
pub(super) struct ConsumedReceipts {
    pub(super) owed: parking_lot::Mutex<Vec<u64>>,
    /// Forwarded queue messages handed back unconsumed (their demand went elsewhere): owed
    /// a NACK, so the peer delivers them where the demand is now.
    pub(super) returned: parking_lot::Mutex<Vec<u64>>,
    pub(super) wake: tokio::sync::Notify,
}

impl ConsumedSink for ConsumedReceipts {
    fn consumed(&self, token: u64) {
        let mut owed = self.owed.lock();
        owed.push(token);
        if owed.len() == 1 {
            drop(owed);
            self.wake.notify_one();
        }
    }

    fn returned(&self, token: u64) {
        self.returned.lock().push(token);
        self.wake.notify_one();
    }
}

/// The NACK reason for a forwarded message handed back.
pub(super) const HANDED_BACK: &str = "no consumer for it here any more";

impl Link {
    /// A message the peer forwarded: de-duplicate, publish here with this broker on its path.
    pub(super) fn on_message(&mut self, f: Frame) {
        let fwd = Forwarded::read(&f.headers);
        let receipt = fwd.receipt;
        let pinned = fwd.pinned;
        let Some(dest) = fwd.destination else {
            return;
        };
        let dest = match Destination::parse(dest) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(peer = %self.s.peer, "forwarded message refused: {e}");
                return self.answer(receipt, Some(e.to_string()));
            }
        };
        let body_len = f.body.len() as u64;
        let queue = dest.kind == DestKind::Queue;
        // A topic message is the same message whichever route it took; a queue message is
        // re-sent on the same route (same hops) only after a lost receipt.
        // A topic copy with no TTL left cannot go on from here: if it came first (the long
        // way), the same message by a shorter route is still passed on (`Sighting::Further`).
        let goes_on = queue || fwd.hops < self.s.message_ttl;
        let sighting = fwd.origin().map(|(broker, id)| {
            self.net
                .first_sighting(broker, id, queue.then_some(fwd.hops), goes_on)
        });
        let path = fwd.path.map(|(i, _)| i);
        let mut headers = f.headers;
        if let Some(i) = path {
            headers.append_value(i, ",");
            headers.append_value(i, &self.net.local);
        }
        let id = {
            let mut st = self.status.lock();
            st.traffic.msgs_in += 1;
            st.traffic.bytes_in += body_len;
            match sighting {
                Some((key, Sighting::Duplicate)) => {
                    st.traffic.duplicates_dropped += 1;
                    drop(st);
                    // A queue message re-sent after a flap and still held here: its receipt
                    // waits until the copy here is consumed (see `held`).
                    if let (true, Some(r)) = (queue, receipt) {
                        let owed = Owed {
                            sink: self.consumed.clone(),
                            receipt: r,
                        };
                        if self.net.held.take_over(key, owed) {
                            self.resent_held += 1;
                            return;
                        }
                    }
                    self.answer(receipt, None);
                    return;
                }
                Some((key, _)) => Some(key),
                None => None,
            }
        };
        let onward_only = matches!(sighting, Some((_, Sighting::Further)));
        // A queue message is acknowledged upstream once it is consumed here (end to end):
        // if this broker dies first, the sender still holds it and delivers it elsewhere.
        let hook = match (receipt, queue, id) {
            (Some(receipt), true, Some(key)) => {
                let owed = Owed {
                    sink: self.consumed.clone(),
                    receipt,
                };
                Some(self.net.held.hold(key, owed))
            }
            (Some(token), true, None) => Some(ConsumedHook {
                sink: self.consumed.clone(),
                token,
            }),
            _ => None,
        };
        let hooked = hook.is_some();
        self.batch.push(Publish {
            destination: dest,
            headers,
            body: f.body,
            on_consumed: hook,
            return_unwanted: hooked && !pinned,
            onward_only,
        });
        self.batch_meta.push((receipt, id, hooked));
    }

    /// Publishes the forwarded messages read so far, in one engine call: answers the
    /// receipts of those that are not waited on until consumed, and of those refused.
    pub(super) fn publish_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let refused = self.local.send_batch(std::mem::take(&mut self.batch));
        let mut refused = refused.into_iter().peekable();
        let meta = std::mem::take(&mut self.batch_meta);
        for (i, &(receipt, id, hooked)) in meta.iter().enumerate() {
            match refused.next_if(|(at, _)| *at == i) {
                // No copy of the destination for the log: every refusal a SEND can get names it.
                Some((_, e)) => {
                    tracing::warn!(peer = %self.s.peer, "forwarded message refused: {e}");
                    if let Some(id) = id {
                        self.net.forget(id);
                        if hooked {
                            self.net.held.release(id);
                        }
                    }
                    self.answer(receipt, Some(e.to_string()));
                }
                None if hooked => {}
                None => self.answer(receipt, None),
            }
        }
        self.batch_meta = meta;
        self.batch_meta.clear();
    }

    pub(super) fn answer(&mut self, receipt: Option<u64>, refusal: Option<String>) {
        let Some(r) = receipt else { return };
        match refusal {
            None => self.receipts_out.push(r),
            Some(why) => encode(
                &Frame::new(Command::Nack)
                    .header("receipt-id", r.to_string())
                    .header("message", why),
                Version::V1_2,
                &mut self.out,
            ),
        }
    }

    /// Encodes the receipts owed, up to 256 ids per frame.
    pub(super) fn flush_receipts(&mut self) {
        use bytes::BufMut;
        for chunk in self.receipts_out.chunks(256) {
            self.out.put_slice(b"RECEIPT\nreceipt-id:");
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    self.out.put_u8(b',');
                }
                self.out
                    .put_slice(itoa::Buffer::new().format(*r).as_bytes());
            }
            self.out.put_slice(b"\n\n\0");
        }
        self.receipts_out.clear();
    }

    pub(super) fn on_receipt(&mut self, f: &Frame) {
        let Some(r) = f.get("receipt-id") else { return };
        if let Some(sent) = self.pings.remove(r) {
            self.status.lock().rtt = Some(sent.elapsed());
            return;
        }
        let tokens: SmallVec<[AckToken; 64]> = r
            .split(',')
            .filter_map(|id| id.parse().ok().and_then(|n: u64| self.pending.remove(&n)))
            .collect();
        if !tokens.is_empty() {
            let failed = self.local.ack_many(&tokens);
            if !failed.is_empty() {
                tracing::debug!(peer = %self.s.peer, "{} receipted messages were no longer held", failed.len());
            }
            self.status.lock().in_flight = self.pending.len();
        }
    }

    /// A message one of our network subscriptions received: send it to the peer.
    pub(super) fn forward(&mut self, d: Received) {
        if filter::is_broker_local(&d.message.destination.name) {
            // A peer's wildcard demand matched this broker's own service traffic (stats,
            // membership, control): it is not for the peer.
            if let Some(token) = d.ack {
                tracing::warn!(peer = %self.s.peer, destination = %d.message.destination_header,
                    "a wildcard queue subscription across the bridge took a shoal service request; dropped");
                let _ = self.local.ack(token, false);
            }
            return;
        }
        let receipt = d.ack.map(|token| {
            self.next_receipt += 1;
            self.pending.insert(self.next_receipt, token);
            self.next_receipt
        });
        let pinned = d
            .subscription
            .as_deref()
            .is_some_and(|s| s.starts_with(super::STATIC_PREFIX));
        wire::encode_forward(&mut self.out, &d.message, &self.net.local, receipt, pinned);
        let mut st = self.status.lock();
        st.traffic.msgs_out += 1;
        st.traffic.bytes_out += d.message.body.len() as u64;
        st.in_flight = self.pending.len();
    }
}
