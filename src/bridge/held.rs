//! Forwarded queue messages held here until they are consumed, by network-wide id.
//!
//! A queue message a peer forwards is acknowledged to it only once it is consumed here (end
//! to end), and it is not journaled here: the sender's journaled original is the safe copy
//! until then. When a link flaps, the sender re-sends what it had no receipt for, and this
//! broker may already hold those messages. Answering the re-sent copy at once (it is a
//! duplicate) would let the sender delete its original while the copy here is still only in
//! memory — a crash here then loses it. Instead the copy held here takes over the re-sent
//! copy's receipt: the sender hears once the message is consumed here, over whichever link
//! now carries its receipts.
//!
//! Per forwarded queue message: one entry while it is held, removed when the engine runs its
//! consumed hook (delivered and acknowledged, expired, or dead-lettered).

use super::dedup::SeenKey;
use crate::broker::message::{ConsumedHook, ConsumedSink};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Where the receipt of a held message goes: a link's sink and the peer's receipt number.
pub struct Owed {
    pub sink: Arc<dyn ConsumedSink>,
    pub receipt: u64,
}

#[derive(Default)]
struct Inner {
    next: u64,
    by_token: FxHashMap<u64, (SeenKey, Owed)>,
    by_key: FxHashMap<SeenKey, u64>,
}

/// Every forwarded queue message held on this broker (one per network, shared by its links:
/// a re-sent copy arrives on a new link).
#[derive(Default)]
pub struct Held {
    inner: Mutex<Inner>,
}

impl Held {
    /// Registers a forwarded queue message about to be published: its receipt is owed to
    /// `owed` once it is consumed. Returns the engine's hook for it.
    pub fn hold(self: &Arc<Self>, key: SeenKey, owed: Owed) -> ConsumedHook {
        let mut g = self.inner.lock();
        g.next += 1;
        let token = g.next;
        g.by_token.insert(token, (key, owed));
        g.by_key.insert(key, token);
        ConsumedHook {
            sink: self.clone(),
            token,
        }
    }

    /// A copy of `key` arrived again: if the first is still held, its receipt now goes to
    /// `owed` (the one it was owed to is dropped: that link is gone, or the peer re-sent it
    /// for want of it). False when the first copy is no longer held — consumed, so safe —
    /// and the re-sent copy may be answered at once.
    pub fn take_over(&self, key: SeenKey, owed: Owed) -> bool {
        let mut g = self.inner.lock();
        let Some(&token) = g.by_key.get(&key) else {
            return false;
        };
        match g.by_token.get_mut(&token) {
            Some(entry) => {
                entry.1 = owed;
                true
            }
            None => false,
        }
    }

    /// Forgets a message that was refused after all (it will not be consumed here).
    pub fn release(&self, key: SeenKey) {
        let mut g = self.inner.lock();
        if let Some(token) = g.by_key.remove(&key) {
            g.by_token.remove(&token);
        }
    }

    /// Messages held now.
    pub fn len(&self) -> usize {
        self.inner.lock().by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Held {
    fn settle(&self, token: u64) -> Option<Owed> {
        let mut g = self.inner.lock();
        let (key, owed) = g.by_token.remove(&token)?;
        if g.by_key.get(&key) == Some(&token) {
            g.by_key.remove(&key);
        }
        Some(owed)
    }
}

impl ConsumedSink for Held {
    fn consumed(&self, token: u64) {
        if let Some(owed) = self.settle(token) {
            owed.sink.consumed(owed.receipt);
        }
    }

    fn returned(&self, token: u64) {
        if let Some(owed) = self.settle(token) {
            owed.sink.returned(owed.receipt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Last(AtomicU64);
    impl ConsumedSink for Last {
        fn consumed(&self, token: u64) {
            self.0.store(token, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_re_sent_copy_takes_over_the_receipt_until_consumption() {
        let held = Arc::new(Held::default());
        let (old, new) = (Arc::new(Last::default()), Arc::new(Last::default()));
        let key = SeenKey::Seq { stream: 1, seq: 7 };
        let hook = held.hold(
            key,
            Owed {
                sink: old.clone(),
                receipt: 41,
            },
        );
        assert!(held.take_over(
            key,
            Owed {
                sink: new.clone(),
                receipt: 3
            }
        ));
        hook.sink.consumed(hook.token);
        assert_eq!(
            old.0.load(Ordering::Relaxed),
            0,
            "the old link hears nothing"
        );
        assert_eq!(new.0.load(Ordering::Relaxed), 3, "the new link's receipt");
        assert!(held.is_empty());
        // Consumed already: a later copy is answered at once.
        assert!(!held.take_over(
            key,
            Owed {
                sink: new,
                receipt: 4
            }
        ));
    }
}
