//! The network side of one broker: every link to a peer, the demand table that decides what
//! each link is told, the window of recently seen message ids that keeps a message arriving
//! by two routes from being delivered twice, and the status of every bridge.
//!
//! Links talk to it through methods (demand in, link up/down) and hear back through their
//! command channel (advertise, withdraw). It watches the engine's event stream for local
//! consumers coming and going, and re-reads the engine's subscriptions when it fell behind.

use super::dedup::{SeenIds, SeenKey, Sighting};
use super::demand::{Advert, DemandKey, DemandTable, LinkId, LinkView, Source};
use super::status::{BridgeSnapshot, SharedStatus};
use crate::broker::events::BrokerEvent;
use crate::broker::subscription::ConnId;
use crate::broker::BrokerHandle;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the network asks of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCmd {
    /// Tell the peer we have consumers for `key` (SUBSCRIBE).
    Advertise {
        id: u64,
        key: DemandKey,
        advert: Advert,
    },
    /// … no longer (UNSUBSCRIBE).
    Withdraw { id: u64 },
    /// suppress_duplicate_queue_subscriptions: this link is now the shortest route to the
    /// queue demand `key`: consume for it.
    Take { key: DemandKey },
    /// … another link is shorter now: stop consuming for it.
    Hold { key: DemandKey },
    /// An operator paused (true) or resumed forwarding: stop / start consuming for the peer's
    /// demand (queue messages stay here meanwhile; nothing is dropped).
    Pause(bool),
    /// An operator asked for a reconnect: close the link (the dialer dials again).
    Close { reason: String },
}

/// What an operator can do to a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeControl {
    Reconnect,
    Pause,
    Resume,
}

struct LinkEntry {
    view: LinkView,
    tx: mpsc::UnboundedSender<LinkCmd>,
    /// Whether this link tells its peer about our demand (an acceptor or a duplex link, and
    /// not a standby second link to the same peer).
    advertises: bool,
    wants_adverts: bool,
    /// Per key, the ids of the demands told (one, or one per consumer without conduit).
    advertised: HashMap<DemandKey, Vec<u64>>,
    status: SharedStatus,
}

#[derive(Default)]
struct Inner {
    links: HashMap<LinkId, LinkEntry>,
    demand: DemandTable,
    /// Local consumers: (connection, client subscription key) → demand key.
    local: HashMap<(ConnId, String), DemandKey>,
    next_link: LinkId,
    next_id: u64,
    /// Queue demand reachable over several suppressing links: every route, and the one chosen.
    queue_routes: HashMap<DemandKey, Vec<(u32, LinkId)>>,
    chosen: HashMap<DemandKey, LinkId>,
}

impl Inner {
    /// Re-chooses the shortest route for `key` (ties: the older link) and tells the links that
    /// gain or lose it. Returns the chosen link.
    fn choose_route(&mut self, key: &DemandKey) -> Option<LinkId> {
        let best = self
            .queue_routes
            .get(key)
            .and_then(|r| r.iter().min().map(|(_, l)| *l));
        let old = match best {
            Some(b) => self.chosen.insert(key.clone(), b),
            None => self.chosen.remove(key),
        };
        if old != best {
            if let Some(o) = old.and_then(|o| self.links.get(&o)) {
                let _ = o.tx.send(LinkCmd::Hold { key: key.clone() });
            }
            if let Some(b) = best.and_then(|b| self.links.get(&b)) {
                let _ = b.tx.send(LinkCmd::Take { key: key.clone() });
            }
        }
        best
    }

    fn drop_routes(&mut self, link: LinkId) {
        let keys: Vec<DemandKey> = self
            .queue_routes
            .iter_mut()
            .filter_map(|(k, r)| {
                let before = r.len();
                r.retain(|(_, l)| *l != link);
                (r.len() != before).then(|| k.clone())
            })
            .collect();
        self.queue_routes.retain(|_, r| !r.is_empty());
        for k in keys {
            if self.chosen.get(&k) == Some(&link) {
                self.chosen.remove(&k);
            }
            self.choose_route(&k);
        }
    }
}

pub struct Network {
    pub local: String,
    pub handle: BrokerHandle,
    inner: Mutex<Inner>,
    recent: Mutex<SeenIds>,
    /// Forwarded queue messages held here until consumed (see `held`).
    pub held: Arc<super::held::Held>,
    statuses: Mutex<Vec<SharedStatus>>,
}

/// What `register` hands a link.
pub struct Registration {
    pub id: LinkId,
    pub commands: mpsc::UnboundedReceiver<LinkCmd>,
    pub standby: bool,
}

impl Network {
    pub fn new(handle: BrokerHandle) -> Arc<Network> {
        let net = Arc::new(Network {
            local: handle.name().to_string(),
            handle,
            inner: Mutex::new(Inner::default()),
            recent: Mutex::new(SeenIds::default()),
            held: Default::default(),
            statuses: Mutex::new(Vec::new()),
        });
        let watch = net.handle.watch();
        net.resync_local(watch.subscriptions);
        tokio::spawn(watch_engine(Arc::downgrade(&net), watch.events));
        net
    }

    /// Adds a bridge's status to what `snapshot` reports.
    pub fn track(&self, status: SharedStatus) {
        self.statuses.lock().push(status);
    }

    /// Applies an operator's action to every live link of the bridge named `name`.
    pub fn control(&self, name: &str, what: BridgeControl) -> Result<usize, String> {
        let g = self.inner.lock();
        let mut n = 0;
        for link in g.links.values() {
            if link.status.lock().name != name {
                continue;
            }
            let cmd = match what {
                BridgeControl::Reconnect => LinkCmd::Close {
                    reason: "reconnect requested by an operator".into(),
                },
                BridgeControl::Pause => LinkCmd::Pause(true),
                BridgeControl::Resume => LinkCmd::Pause(false),
            };
            if link.tx.send(cmd).is_ok() {
                n += 1;
            }
        }
        if n == 0 {
            return Err(format!("bridge {name} has no live link"));
        }
        tracing::info!(bridge = %name, "operator: {what:?}");
        Ok(n)
    }

    pub fn untrack(&self, status: &SharedStatus) {
        self.statuses.lock().retain(|s| !Arc::ptr_eq(s, status));
    }

    pub fn snapshot(&self) -> Vec<BridgeSnapshot> {
        self.statuses
            .lock()
            .iter()
            .map(|s| s.lock().snapshot())
            .collect()
    }

    /// Registers a link that is up. `advertises`: this side tells the peer its demand.
    /// `wants_adverts` is false for a standby (a second link to the same peer).
    pub fn register(&self, view: LinkView, advertises: bool, status: SharedStatus) -> Registration {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut g = self.inner.lock();
        g.next_link += 1;
        let id = g.next_link;
        let standby = advertises
            && g.links
                .values()
                .any(|l| l.view.peer == view.peer && l.wants_adverts);
        g.links.insert(
            id,
            LinkEntry {
                view,
                tx,
                advertises,
                wants_adverts: advertises && !standby,
                advertised: HashMap::new(),
                status,
            },
        );
        let keys = g.demand.keys();
        for k in keys {
            sync_key(&mut g, &self.local, &k);
        }
        Registration {
            id,
            commands: rx,
            standby,
        }
    }

    /// A link went away: its demand goes, and a standby link to the same peer takes over.
    pub fn unregister(&self, id: LinkId) {
        let mut g = self.inner.lock();
        let Some(gone) = g.links.remove(&id) else {
            return;
        };
        g.drop_routes(id);
        if gone.wants_adverts {
            if let Some(standby) = g
                .links
                .values_mut()
                .find(|l| l.view.peer == gone.view.peer && l.advertises && !l.wants_adverts)
            {
                standby.wants_adverts = true;
                standby.status.lock().standby = false;
                tracing::info!(peer = %gone.view.peer, "standby link to the peer takes over");
            }
        }
        let mut touched = g.demand.remove_source(Source::Link(id));
        touched.extend(g.demand.keys());
        touched.sort();
        touched.dedup();
        for k in touched {
            sync_key(&mut g, &self.local, &k);
        }
    }

    /// The peer on link `id` has consumers for `key`.
    pub fn remote_demand(&self, id: LinkId, key: DemandKey, hops: u32, path: Vec<String>) {
        let mut g = self.inner.lock();
        g.demand.add(key.clone(), Source::Link(id), hops, path);
        sync_key(&mut g, &self.local, &key);
    }

    /// suppress_duplicate_queue_subscriptions: link `id` can reach queue demand `key` in
    /// `hops`. Returns whether it is (now) the link that consumes for it; the others are told.
    pub fn queue_route(&self, id: LinkId, key: &DemandKey, hops: u32) -> bool {
        let mut g = self.inner.lock();
        let routes = g.queue_routes.entry(key.clone()).or_default();
        routes.retain(|(_, l)| *l != id);
        routes.push((hops, id));
        // The chosen link learns it through the return value, not a command.
        let best = g.queue_routes[key].iter().min().map(|(_, l)| *l);
        if best == Some(id) {
            let old = g.chosen.insert(key.clone(), id);
            if let Some(o) = old.filter(|o| *o != id).and_then(|o| g.links.get(&o)) {
                let _ = o.tx.send(LinkCmd::Hold { key: key.clone() });
            }
            return true;
        }
        false
    }

    pub fn queue_route_gone(&self, id: LinkId, key: &DemandKey) {
        let mut g = self.inner.lock();
        if let Some(r) = g.queue_routes.get_mut(key) {
            r.retain(|(_, l)| *l != id);
            if r.is_empty() {
                g.queue_routes.remove(key);
            }
        }
        if g.chosen.get(key) == Some(&id) {
            g.chosen.remove(key);
        }
        g.choose_route(key);
    }

    pub fn remote_withdraw(&self, id: LinkId, key: &DemandKey) {
        let mut g = self.inner.lock();
        g.demand.remove(key, Source::Link(id));
        sync_key(&mut g, &self.local, key);
    }

    /// What this copy of the message `origin_id` from `origin_broker` is here (and remembers
    /// it); `goes_on`: it has TTL left to be forwarded further. Queue messages are also named
    /// by their `hops` (see `SeenIds::key`).
    pub fn first_sighting(
        &self,
        origin_broker: &str,
        origin_id: &str,
        hops: Option<u32>,
        goes_on: bool,
    ) -> (SeenKey, Sighting) {
        let mut r = self.recent.lock();
        let key = r.key(origin_broker, origin_id, hops);
        (key, r.sight(key, goes_on))
    }

    /// Forgets a message that could not be taken after all, so its redelivery is not
    /// mistaken for a duplicate.
    pub fn forget(&self, key: SeenKey) {
        self.recent.lock().forget(key);
    }

    fn local_added(&self, conn: ConnId, client_key: String, key: DemandKey) {
        let mut g = self.inner.lock();
        g.local.insert((conn, client_key), key.clone());
        g.demand.add(key.clone(), Source::Local, 0, Vec::new());
        sync_key(&mut g, &self.local, &key);
    }

    fn local_removed(&self, conn: ConnId, client_key: &str) {
        let mut g = self.inner.lock();
        let Some(key) = g.local.remove(&(conn, client_key.to_string())) else {
            return;
        };
        g.demand.remove(&key, Source::Local);
        sync_key(&mut g, &self.local, &key);
    }

    /// Builds local demand from the engine's subscriptions (the start of its watch).
    fn resync_local(&self, subs: Vec<crate::broker::snapshot::SubscriptionInfo>) {
        let mut g = self.inner.lock();
        let mut touched = g.demand.clear_local();
        g.local.clear();
        for s in subs.into_iter().filter(|s| s.network.is_none()) {
            let key = DemandKey {
                destination: s.destination,
                selector: s.selector,
            };
            g.demand.add(key.clone(), Source::Local, 0, Vec::new());
            g.local.insert((s.conn, s.client_key), key.clone());
            touched.push(key);
        }
        touched.sort();
        touched.dedup();
        for k in touched {
            sync_key(&mut g, &self.local, &k);
        }
    }
}

/// Brings every link's advertisement of `key` in line with the demand table.
fn sync_key(g: &mut Inner, local: &str, key: &DemandKey) {
    let Inner {
        links,
        demand,
        next_id,
        ..
    } = g;
    for (id, link) in links.iter_mut() {
        let want = if link.wants_adverts {
            demand.advert(key, *id, &link.view, local)
        } else {
            None
        };
        let copies = match &want {
            Some(_) => demand.copies(key, *id, &link.view).max(1),
            None => 0,
        };
        let told = link.advertised.entry(key.clone()).or_default();
        let before = told.len();
        while told.len() > copies {
            let ad = told.pop().expect("longer than copies");
            let _ = link.tx.send(LinkCmd::Withdraw { id: ad });
        }
        if let Some(advert) = want {
            while told.len() < copies {
                *next_id += 1;
                told.push(*next_id);
                let _ = link.tx.send(LinkCmd::Advertise {
                    id: *next_id,
                    key: key.clone(),
                    advert: advert.clone(),
                });
            }
        }
        let now = told.len();
        if now == 0 {
            link.advertised.remove(key);
        }
        let mut st = link.status.lock();
        match (before, now) {
            (0, n) if n > 0 => {
                st.demand_out_keys.insert(label(key));
            }
            (b, 0) if b > 0 => {
                st.demand_out_keys.remove(&label(key));
            }
            _ => {}
        }
        st.demand_out = link.advertised.len();
    }
}

fn label(k: &DemandKey) -> String {
    super::status::demand_label(&k.destination, k.selector.as_deref())
}

/// Follows the engine's subscriptions (a `Watch`: none missed, so never re-read).
async fn watch_engine(
    net: std::sync::Weak<Network>,
    mut events: mpsc::UnboundedReceiver<BrokerEvent>,
) {
    while let Some(e) = events.recv().await {
        let Some(net) = net.upgrade() else { return };
        match e {
            BrokerEvent::SubscriptionAdded {
                conn,
                id,
                destination,
                selector,
                network: None,
            } => {
                let client_key = id.unwrap_or_else(|| destination.clone());
                net.local_added(
                    conn,
                    client_key,
                    DemandKey {
                        destination,
                        selector,
                    },
                );
            }
            BrokerEvent::SubscriptionRemoved {
                conn,
                id,
                destination,
            } => {
                net.local_removed(conn, &id.unwrap_or(destination));
            }
            _ => {}
        }
    }
}
