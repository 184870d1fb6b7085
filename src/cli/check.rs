//! `shoal check`: a monitoring plugin in the Nagios/Icinga convention (and `nats server
//! check`'s): one status line with performance data after `|`, and the exit code says how
//! bad it is — 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no report: cannot connect, refused,
//! bad flags). It reads the broker's stats report (see `remote`), so it needs the rights of
//! `shoal tui --attach`.
//!
//! Checked: every bridge connected (a paused one is a WARNING, any other state CRITICAL),
//! the message store writing, queue depths against `--depth-warn`/`--depth-crit`, collectives
//! against `--collective NAME:MIN` (CRITICAL below MIN members).

use super::remote::{fetch_report, BrokerFlags};
use crate::bridge::status::BridgeState;
use crate::stats::StatsReport;
use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// WARNING when a queue holds more than N messages.
    #[arg(long, value_name = "N")]
    pub depth_warn: Option<usize>,
    /// CRITICAL when a queue holds more than N messages.
    #[arg(long, value_name = "N")]
    pub depth_crit: Option<usize>,
    /// CRITICAL when collective NAME has fewer than MIN members (repeatable), e.g.
    /// --collective mcollective:950.
    #[arg(long = "collective", value_name = "NAME:MIN")]
    pub collectives: Vec<String>,
    /// Do not look at the bridges.
    #[arg(long)]
    pub no_bridges: bool,
}

/// How bad, in the plugin convention's order (the exit code is the discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
            Level::Unknown => "UNKNOWN",
        }
    }
}

/// The verdict: the worst level, what caused it, and the performance data.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    pub level: Level,
    pub problems: Vec<(Level, String)>,
    pub perf: Vec<(String, String)>,
}

impl Verdict {
    /// The plugin's output line.
    pub fn line(&self) -> String {
        let what = if self.problems.is_empty() {
            "all checks passed".to_string()
        } else {
            let mut p = self.problems.clone();
            p.sort_by_key(|b| std::cmp::Reverse(b.0));
            p.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join("; ")
        };
        let perf: Vec<String> = self.perf.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("SHOAL {} - {what} | {}", self.level.name(), perf.join(" "))
    }
}

/// `NAME:MIN` pairs.
fn parse_minimums(specs: &[String]) -> Result<Vec<(String, usize)>, String> {
    specs
        .iter()
        .map(|s| {
            let (name, min) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("--collective {s:?}: expected NAME:MIN"))?;
            let min = min
                .parse()
                .map_err(|_| format!("--collective {s:?}: MIN must be a number"))?;
            Ok((name.to_string(), min))
        })
        .collect()
}

/// Judges `r` against the thresholds.
pub fn judge(r: &StatsReport, args: &CheckArgs, minimums: &[(String, usize)]) -> Verdict {
    let mut problems = Vec::new();
    if !args.no_bridges {
        for b in &r.bridges {
            match (&b.state, b.paused) {
                (BridgeState::Connected, false) => {}
                (BridgeState::Connected, true) => {
                    problems.push((Level::Warning, format!("bridge {} paused", b.name)))
                }
                (s, _) => problems.push((
                    Level::Critical,
                    format!(
                        "bridge {} {}{}",
                        b.name,
                        s.label(),
                        b.last_error
                            .as_ref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ),
                )),
            }
        }
    }
    if let Some(e) = r.broker.store.as_ref().and_then(|s| s.error.as_ref()) {
        problems.push((Level::Critical, format!("message store failing: {e}")));
    }
    let deepest = r
        .destinations
        .iter()
        .filter(|d| d.is_queue)
        .max_by_key(|d| d.pending);
    if let Some(d) = deepest {
        let over = |limit: Option<usize>| limit.is_some_and(|l| d.pending > l);
        let level = if over(args.depth_crit) {
            Some((Level::Critical, args.depth_crit))
        } else if over(args.depth_warn) {
            Some((Level::Warning, args.depth_warn))
        } else {
            None
        };
        if let Some((level, Some(limit))) = level {
            problems.push((
                level,
                format!("{} holds {} messages (> {limit})", d.destination, d.pending),
            ));
        }
    }
    let mut perf = vec![
        ("connections".to_string(), r.broker.connections.to_string()),
        (
            "queued_bytes".to_string(),
            format!("{}B", r.broker.queued_bytes),
        ),
        (
            "deepest_queue".to_string(),
            format!(
                "{};{};{}",
                deepest.map_or(0, |d| d.pending),
                args.depth_warn.map(|n| n.to_string()).unwrap_or_default(),
                args.depth_crit.map(|n| n.to_string()).unwrap_or_default()
            ),
        ),
    ];
    for (name, min) in minimums {
        let members = r.collectives.get(name).map_or(0, |c| c.members);
        if members < *min {
            problems.push((
                Level::Critical,
                format!("collective {name} has {members} members (< {min})"),
            ));
        }
        perf.push((format!("members_{name}"), format!("{members};;{min}:")));
    }
    Verdict {
        level: problems.iter().map(|p| p.0).max().unwrap_or(Level::Ok),
        problems,
        perf,
    }
}

/// Prints the line and ends with the verdict's exit code.
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let unknown = |e: String| {
        println!("SHOAL UNKNOWN - {e}");
        super::Exit(Level::Unknown as u8)
    };
    let minimums = parse_minimums(&args.collectives).map_err(unknown)?;
    let (addr, opts) = args.broker.options().map_err(|e| unknown(e.to_string()))?;
    let report = fetch_report(&args.broker, &opts, &addr)
        .await
        .map_err(|e| unknown(e.to_string()))?;
    let v = judge(&report, &args, &minimums);
    println!("{}", v.line());
    match v.level {
        Level::Ok => Ok(()),
        l => Err(super::Exit(l as u8).into()),
    }
}
