//! `shoal doctor`: reads a config and reports what would make the broker unsafe, with a
//! severity each, then prints firewall rules for exactly the ports the config uses.
//! Errors make the exit code 1, so the doctor can gate a deployment pipeline.

mod bastion;
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
    /// Check this machine as the bastion that holds MCollective client keys instead of a
    /// broker config: key owners and modes, configs with secrets, sshd, sudoers.
    #[arg(long)]
    pub bastion: bool,
    /// With --bastion: read /etc and the homes under DIR (a mounted image) instead of /.
    #[arg(long, value_name = "DIR", default_value = "/", requires = "bastion")]
    pub root: PathBuf,
    /// With --bastion: another client.cfg / server.cfg to check; repeatable.
    #[arg(long = "mco-config", value_name = "FILE", requires = "bastion")]
    pub mco_configs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Could not be checked (a file absent or unreadable); said, never passed silently.
    Skipped,
    Ok,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Skipped => "skip   ",
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
    if args.bastion {
        let b = bastion::Bastion {
            root: args.root,
            mco_configs: args.mco_configs,
        };
        println!("shoal doctor --bastion: {}", b.root.display());
        return Ok(report(&b.examine()));
    }
    let path = match args.config {
        Some(p) => p,
        None => Config::default_path()
            .ok_or_else(|| anyhow::anyhow!("no default config path; pass --config"))?,
    };
    let config = Config::load(&path)?;
    println!("shoal doctor: {}", path.display());
    let ok = report(&examine(&config));
    if !args.no_firewall {
        println!();
        print!("{}", firewall::iptables(&config));
    }
    Ok(ok)
}

/// Prints the findings and a count; true when there is no error.
fn report(findings: &[Finding]) -> bool {
    for x in findings {
        println!("{}{}", x.severity, x.message);
    }
    let count = |s: Severity| findings.iter().filter(|x| x.severity == s).count();
    let (errors, warnings, skipped) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Skipped),
    );
    println!("{errors} error(s), {warnings} warning(s), {skipped} not checked");
    errors == 0
}
