//! MCollective's own `server.cfg` / `client.cfg` (`key = value` lines), so that a node or client
//! config already deployed on a fleet can be pointed at shoal's tools as it is.

use super::connector::Connector;
use super::security::CallerType;
use crate::client::tls::TlsFiles;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct McoConfig {
    pub path: Option<PathBuf>,
    values: BTreeMap<String, String>,
}

/// One broker of the connector's pool (`plugin.activemq.pool.N.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolBroker {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// TLS (`pool.N.ssl = 1`, with `ssl.ca`, `ssl.cert`, `ssl.key`, `ssl.fallback`).
    pub tls: Option<TlsFiles>,
}

impl PoolBroker {
    /// `HOST:PORT` (`[v6]:PORT`, also `tcp://`) or `stomp+ssl://HOST:PORT` (TLS, with the
    /// files still to be said), without credentials.
    pub fn at(addr: &str) -> Result<PoolBroker, String> {
        let (a, tls) = crate::client::tls::parse_addr(addr);
        let (h, p) = a
            .rsplit_once(':')
            .ok_or_else(|| format!("{addr}: expected HOST:PORT"))?;
        Ok(PoolBroker {
            host: h.trim_matches(['[', ']']).to_string(),
            port: p.parse().map_err(|_| format!("{addr}: bad port"))?,
            user: None,
            password: None,
            tls: tls.then(TlsFiles::default),
        })
    }

    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl McoConfig {
    pub fn read(path: &Path) -> std::io::Result<McoConfig> {
        let text = std::fs::read_to_string(path)?;
        let mut c = McoConfig::parse(&text);
        c.path = Some(path.to_path_buf());
        Ok(c)
    }

    pub fn parse(text: &str) -> McoConfig {
        let values = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        McoConfig { path: None, values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `identity`, or the host name as MCollective defaults it.
    pub fn identity(&self) -> String {
        self.get("identity")
            .map(str::to_string)
            .unwrap_or_else(hostname)
    }

    pub fn main_collective(&self) -> String {
        self.get("main_collective")
            .unwrap_or("mcollective")
            .to_string()
    }

    /// `collectives`, the main collective included.
    pub fn collectives(&self) -> Vec<String> {
        let mut c: Vec<String> = self
            .get("collectives")
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let main = self.main_collective();
        if !c.contains(&main) {
            c.insert(0, main);
        }
        c
    }

    pub fn connector(&self) -> Connector {
        match self.get("connector") {
            Some("rabbitmq") => Connector::RabbitMq,
            _ => Connector::ActiveMq,
        }
    }

    /// The pre-shared key: `MCOLLECTIVE_PSK` wins over `plugin.psk`, as in `psk.rb`.
    pub fn psk(&self) -> Option<String> {
        std::env::var("MCOLLECTIVE_PSK")
            .ok()
            .or_else(|| self.get("plugin.psk").map(str::to_string))
    }

    pub fn security_provider(&self) -> &str {
        self.get("securityprovider").unwrap_or("psk")
    }

    pub fn caller_type(&self) -> CallerType {
        self.get("plugin.psk.callertype")
            .and_then(CallerType::parse)
            .unwrap_or_default()
    }

    /// The connector's broker pool in order (failover), with `STOMP_USER`/`STOMP_PASSWORD`
    /// overriding the configured login as the Ruby connector does.
    pub fn pool(&self) -> Vec<PoolBroker> {
        let prefix = match self.connector() {
            Connector::ActiveMq => "plugin.activemq.pool",
            Connector::RabbitMq => "plugin.rabbitmq.pool",
        };
        let size: usize = self
            .get(&format!("{prefix}.size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (1..=size)
            .filter_map(|n| {
                let key = |k: &str| self.get(&format!("{prefix}.{n}.{k}")).map(str::to_string);
                Some(PoolBroker {
                    host: key("host")?,
                    port: key("port").and_then(|p| p.parse().ok()).unwrap_or(61613),
                    user: std::env::var("STOMP_USER").ok().or_else(|| key("user")),
                    password: std::env::var("STOMP_PASSWORD")
                        .ok()
                        .or_else(|| key("password")),
                    tls: truthy(key("ssl")).then(|| TlsFiles {
                        ca: key("ssl.ca").map(PathBuf::from),
                        cert: key("ssl.cert").map(PathBuf::from),
                        key: key("ssl.key").map(PathBuf::from),
                        server_name: None,
                        insecure_fallback: truthy(key("ssl.fallback")),
                    }),
                })
            })
            .collect()
    }

    /// The CONNECT `host` header: `plugin.<connector>.vhost`, defaulting as the Ruby
    /// connectors do (`mcollective` for activemq, `/` for rabbitmq).
    pub fn vhost(&self, connector: Connector) -> String {
        let (key, default) = match connector {
            Connector::RabbitMq => ("plugin.rabbitmq.vhost", "/"),
            Connector::ActiveMq => ("plugin.activemq.vhost", "mcollective"),
        };
        self.get(key).unwrap_or(default).to_string()
    }

    /// The YAML fact file(s) when `factsource = yaml` (`plugin.yaml`, `:`-separated).
    pub fn fact_files(&self) -> Vec<PathBuf> {
        if self.get("factsource").unwrap_or("yaml") != "yaml" {
            return Vec::new();
        }
        self.get("plugin.yaml")
            .map(|s| s.split(':').map(PathBuf::from).collect())
            .unwrap_or_default()
    }

    pub fn classes_file(&self) -> PathBuf {
        PathBuf::from(
            self.get("classesfile")
                .unwrap_or("/var/lib/puppet/state/classes.txt"),
        )
    }

    /// `ttl` for requests (seconds, default 60).
    pub fn ttl(&self) -> i64 {
        self.get("ttl").and_then(|s| s.parse().ok()).unwrap_or(60)
    }
}

/// MCollective's booleans: `1`, `true`, `yes` (as `Util.str_to_bool`, also `y`, `on`).
fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|s| matches!(s.trim(), "1" | "true" | "yes" | "y" | "on"))
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_debian_server_cfg() {
        let c = McoConfig::parse(
            "# comment\nmain_collective = mcollective\ncollectives = mcollective,qacollective\n\
             identity = node1\nconnector = activemq\nplugin.activemq.pool.size = 2\n\
             plugin.activemq.pool.1.host = mq1\nplugin.activemq.pool.1.port = 6163\n\
             plugin.activemq.pool.1.user = mcollective\nplugin.activemq.pool.1.password = pw=x\n\
             plugin.activemq.pool.2.host = ::1\nplugin.activemq.pool.2.ssl = 1\n\
             plugin.activemq.pool.2.ssl.ca = /etc/ca.pem\nplugin.activemq.pool.2.ssl.fallback = 0\n\
             plugin.psk = abc\nfactsource = yaml\nplugin.yaml = /etc/facts.yaml\n",
        );
        assert_eq!(c.identity(), "node1");
        assert_eq!(c.collectives(), ["mcollective", "qacollective"]);
        let pool = c.pool();
        assert_eq!(pool.len(), 2);
        assert_eq!(pool[0].addr(), "mq1:6163");
        assert_eq!(pool[0].password.as_deref(), Some("pw=x"));
        assert_eq!(pool[1].addr(), "[::1]:61613");
        assert!(pool[0].tls.is_none());
        let tls = pool[1].tls.as_ref().expect("ssl = 1");
        assert_eq!(tls.ca.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert!(!tls.insecure_fallback);
        assert_eq!(c.fact_files(), [PathBuf::from("/etc/facts.yaml")]);
        assert_eq!(c.connector(), Connector::ActiveMq);
        assert_eq!(c.security_provider(), "psk");
    }

    #[test]
    fn main_collective_is_always_a_member() {
        let c = McoConfig::parse("main_collective = prod\ncollectives = qa\n");
        assert_eq!(c.collectives(), ["prod", "qa"]);
        assert_eq!(McoConfig::parse("").collectives(), ["mcollective"]);
    }
}
