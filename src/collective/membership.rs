//! Collective membership, inferred by the broker from what nodes subscribe to.
//!
//! An MCollective node subscribes, in each of its collectives, to `/queue/<c>.nodes` with the
//! selector `mc_identity = '<identity>'` and to one `/topic/<c>.<agent>.agent` per agent. So
//! the broker's subscription table *is* the membership: no agent on the node, no polling of the
//! fleet. Across bridges the directed subscriptions arrive as demand from the peer (one per
//! node, since their selectors differ), so remote members are listed with the bridge they are
//! reached through. Ping replies refresh "last seen". The tracker follows the engine's
//! subscription events one at a time (`roster`), never copying the engine.
//!
//! The tracker also answers queries over STOMP on [`MEMBERSHIP_QUEUE`], so `shoal ping` against
//! a remote shoal broker can list the members that did not answer.

use super::roster::Roster;
use crate::broker::BrokerHandle;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
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

/// Seconds after which a member that has not been seen answering is marked stale.
pub const STALE_SECS: u64 = 300;

/// One collective in numbers (a stats report carries these for all members, and the members
/// themselves only up to a bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectiveSummary {
    pub members: usize,
    /// Reached through a bridge.
    pub remote: usize,
    /// Not seen for [`STALE_SECS`].
    pub stale: usize,
}

impl CollectiveSummary {
    /// The numbers of a collective from its member list, at `now` (Unix seconds).
    pub fn of(members: &[Member], now: u64) -> CollectiveSummary {
        CollectiveSummary {
            members: members.len(),
            remote: members.iter().filter(|m| m.via.is_some()).count(),
            stale: members.iter().filter(|m| m.is_stale(now)).count(),
        }
    }
}

impl Member {
    /// Not seen answering for [`STALE_SECS`] at `now`.
    pub fn is_stale(&self, now: u64) -> bool {
        now.saturating_sub(self.last_seen) > STALE_SECS
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub struct MembershipTracker {
    roster: Mutex<Roster>,
    handle: BrokerHandle,
}

impl MembershipTracker {
    /// Starts tracking: a roster built from the engine's watch (`broker::watch`), then kept
    /// up to date one event at a time (see `roster`). Nothing here copies the engine again.
    pub fn start(handle: BrokerHandle, stop: CancellationToken) -> Arc<MembershipTracker> {
        let watch = handle.watch();
        let t = Arc::new(MembershipTracker {
            roster: Mutex::new(Roster::new(&watch.subscriptions, &watch.connections, now())),
            handle,
        });
        let weak = Arc::downgrade(&t);
        let mut events = watch.events;
        tokio::spawn(async move {
            loop {
                let e = tokio::select! {
                    _ = stop.cancelled() => return,
                    e = events.recv() => match e { Some(e) => e, None => return },
                };
                let Some(t) = weak.upgrade() else { return };
                let now = now();
                let mut roster = t.roster.lock();
                roster.apply(&e, now);
                // Whatever else is already queued, under the same lock.
                while let Ok(e) = events.try_recv() {
                    roster.apply(&e, now);
                }
            }
        });
        t
    }

    /// The membership now.
    pub fn snapshot(&self) -> Membership {
        self.roster.lock().membership()
    }

    /// Members per collective, at most `limit` each (see `Roster::membership_up_to`).
    pub fn snapshot_up_to(&self, limit: usize) -> Membership {
        self.roster.lock().membership_up_to(limit)
    }

    /// Every collective in numbers (see `Roster::summary`).
    pub fn summary(&self) -> BTreeMap<String, CollectiveSummary> {
        self.roster.lock().summary(now())
    }

    /// Entries the tracker holds (see `Roster::entries`).
    pub fn entries(&self) -> usize {
        self.roster.lock().entries()
    }

    /// Members per collective, without building the member list.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.roster.lock().counts()
    }

    pub fn members(&self, collective: &str) -> Vec<Member> {
        self.snapshot().remove(collective).unwrap_or_default()
    }

    /// A node answered (a ping reply): refresh its "last seen".
    pub fn touch(&self, identity: &str) {
        self.roster.lock().touch(identity, now());
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
                let mut m = me.snapshot();
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
