use super::*;
use crate::collective::membership::STALE_SECS;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Membership computed from scratch from every subscription and connection, all taken at
/// `now`: what the roster must always agree with.
fn recompute(subs: &[SubscriptionInfo], conns: &[WatchedConn], now: u64) -> Membership {
    let conns: HashMap<ConnId, (String, u64)> = conns
        .iter()
        .map(|c| (c.id, (c.peer.clone(), c.since)))
        .collect();
    let mut agents: HashMap<(ConnId, String), BTreeSet<String>> = HashMap::new();
    let mut found = Vec::new();
    for s in subs {
        match role(&s.destination, s.selector.as_deref(), s.network.as_deref()) {
            Some(Role::Agent(c, a)) => {
                agents.entry((s.conn, c)).or_default().insert(a);
            }
            Some(Role::Node {
                collective,
                identity,
                via,
            }) => found.push((collective, identity, via, s.conn)),
            None => {}
        }
    }
    let mut m: Membership = BTreeMap::new();
    for (collective, identity, via, conn) in found {
        let conn = via.is_none().then_some(conn);
        let (address, since) = conn
            .and_then(|c| conns.get(&c).cloned())
            .unwrap_or((String::new(), now));
        let agents = conn
            .and_then(|c| agents.get(&(c, collective.clone())))
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default();
        m.entry(collective).or_default().push(Member {
            identity,
            via,
            conn,
            address,
            agents,
            since,
            last_seen: since,
        });
    }
    for members in m.values_mut() {
        // Direct before bridged (None sorts first), then the lowest connection.
        members.sort_by(|a, b| (&a.identity, &a.via, a.conn).cmp(&(&b.identity, &b.via, b.conn)));
        members.dedup_by(|b, a| a.identity == b.identity);
    }
    m
}

const NOW: u64 = 1_000;

/// A stand-in for the engine's books: what the events describe, as `recompute` reads it.
#[derive(Default)]
struct Model {
    conns: Vec<WatchedConn>,
    subs: Vec<SubscriptionInfo>,
}

#[derive(Debug, Clone)]
enum Op {
    Open,
    Close(usize),
    Subscribe {
        conn: usize,
        key: u8,
        dest: u8,
        identity: u8,
        via: Option<u8>,
    },
    Unsubscribe(usize),
    /// Starts a new roster from a snapshot (as a tracker started late does).
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Open),
        1 => any::<usize>().prop_map(Op::Close),
        6 => (any::<usize>(), 0u8..4, 0u8..7, 0u8..4, proptest::option::of(0u8..2)).prop_map(
            |(conn, key, dest, identity, via)| Op::Subscribe { conn, key, dest, identity, via }
        ),
        2 => any::<usize>().prop_map(Op::Unsubscribe),
        1 => Just(Op::Restart),
    ]
}

/// A destination and selector from a small set: agent topics, directed queues with and
/// without an identity, and names that mean nothing to membership.
fn destination(dest: u8, identity: u8) -> (String, Option<String>) {
    let c = if dest.is_multiple_of(2) {
        "mcollective"
    } else {
        "qa"
    };
    let id = format!("mc_identity = 'node{identity}'");
    match dest {
        0 | 1 => (format!("/queue/{c}.nodes"), Some(id)),
        2 => ("/queue/mcollective.nodes".into(), None),
        3 => ("/topic/qa.discovery.agent".into(), None),
        4 => (format!("/topic/mcollective.agent{identity}.agent"), None),
        5 => ("/queue/mcollective.reply.x".into(), None),
        _ => ("/topic/mcollective.rpcutil.agent".into(), None),
    }
}

impl Model {
    /// Performs `op`, returning the events the engine would emit.
    fn run(&mut self, op: &Op, next_conn: &mut u64) -> Vec<BrokerEvent> {
        match op {
            Op::Open | Op::Restart => {
                if matches!(op, Op::Restart) {
                    return Vec::new();
                }
                *next_conn += 1;
                let peer = format!("10.0.0.{next_conn}:1");
                self.conns.push(WatchedConn {
                    id: *next_conn,
                    peer: peer.clone(),
                    since: NOW,
                });
                vec![BrokerEvent::ConnectionOpened {
                    conn: *next_conn,
                    peer,
                }]
            }
            Op::Close(i) if !self.conns.is_empty() => {
                let c = self.conns.remove(i % self.conns.len()).id;
                let mut events = Vec::new();
                self.subs.retain(|s| {
                    if s.conn != c {
                        return true;
                    }
                    events.push(removed(s));
                    false
                });
                events.push(BrokerEvent::ConnectionClosed {
                    conn: c,
                    reason: "closed".into(),
                });
                events
            }
            Op::Subscribe {
                conn,
                key,
                dest,
                identity,
                via,
            } if !self.conns.is_empty() => {
                let conn = self.conns[conn % self.conns.len()].id;
                let client_key = format!("sub{key}");
                if self
                    .subs
                    .iter()
                    .any(|s| s.conn == conn && s.client_key == client_key)
                {
                    return Vec::new(); // the engine refuses a duplicate id
                }
                let (destination, selector) = destination(*dest, *identity);
                let network = via.map(|p| format!("peer{p}"));
                self.subs.push(SubscriptionInfo {
                    conn,
                    client_key: client_key.clone(),
                    destination: destination.clone(),
                    selector: selector.clone(),
                    network: network.clone(),
                });
                vec![BrokerEvent::SubscriptionAdded {
                    conn,
                    id: Some(client_key),
                    destination,
                    selector,
                    network,
                }]
            }
            Op::Unsubscribe(i) if !self.subs.is_empty() => {
                let s = self.subs.remove(i % self.subs.len());
                vec![removed(&s)]
            }
            _ => Vec::new(),
        }
    }
}

fn removed(s: &SubscriptionInfo) -> BrokerEvent {
    BrokerEvent::SubscriptionRemoved {
        conn: s.conn,
        id: Some(s.client_key.clone()),
        destination: s.destination.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_roster_always_agrees_with_a_full_recomputation(ops in proptest::collection::vec(op(), 1..120)) {
        let mut model = Model::default();
        let mut roster = Roster::default();
        let mut next_conn = 0;
        for op in &ops {
            if matches!(op, Op::Restart) {
                roster = Roster::new(&model.subs, &model.conns, NOW);
            }
            for e in model.run(op, &mut next_conn) {
                roster.apply(&e, NOW);
            }
            let want = recompute(&model.subs, &model.conns, NOW);
            prop_assert_eq!(&roster.membership(), &want, "after {:?}", op);
            let counts: BTreeMap<String, usize> =
                want.iter().map(|(c, m)| (c.clone(), m.len())).collect();
            prop_assert_eq!(roster.counts(), counts);
            for (c, s) in roster.summary(NOW) {
                let members = &want[&c];
                prop_assert_eq!(s.members, members.len());
                prop_assert_eq!(s.remote, members.iter().filter(|m| m.via.is_some()).count());
                prop_assert_eq!(s.stale, 0);
            }
            let first_two: Membership = want
                .iter()
                .map(|(c, m)| (c.clone(), m.iter().take(2).cloned().collect()))
                .collect();
            prop_assert_eq!(roster.membership_up_to(2), first_two);
        }
        // Everything gone: nothing left behind.
        for i in (0..model.conns.len()).rev() {
            for e in model.run(&Op::Close(i), &mut next_conn) {
                roster.apply(&e, NOW);
            }
        }
        prop_assert!(roster.members.is_empty() && roster.agents.is_empty());
        prop_assert!(roster.subs.is_empty() && roster.conns.is_empty());
    }
}

#[test]
fn a_node_seen_directly_and_through_a_bridge_is_listed_directly() {
    let conns = [WatchedConn {
        id: 7,
        peer: "10.0.0.7:5000".into(),
        since: 900,
    }];
    let sub = |conn, network: Option<&str>| SubscriptionInfo {
        conn,
        client_key: "d".into(),
        destination: "/queue/mcollective.nodes".into(),
        selector: Some("mc_identity = 'web1'".into()),
        network: network.map(str::to_string),
    };
    let subs = [sub(3, Some("dc2")), sub(7, None)];
    let mut r = Roster::new(&subs, &conns, NOW);
    r.touch("web1", 950);
    let m = r.membership();
    let web1 = &m["mcollective"][0];
    assert_eq!(m["mcollective"].len(), 1);
    assert_eq!((web1.via.as_deref(), web1.conn), (None, Some(7)));
    assert_eq!((web1.since, web1.last_seen), (900, 950));
    // Seen at 950: stale once STALE_SECS have passed since.
    let stale = |at| r.summary(at)["mcollective"].stale;
    assert_eq!((stale(950 + STALE_SECS), stale(951 + STALE_SECS)), (0, 1));
}
