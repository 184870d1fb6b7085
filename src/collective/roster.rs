//! Who is a member where, kept up to date one subscription event at a time.
//!
//! Membership used to be recomputed from a copy of every subscription and connection in the
//! engine, taken under its lock: with 1 000 nodes that was 72 % of the broker's CPU during
//! ping rounds, and a fleet connecting cost O(N²). The roster instead applies each event of
//! the engine's watch (`broker::watch`) in O(log N) and builds a [`Membership`] only when
//! someone asks, from its own maps, without the engine. Its tests check it against a
//! straightforward full recomputation over random event sequences.

use super::connector::{Connector, NodeDestination};
use super::membership::{CollectiveSummary, Member, Membership, STALE_SECS};
use crate::broker::events::BrokerEvent;
use crate::broker::snapshot::SubscriptionInfo;
use crate::broker::subscription::ConnId;
use crate::broker::watch::WatchedConn;
use std::collections::{BTreeMap, HashMap};

/// What one subscription says about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// A client's agent topic: `(collective, agent)`.
    Agent(String, String),
    /// A directed queue with an identity selector, local or a bridge's (`via` its peer).
    Node {
        collective: String,
        identity: String,
        via: Option<String>,
    },
}

fn role(destination: &str, selector: Option<&str>, via: Option<&str>) -> Option<Role> {
    match Connector::classify(destination, selector)? {
        NodeDestination::Agent { collective, agent } if via.is_none() => {
            Some(Role::Agent(collective, agent))
        }
        NodeDestination::Directed {
            collective,
            identity: Some(identity),
        } => Some(Role::Node {
            collective,
            identity,
            via: via.map(str::to_string),
        }),
        _ => None,
    }
}

/// Where a member is reached from: its own connections, or bridges — with a count of
/// subscriptions each, since one connection or peer may subscribe for it more than once.
#[derive(Debug, Default)]
struct Presence {
    local: BTreeMap<ConnId, u32>,
    via: BTreeMap<String, u32>,
    /// Unix seconds when this member appeared (for members reached through a bridge).
    first_seen: u64,
    /// Unix seconds of its latest ping reply (0: none yet).
    last_seen: u64,
}

#[derive(Debug, Default)]
pub struct Roster {
    conns: HashMap<ConnId, (String, u64)>,
    /// (connection, client key) → role, for the subscriptions that have one.
    subs: HashMap<(ConnId, String), Role>,
    /// collective → identity → presence.
    members: BTreeMap<String, BTreeMap<String, Presence>>,
    /// (connection, collective) → agent → subscriptions to it.
    agents: HashMap<(ConnId, String), BTreeMap<String, u32>>,
}

impl Roster {
    /// A roster of what a watch's snapshot shows, at `now` (Unix seconds).
    pub fn new(subs: &[SubscriptionInfo], conns: &[WatchedConn], now: u64) -> Roster {
        let mut r = Roster::default();
        for c in conns {
            r.conns.insert(c.id, (c.peer.clone(), c.since));
        }
        for s in subs {
            r.added(
                s.conn,
                s.client_key.clone(),
                &s.destination,
                s.selector.as_deref(),
                s.network.as_deref(),
                now,
            );
        }
        r
    }

    /// Applies one engine event.
    pub fn apply(&mut self, e: &BrokerEvent, now: u64) {
        match e {
            BrokerEvent::ConnectionOpened { conn, peer } => {
                self.conns.entry(*conn).or_insert((peer.clone(), now));
            }
            BrokerEvent::ConnectionClosed { conn, .. } => {
                self.conns.remove(conn);
            }
            BrokerEvent::SubscriptionAdded {
                conn,
                id,
                destination,
                selector,
                network,
            } => {
                let key = id.clone().unwrap_or_else(|| destination.clone());
                let (sel, via) = (selector.as_deref(), network.as_deref());
                self.added(*conn, key, destination, sel, via, now);
            }
            BrokerEvent::SubscriptionRemoved {
                conn,
                id,
                destination,
            } => {
                let key = id.clone().unwrap_or_else(|| destination.clone());
                self.removed(*conn, key);
            }
            _ => {}
        }
    }

    fn added(
        &mut self,
        conn: ConnId,
        key: String,
        destination: &str,
        selector: Option<&str>,
        via: Option<&str>,
        now: u64,
    ) {
        let Some(role) = role(destination, selector, via) else {
            return;
        };
        self.removed(conn, key.clone()); // a key is one subscription at a time
        match &role {
            Role::Agent(collective, agent) => {
                let agents = self.agents.entry((conn, collective.clone())).or_default();
                *agents.entry(agent.clone()).or_default() += 1;
            }
            Role::Node {
                collective,
                identity,
                via,
            } => {
                let p = self
                    .members
                    .entry(collective.clone())
                    .or_default()
                    .entry(identity.clone())
                    .or_insert_with(|| Presence {
                        first_seen: now,
                        ..Presence::default()
                    });
                match via {
                    None => *p.local.entry(conn).or_default() += 1,
                    Some(peer) => *p.via.entry(peer.clone()).or_default() += 1,
                }
            }
        }
        self.subs.insert((conn, key), role);
    }

    fn removed(&mut self, conn: ConnId, key: String) {
        let Some(role) = self.subs.remove(&(conn, key)) else {
            return;
        };
        match role {
            Role::Agent(collective, agent) => {
                let k = (conn, collective);
                let Some(agents) = self.agents.get_mut(&k) else {
                    return;
                };
                if decrement(agents, &agent) && agents.is_empty() {
                    self.agents.remove(&k);
                }
            }
            Role::Node {
                collective,
                identity,
                via,
            } => {
                let Some(ids) = self.members.get_mut(&collective) else {
                    return;
                };
                let Some(p) = ids.get_mut(&identity) else {
                    return;
                };
                match via {
                    None => decrement(&mut p.local, &conn),
                    Some(peer) => decrement(&mut p.via, &peer),
                };
                if p.local.is_empty() && p.via.is_empty() {
                    ids.remove(&identity);
                    if ids.is_empty() {
                        self.members.remove(&collective);
                    }
                }
            }
        }
    }

    /// A ping reply from `identity`: its "last seen" in every collective it is in (kept with
    /// the member, so it goes when the member goes).
    pub fn touch(&mut self, identity: &str, now: u64) {
        for ids in self.members.values_mut() {
            if let Some(p) = ids.get_mut(identity) {
                p.last_seen = now;
            }
        }
    }

    /// Members per collective.
    pub fn membership(&self) -> Membership {
        self.membership_up_to(usize::MAX)
    }

    /// Members per collective, at most `limit` each (the first by identity): what a stats
    /// report carries, with [`Roster::summary`] for the whole count.
    pub fn membership_up_to(&self, limit: usize) -> Membership {
        self.members
            .iter()
            .map(|(c, ids)| {
                let members = ids
                    .iter()
                    .take(limit)
                    .map(|(id, p)| self.member(c, id, p))
                    .collect();
                (c.clone(), members)
            })
            .collect()
    }

    /// Per collective: members, how many are reached through bridges, how many have not been
    /// seen for [`STALE_SECS`] at `now` — without building the members.
    pub fn summary(&self, now: u64) -> BTreeMap<String, CollectiveSummary> {
        self.members
            .iter()
            .map(|(c, ids)| {
                let mut s = CollectiveSummary {
                    members: ids.len(),
                    ..CollectiveSummary::default()
                };
                for p in ids.values() {
                    let (conn, since) = self.reached(p);
                    s.remote += usize::from(conn.is_none());
                    s.stale += usize::from(now.saturating_sub(p.last_seen.max(since)) > STALE_SECS);
                }
                (c.clone(), s)
            })
            .collect()
    }

    /// Entries held in all (connections, subscriptions, members, agent sets): what a test
    /// of churn checks comes back to where it was.
    pub fn entries(&self) -> usize {
        let members: usize = self.members.values().map(BTreeMap::len).sum();
        self.conns.len() + self.subs.len() + members + self.agents.len()
    }

    /// How many members each collective has (cheap: no member is built).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.members
            .iter()
            .map(|(c, ids)| (c.clone(), ids.len()))
            .collect()
    }

    /// The connection a member is reached on (its lowest; `None`: only through bridges), and
    /// since when: the connection's start, else when the member appeared.
    fn reached(&self, p: &Presence) -> (Option<ConnId>, u64) {
        let conn = p.local.keys().next().copied();
        let since = conn
            .and_then(|c| self.conns.get(&c))
            .map_or(p.first_seen, |(_, since)| *since);
        (conn, since)
    }

    fn member(&self, c: &str, id: &str, p: &Presence) -> Member {
        // A node seen both directly and through a bridge is listed once, directly.
        let (conn, since) = self.reached(p);
        let via = match conn {
            Some(_) => None,
            None => p.via.keys().next().cloned(),
        };
        let address = conn
            .and_then(|c| self.conns.get(&c))
            .map(|(peer, _)| peer.clone())
            .unwrap_or_default();
        let agents = conn
            .and_then(|k| self.agents.get(&(k, c.to_string())))
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default();
        Member {
            identity: id.to_string(),
            via,
            conn,
            address,
            agents,
            since,
            last_seen: p.last_seen.max(since),
        }
    }
}

/// Takes one from `key`'s count, removing it at zero; false if it was not there.
fn decrement<K: Ord + std::borrow::Borrow<Q>, Q: Ord + ?Sized>(
    counts: &mut BTreeMap<K, u32>,
    key: &Q,
) -> bool {
    let Some(n) = counts.get_mut(key) else {
        return false;
    };
    *n -= 1;
    if *n == 0 {
        counts.remove(key);
    }
    true
}

#[cfg(test)]
#[path = "roster_tests.rs"]
mod tests;
