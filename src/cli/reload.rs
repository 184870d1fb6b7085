//! `shoal reload`: asks a running broker to re-read its config file (as SIGHUP does) and
//! prints what changed, what waits for a restart, or why the new file was refused — over the
//! control queue (`shoal-action: reload`), so it works from a bastion with the admin's
//! credentials and needs no access to the broker's process.

use super::remote::BrokerFlags;
use crate::stats::ReloadReply;
use clap::Args;
use std::fmt::Write;

#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// Print the broker's answer as JSON: {"ok", "changes", "needs_restart", "error"}.
    #[arg(long)]
    pub json: bool,
}

/// What `shoal reload` prints.
pub fn describe(r: &ReloadReply) -> String {
    let mut s = String::new();
    match &r.error {
        Some(e) => {
            let _ = writeln!(s, "reload refused, nothing changed: {e}");
        }
        None if r.changes.is_empty() => s.push_str("reloaded: nothing changed\n"),
        None => {
            let _ = writeln!(s, "reloaded:");
            for c in &r.changes {
                let _ = writeln!(s, "  {c}");
            }
        }
    }
    for k in &r.needs_restart {
        let _ = writeln!(s, "not applied until the broker restarts: {k}");
    }
    s
}

/// Exit codes: 0 reloaded; 1 refused (the new config is invalid: nothing changed) or no
/// answer; 2 usage.
pub async fn run(args: ReloadArgs) -> anyhow::Result<()> {
    // A reload may hash plaintext passwords and restart bridges: give it more than a report.
    let wait = args
        .broker
        .timeout()
        .max(std::time::Duration::from_secs(10));
    let f = super::remote::ask_control(&args.broker, &[("shoal-action", "reload".into())], wait)
        .await?;
    let reply: ReloadReply = serde_json::from_slice(&f.body)?;
    let out = if args.json {
        serde_json::to_string_pretty(&reply)? + "\n"
    } else {
        describe(&reply)
    };
    super::shell::stdout(out.as_bytes())?;
    if reply.ok {
        Ok(())
    } else {
        Err(super::Exit(1).into())
    }
}
