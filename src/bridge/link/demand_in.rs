//! The peer's demand arriving on a link: each SUBSCRIBE becomes a local network subscription
//! that consumes on the peer's behalf (or is held, when a shorter route consumes for it).

use super::{subscribe_network, Link};
use crate::bridge::demand::DemandKey;
use crate::broker::message::{HOPS_HEADER, PATH_HEADER};
use crate::stomp::Frame;

impl Link {
    /// The peer has consumers for a destination: subscribe locally on its behalf.
    pub(super) fn on_demand(&mut self, f: &Frame) {
        let (Some(id), Some(dest)) = (f.get("id"), f.get("destination")) else {
            return;
        };
        if !self.s.forwards || self.remote.contains_key(id) || !self.s.filters.allows_demand(dest) {
            return;
        }
        let key = DemandKey {
            destination: dest.to_string(),
            selector: f.get("selector").map(str::to_string),
        };
        let hops: u32 = f.get(HOPS_HEADER).and_then(|h| h.parse().ok()).unwrap_or(1);
        let path: Vec<String> = f
            .get(PATH_HEADER)
            .map(|p| p.split(',').map(str::to_string).collect())
            .unwrap_or_else(|| vec![self.s.peer.clone()]);
        // With suppress_duplicate_queue_subscriptions, only the shortest route consumes.
        let take = !self.suppresses(&key) || self.net.queue_route(self.link_id, &key, hops);
        let r = if take {
            self.subscribe_demand(id, &key, hops)
        } else {
            Ok(())
        };
        match r {
            Ok(()) => {
                if !take {
                    self.held.insert(id.to_string());
                }
                self.remote.insert(id.to_string(), (key.clone(), hops));
                if self.count_key(&key, true) == 1 {
                    self.publish_demand_in(&key, true);
                }
                self.net.remote_demand(self.link_id, key, hops, path);
            }
            Err(e) => {
                if self.suppresses(&key) && !self.remote_keys.contains_key(&key) {
                    self.net.queue_route_gone(self.link_id, &key);
                }
                let msg = format!("demand for {dest} from {} refused here: {e}", self.s.peer);
                tracing::warn!("{msg}");
                self.status.lock().last_error = Some(msg);
            }
        }
    }

    /// Counts the peer's demands for `key` up or down; returns how many there are now.
    pub(super) fn count_key(&mut self, key: &DemandKey, up: bool) -> usize {
        if up {
            let n = self.remote_keys.entry(key.clone()).or_default();
            *n += 1;
            return *n;
        }
        match self.remote_keys.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                *n
            }
            _ => {
                self.remote_keys.remove(key);
                0
            }
        }
    }

    pub(super) fn suppresses(&self, key: &DemandKey) -> bool {
        self.s.suppress_queues && key.destination.starts_with("/queue/")
    }

    /// The local network subscription that consumes for the peer's demand `id`.
    pub(super) fn subscribe_demand(
        &mut self,
        id: &str,
        key: &DemandKey,
        hops: u32,
    ) -> Result<(), crate::broker::local::LocalError> {
        if self.paused {
            return Ok(());
        }
        let priority = if self.s.decrease_priority {
            -(hops as i32) - 1
        } else {
            -1
        };
        subscribe_network(
            &self.local,
            &format!("d{id}"),
            &key.destination,
            key.selector.as_deref(),
            self.s.window,
            priority,
            self.network_sub(),
        )
    }
}
