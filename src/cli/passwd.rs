//! `shoal passwd`: read a password and print its argon2id hash, for `password_hash`.
//! From a terminal it asks twice without echo; from a pipe it reads one line, so scripts can
//! provision users (`echo "$PW" | shoal passwd`).

use crate::broker::auth::password::hash_password;
use clap::Args;
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Print a ready-to-paste [[user]] entry for this user name instead of the bare hash.
    #[arg(long)]
    pub user: Option<String>,
}

pub fn run(args: PasswdArgs) -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("password: ")?;
        let b = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(a == b, "the passwords differ");
        a
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    anyhow::ensure!(!password.is_empty(), "empty password");
    let hash = hash_password(&password)?;
    match args.user {
        Some(u) => println!("[[user]]\nname = \"{u}\"\npassword_hash = \"{hash}\"\ngroups = []"),
        None => println!("{hash}"),
    }
    Ok(())
}
