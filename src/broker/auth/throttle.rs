//! Throttling of failed logins, per source address and per login name: each failure doubles
//! the delay before the next attempt is judged, up to a cap; a quiet period forgets it.
//!
//! Attempts are spaced, not just delayed: once an address or a login name has failed, every
//! attempt takes the next slot of its address and of its login name, and attempts already in
//! flight count like failures towards the gap. Thirty-two parallel connections from one
//! address therefore get no more guesses than one connection trying in sequence (each used
//! to wait the same delay and then guess at once). An address or name with no failures is
//! never spaced: a fleet of 10 000 nodes behind one NAT address (or on one bastion) logging
//! in at once after a restart must not queue behind itself — spacing them all used to make
//! the 5 000th wait minutes. What keeps a first parallel burst of guesses small is the
//! re-check at judgment (`failed_since`): an attempt that was reserved before a failure
//! arrived is put back in line before its password is hashed, so only those being hashed at
//! the same moment (a handful, see `login`) are judged before the first failure counts.
//!
//! A success clears the failures of the login name that succeeded, and from the address only
//! those made as that name: a guesser who holds some valid account cannot reset its
//! address's throttle by logging in with it between guesses.
//!
//! Only the waiting sessions sleep; the rest of the broker never waits. Memory is bounded: an
//! entry lives while it has failures or attempts in flight, and a spray of addresses or names
//! past `MAX_ENTRIES` drops the forgotten ones first.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Entries kept per map before forgotten ones are swept.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Delay after the first failure; doubles with each further one.
    pub base: Duration,
    pub max: Duration,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    in_flight: u32,
    /// When the latest reserved attempt is judged: the next one comes after it.
    next_slot: Instant,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            failures: 0,
            last_failure: now,
            in_flight: 0,
            next_slot: now,
        }
    }

    fn idle(&self, now: Instant, s: &ThrottleSettings) -> bool {
        self.in_flight == 0
            && (self.failures == 0 || now.duration_since(self.last_failure) > s.forget_after)
    }
}

#[derive(Debug, Default)]
struct Maps {
    addrs: HashMap<IpAddr, Entry>,
    logins: HashMap<String, Entry>,
    /// Failures from an address as one login name: what that name's success takes back.
    pairs: HashMap<(IpAddr, String), u32>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    maps: Mutex<Maps>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Refused,
    /// Never judged (the broker was too busy, or the connection went away): counts for nothing.
    Abandoned,
}

/// An attempt's place in the throttle, from `reserve` to `finish`.
#[derive(Debug)]
pub struct Slot {
    /// How long the attempt waits before it is judged.
    pub wait: Duration,
    ip: IpAddr,
    login: Option<String>,
    /// The address's and the name's failures when the slot was taken.
    seen: u32,
}

impl LoginThrottle {
    /// Takes the next slot for an attempt from `ip` as `login`: how long it must wait.
    /// Every `reserve` must be followed by one `finish`.
    pub fn reserve(&self, ip: IpAddr, login: Option<&str>, s: &ThrottleSettings) -> Slot {
        let now = Instant::now();
        let mut g = self.maps.lock();
        sweep(&mut g.addrs, now, s);
        sweep(&mut g.logins, now, s);
        if g.pairs.len() > MAX_ENTRIES {
            let Maps { addrs, pairs, .. } = &mut *g;
            pairs.retain(|(ip, _), _| addrs.contains_key(ip));
        }
        let Maps { addrs, logins, .. } = &mut *g;
        let a = addrs.entry(ip).or_insert_with(|| Entry::new(now));
        let mut entries = vec![a];
        if let Some(l) = login {
            entries.push(
                logins
                    .entry(l.to_string())
                    .or_insert_with(|| Entry::new(now)),
            );
        }
        let mut start = now;
        let mut seen = 0;
        for e in entries.iter_mut() {
            if e.failures > 0 && now.duration_since(e.last_failure) > s.forget_after {
                e.failures = 0;
            }
            seen += e.failures;
            if e.failures > 0 {
                let at = e.next_slot.max(now) + delay(e.failures + e.in_flight, s);
                start = start.max(at);
            }
        }
        for e in entries {
            e.in_flight += 1;
            e.next_slot = e.next_slot.max(start);
        }
        Slot {
            wait: start - now,
            ip,
            login: login.map(str::to_string),
            seen,
        }
    }

    /// Whether the address or the name of `slot` failed since the slot was taken: the
    /// attempt must then take a new slot before it is judged (see the module docs).
    pub fn failed_since(&self, slot: &Slot) -> bool {
        let g = self.maps.lock();
        let a = g.addrs.get(&slot.ip).map_or(0, |e| e.failures);
        let l = slot
            .login
            .as_ref()
            .and_then(|l| g.logins.get(l))
            .map_or(0, |e| e.failures);
        a + l > slot.seen
    }

    /// Records how the attempt in `slot` ended; returns the address's recent failures.
    pub fn finish(&self, slot: Slot, outcome: Outcome, s: &ThrottleSettings) -> u32 {
        let now = Instant::now();
        let ok = outcome == Outcome::Accepted;
        let mut g = self.maps.lock();
        let end = |e: &mut Entry| {
            e.in_flight = e.in_flight.saturating_sub(1);
            if outcome == Outcome::Refused {
                e.failures = e.failures.saturating_add(1);
                e.last_failure = now;
            }
        };
        // This user proved who it is: its own failures, from this address too, are forgiven.
        let mut forgiven = 0;
        if let Some(l) = &slot.login {
            if let Some(e) = g.logins.get_mut(l) {
                end(e);
                if ok {
                    e.failures = 0;
                }
            }
            drop_idle(&mut g.logins, l, now, s);
            let pair = (slot.ip, l.clone());
            if ok {
                forgiven = g.pairs.remove(&pair).unwrap_or(0);
            } else if outcome == Outcome::Refused {
                *g.pairs.entry(pair).or_insert(0) += 1;
            }
        }
        let failures = match g.addrs.get_mut(&slot.ip) {
            Some(e) => {
                end(e);
                e.failures = e.failures.saturating_sub(forgiven);
                e.failures
            }
            None => 0,
        };
        drop_idle(&mut g.addrs, &slot.ip, now, s);
        failures
    }

    /// Addresses and login names whose attempts are being spaced now (they failed recently).
    pub fn throttled(&self, s: &ThrottleSettings) -> (usize, usize) {
        let now = Instant::now();
        let g = self.maps.lock();
        let count = |m: &mut dyn Iterator<Item = &Entry>| {
            m.filter(|e| e.failures > 0 && !e.idle(now, s)).count()
        };
        (count(&mut g.addrs.values()), count(&mut g.logins.values()))
    }

    /// The delay an attempt from `ip` would wait now (for log lines).
    pub fn delay_for(&self, ip: IpAddr, s: &ThrottleSettings) -> Duration {
        let now = Instant::now();
        match self.maps.lock().addrs.get(&ip) {
            Some(e) if !e.idle(now, s) => {
                e.next_slot.saturating_duration_since(now) + delay(e.failures + e.in_flight, s)
            }
            _ => Duration::ZERO,
        }
    }
}

fn drop_idle<K, Q>(map: &mut HashMap<Q, Entry>, key: &K, now: Instant, s: &ThrottleSettings)
where
    K: Hash + Eq + ?Sized,
    Q: Hash + Eq + std::borrow::Borrow<K>,
{
    if map.get(key).is_some_and(|e| e.idle(now, s)) {
        map.remove(key);
    }
}

fn sweep<K: Hash + Eq>(map: &mut HashMap<K, Entry>, now: Instant, s: &ThrottleSettings) {
    if map.len() > MAX_ENTRIES {
        map.retain(|_, e| !e.idle(now, s));
    }
}

fn delay(failures: u32, s: &ThrottleSettings) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (failures - 1).min(16);
    s.base.saturating_mul(factor).min(s.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: ThrottleSettings = ThrottleSettings {
        base: Duration::from_millis(100),
        max: Duration::from_millis(1000),
        forget_after: Duration::from_secs(60),
    };

    fn ms(d: Duration) -> u64 {
        // Slots are computed from the instant of each call: round off the microseconds.
        (d.as_micros() as u64 + 500) / 1000
    }

    #[test]
    fn failures_double_the_gap_up_to_the_cap_per_address() {
        let gaps: Vec<u64> = (0..7).map(|f| ms(delay(f, &S))).collect();
        assert_eq!(gaps, [0, 100, 200, 400, 800, 1000, 1000]);
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let slot = t.reserve(a, None, &S);
        assert_eq!(t.finish(slot, Outcome::Refused, &S), 1);
        assert_eq!(ms(t.delay_for(a, &S)), 100);
        assert_eq!(t.delay_for(b, &S), Duration::ZERO);
    }

    #[test]
    fn parallel_attempts_are_spaced_like_sequential_ones_once_one_failed() {
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = t.reserve(a, Some("root"), &S);
        let early = t.reserve(a, Some("root"), &S);
        assert_eq!((first.wait, early.wait), (Duration::ZERO, Duration::ZERO));
        assert!(!t.failed_since(&early));
        t.finish(first, Outcome::Refused, &S);
        // The attempt reserved before the failure is put back in line before it is judged.
        assert!(t.failed_since(&early));
        t.finish(early, Outcome::Abandoned, &S);
        let waits: Vec<u64> = (0..5)
            .map(|_| ms(t.reserve(a, Some("root"), &S).wait))
            .collect();
        // Each waits for the one before it plus a gap that grows with the failure and those
        // in flight.
        assert_eq!(waits, [100, 300, 700, 1500, 2500]);
    }

    #[test]
    fn a_fleet_logging_in_at_once_from_one_address_is_not_spaced() {
        let t = LoginThrottle::default();
        let nat: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<Slot> = (0..10_000)
            .map(|_| t.reserve(nat, Some("mcollective"), &S))
            .collect();
        assert!(slots.iter().all(|s| s.wait.is_zero()));
        assert!(slots.iter().all(|s| !t.failed_since(s)));
        for s in slots {
            t.finish(s, Outcome::Accepted, &S);
        }
        assert!(t.maps.lock().addrs.is_empty(), "entries left behind");
    }

    #[test]
    fn another_users_success_does_not_reset_the_address() {
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            let slot = t.reserve(a, Some("prodadmin"), &S);
            t.finish(slot, Outcome::Refused, &S);
        }
        let slot = t.reserve(a, Some("qaadmin"), &S);
        assert!(ms(slot.wait) >= 400, "{:?}", slot.wait);
        t.finish(slot, Outcome::Accepted, &S);
        let next = t.reserve(a, Some("prodadmin"), &S);
        assert!(
            ms(next.wait) >= 400,
            "reset by qaadmin's login: {:?}",
            next.wait
        );
        // The login name is throttled wherever the guesses come from.
        let elsewhere: IpAddr = "10.9.9.9".parse().unwrap();
        assert!(ms(t.reserve(elsewhere, Some("prodadmin"), &S).wait) >= 400);
        let third: IpAddr = "10.7.7.7".parse().unwrap();
        assert_eq!(t.reserve(third, Some("other"), &S).wait, Duration::ZERO);
    }

    #[test]
    fn a_users_own_success_forgives_its_failures_from_the_address() {
        let s = S;
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            let slot = t.reserve(a, Some("qaadmin"), &s);
            t.finish(slot, Outcome::Refused, &s);
        }
        let slot = t.reserve(a, Some("qaadmin"), &s);
        assert_eq!(t.finish(slot, Outcome::Accepted, &s), 0);
        assert_eq!(t.delay_for(a, &s), Duration::ZERO);
    }
}
