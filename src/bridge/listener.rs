//! The cluster listener: peers' bridges connect here. Each is authenticated like a client
//! (users, passwords, client certificates, the same login throttle), must be one of the
//! bridge users (`[cluster] users`: being able to log in is not enough to pose as a broker),
//! and its inbound traffic is subject to the ACL as that user.

use super::config::BridgeUsers;
use super::filter::Filters;
use super::handshake::{read_frame, write_frame, Io};
use super::link::{self, LinkSettings};
use super::network::Network;
use super::status::{BridgeStatus, Direction};
use super::wire;
use crate::broker::login::Credentials;
use crate::stomp::{Command, Frame};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Connections the cluster port holds at once (handshaking or linked), in all and from one
/// address: a network of brokers has a handful of peers (two links each, with the seed's
/// standby), so these are generous for it and small for a flood of idle connections.
pub const MAX_CLUSTER_CONNECTIONS: usize = 256;
pub const MAX_CLUSTER_CONNECTIONS_PER_ADDRESS: usize = 16;

/// Counts the cluster port's connections; a `Ticket` is one, given back when dropped.
#[derive(Default)]
struct Admission {
    counts: parking_lot::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
    last_warning: parking_lot::Mutex<Option<std::time::Instant>>,
}

struct Ticket {
    admission: Arc<Admission>,
    ip: std::net::IpAddr,
}

impl Admission {
    fn admit(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<Ticket> {
        let mut g = self.counts.lock();
        let (total, per) = &mut *g;
        let here = per.get(&ip).copied().unwrap_or(0);
        if *total >= MAX_CLUSTER_CONNECTIONS || here >= MAX_CLUSTER_CONNECTIONS_PER_ADDRESS {
            drop(g);
            let mut last = self.last_warning.lock();
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                *last = Some(std::time::Instant::now());
                tracing::warn!(%ip, "cluster port full ({here} connections from this address, {MAX_CLUSTER_CONNECTIONS_PER_ADDRESS} allowed; {MAX_CLUSTER_CONNECTIONS} in all): closing new ones");
            }
            return None;
        }
        *total += 1;
        per.insert(ip, here + 1);
        Some(Ticket {
            admission: self.clone(),
            ip,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut g = self.admission.counts.lock();
        let (total, per) = &mut *g;
        *total -= 1;
        if let Some(n) = per.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.ip);
            }
        }
    }
}

pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<crate::broker::tls::TlsSlot>,
    bridge_users: Arc<arc_swap::ArcSwap<BridgeUsers>>,
    net: Arc<Network>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let admission = Arc::new(Admission::default());
    loop {
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let Some(ticket) = admission.admit(peer.ip()) else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.as_ref().map(crate::broker::tls::acceptor);
        let (net, stop) = (net.clone(), stop.clone());
        let bridge_users = bridge_users.clone();
        tracker.spawn(async move {
            let (stream, cn): (Box<dyn Io>, Option<String>) = match acceptor {
                None => (Box::new(tcp), None),
                Some(a) => match tokio::time::timeout(Duration::from_secs(10), a.accept(tcp)).await
                {
                    Ok(Ok(s)) => {
                        let cn =
                            crate::broker::tls::peer_common_name(s.get_ref().1.peer_certificates());
                        (Box::new(s), cn)
                    }
                    _ => {
                        tracing::warn!(%peer, "cluster TLS handshake failed");
                        return;
                    }
                },
            };
            serve(net, stream, peer, cn, &bridge_users.load_full(), stop).await;
            drop(ticket);
        });
    }
}

async fn serve(
    net: Arc<Network>,
    mut s: Box<dyn Io>,
    addr: SocketAddr,
    cn: Option<String>,
    bridge_users: &BridgeUsers,
    stop: CancellationToken,
) {
    let (hello, rest) = match read_frame(&mut s).await {
        Ok(x) => x,
        Err(e) if e == super::handshake::CLOSED_SILENT => {
            tracing::debug!(%addr, "cluster connection closed before sending anything (a probe)");
            return;
        }
        Err(e) => {
            tracing::info!(%addr, "cluster connection dropped: {e}");
            return;
        }
    };
    let refuse = |why: &str| Frame::error(why.to_string(), "bridge refused".to_string());
    if hello.command != Command::Connect {
        let _ = write_frame(&mut s, &refuse("expected CONNECT")).await;
        return;
    }
    let Some(peer) = hello.get(wire::BROKER).map(str::to_string) else {
        let _ = write_frame(&mut s, &refuse("this is a shoal cluster port: only shoal bridges connect here (clients use the STOMP port)")).await;
        return;
    };
    if peer == net.local {
        let _ = write_frame(
            &mut s,
            &refuse("bridge to itself: every broker in a network needs its own name"),
        )
        .await;
        return;
    }
    let creds = Credentials {
        login: hello.get("login").map(str::to_string),
        passcode: hello.get("passcode").map(str::to_string),
        cert_cn: cn,
    };
    let login = creds.login.clone();
    let principal = match net.handle.login(addr.ip(), creds).await {
        Ok(p) if bridge_users.allows(&p.user) => p,
        Ok(p) => {
            net.handle.refused_after_login(addr.ip(), &p.user);
            tracing::warn!(%addr, %peer, user = %p.user, "bridge refused: the user is not one of [cluster] users");
            let why = format!("user {} may not connect as a bridge", p.user);
            let _ = write_frame(&mut s, &refuse(&why)).await;
            return;
        }
        Err(e) => {
            tracing::warn!(%addr, %peer, login = login.as_deref().unwrap_or("(none)"), "bridge authentication failed: {e}");
            let _ = write_frame(&mut s, &refuse(&e.to_string())).await;
            return;
        }
    };
    let duplex = hello.get(wire::DUPLEX) == Some("true");
    let num = |h: &str| hello.get(h).and_then(|v| v.parse().ok()).unwrap_or(1u32);
    let heartbeat = hello
        .get("heart-beat")
        .and_then(|h| h.split(',').next()?.trim().parse().ok())
        .filter(|ms: &u64| *ms > 0)
        .unwrap_or(1000);
    let ok = Frame::new(Command::Connected)
        .header("version", "1.2")
        .header(wire::BROKER, net.local.clone())
        .header("server", format!("shoal/{}", env!("CARGO_PKG_VERSION")))
        .header("heart-beat", format!("{heartbeat},{heartbeat}"));
    if write_frame(&mut s, &ok).await.is_err() {
        return;
    }
    let bridge = hello.get(wire::BRIDGE).unwrap_or("?");
    let status = BridgeStatus::new(
        &format!("{peer}/{bridge} (inbound)"),
        Direction::Inbound,
        duplex,
        num(wire::MESSAGE_TTL),
    );
    status.lock().uri = Some(addr.to_string());
    net.track(status.clone());
    let settings = LinkSettings {
        peer,
        forwards: duplex,
        advertises: true,
        message_ttl: num(wire::MESSAGE_TTL),
        consumer_ttl: num(wire::CONSUMER_TTL),
        filters: Filters::default(),
        decrease_priority: false,
        heartbeat: Duration::from_millis(heartbeat),
        timeout: Duration::from_millis(
            hello
                .get(wire::LINK_TIMEOUT)
                .and_then(|t| t.parse().ok())
                .unwrap_or(3 * heartbeat)
                .max(3 * heartbeat),
        ),
        window: 1000,
        suppress_queues: hello.get(wire::SUPPRESS) == Some("true"),
        conduit: hello.get(wire::CONDUIT) != Some("false"),
        principal: Some(principal),
    };
    let why = link::run(net.clone(), s, rest, settings, status.clone(), stop).await;
    tracing::info!(%addr, "inbound bridge closed: {why}");
    net.untrack(&status);
}
