//! The broker's membership view, read through the handle: real mcollectived nodes attached to
//! this broker and `shoal node`s attached to a bridged peer appear under their collectives
//! within a second of subscribing, and disappear when they go.

mod common;
use common::mco::{have_mcollective, Fleet, Node, ShoalNode};
use common::{Broker as BrokerProcess, TempDir};
use shoal::bridge::Bridges;
use shoal::broker::Broker;
use shoal::collective::membership::{Membership, MembershipTracker};
use shoal::config::Config;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn identities(m: &Membership, collective: &str) -> Vec<(String, Option<String>)> {
    m.get(collective)
        .map(|v| {
            v.iter()
                .map(|x| (x.identity.clone(), x.via.clone()))
                .collect()
        })
        .unwrap_or_default()
}

async fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_follows_local_and_bridged_nodes() {
    if !have_mcollective() {
        return;
    }
    let config = Config::parse(
        "listen = [\"127.0.0.1:0\"]\n[broker]\nname = \"hub\"\n[auth]\nanonymous = true\n\
         [cluster]\nlisten = [\"127.0.0.1:0\"]\n[store]\nenabled = false\n",
        std::path::Path::new("hub.toml"),
    )
    .unwrap();
    let broker = Broker::start(config.setup().unwrap()).await.unwrap();
    let bridges = Bridges::start(broker.handle(), config.bridge_setup().unwrap())
        .await
        .unwrap();
    let port = broker.local_addrs()[0].port();
    let cluster = bridges.cluster_addrs()[0];
    let stop = CancellationToken::new();
    let tracker = MembershipTracker::start(broker.handle(), stop.clone());

    // A real mcollectived on this broker: listed with its connection and agents.
    let fleet = tokio::task::spawn_blocking(move || {
        Fleet::start_on(
            port,
            &[Node {
                id: "node1",
                user: "mcollective",
                password: "marionette",
                collectives: &["mcollective", "qacollective"],
                psk: "interop-psk",
            }],
            &String::new,
        )
    })
    .await
    .unwrap();
    let t = tracker.clone();
    assert!(
        within(Duration::from_secs(1), || identities(
            &t.snapshot(),
            "qacollective"
        ) == [(
            "node1".to_string(),
            None
        )])
        .await,
        "{:#?}",
        tracker.snapshot()
    );
    // Its agent topics are subscribed one by one, after the collectives' first ones.
    let t = tracker.clone();
    assert!(
        within(Duration::from_secs(5), || t
            .members("mcollective")
            .first()
            .is_some_and(|m| m.agents == ["discovery", "rpcutil"]))
        .await,
        "{:#?}",
        tracker.members("mcollective")
    );
    let m = tracker.members("mcollective");
    assert_eq!(m[0].identity, "node1");
    assert!(m[0].address.starts_with("127.0.0.1:"), "{m:?}");
    assert_eq!(m[0].agents, ["discovery", "rpcutil"]);
    assert!(m[0].conn.is_some());

    // shoal nodes on a peer broker, reached through a bridge: listed via that peer.
    let (edge, sims, dir) = tokio::task::spawn_blocking(move || {
        let edge = BrokerProcess::start_with(
            &format!(
                "{}[[bridge]]\nname = \"edge-hub\"\nuri = \"static:(tcp://{cluster})\"\nduplex = true\n",
                common::OPEN
            ),
            &["--name", "edge"],
        );
        assert!(edge.wait_log("bridge connected"), "{}", edge.log());
        let dir = TempDir::new("members");
        let sims = ShoalNode::start(
            &dir,
            edge.port(),
            "sims",
            "interop-psk",
            &["--identity", "sim", "-T", "mcollective", "--simulate", "2"],
            2,
        );
        (edge, sims, dir)
    })
    .await
    .unwrap();
    let t = tracker.clone();
    let want = vec![
        ("node1".to_string(), None),
        ("sim-001".to_string(), Some("edge".to_string())),
        ("sim-002".to_string(), Some("edge".to_string())),
    ];
    assert!(
        within(Duration::from_secs(3), || identities(
            &t.snapshot(),
            "mcollective"
        ) == want)
        .await,
        "{:#?}",
        tracker.snapshot()
    );
    // Ping replies refresh "last seen".
    let before = tracker.members("mcollective")[1].last_seen;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    tracker.touch("sim-001");
    assert!(tracker.members("mcollective")[1].last_seen > before);

    // Gone when they go: the shoal nodes (withdrawn across the bridge), then mcollectived.
    drop(sims);
    let t = tracker.clone();
    assert!(
        within(Duration::from_secs(3), || identities(
            &t.snapshot(),
            "mcollective"
        ) == [(
            "node1".to_string(),
            None
        )])
        .await,
        "{:#?}",
        tracker.snapshot()
    );
    drop(fleet);
    let t = tracker.clone();
    assert!(
        within(Duration::from_secs(3), || t.snapshot().is_empty()).await,
        "{:#?}",
        tracker.snapshot()
    );
    stop.cancel();
    drop((edge, dir));
    bridges.shutdown(Duration::from_secs(1)).await;
    broker.shutdown(Duration::from_secs(1)).await;
}
