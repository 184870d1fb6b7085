//! sshd on the bastion: root does not log in directly, and only named users or groups do.
//!
//! Read as sshd reads it: keywords are case-insensitive, the first value of a keyword wins,
//! `Include` is read where it stands (relative paths under /etc/ssh, `*` globs), and the global
//! section ends at the first `Match`.

use super::{finding, read, Bastion};
use crate::doctor::{Finding, Severity};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a keyword was first set: (value, file, line).
type Seen = HashMap<String, (String, PathBuf, usize)>;

pub fn check(b: &Bastion, out: &mut Vec<Finding>) {
    let main = b.root.join("etc/ssh/sshd_config");
    let Some(text) = read(&main, "sshd config", out) else {
        return;
    };
    let mut seen = Seen::new();
    walk(b, &main, &text, &mut seen, out, 0);
    let at = |p: &Path, n: usize| format!("{}:{n}", p.display());
    match seen.get("permitrootlogin") {
        Some((v, p, n)) if v.eq_ignore_ascii_case("yes") => out.push(finding(
            Severity::Error,
            format!(
                "{}: PermitRootLogin yes: root may log in over SSH, with a password too; write PermitRootLogin no (or prohibit-password)",
                at(p, *n)
            ),
        )),
        Some((v, p, n)) => out.push(finding(
            Severity::Ok,
            format!("{}: PermitRootLogin {v}", at(p, *n)),
        )),
        None => out.push(finding(
            Severity::Warning,
            format!(
                "{}: PermitRootLogin not set (OpenSSH 7.0+ defaults to prohibit-password, older ones to yes): write PermitRootLogin no",
                main.display()
            ),
        )),
    }
    let allow: Vec<String> = ["allowusers", "allowgroups"]
        .iter()
        .filter_map(|k| {
            seen.get(*k)
                .map(|(v, p, n)| format!("{}: {k} {v}", at(p, *n)))
        })
        .collect();
    if allow.is_empty() {
        out.push(finding(
            Severity::Warning,
            format!(
                "{}: neither AllowUsers nor AllowGroups: every account on the bastion may log in over SSH; add e.g. AllowGroups mcoadmins",
                main.display()
            ),
        ));
    } else {
        out.push(finding(Severity::Ok, allow.join("; ")));
    }
}

/// Reads `text` (the file `path`) into `seen`; false once a `Match` ends the global section.
fn walk(
    b: &Bastion,
    path: &Path,
    text: &str,
    seen: &mut Seen,
    out: &mut Vec<Finding>,
    depth: usize,
) -> bool {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(|c: char| c.is_whitespace() || c == '=')
            .map(|(k, v)| {
                (
                    k,
                    v.trim_start_matches(|c: char| c.is_whitespace() || c == '='),
                )
            })
            .unwrap_or((line, ""));
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "match" => return false,
            "include" if depth < 8 => {
                for pattern in value.split_whitespace() {
                    for file in expand(b, pattern) {
                        if let Some(t) = read(&file, "sshd config include", out) {
                            if !walk(b, &file, &t, seen, out, depth + 1) {
                                return false;
                            }
                        }
                    }
                }
            }
            _ => {
                seen.entry(key)
                    .or_insert_with(|| (value.trim().to_string(), path.to_path_buf(), n + 1));
            }
        }
    }
    true
}

/// An `Include` pattern's files in order: relative to /etc/ssh, `*` in the file name.
fn expand(b: &Bastion, pattern: &str) -> Vec<PathBuf> {
    let full = if pattern.starts_with('/') {
        b.file(Path::new(pattern))
    } else {
        b.root.join("etc/ssh").join(pattern)
    };
    let name = full.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((pre, post)) = name.split_once('*') else {
        return vec![full];
    };
    let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
    super::list(&dir, |n| {
        n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post)
    })
}
