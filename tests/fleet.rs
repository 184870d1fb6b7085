//! A fleet's worth of nodes on one broker: what thousands of connections that come back at
//! once need from it.

mod common;
use common::{require_tool, Broker, Stomp};

/// The backlog of the listening socket on `port`: `ss` shows it as the Send-Q of a
/// listening socket.
fn listen_backlog(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split_whitespace().nth(2)?.parse().ok())
}

#[test]
fn the_listeners_queue_a_restart_storm_of_connections() {
    if !require_tool("ss", &["-V"], "apt-get install iproute2") {
        return;
    }
    // The kernel caps the backlog asked for at net.core.somaxconn.
    let cap: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    for (config, want) in [("", 4096), ("listen_backlog = 1000\n", 1000)] {
        let b = Broker::start_with(
            &format!(
                "[auth]\nanonymous = true\n[cluster]\nlisten = [\"127.0.0.1:0\"]\n[limits]\n{config}"
            ),
            &[],
        );
        let cluster_port: u16 = b.cluster[0].rsplit(':').next().unwrap().parse().unwrap();
        for port in [b.port(), cluster_port] {
            assert_eq!(
                listen_backlog(port),
                Some(cap.min(want)),
                "backlog of the listener on {port} with {config:?}"
            );
        }
    }
}

#[test]
fn a_fleet_logging_in_at_once_from_one_address_is_not_throttled() {
    // 200 nodes behind one address (a NAT, or a bastion), the same user and the right
    // password, all at once after a restart. The throttle used to space attempts in flight
    // as if each were a failure: the 10th waited 46 s, the rest longer.
    let b = Broker::start_with(&common::seed::seed_config(""), &[]);
    let addr = b.addr.clone();
    let logins: Vec<_> = (0..200)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || Stomp::login(&addr, "prodadmin", "poobatron").is_ok())
        })
        .collect();
    let ok = logins
        .into_iter()
        .map(|t| t.join().unwrap_or(false))
        .filter(|in_| *in_)
        .count();
    assert_eq!(ok, 200, "logins that got in");
}
