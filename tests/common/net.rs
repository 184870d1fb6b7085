//! Brokers joined by bridges, for the network tests.

use super::{Broker, Stomp, OPEN};
use std::time::{Duration, Instant};

/// A broker named `name` with a cluster listener and bridges to `peers` (name, cluster addr).
pub fn node(name: &str, peers: &[(&str, &str)], extra: &str) -> Broker {
    node_with(name, peers, extra, "")
}

/// `node`, with more config (tables) for the broker itself.
pub fn node_with(name: &str, peers: &[(&str, &str)], extra: &str, own: &str) -> Broker {
    let mut cfg = format!("{OPEN}{own}[cluster]\nlisten = [\"127.0.0.1:0\"]\n");
    for (peer, addr) in peers {
        cfg.push_str(&format!(
            "[[bridge]]\nname = \"{name}-{peer}\"\nuri = \"static:(tcp://{addr})\"\n{extra}\n"
        ));
    }
    let b = Broker::start_with(&cfg, &["--name", name]);
    for (peer, _) in peers {
        assert!(
            b.wait_log(&format!("bridge connected bridge={name}-{peer}")),
            "{name} → {peer}:\n{}",
            b.log()
        );
    }
    b
}

/// Publishes probes on `from` until `to` receives one (demand has propagated), then drains.
pub fn wait_for_route(from: &Broker, to: &mut Stomp, dest: &str) {
    let mut p = Stomp::connect(&from.addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        p.send_sync(dest, &[("probe", "1")], b"probe");
        if to.recv_within(Duration::from_millis(100)).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no route from {} to the subscriber",
            from.addr
        );
    }
    while to.recv_within(Duration::from_millis(300)).is_some() {}
}
