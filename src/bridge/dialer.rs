//! An outgoing bridge: dials its peers in failover order, backs off with jitter between
//! rounds, runs the link while it lives, and reports every state on the way.

use super::config::{BridgeConfig, BridgeKind, PeerAddr};
use super::filter::Filters;
use super::handshake::{dial, Hello, Io};
use super::link::{self, LinkSettings};
use super::network::Network;
use super::status::{BridgeState, SharedStatus};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How often a backing-off bridge probes its peer.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Everything an outgoing bridge needs, resolved from its config.
pub struct Dialer {
    pub cfg: BridgeConfig,
    pub peers: Vec<PeerAddr>,
    pub filters: Filters,
    pub password: Option<String>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dialer {
    pub async fn run(self, net: Arc<Network>, status: SharedStatus, stop: CancellationToken) {
        let initial = Duration::from_millis(self.cfg.initial_reconnect_delay_ms.max(1));
        let max = Duration::from_millis(
            self.cfg
                .max_reconnect_delay_ms
                .max(self.cfg.initial_reconnect_delay_ms),
        );
        let mut delay = initial;
        loop {
            for addr in &self.peers {
                if stop.is_cancelled() {
                    status.lock().set_state(BridgeState::Stopped);
                    return;
                }
                {
                    let mut st = status.lock();
                    st.uri = Some(addr.to_string());
                    st.set_state(BridgeState::Connecting {
                        uri: addr.to_string(),
                    });
                }
                let established = match self.open(addr).await {
                    Ok(stream) => self.session(stream, &net, &status, &stop).await,
                    Err(e) => Err(e),
                };
                match established {
                    Err(e) => {
                        status.lock().set_state(BridgeState::Failed {
                            error: format!("{addr}: {e}"),
                        });
                        continue;
                    }
                    Ok(why) => {
                        delay = initial;
                        if stop.is_cancelled() {
                            status.lock().set_state(BridgeState::Stopped);
                            return;
                        }
                        status.lock().set_state(BridgeState::Failed { error: why });
                        break; // start again from the first address
                    }
                }
            }
            // Jittered exponential back-off: many bridges cut at once do not return in step.
            let jitter = rand::thread_rng().gen_range(0.5..1.0);
            let wait = delay.mul_f64(jitter);
            status.lock().set_state(BridgeState::Backoff {
                retry_in_ms: wait.as_millis() as u64,
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.probe_until_reachable() => {
                    tracing::info!(bridge = %self.cfg.name, "the peer answers again: dialing now");
                    delay = initial;
                    continue;
                }
                _ = stop.cancelled() => {
                    status.lock().set_state(BridgeState::Stopped);
                    return;
                }
            }
            delay = (delay * 2).min(max);
        }
    }

    /// Runs one connection to the end: the shoal link protocol, or a plain STOMP client
    /// session for `kind = "stomp"`. `Err` when it could not even be established.
    async fn session(
        &self,
        stream: Box<dyn Io>,
        net: &Arc<Network>,
        status: &SharedStatus,
        stop: &CancellationToken,
    ) -> Result<String, String> {
        if self.cfg.kind == BridgeKind::Stomp {
            return super::foreign::run(net.clone(), stream, self, status.clone(), stop.clone())
                .await;
        }
        let (stream, peer, rest) = self.hello(stream, net).await?;
        let settings = LinkSettings {
            peer,
            forwards: true,
            advertises: self.cfg.duplex,
            message_ttl: self.cfg.message_ttl(),
            consumer_ttl: self.cfg.consumer_ttl(),
            filters: self.filters.clone(),
            decrease_priority: self.cfg.decrease_network_consumer_priority,
            heartbeat: Duration::from_millis(self.cfg.heartbeat_ms.max(50)),
            timeout: self.cfg.link_timeout(),
            window: self.cfg.queue_window.max(1),
            suppress_queues: self.cfg.suppress_duplicate_queue_subscriptions,
            conduit: self.cfg.conduit_subscriptions,
            principal: None,
        };
        Ok(link::run(
            net.clone(),
            stream,
            rest,
            settings,
            status.clone(),
            stop.clone(),
        )
        .await)
    }

    /// Returns once the first peer accepts a TCP connection after having refused (or
    /// ignored) one: a healed path is dialed at once instead of at the end of a back-off
    /// that kept doubling through the outage. While the peer answers (it is up, and the
    /// link failed for another reason) the back-off runs its course; the peer logs these
    /// empty connections at debug level only.
    async fn probe_until_reachable(&self) {
        let Some(addr) = self.peers.first() else {
            return std::future::pending().await;
        };
        let mut was_down = false;
        loop {
            let up = tokio::time::timeout(
                PROBE_EVERY,
                TcpStream::connect((addr.host.as_str(), addr.port)),
            )
            .await
            .is_ok_and(|c| c.is_ok());
            match (up, was_down) {
                (true, true) => return,
                // It answers (it may be on its way down, or up with the link failed for
                // another reason): keep looking.
                (true, false) => {}
                (false, _) => was_down = true,
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    async fn open(&self, addr: &PeerAddr) -> Result<Box<dyn Io>, String> {
        let tcp = tokio::time::timeout(
            Duration::from_secs(5),
            TcpStream::connect((addr.host.as_str(), addr.port)),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if !addr.tls {
            return Ok(Box::new(tcp));
        }
        let tls = self
            .tls
            .clone()
            .ok_or("ssl:// peer but the bridge has no tls table")?;
        let name = self
            .cfg
            .tls
            .as_ref()
            .and_then(|t| t.server_name.clone())
            .unwrap_or_else(|| addr.host.clone());
        let server_name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| format!("server name {name}: {e}"))?;
        let s = tokio_rustls::TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Ok(Box::new(s))
    }

    async fn hello(
        &self,
        mut s: Box<dyn Io>,
        net: &Network,
    ) -> Result<(Box<dyn Io>, String, bytes::BytesMut), String> {
        let hello = Hello {
            local: &net.local,
            bridge: &self.cfg.name,
            duplex: self.cfg.duplex,
            message_ttl: self.cfg.message_ttl(),
            consumer_ttl: self.cfg.consumer_ttl(),
            login: self.cfg.user.as_deref(),
            passcode: self.password.as_deref(),
            heartbeat_ms: self.cfg.heartbeat_ms,
            link_timeout_ms: self.cfg.link_timeout().as_millis() as u64,
            suppress_queues: self.cfg.suppress_duplicate_queue_subscriptions,
            conduit: self.cfg.conduit_subscriptions,
        };
        let (peer, rest) = dial(&mut s, &hello).await?;
        Ok((s, peer, rest))
    }
}
