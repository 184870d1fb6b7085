//! The first run: with no config anywhere, shoal writes one — loopback only, one `admin` user
//! with a random password, hashed in the config and in plain text in a 0600 secrets file next
//! to it — and says where. Secure by default, yet usable at once.

use super::ConfigError;
use crate::broker::auth::password::{hash_password, random_password};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the first run put things.
#[derive(Debug)]
pub struct FirstRun {
    pub config: PathBuf,
    pub secrets: PathBuf,
}

/// Creates `config_path` (and its folder, mode 0700) plus `admin.password` beside it. Never
/// overwrites: if either exists, this is not a first run and it fails.
pub fn create(config_path: &Path) -> Result<FirstRun, ConfigError> {
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Write { path, source }
    };
    create_private_dir(dir).map_err(write_err(dir))?;
    let password = random_password();
    let hash = hash_password(&password).map_err(|e| ConfigError::Invalid {
        path: config_path.to_path_buf(),
        message: e.to_string(),
    })?;
    let secrets = dir.join("admin.password");
    let text = format!(
        "# Written by shoal on its first run. Edit freely; `shoal doctor` checks it.\n\
         # Clients listen on loopback only; add addresses (and [tls]) to serve a network.\n\
         listen = [\"{}\"]\n\n\
         # The admin's password is in {} (mode 0600).\n\
         # More users: `shoal passwd` prints a hash for password_hash.\n\
         [[user]]\n\
         name = \"admin\"\n\
         password_hash = \"{hash}\"\n\
         groups = [\"admins\"]\n",
        super::DEFAULT_LISTEN,
        secrets.display()
    );
    write_private(&secrets, &format!("{password}\n")).map_err(write_err(&secrets))?;
    write_private(config_path, &text).map_err(write_err(config_path))?;
    Ok(FirstRun {
        config: config_path.to_path_buf(),
        secrets,
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Writes a new file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(text.as_bytes())
}
