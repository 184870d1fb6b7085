//! The handle the TUI, bridges and embedders use: snapshots, the event stream, and in-process
//! clients — with a real TCP client on the same broker.

mod common;
use common::Stomp;
use shoal::broker::events::BrokerEvent;
use shoal::broker::handle::BrokerSetup;
use shoal::broker::Broker;
use std::time::Duration;

async fn start() -> Broker {
    let mut setup = BrokerSetup::open(&["127.0.0.1:0"]);
    setup.settings.name = "embedded".into();
    Broker::start(setup).await.unwrap()
}

async fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<BrokerEvent>,
    want: impl Fn(&BrokerEvent) -> bool,
) -> BrokerEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = rx.recv().await.expect("event stream open");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event within 5 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_events_follow_network_clients() {
    let broker = start().await;
    let h = broker.handle();
    let mut events = h.events();
    let addr = broker.local_addrs()[0].to_string();
    let a2 = addr.clone();
    let mut client = tokio::task::spawn_blocking(move || {
        let mut s = Stomp::connect(&a2);
        s.subscribe("s1", "/queue/orders", &[("ack", "client-individual")]);
        s.send_sync("/queue/orders", &[], b"one");
        s.send_sync("/queue/orders", &[], b"two");
        s.send_sync("/queue/backlog", &[], b"waiting");
        s
    })
    .await
    .unwrap();
    assert!(
        matches!(next_event(&mut events, |e| matches!(e, BrokerEvent::ConnectionOpened { .. })).await,
        BrokerEvent::ConnectionOpened { peer, .. } if peer.starts_with("127.0.0.1:"))
    );
    let added = next_event(&mut events, |e| {
        matches!(e, BrokerEvent::SubscriptionAdded { .. })
    })
    .await;
    assert_eq!(
        added,
        BrokerEvent::SubscriptionAdded {
            conn: match added {
                BrokerEvent::SubscriptionAdded { conn, .. } => conn,
                _ => unreachable!(),
            },
            id: Some("s1".into()),
            destination: "/queue/orders".into(),
            selector: None,
            network: None,
        }
    );
    let snap = h.snapshot();
    assert_eq!(snap.name, "embedded");
    assert_eq!(snap.connections.len(), 1);
    assert_eq!(snap.connections[0].subscriptions, 1);
    assert_eq!(snap.connections[0].msgs_in, 3);
    let orders = snap.destination("/queue/orders").expect("orders");
    assert_eq!(
        (orders.consumers, orders.producers, orders.enqueued),
        (1, 1, 2)
    );
    assert_eq!(
        (orders.dispatched, orders.in_flight, orders.dequeued),
        (2, 2, 0),
        "two delivered, none acked"
    );
    assert_eq!(orders.bytes_in, 6);
    let backlog = snap.destination("/queue/backlog").expect("backlog");
    assert_eq!((backlog.pending, backlog.consumers), (1, 0));

    // Acknowledging moves in-flight to dequeued.
    client = tokio::task::spawn_blocking(move || {
        for _ in 0..2 {
            let m = client.expect(shoal::stomp::Command::Message);
            client.request(common::frame("ACK", &[("id", m.get("ack").unwrap())], b""));
        }
        client
    })
    .await
    .unwrap();
    let orders = h.snapshot().destination("/queue/orders").cloned().unwrap();
    assert_eq!((orders.in_flight, orders.dequeued), (0, 2));

    drop(client);
    let closed = next_event(&mut events, |e| {
        matches!(e, BrokerEvent::ConnectionClosed { .. })
    })
    .await;
    assert!(
        matches!(closed, BrokerEvent::ConnectionClosed { reason, .. } if reason.contains("closed"))
    );
    assert!(h.snapshot().connections.is_empty());
    broker.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_clients_talk_to_network_clients() {
    let broker = start().await;
    let h = broker.handle();
    let mut local = h.connect_local("tui-ping");
    local
        .subscribe("replies", "/temp-queue/replies", None)
        .unwrap();
    local
        .subscribe(
            "nodes",
            "/queue/mcollective.nodes",
            Some("mc_identity = 'bastion'"),
        )
        .unwrap();
    let addr = broker.local_addrs()[0].to_string();
    // A network responder answers the in-process requester through reply-to.
    let responder = tokio::task::spawn_blocking(move || {
        let mut s = Stomp::connect(&addr);
        s.subscribe("req", "/topic/mcollective.discovery.agent", &[]);
        let req = s.expect(shoal::stomp::Command::Message);
        let reply_to = req.get("reply-to").unwrap().to_string();
        s.send_sync(&reply_to, &[], b"pong");
        s.send_sync(
            "/queue/mcollective.nodes",
            &[("mc_identity", "other")],
            b"not mine",
        );
        s.send_sync(
            "/queue/mcollective.nodes",
            &[("mc_identity", "bastion")],
            b"mine",
        );
    });
    // Wait until the responder's subscription exists before publishing.
    let mut events = h.events();
    while !h
        .snapshot()
        .destinations
        .iter()
        .any(|d| d.destination == "/topic/mcollective.discovery.agent" && d.consumers == 1)
    {
        let _ = tokio::time::timeout(Duration::from_millis(50), events.recv()).await;
    }
    local
        .send(
            "/topic/mcollective.discovery.agent",
            vec![("reply-to", "/temp-queue/replies")],
            "ping",
        )
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), local.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.message.body[..], b"pong");
    assert_eq!(got.subscription.as_deref(), Some("replies"));
    let got = tokio::time::timeout(Duration::from_secs(5), local.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.message.body[..], b"mine");
    responder.await.unwrap();
    assert!(local.try_recv().is_none());
    // Bad input from an embedder is an error value, not a panic.
    assert!(local.subscribe("bad", "/queue/x", Some("a = = 1")).is_err());
    assert!(local
        .send("/nowhere/x", shoal::stomp::Headers::new(), "x")
        .is_err());
    broker.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_carries_the_busiest_destinations_and_counts_the_rest() {
    let broker = start().await;
    let h = broker.handle();
    let local = h.connect_local("overview");
    // The deep queue first: whenever the once-a-second rate sample falls, it has sent at
    // least as much as any quiet one in that second, and holds more.
    for _ in 0..5 {
        local
            .send("/queue/deep", shoal::stomp::Headers::new(), "x")
            .unwrap();
    }
    for i in 0..40 {
        local
            .send(
                &format!("/queue/quiet.{i:02}"),
                shoal::stomp::Headers::new(),
                "x",
            )
            .unwrap();
    }
    let o = h.overview(3);
    assert_eq!(o.destination_count, 41);
    assert_eq!(o.destinations.len(), 3);
    assert!(
        o.destinations
            .iter()
            .any(|d| d.destination == "/queue/deep"),
        "{:?}",
        o.destinations
    );
    assert!(o.connections.is_empty());
    assert_eq!(o.connection_count, h.snapshot().connections.len());
}
