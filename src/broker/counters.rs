//! What went wrong, counted for monitoring: refused logins, connections and messages, and
//! ACL denials. Plain atomics on the engine, bumped where the refusal is decided and read
//! by the metrics endpoint without the engine's lock.

use super::engine::EngineError;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a SEND was refused for lack of room (see `flow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `max_queue_messages` or `max_queue_bytes`.
    Queue,
    /// `max_memory_bytes`.
    Memory,
    /// `max_disk_bytes`.
    Store,
}

impl LimitKind {
    pub const ALL: [LimitKind; 3] = [LimitKind::Queue, LimitKind::Memory, LimitKind::Store];

    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Queue => "queue",
            LimitKind::Memory => "memory",
            LimitKind::Store => "store",
        }
    }

    /// The limit an error names, if it is one of these.
    pub fn of(e: &EngineError) -> Option<LimitKind> {
        match e {
            EngineError::QueueFull { .. } => Some(LimitKind::Queue),
            EngineError::MemoryFull { .. } => Some(LimitKind::Memory),
            EngineError::StoreFull { .. } => Some(LimitKind::Store),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    logins_failed: AtomicU64,
    connections_refused: AtomicU64,
    access_denied: AtomicU64,
    sends_refused: [AtomicU64; 3],
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValues {
    pub logins_failed: u64,
    pub connections_refused: u64,
    pub access_denied: u64,
    /// By [`LimitKind::ALL`]'s order.
    pub sends_refused: [u64; 3],
}

impl Counters {
    pub fn login_failed(&self) {
        self.logins_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection turned away at accept (`max_connections`, per address).
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `e` if it is an ACL denial or a full queue, memory or store.
    pub fn refused(&self, e: &EngineError) {
        if let EngineError::Denied { .. } = e {
            self.access_denied.fetch_add(1, Ordering::Relaxed);
        } else if let Some(k) = LimitKind::of(e) {
            self.sends_refused[k as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn values(&self) -> CounterValues {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterValues {
            logins_failed: get(&self.logins_failed),
            connections_refused: get(&self.connections_refused),
            access_denied: get(&self.access_denied),
            sends_refused: [0, 1, 2].map(|i| get(&self.sends_refused[i])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_lands_in_its_own_counter() {
        let c = Counters::default();
        c.login_failed();
        c.connection_refused();
        c.connection_refused();
        c.refused(&EngineError::MemoryFull {
            destination: "/queue/a".into(),
            used: 1,
            max: 1,
        });
        c.refused(&EngineError::Denied {
            user: "u".into(),
            action: super::super::auth::Action::Write,
            destination: "/queue/a".into(),
        });
        c.refused(&EngineError::ConnectionClosed);
        let v = c.values();
        assert_eq!(
            (v.logins_failed, v.connections_refused, v.access_denied),
            (1, 2, 1)
        );
        assert_eq!(v.sends_refused, [0, 1, 0]);
    }
}
