//! A destination's subscribers: a list with O(1) add and remove.
//!
//! Removing from a plain `Vec` is a scan: a fleet of 10 000 nodes leaving a topic they all
//! subscribe to (every node is on `<collective>.discovery.agent`) cost 10 000 × 10 000 steps
//! under the engine lock. Here each key knows its index, and removal swaps the last key into
//! the hole. The order changes on removal — nothing depends on it: topics deliver to all, and
//! queues take turns by position (`Dest::rr`) and priority, not by arrival.

use super::subscription::SubKey;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Subscribers {
    keys: Vec<SubKey>,
    index: HashMap<SubKey, usize>,
}

impl Subscribers {
    /// Adds `key` (once: adding it again changes nothing).
    pub fn push(&mut self, key: SubKey) {
        if self.index.contains_key(&key) {
            return;
        }
        self.index.insert(key, self.keys.len());
        self.keys.push(key);
    }

    /// Removes `key` if present.
    pub fn remove(&mut self, key: SubKey) {
        let Some(i) = self.index.remove(&key) else {
            return;
        };
        self.keys.swap_remove(i);
        if let Some(moved) = self.keys.get(i) {
            self.index.insert(*moved, i);
        }
        if self.keys.is_empty() {
            // A topic the whole fleet left gives its memory back.
            *self = Subscribers::default();
        }
    }
}

impl std::ops::Deref for Subscribers {
    type Target = [SubKey];
    fn deref(&self) -> &[SubKey] {
        &self.keys
    }
}

impl FromIterator<SubKey> for Subscribers {
    fn from_iter<I: IntoIterator<Item = SubKey>>(iter: I) -> Subscribers {
        let mut s = Subscribers::default();
        for k in iter {
            s.push(k);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn behaves_as_a_set(ops in proptest::collection::vec((any::<bool>(), 0u64..20), 0..200)) {
            let mut s = Subscribers::default();
            let mut model = std::collections::BTreeSet::new();
            for (add, k) in ops {
                if add { s.push(k); model.insert(k); } else { s.remove(k); model.remove(&k); }
                let mut got: Vec<SubKey> = s.to_vec();
                got.sort();
                prop_assert_eq!(got, model.iter().copied().collect::<Vec<_>>());
                for (i, k) in s.iter().enumerate() {
                    prop_assert_eq!(s.index[k], i);
                }
            }
        }
    }
}
