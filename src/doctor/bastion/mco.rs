//! MCollective configs on the bastion: secrets not world-readable, private keys root:root 0600.

use super::{finding, not_checked, read, Bastion};
use crate::doctor::{Finding, Severity};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Keys whose value is a private key file.
const KEY_SETTINGS: [&str; 2] = ["plugin.ssl_client_private", "plugin.ssl_server_private"];

/// The configs to look at: /etc/mcollective's, every home's `~/.mcollective`, and those asked for.
fn configs(b: &Bastion) -> Vec<(PathBuf, bool)> {
    let mut v: Vec<(PathBuf, bool)> = ["etc/mcollective/client.cfg", "etc/mcollective/server.cfg"]
        .iter()
        .map(|p| (b.root.join(p), true))
        .collect();
    let mut homes = vec![b.root.join("root/.mcollective")];
    if let Ok(rd) = std::fs::read_dir(b.root.join("home")) {
        let mut h: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.path().join(".mcollective"))
            .collect();
        h.sort();
        homes.extend(h);
    }
    v.extend(homes.into_iter().filter(|p| p.exists()).map(|p| (p, true)));
    v.extend(b.mco_configs.iter().map(|p| (p.clone(), false)));
    v
}

pub fn check(b: &Bastion, out: &mut Vec<Finding>) {
    for (path, rooted) in configs(b) {
        let Some(text) = read(&path, "MCollective config", out) else {
            continue;
        };
        let lines: Vec<(usize, &str, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim_start().starts_with('#'))
            .filter_map(|(n, l)| l.split_once('=').map(|(k, v)| (n + 1, k.trim(), v.trim())))
            .collect();
        secrets(&path, &lines, out);
        for (n, k, v) in &lines {
            let tls_key = k.starts_with("plugin.") && k.ends_with(".ssl.key");
            if KEY_SETTINGS.contains(k) || tls_key {
                let key = if rooted {
                    b.file(Path::new(v))
                } else {
                    PathBuf::from(v)
                };
                private_key(&key, &format!("{}:{n} {k}", path.display()), out);
            }
        }
    }
}

/// A psk or a broker password in a file others may read.
fn secrets(path: &Path, lines: &[(usize, &str, &str)], out: &mut Vec<Finding>) {
    let secret = lines
        .iter()
        .find(|(_, k, _)| *k == "plugin.psk" || k.ends_with(".password"));
    let Some((n, k, _)) = secret else { return };
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.mode() & 0o777,
        Err(e) => return out.push(not_checked(path, "MCollective config", &e)),
    };
    if mode & 0o004 != 0 {
        out.push(finding(
            Severity::Error,
            format!(
                "{}:{n}: {k} in a world-readable file (mode {mode:o}): run chmod o-r {}",
                path.display(),
                path.display()
            ),
        ));
    } else {
        out.push(finding(
            Severity::Ok,
            format!(
                "{}: secrets not world-readable (mode {mode:o})",
                path.display()
            ),
        ));
    }
}

/// A private key: owned by root:root, mode 0600 or stricter.
fn private_key(key: &Path, from: &str, out: &mut Vec<Finding>) {
    let m = match std::fs::metadata(key) {
        Ok(m) => m,
        Err(e) => return out.push(not_checked(key, from, &e)),
    };
    let mode = m.mode() & 0o777;
    let mut fine = true;
    if mode & 0o077 != 0 {
        fine = false;
        out.push(finding(
            Severity::Error,
            format!(
                "{} ({from}) is mode {mode:o}, readable beyond its owner: run chmod 600 {}",
                key.display(),
                key.display()
            ),
        ));
    }
    if (m.uid(), m.gid()) != (0, 0) {
        fine = false;
        out.push(finding(
            Severity::Error,
            format!(
                "{} ({from}) is owned by {}:{}, not root:root (a key its user owns goes wherever that user goes): run chown root:root {}",
                key.display(),
                m.uid(),
                m.gid(),
                key.display()
            ),
        ));
    }
    if fine {
        out.push(finding(
            Severity::Ok,
            format!("{} ({from}): root:root, mode {mode:o}", key.display()),
        ));
    }
}
