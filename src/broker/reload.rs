//! A reload: new users, ACL, `[broker]` settings, `[limits]` and delivery policy put in
//! place while every connection stays up.
//!
//! Everything is swapped under the engine's lock, then — when users, anonymous access or the
//! ACL changed — every client connection is checked against the new rules, 256 at a time with
//! the lock handed to others between batches (a reload is rare; this is the one place that
//! walks every connection, on purpose). Measured on 2 cores with 10 000 nodes of 15
//! subscriptions (BENCHMARKS.md "Reloading the config"): 72–81 ms of work a reload; in one
//! hold, a round trip beside it waited up to 106 ms; in batches, 17 ms (15 ms without any
//! reload).
//! - a connection whose user no longer exists (or an anonymous one when anonymous access is
//!   off) gets an ERROR naming the user and is closed;
//! - a subscription the new ACL no longer allows is ended, and its connection gets an ERROR
//!   naming the subscription, the destination and the ACL entry that now decides (STOMP
//!   closes a connection after an ERROR);
//! - a wildcard subscription that still may read something is re-attached: it leaves the
//!   destinations it may no longer read and joins those it now may;
//! - everyone else keeps their connection and subscriptions untouched, with their groups
//!   updated (a user moved to another group gets that group's rights at once).
//!
//! Durable subscriptions check their owner's rights on every message (`durable_may_read`),
//! so they follow the new ACL with their principal updated. Existing connections are not
//! asked to log in again; a changed password applies to the next login.

use super::auth::{Acl, Action, Directory, Principal};
use super::destination::{DestPattern, Destination};
use super::engine::Engine;
use super::settings::{BrokerSettings, DeliveryPolicy, Limits};
use super::state::Core;
use super::subscription::{ConnId, SubKey};
use crate::stomp::Frame;
use std::collections::HashSet;
use std::sync::Arc;

/// What a reload puts in place.
pub struct Reload {
    pub directory: Arc<Directory>,
    pub acl: Acl,
    /// Its `name` is ignored: a broker keeps its name for life.
    pub settings: BrokerSettings,
    pub limits: Limits,
    pub policy: DeliveryPolicy,
    /// Users, anonymous access or the ACL differ: every connection must be re-checked.
    pub rules_changed: bool,
}

/// What a reload did to the connections.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Client connections re-checked, and their subscriptions.
    pub connections: usize,
    pub subscriptions: usize,
    /// Connections closed because their user is gone: (connection, user).
    pub users_removed: Vec<(ConnId, String)>,
    /// Subscriptions ended by the new ACL: (connection, subscription, why).
    pub revoked: Vec<(ConnId, String, String)>,
}

/// Why a subscription may no longer exist, or `None` when it may.
fn revoked_by(acl: &Acl, who: &Principal, pattern: &DestPattern) -> Option<String> {
    if acl.is_empty() {
        return None;
    }
    let deciding = |d| match acl.entry_for(d) {
        Some(e) => format!("[[acl]] {} grants read to {:?}", e.pattern, e.read),
        None => "no [[acl]] entry matches it".to_string(),
    };
    match pattern.as_destination() {
        Some(d) if !acl.allows(who, Action::Read, &d) => Some(deciding(&d)),
        Some(_) => None,
        None if !acl.may_read_some(who, pattern) => {
            Some("no [[acl]] entry overlapping it grants read".to_string())
        }
        None => None,
    }
}

impl Engine {
    /// Puts `r` in place and applies it to every connection (see the module docs).
    pub fn reload(&self, r: Reload) -> Reloaded {
        let mut guard = self.core.lock();
        let mut settings = r.settings;
        settings.name = self.name().to_string();
        self.security.auth.replace(r.directory);
        self.security.replace_acl(r.acl);
        self.replace_settings(settings, r.limits);
        guard.policy = r.policy;
        let mut out = Reloaded::default();
        if !r.rules_changed {
            return out;
        }
        let dir = self.security.auth.directory();
        let acl = self.security.acl();
        let conns: Vec<ConnId> = guard
            .conns
            .iter()
            .filter(|(_, c)| c.principal.is_some())
            .map(|(id, _)| *id)
            .collect();
        out.connections = conns.len();
        // Others get the lock between batches (10 000 nodes with 15 subscriptions each held
        // it 75–88 ms in one go); whatever they do meanwhile is checked by the new rules.
        for (i, conn) in conns.into_iter().enumerate() {
            self.recheck_connection(&mut guard, conn, &dir, &acl, &mut out);
            if i % 256 == 255 {
                parking_lot::MutexGuard::bump(&mut guard);
            }
        }
        for d in guard.durables.values_mut() {
            if let Some(p) = &d.principal {
                d.principal = dir.principal_of(&p.user).or(Some(p.clone()));
            }
        }
        self.settle(&mut guard);
        out
    }

    /// One connection under the new rules: closed if its user is gone, its principal
    /// refreshed, each subscription re-checked.
    fn recheck_connection(
        &self,
        core: &mut Core,
        conn: ConnId,
        dir: &Directory,
        acl: &Acl,
        out: &mut Reloaded,
    ) {
        let Some(c) = core.conns.get_mut(&conn) else {
            return; // closed while others had the lock
        };
        let Some(user) = c.principal.as_ref().map(|p| p.user.clone()) else {
            return;
        };
        let Some(who) = dir.principal_of(&user) else {
            c.outbox.close_with(Some(Frame::error(
                "user removed",
                format!("user {user} is no longer in the broker's configuration (reloaded)"),
            )));
            out.users_removed.push((conn, user));
            return;
        };
        c.principal = Some(who.clone());
        let subs: Vec<(String, SubKey)> = c.subs.iter().map(|(id, k)| (id.clone(), *k)).collect();
        out.subscriptions += subs.len();
        let mut ended = Vec::new();
        for (id, key) in subs {
            if let Some(why) = self.recheck(core, conn, key, &who, acl) {
                if let Some(c) = core.conns.get_mut(&conn) {
                    c.subs.remove(&id);
                }
                self.remove_subscription(core, conn, key);
                ended.push(format!("subscription {id} ({why})"));
                out.revoked.push((conn, id, why));
            }
        }
        if let (false, Some(c)) = (ended.is_empty(), core.conns.get(&conn)) {
            c.outbox.close_with(Some(Frame::error(
                "subscription revoked",
                format!("the reloaded ACL no longer allows {}", ended.join("; ")),
            )));
        }
    }

    /// Checks one subscription against the new ACL: `Some(why)` when it must end. One that
    /// stays is re-attached if it has wildcards.
    fn recheck(
        &self,
        core: &mut Core,
        conn: ConnId,
        key: SubKey,
        who: &Arc<Principal>,
        acl: &Acl,
    ) -> Option<String> {
        let sub = core.subs.get_mut(&key)?;
        if sub.network.is_some() {
            return None; // a bridge's demand: checked by the peer's user at its end
        }
        sub.principal = Some(who.clone());
        let pattern = sub.pattern.clone();
        let own_temp = pattern.kind.is_temp() && Engine::temp_owner(&pattern.pattern) == Some(conn);
        let durable_queue = pattern
            .as_destination()
            .is_some_and(|d| super::durable::is_reserved(d.kind, &d.name));
        if own_temp || durable_queue {
            return None;
        }
        if let Some(why) = revoked_by(acl, who, &pattern) {
            return Some(format!("{pattern}: {why}"));
        }
        if pattern.is_wildcard() {
            core.reattach_wildcard(key, acl);
        }
        None
    }
}

impl Core {
    /// A wildcard subscription leaves the destinations its principal may no longer read and
    /// joins those it now may.
    fn reattach_wildcard(&mut self, key: SubKey, acl: &Acl) {
        let Some(sub) = self.subs.get(&key) else {
            return;
        };
        let wanted: Vec<_> = self
            .dests_matching(&sub.pattern)
            .into_iter()
            .filter(|d| sub.may_read(acl, d) && !super::durable::is_reserved(d.kind, &d.name))
            .collect();
        let sub = self.subs.get_mut(&key).expect("looked up above");
        let before = std::mem::take(&mut sub.attached);
        let (was, now): (HashSet<&Destination>, HashSet<&Destination>) =
            (before.iter().collect(), wanted.iter().collect());
        for d in &before {
            if !now.contains(d) {
                if let Some(dest) = self.dests.get_mut(d) {
                    dest.subscribers.remove(key);
                }
            }
        }
        for d in &wanted {
            if !was.contains(d) {
                if let Some(dest) = self.dests.get_mut(d) {
                    dest.subscribers.push(key);
                }
            }
        }
        sub.attached = wanted;
    }
}
