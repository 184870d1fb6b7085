//! What a package or a shell setup needs from the binary itself: completions for bash, zsh,
//! fish, elvish and PowerShell (`clap_complete`) and man pages (`clap_mangen`), both generated
//! from the same clap definitions as `--help`, so they cannot drift from the commands.

use clap::{Args, CommandFactory};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write shoal.1 and one page per command (shoal-broker.1 …) into DIR instead of printing
    /// shoal.1 to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The completion script for `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = super::Cli::command();
    // Into a buffer first: clap_complete panics on a write error (`| head`), we report it.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "shoal", &mut script);
    stdout(&script)
}

/// `bytes` to stdout; a reader that went away (a closed pipe) is not an error.
pub(crate) fn stdout(bytes: &[u8]) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// shoal.1 on stdout, or every page into `--dir`.
pub fn man(args: ManArgs) -> anyhow::Result<()> {
    let cmd = super::Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            stdout(&page)?;
        }
    }
    Ok(())
}
