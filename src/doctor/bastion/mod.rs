//! `shoal doctor --bastion`: the seed's checklist for the machine the operators' MCollective
//! client keys live on, read from this machine's files (or a tree under `--root`): the client
//! and server keys (root:root, 0600), the configs holding a psk or passwords (not
//! world-readable), sshd (`PermitRootLogin`, `AllowUsers`/`AllowGroups`) and sudoers (who may
//! run `su`, `mco` or anything as root). Each finding names the file and line and the fix.
//!
//! Read-only. What it cannot read (a file absent, or readable only by root when not run as
//! root) is listed as not checked, never silently passed.

mod mco;
mod sshd;
mod sudoers;

use super::{Finding, Severity};
use std::path::{Path, PathBuf};

/// Where to look: `/` on the bastion itself, or a mounted image / fixture tree.
#[derive(Debug, Clone)]
pub struct Bastion {
    pub root: PathBuf,
    /// Extra client.cfg / server.cfg files to check, besides the usual places.
    pub mco_configs: Vec<PathBuf>,
}

impl Bastion {
    /// `path` (absolute, as written in a config) under the root.
    pub fn file(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// Every finding, errors first.
    pub fn examine(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        mco::check(self, &mut out);
        sshd::check(self, &mut out);
        sudoers::check(self, &mut out);
        out.sort_by_key(|x| std::cmp::Reverse(x.severity));
        out
    }
}

/// The files of `dir` whose names `keep` accepts, sorted (sshd's and sudo's include order).
pub(crate) fn list(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

pub(crate) fn finding(severity: Severity, message: String) -> Finding {
    Finding { severity, message }
}

/// A file's text, or the finding that says why it was not checked (`what` names its role).
pub(crate) fn read(path: &Path, what: &str, out: &mut Vec<Finding>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            out.push(not_checked(path, what, &e));
            None
        }
    }
}

pub(crate) fn not_checked(path: &Path, what: &str, e: &std::io::Error) -> Finding {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "absent".to_string(),
        std::io::ErrorKind::PermissionDenied => "not readable (run the doctor as root)".to_string(),
        _ => e.to_string(),
    };
    finding(
        Severity::Skipped,
        format!("{} ({what}): {why}; not checked", path.display()),
    )
}
