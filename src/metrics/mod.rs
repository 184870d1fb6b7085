//! Monitoring over HTTP: Prometheus/OpenMetrics exposition at `/metrics`, and `/healthz` and
//! `/readyz` for load balancers and orchestrators. Off unless the config has a `[metrics]`
//! table (or `shoal broker --metrics ADDR`); loopback by default; optionally HTTPS with the
//! broker's `[tls]` certificate and a bearer token read from a 0600 file.
//!
//! Every scrape reads the same sources as the TUI's stats report (`stats::StatsSources`):
//! the engine's totals and counters, the busiest and deepest destinations (bounded: a
//! broker with 100 000 destinations exports at most `2 × top_destinations` of them, and the
//! broker-wide totals stand for the rest), every bridge and every collective. Nothing is
//! kept between scrapes, so the endpoint costs nothing when nobody scrapes it.
//!
//! The exposition text is written by the `prometheus-client` crate (OpenMetrics 1.0, with its
//! escaping and `# EOF`); the HTTP side is `hyper`. See `families` for the metric names.

mod families;
mod http;

pub use families::Families;
pub use http::{serve, MetricsServer};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9163";

/// The `[metrics]` table of the config.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// HOST:PORT for the HTTP listener (default 127.0.0.1:9163).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Serve HTTPS with the `[tls]` table's certificate and key.
    #[serde(default)]
    pub tls: bool,
    /// A file (mode 0600 or stricter) holding the token that requests must bring as
    /// `Authorization: Bearer TOKEN`. Without it anyone who can reach the port may read.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Destinations exported one by one: this many busiest and this many deepest.
    #[serde(default = "default_top")]
    pub top_destinations: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: default_listen(),
            tls: false,
            token_file: None,
            top_destinations: default_top(),
        }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}

fn default_top() -> usize {
    50
}

/// `[metrics]` resolved: the address, the TLS config, the token.
#[derive(Clone)]
pub struct MetricsSetup {
    pub addr: std::net::SocketAddr,
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    pub token: Option<String>,
    pub top_destinations: usize,
}
