//! Destinations come into being on first use and go when idle (`Engine::tick`); how many may
//! exist is bounded, overall and per user.
//!
//! Without a bound one client made 818 000 topics in 33 s: 654 MiB, and the once-a-second
//! work over every destination (idle sweep, rates, the stats report) stalled every other
//! user for seconds. `max_destinations` bounds them all, `max_destinations_per_user` what one
//! user's SENDs and SUBSCRIBEs may create (bridges and in-process clients, having no user,
//! count only overall); the broker's own destinations (dead letters, durable subscriptions'
//! queues) are never refused. A refused creation is an ERROR naming the limit; nothing that
//! exists is touched.

use super::auth::{Acl, Principal};
use super::destination::{DestKind, DestPattern, Destination};
use super::error::EngineError;
use super::events::BrokerEvent;
use super::queue::MessageQueue;
use super::settings::Limits;
use super::state::{Core, Dest, DestStats};
use super::subscribers::Subscribers;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast;

impl Core {
    /// Whether `by` (a user, or `None` for a client without one) may create `dest`, when it
    /// does not exist yet.
    pub fn may_create(
        &self,
        dest: &Destination,
        by: Option<&Principal>,
        limits: &Limits,
    ) -> Result<(), EngineError> {
        if self.dests.contains_key(dest) {
            return Ok(());
        }
        if self.dests.len() >= limits.max_destinations {
            return Err(EngineError::TooManyDestinations {
                destination: dest.to_string(),
                who: "the broker".into(),
                max: limits.max_destinations,
                limit: "max_destinations",
            });
        }
        if let Some(p) = by {
            let made = self.dests_by_user.get(&p.user).copied().unwrap_or(0);
            if made >= limits.max_destinations_per_user {
                return Err(EngineError::TooManyDestinations {
                    destination: dest.to_string(),
                    who: format!("user {}", p.user),
                    max: limits.max_destinations_per_user,
                    limit: "max_destinations_per_user",
                });
            }
        }
        Ok(())
    }

    /// Creates `dest` on first use (for `owner`, when a user's SEND or SUBSCRIBE does) and
    /// attaches the wildcard subscriptions that match it. Callers for users check
    /// `may_create` first.
    pub fn ensure_dest(
        &mut self,
        dest: &Destination,
        events: &broadcast::Sender<BrokerEvent>,
        acl: &Acl,
        owner: Option<&Arc<Principal>>,
    ) {
        if self.dests.contains_key(dest) {
            return;
        }
        // A durable subscription's queue is its subscriber's alone: no wildcard takes from it.
        let subscribers: Subscribers = if super::durable::is_reserved(dest.kind, &dest.name) {
            Subscribers::default()
        } else {
            self.wildcard_subs
                .candidates(dest)
                .into_iter()
                .filter(|k| {
                    self.subs
                        .get(k)
                        .is_some_and(|s| s.pattern.matches(dest) && s.may_read(acl, dest))
                })
                .collect()
        };
        for k in subscribers.iter() {
            if let Some(s) = self.subs.get_mut(k) {
                s.attached.push(dest.clone());
            }
        }
        if let Some(p) = owner {
            *self.dests_by_user.entry(p.user.clone()).or_default() += 1;
        }
        self.dest_names.insert(dest.clone());
        self.dests.insert(
            dest.clone(),
            Dest {
                subscribers,
                rr: 0,
                queue: MessageQueue::new(self.queued_total.clone()),
                producers: HashSet::new(),
                stats: DestStats::default(),
                last_active_ms: super::message::now_ms(),
                rate_in: 0.0,
                rate_out: 0.0,
                prev_in: 0,
                prev_out: 0,
                owner: owner.cloned(),
            },
        );
        let _ = events.send(BrokerEvent::DestinationCreated {
            destination: dest.to_string(),
        });
    }

    /// Removes `dest`, no longer counting it its owner's.
    pub fn forget_dest(&mut self, dest: &Destination) -> Option<Dest> {
        let d = self.dests.remove(dest)?;
        self.dest_names.remove(dest);
        for c in &d.producers {
            if let Some(c) = self.conns.get_mut(c) {
                c.produced.remove(dest);
            }
        }
        uncount(&mut self.dests_by_user, &d);
        Some(d)
    }

    /// Removes the temporary destinations of connection `conn` (named `shoal-tmp-<conn>.…`):
    /// a range of `dest_names`, not a walk over every destination on each close.
    pub fn forget_temp_dests(&mut self, conn: super::subscription::ConnId) {
        let prefix = format!("{}{conn}.", super::engine::TEMP_PREFIX);
        let gone: Vec<Destination> = [DestKind::TempTopic, DestKind::TempQueue]
            .into_iter()
            .flat_map(|kind| self.names_under(kind, &prefix))
            .cloned()
            .collect();
        for d in gone {
            self.forget_dest(&d);
        }
    }

    /// The destinations a wildcard `pattern` matches. Only those whose name starts with the
    /// pattern's literal prefix are looked at (a range of `dest_names`): 10 000 wildcard
    /// subscriptions each trying 10 000 destinations held the lock for seconds.
    pub fn dests_matching(&self, pattern: &DestPattern) -> Vec<Destination> {
        self.names_under(pattern.kind, &pattern.literal_prefix())
            .filter(|d| pattern.matches(d))
            .cloned()
            .collect()
    }

    /// The destinations of `kind` whose name starts with `prefix`, in name order: a range
    /// of `dest_names`, however many others there are.
    fn names_under<'a>(
        &'a self,
        kind: DestKind,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Destination> + 'a {
        self.dest_names
            .range(Destination::new(kind, prefix.to_string())..)
            .take_while(move |d| d.kind == kind && d.name.starts_with(prefix))
    }
}

fn uncount(by_user: &mut rustc_hash::FxHashMap<String, usize>, d: &Dest) {
    if let Some(p) = &d.owner {
        if let Some(n) = by_user.get_mut(&p.user) {
            *n -= 1;
            if *n == 0 {
                by_user.remove(&p.user);
            }
        }
    }
}
