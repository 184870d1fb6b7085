//! `shoal node` and `shoal ping`: settings from MCollective's own server.cfg / client.cfg,
//! overridden by flags.

use crate::client::tls::TlsArgs;
use crate::collective::connector::Connector;
use crate::collective::filter::{FactFilter, Filter};
use crate::collective::mco_config::{McoConfig, PoolBroker};
use crate::collective::node::{self, NodeSettings};
use crate::collective::ping::{self, PingOptions};
use crate::collective::security::{self, KeyFlags, Role, SecurityProvider};
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How to reach the broker(s); shared by `node` and `ping`.
#[derive(Debug, Args, Default)]
pub struct BrokerConnection {
    /// Broker HOST:PORT; repeatable (a failover list tried in order). Default: the config's
    /// plugin.activemq.pool, else 127.0.0.1:6163.
    #[arg(long, short = 'b')]
    pub broker: Vec<String>,
    /// STOMP login (default: the config's pool user, or $STOMP_USER).
    #[arg(long)]
    pub user: Option<String>,
    /// File holding the STOMP password (first line); or set $STOMP_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Pre-shared key of the psk security plugin (default: plugin.psk, or $MCOLLECTIVE_PSK).
    #[arg(long)]
    pub psk_file: Option<PathBuf>,
    /// ssl security plugin: the private key to sign with (ping: the client's, node: the
    /// server's). Any --ssl-* flag selects the ssl plugin, over the config's securityprovider.
    #[arg(long, value_name = "FILE")]
    pub ssl_private: Option<PathBuf>,
    /// ssl plugin (ping): the client's public key file; its name without .pem is the caller id
    /// (cert=NAME) the nodes look up in their cert dir.
    #[arg(long, value_name = "FILE")]
    pub ssl_public: Option<PathBuf>,
    /// ssl plugin (ping): the server public key that replies must be signed with.
    #[arg(long, value_name = "FILE")]
    pub ssl_server_public: Option<PathBuf>,
    /// ssl plugin (node): the directory of the callers' public keys, NAME.pem.
    #[arg(long, value_name = "DIR")]
    pub ssl_client_cert_dir: Option<PathBuf>,
    /// Destination naming: activemq (also shoal) or rabbitmq (default: the config's connector).
    #[arg(long)]
    pub connector: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The first line of a secret file (a password or a pre-shared key), trimmed.
pub(crate) fn read_secret(p: &Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(s.lines().next().unwrap_or("").trim().to_string())
}

impl BrokerConnection {
    /// The pool, connector and security plugin (for `role`) from the config and the flags.
    fn resolve(
        &self,
        cfg: &McoConfig,
        role: Role,
    ) -> anyhow::Result<(Vec<PoolBroker>, Connector, Arc<dyn SecurityProvider>)> {
        let mut pool = cfg.pool();
        let password = match &self.password_file {
            Some(p) => Some(read_secret(p)?),
            None => std::env::var("STOMP_PASSWORD").ok(),
        };
        if !self.broker.is_empty() {
            let first = pool.first().cloned();
            pool = self
                .broker
                .iter()
                .map(|b| {
                    Ok(PoolBroker {
                        user: first.as_ref().and_then(|f| f.user.clone()),
                        password: first.as_ref().and_then(|f| f.password.clone()),
                        ..PoolBroker::at(b).map_err(|e| anyhow::anyhow!("--broker {e}"))?
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if pool.is_empty() {
            pool.push(PoolBroker {
                host: "127.0.0.1".into(),
                port: 6163,
                user: std::env::var("STOMP_USER").ok(),
                password: None,
                tls: None,
            });
        }
        for b in &mut pool {
            if self.user.is_some() {
                b.user = self.user.clone();
            }
            if password.is_some() {
                b.password = password.clone();
            }
            // --tls-* flags turn TLS on for every broker, over what the pool's ssl.* keys say.
            if self.tls.given() || b.tls.is_some() {
                b.tls = Some(self.tls.over(b.tls.take()));
            }
        }
        let connector = match self.connector.as_deref() {
            None => cfg.connector(),
            Some("activemq") => Connector::ActiveMq,
            Some("rabbitmq") => Connector::RabbitMq,
            Some(o) => bail!("--connector {o}: expected activemq or rabbitmq"),
        };
        let flags = KeyFlags {
            psk: self.psk_file.as_deref().map(read_secret).transpose()?,
            ssl_private: self.ssl_private.clone(),
            ssl_public: self.ssl_public.clone(),
            ssl_server_public: self.ssl_server_public.clone(),
            ssl_client_cert_dir: self.ssl_client_cert_dir.clone(),
        };
        let security =
            security::from_config(cfg, role, &flags).with_context(|| match &cfg.path {
                Some(p) => format!("security plugin of {}", p.display()),
                None => "security plugin".into(),
            })?;
        Ok((pool, connector, security))
    }
}

/// A shoal broker config (`*.toml`) seen as a client.cfg: its plain listeners become the pool
/// (a wildcard address is reached on loopback), so `shoal ping -c broker.toml` finds the broker
/// on the bastion.
fn pool_from_shoal_config(p: &Path) -> anyhow::Result<McoConfig> {
    let config = crate::config::Config::load(p)?;
    let mut text = String::from("connector = activemq\n");
    let mut n = 0;
    for l in config.listen_addrs() {
        let (addr, tls) = crate::broker::server::parse_listen(&l)?;
        if tls {
            continue;
        }
        let (host, port) = addr
            .rsplit_once(':')
            .context("listen address without a port")?;
        let host = match host.trim_matches(['[', ']']) {
            "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            h => h,
        };
        n += 1;
        text.push_str(&format!(
            "plugin.activemq.pool.{n}.host = {host}\nplugin.activemq.pool.{n}.port = {port}\n"
        ));
    }
    anyhow::ensure!(
        n > 0,
        "{}: no plain (non-TLS) listener to connect to",
        p.display()
    );
    text.push_str(&format!("plugin.activemq.pool.size = {n}\n"));
    let mut c = McoConfig::parse(&text);
    c.path = Some(p.to_path_buf());
    Ok(c)
}

fn read_mco(path: Option<&PathBuf>, default: &str) -> anyhow::Result<McoConfig> {
    match path {
        Some(p) if p.extension().is_some_and(|e| e == "toml") => pool_from_shoal_config(p),
        Some(p) => McoConfig::read(p).with_context(|| format!("reading {}", p.display())),
        None if Path::new(default).exists() => {
            McoConfig::read(Path::new(default)).with_context(|| format!("reading {default}"))
        }
        None => Ok(McoConfig::default()),
    }
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// MCollective server.cfg to read (identity, collectives, pool, psk, facts, classes).
    /// Default: /etc/mcollective/server.cfg when it exists.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Node identity (default: the config's, else the host name).
    #[arg(long, short = 'i')]
    pub identity: Option<String>,
    /// Collective to join; repeatable, the first is the main collective.
    #[arg(long = "collective", short = 'T')]
    pub collectives: Vec<String>,
    /// Facts YAML file (default: the config's plugin.yaml).
    #[arg(long)]
    pub facts: Option<PathBuf>,
    /// Classes file, one class per line (default: the config's classesfile).
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// Run N nodes in this process: identities IDENTITY-001 … IDENTITY-N.
    #[arg(long, value_name = "N")]
    pub simulate: Option<usize>,
    #[command(flatten)]
    pub conn: BrokerConnection,
}

pub fn node_settings(args: &NodeArgs) -> anyhow::Result<NodeSettings> {
    let cfg = read_mco(args.config.as_ref(), "/etc/mcollective/server.cfg")?;
    let (brokers, connector, security) = args.conn.resolve(&cfg, Role::Node)?;
    let (main_collective, collectives) = if args.collectives.is_empty() {
        (cfg.main_collective(), cfg.collectives())
    } else {
        (args.collectives[0].clone(), args.collectives.clone())
    };
    let mut facts = std::collections::BTreeMap::new();
    let fact_files = match &args.facts {
        Some(f) => vec![f.clone()],
        None => cfg.fact_files(),
    };
    for f in fact_files {
        // A facts file the config names but that is not there (yet: Puppet writes it) is
        // what mcollectived shrugs at too: start with no facts from it. `--facts` must exist.
        if args.facts.is_none() && !f.exists() {
            tracing::warn!(
                "facts file {} (from the config) not found: no facts from it",
                f.display()
            );
            continue;
        }
        facts.extend(node::load_facts(&f).map_err(anyhow::Error::msg)?);
    }
    let classes_file = args.classes.clone().unwrap_or_else(|| cfg.classes_file());
    Ok(NodeSettings {
        identity: args.identity.clone().unwrap_or_else(|| cfg.identity()),
        main_collective,
        collectives,
        brokers,
        vhost: Some(cfg.vhost(connector)),
        connector,
        facts,
        classes: node::load_classes(&classes_file),
        security,
        config_file: cfg
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    })
}

pub async fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let signals = super::broker::shutdown_signal()?;
    let base = node_settings(&args).map_err(crate::config::ConfigError::usage)?;
    let fleet = match args.simulate {
        Some(n) => node::simulated(&base, n),
        None => vec![base],
    };
    tracing::info!(
        nodes = fleet.len(),
        first = %fleet[0].identity,
        collectives = ?fleet[0].collectives,
        "starting"
    );
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for s in fleet {
        tasks.push(tokio::spawn(node::run_node(Arc::new(s), stop.clone())));
    }
    signals.await;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct PingArgs {
    /// MCollective client.cfg (pool, main_collective, psk, connector), or a shoal broker
    /// config (*.toml: its listeners are the pool). Default: /etc/mcollective/client.cfg
    /// when it exists.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Collective to ping (default: the config's main collective).
    #[arg(short = 'T', long = "target")]
    pub collective: Option<String>,
    /// Identity filter (exact or /regex/); repeatable.
    #[arg(short = 'I', long = "wi")]
    pub identity: Vec<String>,
    /// Fact filter: fact=value, fact=/regex/, fact>N …; repeatable.
    #[arg(short = 'F', long = "wf")]
    pub fact: Vec<String>,
    /// Class filter (exact or /regex/); repeatable.
    #[arg(short = 'C', long = "wc")]
    pub class: Vec<String>,
    /// Agent filter; repeatable.
    #[arg(short = 'A', long = "wa")]
    pub agent: Vec<String>,
    /// Seconds to wait for replies.
    #[arg(short = 't', long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: BrokerConnection,
}

pub async fn run_ping(args: PingArgs) -> anyhow::Result<()> {
    let cfg = read_mco(args.config.as_ref(), "/etc/mcollective/client.cfg")?;
    let (brokers, connector, security) = args
        .conn
        .resolve(&cfg, Role::Client)
        .map_err(crate::config::ConfigError::usage)?;
    let mut filter = Filter {
        identities: args.identity.clone(),
        classes: args.class.clone(),
        agents: args.agent.clone(),
        ..Filter::default()
    };
    for f in &args.fact {
        filter.facts.push(FactFilter::parse(f).ok_or_else(|| {
            crate::config::ConfigError::usage(anyhow::anyhow!(
                "-F {f}: expected fact=value, fact=/regex/ or fact<op>value"
            ))
        })?);
    }
    let identity = cfg.identity();
    let opts = PingOptions {
        collective: args
            .collective
            .clone()
            .unwrap_or_else(|| cfg.main_collective()),
        filter,
        timeout: Duration::from_secs_f64(args.timeout.max(0.1)),
        caller_id: security
            .caller_id()
            .unwrap_or_else(|| cfg.caller_type().caller_id(&identity)),
        identity,
        ttl: cfg.ttl(),
        connector,
        brokers,
        vhost: Some(cfg.vhost(connector)),
        stop_after: None,
    };
    let json = args.json;
    let out = ping::ping(&opts, security.as_ref(), |r| {
        if !json {
            println!("{}", ping::reply_line(r));
        }
    })
    .await?;
    if json {
        let doc = serde_json::json!({
            "collective": out.collective,
            "request_id": out.request_id,
            "replies": out.replies,
            "stats": out.stats(),
            "rejected": out.rejected,
            "missing": out.missing,
        });
        println!("{doc:#}");
    } else {
        print!("{}", ping::summary_text(&out));
    }
    Ok(())
}
