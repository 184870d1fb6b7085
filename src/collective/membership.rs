//! Collective membership, inferred by the broker from what nodes subscribe to.
//!
//! An MCollective node subscribes, in each of its collectives, to `/queue/<c>.nodes` with the
//! selector `mc_identity = '<identity>'` and to one `/topic/<c>.<agent>.agent` per agent. So
//! the broker's subscription table *is* the membership: no agent on the node, no polling of the
//! fleet. Across bridges the directed subscriptions arrive as demand from the peer (one per
//! node, since their selectors differ), so remote members are listed with the bridge they are
//! reached through. Ping replies refresh "last seen".
//!
//! The tracker also answers queries over STOMP on [`MEMBERSHIP_QUEUE`], so `shoal ping` against
//! a remote shoal broker can list the members that did not answer.

use super::connector::{Connector, NodeDestination};
use crate::broker::events::BrokerEvent;
use crate::broker::BrokerHandle;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where clients ask a shoal broker for membership: SEND with `reply-to`, body = the
/// collective (empty: all); the answer is JSON with header `shoal-membership: 1`. A SEND with
/// header `shoal-seen` (body: JSON list of identities) refreshes their "last seen".
pub const MEMBERSHIP_QUEUE: &str = "/queue/shoal.membership";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub identity: String,
    /// The bridge peer the node is reached through; `None` when attached to this broker.
    pub via: Option<String>,
    /// The client connection (local members).
    pub conn: Option<u64>,
    /// The connection's address (local members).
    pub address: String,
    /// Agents subscribed to in this collective (local members; bridges collapse topics).
    pub agents: Vec<String>,
    /// Unix seconds: connected / first seen.
    pub since: u64,
    /// Unix seconds: last subscription change or ping reply seen.
    pub last_seen: u64,
}

/// collective → members, sorted by identity.
pub type Membership = BTreeMap<String, Vec<Member>>;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Default)]
struct TrackerState {
    /// (collective, identity) → first seen, for members whose connection time is unknown.
    first_seen: HashMap<(String, String), u64>,
    last_seen: HashMap<String, u64>,
    current: Membership,
}

pub struct MembershipTracker {
    handle: BrokerHandle,
    state: Mutex<TrackerState>,
}

impl MembershipTracker {
    /// Starts tracking: recomputed at most once a second, when subscriptions changed. Not on every
    /// change: a node connecting makes a handful, a fleet reconnecting tens of thousands, and
    /// each recomputation copies every subscription out of the engine under its lock (a
    /// connection making 10 000 subscriptions stalled every other client for 4 s).
    pub fn start(handle: BrokerHandle, stop: CancellationToken) -> Arc<MembershipTracker> {
        let t = Arc::new(MembershipTracker {
            handle: handle.clone(),
            state: Mutex::new(TrackerState::default()),
        });
        t.refresh();
        let weak = Arc::downgrade(&t);
        let mut events = handle.events();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut changed = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => if !changed { continue },
                    e = events.recv() => {
                        match e {
                            Ok(BrokerEvent::SubscriptionAdded { .. })
                            | Ok(BrokerEvent::SubscriptionRemoved { .. })
                            | Ok(BrokerEvent::ConnectionClosed { .. })
                            | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                changed = true;
                            }
                            Ok(_) => {}
                            Err(_) => return,
                        }
                        continue;
                    }
                }
                match weak.upgrade() {
                    Some(t) => {
                        t.refresh();
                        changed = false;
                    }
                    None => return,
                }
            }
        });
        t
    }

    /// Recomputes membership from the engine's subscriptions now.
    pub fn refresh(&self) -> Membership {
        let subs = self.handle.subscriptions();
        let conns: HashMap<u64, (String, u64)> = self
            .handle
            .snapshot()
            .connections
            .into_iter()
            .map(|c| (c.id, (c.peer, c.since)))
            .collect();
        // (conn, collective) → agents; (conn or peer, collective) → identity.
        let mut agents: HashMap<(u64, String), BTreeSet<String>> = HashMap::new();
        let mut found: Vec<(String, String, Option<String>, Option<u64>)> = Vec::new();
        for s in &subs {
            match Connector::classify(&s.destination, s.selector.as_deref()) {
                Some(NodeDestination::Agent { collective, agent }) if s.network.is_none() => {
                    agents
                        .entry((s.conn, collective))
                        .or_default()
                        .insert(agent);
                }
                Some(NodeDestination::Directed {
                    collective,
                    identity: Some(id),
                }) => {
                    let conn = s.network.is_none().then_some(s.conn);
                    found.push((collective, id, s.network.clone(), conn));
                }
                _ => {}
            }
        }
        let t = now();
        let mut st = self.state.lock();
        let mut m: Membership = BTreeMap::new();
        let mut live = std::collections::HashSet::new();
        for (collective, identity, via, conn) in found {
            let key = (collective.clone(), identity.clone());
            let first = *st.first_seen.entry(key.clone()).or_insert(t);
            live.insert(key);
            let (address, since) = conn
                .and_then(|c| conns.get(&c).cloned())
                .unwrap_or((String::new(), first));
            let last_seen = st
                .last_seen
                .get(&identity)
                .copied()
                .unwrap_or(since)
                .max(since);
            m.entry(collective.clone()).or_default().push(Member {
                agents: conn
                    .and_then(|c| agents.get(&(c, collective.clone())))
                    .map(|a| a.iter().cloned().collect())
                    .unwrap_or_default(),
                identity,
                via,
                conn,
                address,
                since,
                last_seen,
            });
        }
        st.first_seen.retain(|k, _| live.contains(k));
        for members in m.values_mut() {
            members.sort_by(|a, b| a.identity.cmp(&b.identity).then(a.via.cmp(&b.via)));
            // A node seen both directly and through a bridge is listed once, directly.
            members.dedup_by(|b, a| a.identity == b.identity);
        }
        st.current = m.clone();
        m
    }

    /// The membership as of the last refresh (at most a second old).
    pub fn snapshot(&self) -> Membership {
        self.state.lock().current.clone()
    }

    pub fn members(&self, collective: &str) -> Vec<Member> {
        self.snapshot().remove(collective).unwrap_or_default()
    }

    /// A node answered (a ping reply): refresh its "last seen".
    pub fn touch(&self, identity: &str) {
        let t = now();
        let mut st = self.state.lock();
        st.last_seen.insert(identity.to_string(), t);
        for m in st.current.values_mut().flatten() {
            if m.identity == identity {
                m.last_seen = t;
            }
        }
    }

    /// Serves [`MEMBERSHIP_QUEUE`] on the broker until `stop`.
    pub fn serve(self: &Arc<Self>, stop: CancellationToken) {
        let mut client = self.handle.connect_local("membership");
        if let Err(e) = client.subscribe("membership", MEMBERSHIP_QUEUE, None) {
            tracing::warn!("membership service not started: {e}");
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let r = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = client.recv() => match r { Some(r) => r, None => return },
                };
                let msg = &r.message;
                if msg.header("shoal-seen").is_some() {
                    let ids: Vec<String> = serde_json::from_slice(&msg.body).unwrap_or_default();
                    for id in ids {
                        me.touch(&id);
                    }
                    continue;
                }
                let Some(reply_to) = msg.header("reply-to") else {
                    continue;
                };
                let collective = String::from_utf8_lossy(&msg.body).trim().to_string();
                let mut m = me.refresh();
                if !collective.is_empty() {
                    m.retain(|c, _| *c == collective);
                }
                let body = serde_json::to_vec(&m).unwrap_or_default();
                let headers = vec![("shoal-membership".to_string(), "1".to_string())];
                if let Err(e) = client.send(reply_to, headers, body) {
                    tracing::debug!("membership reply to {reply_to}: {e}");
                }
            }
        });
    }
}
