//! A lossless feed of the engine's subscription and connection events, for observers that keep
//! state derived from them (bridge demand, collective membership).
//!
//! The `broadcast` channel of [`super::events`] is for watchers that may skip (the TUI's event
//! line): a slow reader lags and misses events. A fleet of 10 000 nodes reconnecting makes
//! 150 000 subscription events in seconds, far past its buffer, and an observer that lagged
//! had to copy every subscription out of the engine under its lock to catch up — per
//! connection-sized work, again and again through the storm. A [`Watch`] starts from a
//! snapshot taken under the engine lock in the same moment as its channel is registered, and
//! every subscription event is emitted under that lock, so snapshot plus events is exactly the
//! engine's state: nothing lost, nothing counted twice, O(1) per event from then on.
//!
//! Connection events are emitted just outside the lock: an observer sees a connection in the
//! snapshot and may then see its `ConnectionOpened` (or a `ConnectionClosed` for one it never
//! saw), so it applies those idempotently. The channel is unbounded: the observers do constant
//! work per event, and a bounded channel would make the engine either wait or lose events.

use super::engine::Engine;
use super::events::BrokerEvent;
use super::snapshot::{epoch_secs, SubscriptionInfo};
use super::subscription::ConnId;
use tokio::sync::mpsc;

/// A connection as a watcher first sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedConn {
    pub id: ConnId,
    pub peer: String,
    /// Seconds since the epoch.
    pub since: u64,
}

/// The engine's subscriptions and connections at one moment, and every event after it.
pub struct Watch {
    pub subscriptions: Vec<SubscriptionInfo>,
    pub connections: Vec<WatchedConn>,
    pub events: mpsc::UnboundedReceiver<BrokerEvent>,
}

#[derive(Default)]
pub(super) struct Watchers {
    senders: parking_lot::Mutex<Vec<mpsc::UnboundedSender<BrokerEvent>>>,
}

impl Watchers {
    /// Hands `e` to every live watcher; forgets those whose receiver is gone.
    pub(super) fn send(&self, e: &BrokerEvent) {
        let mut senders = self.senders.lock();
        if !senders.is_empty() {
            senders.retain(|tx| tx.send(e.clone()).is_ok());
        }
    }
}

impl Engine {
    /// Starts a [`Watch`]: a snapshot and the events that follow it, none lost.
    pub fn watch(&self) -> Watch {
        let core = self.core.lock();
        let subscriptions = Engine::subscriptions_of(&core);
        let connections = core
            .conns
            .iter()
            .map(|(id, c)| WatchedConn {
                id: *id,
                peer: c.info.peer.clone(),
                since: epoch_secs(c.info.since),
            })
            .collect();
        let (tx, events) = mpsc::unbounded_channel();
        // Registered before the engine lock goes: the next subscription event is the first
        // one this watch receives.
        self.watchers.senders.lock().push(tx);
        drop(core);
        Watch {
            subscriptions,
            connections,
            events,
        }
    }
}
