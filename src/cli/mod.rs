//! Command-line interface: argument parsing; each command's run loop lives in its own file.

pub mod broker;
pub mod passwd;

use clap::{Parser, Subcommand};

pub use broker::{run_broker, BrokerArgs};

#[derive(Debug, Parser)]
#[command(
    name = "shoal",
    version,
    about = "STOMP broker, network of brokers and MCollective tools for ops"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// Measure a STOMP broker (shoal, ActiveMQ, RabbitMQ) with shoal's load generator.
    Bench(crate::bench::BenchArgs),
}
