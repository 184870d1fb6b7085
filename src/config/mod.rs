//! The config file: TOML, every key optional, unknown keys rejected with their line.
//!
//! The schema grows with shoal (users, ACLs, bridges…); each part is its own table with its
//! own defaults, so old files keep working and a typo never passes silently.

pub mod first_run;
mod metrics;
#[cfg(test)]
mod reference_tests;
pub mod reload;
pub mod security;

use crate::broker::handle::BrokerSetup;
use crate::broker::server::{parse_listen, ListenerSpec};
use crate::broker::store::StoreSettings;
use crate::broker::tls::TlsSettings;
use crate::broker::{BrokerSettings, DeliveryPolicy, Limits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use security::{AclConfig, AuthSettings, UserConfig};

use crate::bridge::config::{parse_uri, BridgeConfig, BridgeUsers, ClusterSettings};
use crate::bridge::dialer::Dialer;
use crate::bridge::filter::Filters;
use crate::bridge::BridgeSetup;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:6163";

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Client (STOMP) listeners. Empty: `127.0.0.1:6163` only.
    #[serde(default)]
    pub listen: Vec<String>,
    #[serde(default)]
    pub broker: BrokerSettings,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default, rename = "user", skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserConfig>,
    #[serde(default, rename = "acl", skip_serializing_if = "Vec::is_empty")]
    pub acls: Vec<AclConfig>,
    /// Certificate and key for `stomp+ssl://` listeners (client and cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// The cluster listener for peers' bridges (none unless this table is present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSettings>,
    #[serde(default, rename = "bridge", skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<BridgeConfig>,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub delivery: DeliveryPolicy,
    /// The Prometheus/health HTTP listener (off unless this table is present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<crate::metrics::MetricsSettings>,
    /// The file this was read from (relative paths inside resolve against its folder).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bad flags or an unusable MCollective config (exit code 2, like a bad config).
    #[error("{0}")]
    Usage(String),
}

impl ConfigError {
    pub fn usage(e: impl std::fmt::Display) -> ConfigError {
        ConfigError::Usage(format!("{e:#}"))
    }
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(text, &e),
        })
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Config::parse(&text, path)?;
        c.source = Some(path.to_path_buf());
        Ok(c)
    }

    /// `[cluster] users`, checked against the `[[user]]`s (a misspelt name would lock every
    /// bridge out without a word). Unset on a broker with users: nobody, and a warning.
    fn bridge_users(&self, c: &ClusterSettings) -> Result<BridgeUsers, String> {
        let Some(names) = &c.users else {
            if self.users.is_empty() {
                return Ok(BridgeUsers::Anyone);
            }
            tracing::warn!("[cluster] users is not set: no user may connect as a bridge (list the bridge users, e.g. users = [\"mqcluster\"])");
            return Ok(BridgeUsers::Only(Default::default()));
        };
        for n in names {
            if !self.users.iter().any(|u| &u.name == n) {
                return Err(format!("[cluster] users: {n:?} is not a [[user]]"));
            }
        }
        Ok(BridgeUsers::Only(names.iter().cloned().collect()))
    }

    /// The cluster listener and outgoing bridges, resolved (URIs, passwords, TLS, filters).
    pub fn bridge_setup(&self) -> Result<BridgeSetup, ConfigError> {
        let src = self.source.as_deref();
        let invalid = |message: String| ConfigError::Invalid {
            path: src.map(Path::to_path_buf).unwrap_or_default(),
            message,
        };
        let mut setup = BridgeSetup::default();
        if let Some(c) = &self.cluster {
            setup.bridge_users = self.bridge_users(c).map_err(invalid)?;
            for l in &c.listen {
                let (addr, tls) = parse_listen(l).map_err(|e| invalid(e.to_string()))?;
                let tls = if tls {
                    let t = self.tls.as_ref().ok_or_else(|| {
                        invalid(format!(
                            "cluster listener {l} is stomp+ssl:// but there is no [tls] table"
                        ))
                    })?;
                    Some(
                        crate::broker::tls::server_config(&self.resolved_tls(t))
                            .map_err(|e| invalid(format!("[tls]: {e}")))?,
                    )
                } else {
                    None
                };
                setup.cluster.push(ListenerSpec { addr, tls });
            }
        }
        let mut names = std::collections::HashSet::new();
        for b in &self.bridges {
            if !names.insert(b.name.clone()) {
                return Err(invalid(format!("bridge {} is defined twice", b.name)));
            }
            let peers =
                parse_uri(&b.uri).map_err(|e| invalid(format!("bridge {}: uri {e}", b.name)))?;
            let filters = Filters::parse(
                &b.dynamically_included_destinations,
                &b.excluded_destinations,
                &b.statically_included_destinations,
            )
            .map_err(|e| invalid(format!("bridge {}: {e}", b.name)))?;
            let password = match (&b.password, &b.password_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "bridge {}: password and password_file both set",
                        b.name
                    )))
                }
                (Some(p), None) => Some(p.clone()),
                (None, Some(f)) => {
                    let f = security::resolve(src, f);
                    let text = std::fs::read_to_string(&f).map_err(|e| {
                        invalid(format!(
                            "bridge {}: password_file {}: {e}",
                            b.name,
                            f.display()
                        ))
                    })?;
                    Some(text.trim_end_matches(['\n', '\r']).to_string())
                }
                (None, None) => None,
            };
            let tls = match &b.tls {
                Some(t) => Some(
                    crate::client::tls::client_config(
                        &security::resolve(src, &t.ca),
                        t.cert
                            .as_deref()
                            .map(|p| security::resolve(src, p))
                            .as_deref(),
                        t.key
                            .as_deref()
                            .map(|p| security::resolve(src, p))
                            .as_deref(),
                    )
                    .map_err(|e| invalid(format!("bridge {} tls: {e}", b.name)))?,
                ),
                None if peers.iter().any(|p| p.tls) => {
                    return Err(invalid(format!(
                        "bridge {}: ssl:// peers need a [bridge.tls] table with the CA",
                        b.name
                    )))
                }
                None => None,
            };
            if b.kind == crate::bridge::config::BridgeKind::Stomp {
                if b.statically_included_destinations.is_empty()
                    && b.inbound_destinations.is_empty()
                {
                    return Err(invalid(format!("bridge {}: kind = \"stomp\" moves only the destinations it lists: set statically_included_destinations and/or inbound_destinations", b.name)));
                }
                if let Some(both) = b
                    .statically_included_destinations
                    .iter()
                    .find(|d| d.contains("queue") && b.inbound_destinations.contains(d))
                {
                    return Err(invalid(format!("bridge {}: queue {both} is both outbound and inbound: it would shuttle between the brokers", b.name)));
                }
            } else if !b.inbound_destinations.is_empty() || b.vhost.is_some() {
                return Err(invalid(format!(
                    "bridge {}: inbound_destinations and vhost are for kind = \"stomp\"",
                    b.name
                )));
            }
            setup.dialers.push(Dialer {
                cfg: b.clone(),
                peers,
                filters,
                password,
                tls,
            });
        }
        Ok(setup)
    }

    fn resolved_tls(&self, t: &TlsSettings) -> TlsSettings {
        let src = self.source.as_deref();
        TlsSettings {
            cert: security::resolve(src, &t.cert),
            key: security::resolve(src, &t.key),
            client_ca: t.client_ca.as_deref().map(|p| security::resolve(src, p)),
            client_auth: t.client_auth,
        }
    }

    /// Turns the config into what `Broker::start` needs: resolves passwords, parses ACLs,
    /// loads TLS material (refusing an exposed private key).
    pub fn setup(&self) -> Result<BrokerSetup, ConfigError> {
        let src = self.source.as_deref();
        let invalid = |message: String| ConfigError::Invalid {
            path: src.map(Path::to_path_buf).unwrap_or_default(),
            message,
        };
        let tls = match &self.tls {
            Some(t) => {
                let t = TlsSettings {
                    cert: security::resolve(src, &t.cert),
                    key: security::resolve(src, &t.key),
                    client_ca: t.client_ca.as_deref().map(|p| security::resolve(src, p)),
                    client_auth: t.client_auth,
                };
                Some(
                    crate::broker::tls::server_config(&t)
                        .map_err(|e| invalid(format!("[tls]: {e}")))?,
                )
            }
            None => None,
        };
        let mut listeners = Vec::new();
        for l in self.listen_addrs() {
            let (addr, wants_tls) = parse_listen(&l).map_err(|e| invalid(e.to_string()))?;
            if wants_tls && tls.is_none() {
                return Err(invalid(format!(
                    "listener {l} is stomp+ssl:// but there is no [tls] table with cert and key"
                )));
            }
            listeners.push(ListenerSpec {
                addr,
                tls: if wants_tls { tls.clone() } else { None },
            });
        }
        let store = if self.store.enabled {
            let dir = match &self.store.dir {
                Some(d) => security::resolve(src, d),
                None => StoreSettings::default_dir().ok_or_else(|| {
                    invalid("[store]: no data directory for this user; set [store] dir".into())
                })?,
            };
            Some((self.store.clone(), dir))
        } else {
            None
        };
        if self.delivery.dead_letter_prefix.is_empty() {
            return Err(invalid(
                "[delivery] dead_letter_prefix must not be empty".into(),
            ));
        }
        Ok(BrokerSetup {
            settings: self.broker.clone(),
            limits: self.limits.clone(),
            security: security::build_security(&self.auth, &self.users, &self.acls, src)?,
            listeners,
            delivery: self.delivery.clone(),
            store,
        })
    }

    /// `~/.config/shoal/broker.toml` (per the platform's conventions).
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "shoal").map(|d| d.config_dir().join("broker.toml"))
    }

    pub fn listen_addrs(&self) -> Vec<String> {
        if self.listen.is_empty() {
            vec![DEFAULT_LISTEN.to_string()]
        } else {
            self.listen.clone()
        }
    }
}

/// "line N, column M: <what>" — toml's own message names the unknown key; add the position.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let col = span.start
                - text[..span.start.min(text.len())]
                    .rfind('\n')
                    .map(|i| i + 1)
                    .unwrap_or(0)
                + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_default() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c.listen_addrs(), vec!["127.0.0.1:6163".to_string()]);
        assert_eq!(c.limits.max_body_bytes, Limits::default().max_body_bytes);
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = Config::parse(
            "listen = [\"127.0.0.1:1\"]\n[broker]\nnmae = \"x\"\n",
            Path::new("b.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("b.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("nmae"), "{err}");
        let err = Config::parse("colour = 1\n", Path::new("b.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour") && err.contains("line 1"), "{err}");
    }

    #[test]
    fn the_shipped_seed_configs_parse() {
        for (name, text) in [
            (
                "mqbroker01.toml",
                include_str!("../../examples/seed/mqbroker01.toml"),
            ),
            (
                "mqbroker02.toml",
                include_str!("../../examples/seed/mqbroker02.toml"),
            ),
        ] {
            let c = Config::parse(text, Path::new(name)).unwrap();
            assert_eq!(c.users.len(), 6, "{name}");
            assert_eq!(c.acls.len(), 8, "{name}");
            assert_eq!(c.bridges.len(), 1, "{name}");
            assert!(c.bridges[0].duplex && c.bridges[0].network_ttl == 2);
            assert!(c.cluster.is_some());
        }
    }

    #[test]
    fn values_are_read() {
        let c = Config::parse(
            "listen = [\"0.0.0.0:7000\"]\n[broker]\nname = \"mq1\"\nslow_consumer = \"disconnect\"\n[limits]\nmax_body_bytes = 10\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.broker.name, "mq1");
        assert_eq!(
            c.broker.slow_consumer,
            crate::broker::SlowConsumerPolicy::Disconnect
        );
        assert_eq!(c.limits.max_body_bytes, 10);
        assert_eq!(c.listen_addrs(), vec!["0.0.0.0:7000".to_string()]);
    }
}
