//! Per-address throttling of failed logins: each failure from an address doubles the delay
//! before that address's next CONNECT is answered, up to a cap; a quiet period forgets it.
//! A password guesser gets a handful of tries a minute instead of thousands a second, and the
//! rest of the broker never waits (only the offending session sleeps).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Delay after the first failure; doubles with each further one.
    pub base: Duration,
    pub max: Duration,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginThrottle {
    /// How long a CONNECT from `ip` must wait before it is answered.
    pub fn delay_for(&self, ip: IpAddr, s: &ThrottleSettings) -> Duration {
        let mut map = self.failures.lock();
        match map.get(&ip) {
            Some((_, last)) if last.elapsed() > s.forget_after => {
                map.remove(&ip);
                Duration::ZERO
            }
            Some((n, _)) => Self::delay(*n, s),
            None => Duration::ZERO,
        }
    }

    /// Records a failure; returns the number of recent failures from `ip`.
    pub fn failed(&self, ip: IpAddr, s: &ThrottleSettings) -> u32 {
        let mut map = self.failures.lock();
        // Bound memory under a spray of addresses: drop what is already forgotten.
        if map.len() > 10_000 {
            map.retain(|_, (_, last)| last.elapsed() <= s.forget_after);
        }
        let e = map.entry(ip).or_insert((0, Instant::now()));
        e.0 = e.0.saturating_add(1);
        e.1 = Instant::now();
        e.0
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().remove(&ip);
    }

    fn delay(failures: u32, s: &ThrottleSettings) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (failures - 1).min(16);
        s.base.saturating_mul(factor).min(s.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap_and_is_per_address() {
        let s = ThrottleSettings {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            forget_after: Duration::from_secs(60),
        };
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(t.delay_for(a, &s), Duration::ZERO);
        let delays: Vec<u64> = (0..6)
            .map(|_| {
                t.failed(a, &s);
                t.delay_for(a, &s).as_millis() as u64
            })
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(t.delay_for(b, &s), Duration::ZERO);
        t.succeeded(a);
        assert_eq!(t.delay_for(a, &s), Duration::ZERO);
    }
}
