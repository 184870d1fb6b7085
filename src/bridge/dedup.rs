//! The de-duplication window: which forwarded messages this broker has already taken, so one
//! arriving by a second route (a topic in a mesh) or again after a lost receipt (a queue
//! message re-sent when a link failed) is dropped.
//!
//! A message is named network-wide by its origin broker and the id it got there
//! (`ID-<broker>-<boot>-<seq>`). Ids from one broker's boot are a counter, so instead of a
//! hash set of every recent id (a few MiB of random accesses: a cache miss per message, 13 %
//! of a receiving broker's time) each origin *stream* keeps a sliding bitmap over its last
//! [`WINDOW`] sequence numbers; nearly every message touches the same few cache lines as the
//! previous one. Ids that do not have that shape (a foreign broker's) go to a bounded hash
//! set of 128-bit fingerprints instead.
//!
//! Both forget with age: a message older than the window (by its stream's counter, or by
//! arrival for the hash set) counts as new again — as it would with any bounded memory.
//!
//! A topic copy that arrives with no TTL left (it came the long way) is remembered as
//! *ended* here: when the same message then arrives by a shorter route, with TTL to spare,
//! it is not a plain duplicate — it is forwarded on (not delivered here again), so that
//! "connected within the TTL" means delivered, whichever copy came first (`sight`).

use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::BuildHasher;

/// Sequence numbers each stream remembers (32 KiB of bits per stream).
pub const WINDOW: u64 = 1 << 18;
/// Streams kept at once (origin broker × boot × route length for queue messages); the least
/// recently used goes first. 256 × 2 × 32 KiB (seen, ended) bounds the memory at 16 MiB.
const MAX_STREAMS: usize = 256;
/// Fingerprints kept for ids without a sequence number.
const MAX_OTHER: usize = 200_000;

/// What a copy of a message is, to this broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// The first copy: deliver it here, and on.
    New,
    /// Taken before, but that copy could go no further and this one can: pass it on only.
    Further,
    Duplicate,
}

/// A message's name in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeenKey {
    Seq { stream: u64, seq: u64 },
    Other(u128),
}

pub struct SeenIds {
    streams: FxHashMap<u64, SeqWindow>,
    /// Bumped on every use of a stream, to find the least recently used.
    clock: u64,
    other: FxHashSet<u128>,
    other_ended: FxHashSet<u128>,
    other_order: VecDeque<u128>,
    keys: (RandomState, RandomState),
    /// The stream named last: consecutive messages nearly always come from the same one, and
    /// comparing two short strings is far cheaper than hashing them.
    last: Option<LastStream>,
}

struct LastStream {
    broker: String,
    prefix: String,
    hops: Option<u32>,
    stream: u64,
}

struct SeqWindow {
    /// The oldest sequence number still remembered.
    base: u64,
    bits: Box<[u64]>,
    /// Taken by a copy that could go no further (see `Sighting::Further`).
    ended: Box<[u64]>,
    used: u64,
}

impl Default for SeenIds {
    fn default() -> Self {
        SeenIds {
            streams: FxHashMap::default(),
            clock: 0,
            other: FxHashSet::default(),
            other_ended: FxHashSet::default(),
            other_order: VecDeque::new(),
            keys: (RandomState::new(), RandomState::new()),
            last: None,
        }
    }
}

impl SeenIds {
    /// Names the message `origin_id` from `origin_broker`; queue messages also by the hops they
    /// made (a queue message may legitimately come back by another route, a topic message not).
    pub fn key(&mut self, origin_broker: &str, origin_id: &str, hops: Option<u32>) -> SeenKey {
        if let Some((prefix, seq)) = split_seq(origin_id) {
            if let Some(l) = &self.last {
                if l.hops == hops && l.prefix == prefix && l.broker == origin_broker {
                    return SeenKey::Seq {
                        stream: l.stream,
                        seq,
                    };
                }
            }
            let stream = self.keys.0.hash_one((origin_broker, prefix, hops));
            self.last = Some(LastStream {
                broker: origin_broker.to_string(),
                prefix: prefix.to_string(),
                hops,
                stream,
            });
            return SeenKey::Seq { stream, seq };
        }
        let h = |s: &RandomState| s.hash_one((origin_broker, origin_id, hops));
        SeenKey::Other((u128::from(h(&self.keys.0)) << 64) | u128::from(h(&self.keys.1)))
    }

    /// Records a copy of `key` that can (`goes_on`) or cannot be forwarded further from here.
    pub fn sight(&mut self, key: SeenKey, goes_on: bool) -> Sighting {
        if self.insert(key) {
            if !goes_on {
                self.set_ended(key, true);
            }
            return Sighting::New;
        }
        if goes_on && self.set_ended(key, false) {
            return Sighting::Further;
        }
        Sighting::Duplicate
    }

    /// Sets or clears `key`'s ended mark; whether it was set before.
    fn set_ended(&mut self, key: SeenKey, on: bool) -> bool {
        match key {
            SeenKey::Seq { stream, seq } => self
                .streams
                .get_mut(&stream)
                .is_some_and(|w| w.set_ended(seq, on)),
            SeenKey::Other(id) if on => !self.other_ended.insert(id),
            SeenKey::Other(id) => self.other_ended.remove(&id),
        }
    }

    /// Records `key`; false when it was already there.
    pub fn insert(&mut self, key: SeenKey) -> bool {
        match key {
            SeenKey::Seq { stream, seq } => {
                self.clock += 1;
                if !self.streams.contains_key(&stream) && self.streams.len() >= MAX_STREAMS {
                    self.evict_oldest_stream();
                }
                let w = self
                    .streams
                    .entry(stream)
                    .or_insert_with(|| SeqWindow::new(seq));
                w.used = self.clock;
                w.insert(seq)
            }
            SeenKey::Other(id) => {
                if !self.other.insert(id) {
                    return false;
                }
                if self.other_order.len() >= MAX_OTHER {
                    if let Some(old) = self.other_order.pop_front() {
                        self.other.remove(&old);
                        self.other_ended.remove(&old);
                    }
                }
                self.other_order.push_back(id);
                true
            }
        }
    }

    /// Forgets `key`, so that a message which could not be taken is not mistaken for a
    /// duplicate when it comes again.
    pub fn forget(&mut self, key: SeenKey) {
        match key {
            SeenKey::Seq { stream, seq } => {
                if let Some(w) = self.streams.get_mut(&stream) {
                    w.clear(seq);
                }
            }
            SeenKey::Other(id) => {
                if self.other.remove(&id) {
                    self.other_order.retain(|x| *x != id);
                }
            }
        }
    }

    fn evict_oldest_stream(&mut self) {
        if let Some(k) = self
            .streams
            .iter()
            .min_by_key(|(_, w)| w.used)
            .map(|(k, _)| *k)
        {
            self.streams.remove(&k);
        }
    }
}

/// `ID-A-1733000000000-42` → (`ID-A-1733000000000`, 42); ids from before the colon went
/// (`ID:A-…`) split the same way.
fn split_seq(id: &str) -> Option<(&str, u64)> {
    let (prefix, seq) = id.rsplit_once('-')?;
    if seq.is_empty() || seq.len() > 19 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((prefix, seq.parse().ok()?))
}

impl SeqWindow {
    /// A window around the first sequence number seen: the ones just before it (arriving late
    /// by another route) are still inside.
    fn new(first: u64) -> SeqWindow {
        SeqWindow {
            base: first.saturating_sub(WINDOW / 2),
            bits: vec![0u64; (WINDOW / 64) as usize].into_boxed_slice(),
            ended: vec![0u64; (WINDOW / 64) as usize].into_boxed_slice(),
            used: 0,
        }
    }

    fn slot(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn insert(&mut self, seq: u64) -> bool {
        if seq < self.base {
            return true; // older than the window: forgotten
        }
        if seq >= self.base + WINDOW {
            self.advance(seq + 1 - WINDOW);
        }
        let (word, bit) = SeqWindow::slot(seq);
        let seen = self.bits[word] & bit != 0;
        self.bits[word] |= bit;
        !seen
    }

    /// Sets or clears the ended mark of `seq` (inside the window); whether it was set.
    fn set_ended(&mut self, seq: u64, on: bool) -> bool {
        if seq < self.base || seq >= self.base + WINDOW {
            return false;
        }
        let (word, bit) = SeqWindow::slot(seq);
        let was = self.ended[word] & bit != 0;
        if on {
            self.ended[word] |= bit;
        } else {
            self.ended[word] &= !bit;
        }
        was
    }

    fn clear(&mut self, seq: u64) {
        if seq >= self.base && seq < self.base + WINDOW {
            let (word, bit) = SeqWindow::slot(seq);
            self.bits[word] &= !bit;
        }
    }

    /// Moves the window's start to `base`, forgetting what falls out.
    fn advance(&mut self, base: u64) {
        if base - self.base >= WINDOW {
            self.bits.fill(0);
            self.ended.fill(0);
        } else {
            let mut s = self.base;
            while s < base {
                let (word, bit) = SeqWindow::slot(s);
                if bit == 1 && base - s >= 64 {
                    self.bits[word] = 0;
                    self.ended[word] = 0;
                    s += 64;
                } else {
                    self.bits[word] &= !bit;
                    self.ended[word] &= !bit;
                    s += 1;
                }
            }
        }
        self.base = base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names the message and records it: whether it was new.
    fn take(seen: &mut SeenIds, broker: &str, id: &str, hops: Option<u32>) -> bool {
        let k = seen.key(broker, id, hops);
        seen.insert(k)
    }

    #[test]
    fn a_copy_with_ttl_to_spare_goes_on_after_one_that_had_none() {
        let mut seen = SeenIds::default();
        for id in ["ID-A-17-5", "foreign-id"] {
            let k = seen.key("A", id, None);
            assert_eq!(
                seen.sight(k, false),
                Sighting::New,
                "{id}: the long way first"
            );
            assert_eq!(seen.sight(k, false), Sighting::Duplicate);
            assert_eq!(
                seen.sight(k, true),
                Sighting::Further,
                "{id}: the short way"
            );
            assert_eq!(
                seen.sight(k, true),
                Sighting::Duplicate,
                "{id}: passed on once"
            );
        }
        let k = seen.key("A", "ID-A-17-6", None);
        assert_eq!(seen.sight(k, true), Sighting::New);
        assert_eq!(seen.sight(k, true), Sighting::Duplicate);
    }

    #[test]
    fn a_message_is_new_once() {
        let mut seen = SeenIds::default();
        let k = seen.key("A", "ID:A-17-5", None);
        assert!(seen.insert(k));
        assert!(!seen.insert(k));
        // Another origin broker, another route length for a queue message, a foreign id.
        assert!(take(&mut seen, "B", "ID:A-17-5", None));
        assert!(take(&mut seen, "A", "ID:A-17-5", Some(2)));
        let f = seen.key("A", "foreign:message/7", None);
        assert!(matches!(f, SeenKey::Other(_)));
        assert!(seen.insert(f));
        assert!(!seen.insert(f));
        // Back to the first stream after others were named in between.
        assert!(!take(&mut seen, "A", "ID:A-17-5", None));
        assert!(!take(&mut seen, "B", "ID:A-17-5", None));
        assert!(take(&mut seen, "B", "ID:A-17-6", None));
    }

    #[test]
    fn late_arrivals_inside_the_window_are_duplicates() {
        let mut seen = SeenIds::default();
        let key = |seen: &mut SeenIds, n: u64| take(seen, "A", &format!("ID:A-1-{n}"), None);
        // Arrivals out of order by up to half a window, each twice.
        let mut order: Vec<u64> = (1000..1000 + WINDOW).collect();
        order.reverse();
        order.rotate_left((WINDOW / 3) as usize);
        for &n in &order {
            assert!(key(&mut seen, n), "{n} first");
        }
        for &n in order.iter().take(1000) {
            assert!(!key(&mut seen, n), "{n} again");
        }
    }

    #[test]
    fn the_window_slides_and_forgets_the_oldest() {
        let mut seen = SeenIds::default();
        let key = |seen: &mut SeenIds, n: u64| take(seen, "A", &format!("ID:A-1-{n}"), None);
        for n in 0..3 * WINDOW {
            assert!(key(&mut seen, n));
        }
        // The last WINDOW are remembered, older ones are not.
        assert!(!key(&mut seen, 3 * WINDOW - 1));
        assert!(!key(&mut seen, 2 * WINDOW + 1));
        assert!(key(&mut seen, 2 * WINDOW - 10));
        // A jump far ahead clears everything behind it.
        assert!(key(&mut seen, 10 * WINDOW));
        assert!(key(&mut seen, 3 * WINDOW - 1));
    }

    #[test]
    fn forgotten_messages_are_taken_again() {
        let mut seen = SeenIds::default();
        for id in ["ID:A-1-9", "weird"] {
            let k = seen.key("A", id, Some(1));
            assert!(seen.insert(k));
            seen.forget(k);
            assert!(seen.insert(k));
            assert!(!seen.insert(k));
        }
    }

    #[test]
    fn streams_are_bounded() {
        let mut seen = SeenIds::default();
        for boot in 0..(MAX_STREAMS as u64 + 10) {
            assert!(take(&mut seen, "A", &format!("ID:A-{boot}-1"), None));
        }
        assert_eq!(seen.streams.len(), MAX_STREAMS);
        // The newest streams are still there.
        let last = MAX_STREAMS as u64 + 9;
        assert!(!take(&mut seen, "A", &format!("ID:A-{last}-1"), None));
    }
}
