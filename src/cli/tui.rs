//! `shoal` (no arguments) and `shoal tui`: the bastion TUI, on a broker hosted in this process
//! or attached to a running `shoal broker`; `shoal keymap check`.

use crate::collective::mco_config::McoConfig;
use crate::collective::security::{self, Psk, Role, SecurityProvider};
use crate::config::ConfigError;
use crate::tui::app::App;
use crate::tui::keymap::Keymap;
use crate::tui::source::Source;
use crate::tui::ui::theme::Theme;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args, Default)]
pub struct TuiArgs {
    /// Attach to a running broker (HOST:PORT, or stomp+ssl://HOST:PORT for TLS) instead of
    /// hosting one; needs a user allowed to read /topic/shoal.stats.> (and write
    /// /queue/shoal.control for bridge actions).
    #[arg(long, value_name = "HOST:PORT")]
    pub attach: Option<String>,
    #[command(flatten)]
    pub tls: crate::client::tls::TlsArgs,
    /// Login for --attach (default: $STOMP_USER).
    #[arg(long)]
    pub user: Option<String>,
    /// File holding the password for --attach (default: $STOMP_PASSWORD).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Broker config when hosting (default: as `shoal broker`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Keymap: default, vim, emacs, or a file (default: keymap.toml in the config dir if
    /// present, else default).
    #[arg(long)]
    pub keymap: Option<String>,
    /// Disable every action that changes the broker.
    #[arg(long)]
    pub readonly: bool,
    /// ASCII borders and symbols (default when the locale is not UTF-8).
    #[arg(long)]
    pub ascii: bool,
    /// Pre-shared key file for the ping tool (default: $MCOLLECTIVE_PSK or --mco-config's).
    #[arg(long)]
    pub psk_file: Option<PathBuf>,
    /// An MCollective client.cfg whose security plugin the ping tool uses (psk, or ssl with
    /// its client key).
    #[arg(long)]
    pub mco_config: Option<PathBuf>,
}

/// Where the TUI's logs go (the terminal is the TUI's): `shoal.log` in the platform's state
/// or data dir, or the temp dir.
pub fn log_file() -> Option<std::fs::File> {
    let dir = directories::ProjectDirs::from("", "", "shoal")
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("shoal.log");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// The keymap to use, all its errors reported (before the terminal changes) if it is bad.
pub fn choose_keymap(name: Option<&str>) -> Result<Keymap, ConfigError> {
    let fail = |errors: Vec<crate::tui::keymap::KeymapError>| {
        ConfigError::Usage(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    if let Some(n) = name {
        return Keymap::load(n).map_err(fail);
    }
    let user =
        directories::ProjectDirs::from("", "", "shoal").map(|d| d.config_dir().join("keymap.toml"));
    match user {
        Some(p) if p.exists() => Keymap::load_file(&p).map_err(fail),
        _ => Ok(Keymap::builtin("default").expect("built in")),
    }
}

/// Colour unless NO_COLOR; ASCII when asked or the locale is not UTF-8.
pub fn theme(ascii: bool) -> Theme {
    let utf8 = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .map(|s| s.to_uppercase().contains("UTF-8") || s.to_uppercase().contains("UTF8"))
        .unwrap_or(false);
    Theme {
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        ascii: ascii || !utf8,
    }
}

/// The ping tool's security plugin: `--psk-file`, else `--mco-config`'s plugin (its keys
/// read now, so a wrong path is reported before the TUI starts), else `$MCOLLECTIVE_PSK`.
fn security(args: &TuiArgs) -> anyhow::Result<Option<Arc<dyn SecurityProvider>>> {
    if let Some(p) = &args.psk_file {
        let key = super::collective::read_secret(p)?;
        return Ok(Some(Arc::new(Psk::new(key))));
    }
    if let Some(p) = &args.mco_config {
        let cfg = McoConfig::read(p).with_context(|| format!("reading {}", p.display()))?;
        let s = security::from_config(&cfg, Role::Client, &Default::default())
            .with_context(|| format!("security plugin of {}", p.display()))?;
        return Ok(Some(s));
    }
    Ok(std::env::var("MCOLLECTIVE_PSK")
        .ok()
        .map(|k| Arc::new(Psk::new(k)) as Arc<dyn SecurityProvider>))
}

pub async fn run_tui(args: TuiArgs) -> anyhow::Result<()> {
    let keymap = choose_keymap(args.keymap.as_deref())?;
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(ConfigError::Usage(
            "the TUI needs a terminal (run `shoal broker` for a daemon without one)".into(),
        )
        .into());
    }
    let theme = theme(args.ascii);
    let security = security(&args).map_err(ConfigError::usage)?;
    if let Some(addr) = &args.attach {
        let passcode = match &args.password_file {
            Some(p) => Some(super::collective::read_secret(p).map_err(ConfigError::usage)?),
            None => std::env::var("STOMP_PASSWORD").ok(),
        };
        let (addr, tls) = crate::client::tls::parse_addr(addr);
        let tls = (tls || args.tls.given()).then(|| args.tls.over(None));
        if let Some(f) = &tls {
            // Read the files now: a wrong path is a usage error, not a retry loop in the TUI.
            crate::client::tls::ClientTls::load(f).map_err(ConfigError::usage)?;
        }
        let source = Source::Attached {
            addr: addr.to_string(),
            tls,
            login: args
                .user
                .clone()
                .or_else(|| std::env::var("STOMP_USER").ok()),
            passcode,
        };
        let app = App::new(keymap, &source.origin(), args.readonly);
        return crate::tui::runtime::run(app, source, theme, security).await;
    }
    // Host a broker in this process, as `shoal broker` would (same config, first run included).
    let config = super::broker::load_config(args.config.as_ref())?;
    let hosted = super::hosted::HostedBroker::start(&config).await?;
    let app = App::new(keymap, "embedded", args.readonly);
    let source = Source::Embedded(hosted.sources.clone());
    let result = crate::tui::runtime::run(app, source, theme, security).await;
    hosted
        .shutdown(Duration::from_secs(2), Duration::from_secs(3))
        .await;
    result
}

#[derive(Debug, Args)]
pub struct KeymapCheckArgs {
    /// Keymap files (or built-in names) to check.
    #[arg(required = true)]
    pub files: Vec<String>,
}

/// `shoal keymap check FILE…`: every problem of every file, exit 2 if any.
pub fn keymap_check(args: KeymapCheckArgs) -> anyhow::Result<()> {
    let mut bad = Vec::new();
    for f in &args.files {
        match Keymap::load(f) {
            Ok(k) => {
                let n: usize = k.contexts.values().map(Vec::len).sum();
                println!("{f}: ok ({n} bindings in {} contexts)", k.contexts.len());
            }
            Err(errors) => bad.extend(errors.iter().map(ToString::to_string)),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Usage(bad.join("\n")).into())
    }
}
