//! Demand: which destinations (and selectors) have consumers where, and what each link must
//! be told. The rules that keep a network of any shape correct live here:
//!
//! - a demand entry remembers the brokers it crossed (`path`) and how many bridges (`hops`);
//! - it is advertised on a link only if the peer is not already on its path (no echo, no
//!   cycle) and `hops < consumer_ttl` of that link;
//! - per key, the shortest known route is advertised, once per link (conduit): one network
//!   subscription per destination and selector, however many consumers are behind it — or,
//!   on a link with `conduit_subscriptions = false`, once per consumer behind it for queues
//!   (so a peer's consumers and ours share queue messages by their numbers; topics stay
//!   collapsed, as one copy per consumer would only be dropped as duplicates).

use super::filter::Filters;
use std::collections::HashMap;

pub type LinkId = u64;

/// A destination pattern and selector: what a consumer wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DemandKey {
    pub destination: String,
    pub selector: Option<String>,
}

/// Where demand comes from: consumers on this broker, or a peer over a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Local,
    Link(LinkId),
}

#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub hops: u32,
    /// Brokers the demand crossed, consumer's broker first (empty for local demand).
    pub path: Vec<String>,
    /// Local consumers with this key (1 for a link).
    pub count: usize,
}

/// What a link should be told about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub hops: u32,
    /// Path including this broker, as the peer must see it.
    pub path: String,
}

/// The parameters of one link that decide what it is told.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub peer: String,
    pub consumer_ttl: u32,
    pub filters: Filters,
    pub conduit: bool,
}

#[derive(Debug, Default)]
pub struct DemandTable {
    entries: HashMap<DemandKey, HashMap<Source, SourceInfo>>,
}

impl DemandTable {
    pub fn add(&mut self, key: DemandKey, source: Source, hops: u32, path: Vec<String>) {
        let sources = self.entries.entry(key).or_default();
        sources
            .entry(source)
            .and_modify(|s| s.count += 1)
            .or_insert(SourceInfo {
                hops,
                path,
                count: 1,
            });
    }

    /// Removes one consumer (local) or one of the link's demands for `key` (a peer without
    /// conduit subscriptions sends one per consumer); returns whether the key still exists.
    pub fn remove(&mut self, key: &DemandKey, source: Source) -> bool {
        let Some(sources) = self.entries.get_mut(key) else {
            return false;
        };
        if let Some(s) = sources.get_mut(&source) {
            s.count -= 1;
            if s.count == 0 {
                sources.remove(&source);
            }
        }
        if sources.is_empty() {
            self.entries.remove(key);
            return false;
        }
        true
    }

    /// Drops every entry of a link (it went away); returns the keys touched.
    pub fn remove_source(&mut self, source: Source) -> Vec<DemandKey> {
        let mut touched = Vec::new();
        self.entries.retain(|k, sources| {
            if sources.remove(&source).is_some() {
                touched.push(k.clone());
            }
            !sources.is_empty()
        });
        touched
    }

    pub fn clear_local(&mut self) -> Vec<DemandKey> {
        self.remove_source(Source::Local)
    }

    pub fn keys(&self) -> Vec<DemandKey> {
        self.entries.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many demands for `key` link `to` should be told of once it is told of any: one on a
    /// conduit link (and for topics), else the consumers behind every route it may hear of.
    pub fn copies(&self, key: &DemandKey, to: LinkId, view: &LinkView) -> usize {
        if view.conduit || !key.destination.starts_with("/queue/") {
            return 1;
        }
        self.routes(key, to, view).map(|s| s.count).sum()
    }

    /// The sources of `key` link `to` may hear of: not its own, within its consumer TTL,
    /// and not through the peer itself.
    fn routes<'a>(
        &'a self,
        key: &DemandKey,
        to: LinkId,
        view: &'a LinkView,
    ) -> impl Iterator<Item = &'a SourceInfo> + 'a {
        self.entries
            .get(key)
            .into_iter()
            .flatten()
            .filter(move |(src, _)| **src != Source::Link(to))
            .filter(|(_, s)| s.hops < view.consumer_ttl && !s.path.contains(&view.peer))
            .map(|(_, s)| s)
    }

    /// What link `to` (viewed as `view`) should be told about `key`, by the rules above.
    pub fn advert(
        &self,
        key: &DemandKey,
        to: LinkId,
        view: &LinkView,
        local: &str,
    ) -> Option<Advert> {
        if !view.filters.allows_demand(&key.destination) {
            return None;
        }
        let best = self.routes(key, to, view).min_by_key(|s| s.hops)?;
        let mut path = best.path.clone();
        path.push(local.to_string());
        Some(Advert {
            hops: best.hops + 1,
            path: path.join(","),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(d: &str) -> DemandKey {
        DemandKey {
            destination: d.into(),
            selector: None,
        }
    }

    fn view(peer: &str, ttl: u32) -> LinkView {
        LinkView {
            peer: peer.into(),
            consumer_ttl: ttl,
            filters: Filters::default(),
            conduit: true,
        }
    }

    #[test]
    fn local_demand_is_advertised_within_ttl_and_never_echoed() {
        let mut t = DemandTable::default();
        let k = key("/topic/a");
        t.add(k.clone(), Source::Local, 0, vec![]);
        assert_eq!(
            t.advert(&k, 1, &view("B", 1), "A"),
            Some(Advert {
                hops: 1,
                path: "A".into()
            })
        );
        // Demand that came from C over link 2, with path [C]: not back to C, and to B only
        // within B's ttl.
        let k2 = key("/topic/b");
        t.add(k2.clone(), Source::Link(2), 1, vec!["C".into()]);
        assert_eq!(
            t.advert(&k2, 2, &view("C", 5), "A"),
            None,
            "not back over its own link"
        );
        assert_eq!(
            t.advert(&k2, 3, &view("C", 5), "A"),
            None,
            "not to a broker on its path"
        );
        assert_eq!(
            t.advert(&k2, 1, &view("B", 1), "A"),
            None,
            "beyond consumer ttl"
        );
        assert_eq!(
            t.advert(&k2, 1, &view("B", 2), "A"),
            Some(Advert {
                hops: 2,
                path: "C,A".into()
            })
        );
    }

    #[test]
    fn shortest_route_wins_and_counts_are_kept() {
        let mut t = DemandTable::default();
        let k = key("/queue/q");
        t.add(
            k.clone(),
            Source::Link(1),
            3,
            vec!["X".into(), "Y".into(), "Z".into()],
        );
        t.add(k.clone(), Source::Link(2), 1, vec!["W".into()]);
        assert_eq!(t.advert(&k, 9, &view("V", 9), "A").unwrap().path, "W,A");
        t.add(k.clone(), Source::Local, 0, vec![]);
        t.add(k.clone(), Source::Local, 0, vec![]);
        assert!(t.remove(&k, Source::Local));
        assert_eq!(
            t.advert(&k, 9, &view("V", 9), "A").unwrap().hops,
            1,
            "one local consumer left"
        );
        assert_eq!(t.remove_source(Source::Link(2)), vec![k.clone()]);
        assert!(t.remove(&k, Source::Local));
        assert!(!t.remove(&k, Source::Link(1)));
        assert!(t.is_empty());
    }

    #[test]
    fn without_conduit_queue_demand_is_told_per_consumer() {
        let mut t = DemandTable::default();
        let (q, topic) = (key("/queue/q"), key("/topic/t"));
        for _ in 0..3 {
            t.add(q.clone(), Source::Local, 0, vec![]);
            t.add(topic.clone(), Source::Local, 0, vec![]);
        }
        // Two demands from a peer over link 2 (it has no conduit either).
        t.add(q.clone(), Source::Link(2), 1, vec!["C".into()]);
        t.add(q.clone(), Source::Link(2), 1, vec!["C".into()]);
        let no_conduit = LinkView {
            conduit: false,
            ..view("B", 2)
        };
        assert_eq!(t.copies(&q, 1, &no_conduit), 5, "3 here, 2 behind C");
        assert_eq!(t.copies(&q, 2, &no_conduit), 3, "not C's own back to it");
        assert_eq!(
            t.copies(
                &q,
                1,
                &LinkView {
                    consumer_ttl: 1,
                    ..no_conduit.clone()
                }
            ),
            3
        );
        assert_eq!(t.copies(&topic, 1, &no_conduit), 1, "topics stay collapsed");
        assert_eq!(t.copies(&q, 1, &view("B", 2)), 1, "conduit");
        // Each withdrawal takes one demand away; the link's entry goes with the last.
        assert!(t.remove(&q, Source::Link(2)));
        assert_eq!(t.copies(&q, 1, &no_conduit), 4);
        assert!(t.remove(&q, Source::Link(2)));
        assert_eq!(t.copies(&q, 1, &no_conduit), 3);
    }
}
