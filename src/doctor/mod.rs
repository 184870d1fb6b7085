//! `shoal doctor`: reads a config and reports what would make the broker unsafe, with a
//! severity each, then prints firewall rules for exactly the ports the config uses.
//! Errors make the exit code 1, so the doctor can gate a deployment pipeline.

mod checks;
mod firewall;

use crate::config::Config;
use clap::Args;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Config file to check. Default: the platform config dir's shoal/broker.toml.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Leave out the iptables rules.
    #[arg(long)]
    pub no_firewall: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Ok => "ok     ",
            Severity::Warning => "WARN   ",
            Severity::Error => "ERROR  ",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

/// Every finding for `config`, errors first.
pub fn examine(config: &Config) -> Vec<Finding> {
    let mut f = checks::all(config);
    f.sort_by_key(|x| std::cmp::Reverse(x.severity));
    f
}

pub fn run(args: DoctorArgs) -> anyhow::Result<bool> {
    let path = match args.config {
        Some(p) => p,
        None => Config::default_path()
            .ok_or_else(|| anyhow::anyhow!("no default config path; pass --config"))?,
    };
    let config = Config::load(&path)?;
    println!("shoal doctor: {}", path.display());
    let findings = examine(&config);
    for x in &findings {
        println!("{}{}", x.severity, x.message);
    }
    let errors = findings
        .iter()
        .filter(|x| x.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|x| x.severity == Severity::Warning)
        .count();
    println!("{errors} error(s), {warnings} warning(s)");
    if !args.no_firewall {
        println!();
        print!("{}", firewall::iptables(&config));
    }
    Ok(errors == 0)
}
