//! RECEIPTs that wait for the message store.
//!
//! A frame's RECEIPT promises its effect is done; for a persistent message that means on disk.
//! The session hands each receipt here with the store sequence its frame appended (its
//! ticket): it goes to the outbox at once when nothing is pending and the ticket is durable,
//! else it waits, in order, behind the earlier ones. The session keeps reading and handling
//! frames meanwhile, so a producer that pipelines fills the store's group commits.

use super::outbox::Outbox;
use super::store::Store;
use crate::stomp::Frame;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct Receipts {
    store: Option<Arc<Store>>,
    /// The store's durable sequence, followed (`None` without a store).
    durable: Option<watch::Receiver<u64>>,
    waiting: VecDeque<(u64, Frame)>,
}

impl Receipts {
    pub fn new(store: Option<Arc<Store>>) -> Receipts {
        let durable = store.as_ref().map(|s| s.watch_durable());
        Receipts {
            store,
            durable,
            waiting: VecDeque::new(),
        }
    }

    fn durable_seq(&self) -> u64 {
        self.store.as_ref().map_or(u64::MAX, |s| s.durable_seq())
    }

    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// A receipt whose frame's effects are durable once the store reaches `ticket`; it ends
    /// the outbox's hold the session opened before handling the frame (`Outbox::hold`).
    pub fn send(&mut self, outbox: &Outbox, ticket: u64, receipt: Frame) {
        if self.waiting.is_empty() && ticket <= self.durable_seq() {
            outbox.release_hold(Some(receipt));
        } else {
            self.waiting.push_back((ticket, receipt));
            outbox.release_hold(None);
        }
    }

    /// Sends the waiting receipts the store has caught up with.
    pub fn release(&mut self, outbox: &Outbox) {
        if self.waiting.is_empty() {
            return;
        }
        let durable = self.durable_seq();
        while self.waiting.front().is_some_and(|(t, _)| *t <= durable) {
            let (_, f) = self.waiting.pop_front().expect("front exists");
            outbox.push_frame(f);
        }
    }

    /// Resolves when the store's durable sequence moves (never, without a store or once the
    /// store is closed).
    pub async fn store_moved(&mut self) {
        let moved = match self.durable.as_mut() {
            Some(rx) => rx.changed().await.is_ok(),
            None => false,
        };
        if !moved {
            std::future::pending::<()>().await
        }
    }

    /// Before a DISCONNECT's close: waits (bounded) until every waiting receipt can go.
    pub async fn flush(&mut self, outbox: &Outbox) {
        self.release(outbox);
        let (Some(rx), Some(&(last, _))) = (self.durable.as_mut(), self.waiting.back()) else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|d| *d >= last)).await;
        self.release(outbox);
    }
}
