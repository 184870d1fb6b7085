//! Command-line interface: argument parsing; each command's run loop lives in its own file.

pub mod broker;
pub mod check;
pub mod collective;
pub mod connections;
pub mod demo;
pub mod hosted;
pub mod passwd;
pub mod pubsub;
pub mod reload;
pub mod remote;
pub mod shell;
pub mod status;
pub mod tui;

use clap::{Parser, Subcommand};

pub use broker::{run_broker, BrokerArgs};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The activemq.xml to convert.
    pub file: std::path::PathBuf,
    /// Write the TOML here (mode 0600: it holds password hashes) instead of to stdout.
    #[arg(long, short)]
    pub out: Option<std::path::PathBuf>,
}

/// `shoal import-activemq`: the TOML to stdout or `--out`, the not-mapped list to stderr.
pub fn import_activemq(args: ImportArgs) -> anyhow::Result<()> {
    let xml =
        std::fs::read_to_string(&args.file).map_err(|source| crate::config::ConfigError::Read {
            path: args.file.clone(),
            source,
        })?;
    let invalid = |message| crate::config::ConfigError::Invalid {
        path: args.file.clone(),
        message,
    };
    let resolved = crate::import::placeholders::resolve(&xml, Some(&args.file)).map_err(invalid)?;
    let mut out = crate::import::activemq::convert(&resolved.xml).map_err(invalid)?;
    for name in &resolved.unresolved {
        out.not_mapped.push(format!(
            "placeholder ${{{name}}}: not resolved (not a property of the file's PropertyPlaceholderConfigurer); copied as written"
        ));
    }
    match &args.out {
        Some(p) => crate::config::first_run::write_private(p, &out.toml).map_err(|source| {
            crate::config::ConfigError::Write {
                path: p.clone(),
                source,
            }
        })?,
        None => print!("{}", out.toml),
    }
    for m in &out.not_mapped {
        eprintln!("not mapped: {m}");
    }
    Ok(())
}

#[derive(Debug, Parser)]
#[command(
    name = "shoal",
    version,
    about = "STOMP broker, network of brokers and MCollective tools for ops"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// With no command: the TUI's options (`shoal --keymap vim`, `shoal --attach HOST:PORT`…).
    #[command(flatten)]
    pub tui: tui::TuiArgs,
    /// Log lines as text or as one JSON object per line (for journald/Loki/Elasticsearch).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Ends the process with this exit code, nothing more printed (the command printed its
/// verdict already): `shoal check`'s WARNING, CRITICAL and UNKNOWN.
#[derive(Debug, thiserror::Error)]
#[error("exit code {0}")]
pub struct Exit(pub u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a broker daemon (logs to stderr; SIGINT/SIGTERM shut it down gracefully).
    #[command(
        after_help = "Logging: RUST_LOG=debug (or info, warn, shoal::broker=trace …).\n\
Exit codes: 0 stopped by SIGINT/SIGTERM; 1 failed at run time (e.g. cannot listen);\n\
2 bad config or arguments (nothing was started)."
    )]
    Broker(BrokerArgs),
    /// Read a password (terminal without echo, or stdin) and print its argon2id hash for a
    /// [[user]]'s password_hash.
    Passwd(passwd::PasswdArgs),
    /// Check a config for security problems (plaintext passwords, exposed keys and secrets,
    /// open listeners, over-broad ACLs…) and print matching iptables rules.
    #[command(
        after_help = "Exit codes: 0 no errors (warnings allowed); 1 errors found; 2 unreadable config."
    )]
    Doctor(crate::doctor::DoctorArgs),
    /// Convert an ActiveMQ activemq.xml (connectors, network connectors, users, ACLs) into
    /// shoal's TOML; prints what it could not map.
    ImportActivemq(ImportArgs),
    /// Run an MCollective node (or --simulate N of them) answering discovery and rpcutil,
    /// from a server.cfg and/or flags.
    Node(collective::NodeArgs),
    /// Ping a collective like `mco ping`, and list the known members that did not answer.
    #[command(
        after_help = "Exit codes: 0 ping sent (even with no replies); 1 broker unreachable or refused us; 2 bad flags or config."
    )]
    Ping(collective::PingArgs),
    /// The bastion TUI (what `shoal` alone runs): on a broker hosted in this process, or
    /// --attach to a running one.
    Tui(tui::TuiArgs),
    /// Three bridged brokers and a simulated fleet in one process, with the TUI on one of them.
    Demo(demo::DemoArgs),
    /// Keymap tools.
    #[command(subcommand)]
    Keymap(KeymapCommand),
    /// Measure a STOMP broker (shoal, ActiveMQ, RabbitMQ) with shoal's load generator.
    Bench(crate::bench::BenchArgs),
    /// Send a message (waits for the broker's receipt): `shoal pub /queue/jobs 'hello'`.
    Pub(pubsub::PubArgs),
    /// Print messages as they arrive: `shoal sub /topic/mcollective.> --decode -n 10`.
    Sub(pubsub::SubArgs),
    /// The broker at a glance: bridges, busiest destinations, collectives (--json for scripts).
    Status(status::StatusArgs),
    /// Every connection with its traffic, backlog and drops (who floods, who is slow).
    Connections(connections::ConnectionsArgs),
    /// Make a running broker re-read its config file (as SIGHUP does): users, ACLs, limits and
    /// bridges change in place; connections that are still allowed stay.
    #[command(
        after_help = "Exit codes: 0 reloaded; 1 the new config was refused (nothing changed) or no answer; 2 bad flags."
    )]
    Reload(reload::ReloadArgs),
    /// A monitoring plugin (Nagios/Icinga exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    Check(check::CheckArgs),
    /// Print a shell completion script (e.g. `shoal completions bash > /etc/bash_completion.d/shoal`).
    Completions(shell::CompletionsArgs),
    /// Print the man page (or write every command's page with --dir).
    Man(shell::ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeymapCommand {
    /// Check keymap files: every problem with file, line and key; exit 2 if any.
    Check(tui::KeymapCheckArgs),
}
