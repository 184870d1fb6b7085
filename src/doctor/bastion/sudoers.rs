//! sudoers on the bastion: who may become root (`su`, `ALL`) or run `mco` with any arguments —
//! either way they hold every scope's client key, whatever the file modes say.
//!
//! A reader of the common forms, not a second sudo: user specs `WHO HOSTS = (RUNAS) TAGS:
//! CMND, …`, `Cmnd_Alias` / `Runas_Alias` (expanded), line continuations, `#include`,
//! `@include`, `#includedir` and `@includedir` (files with `.` or ending in `~` skipped, as
//! sudo does). Findings are warnings: a sysadmin group may be meant to be root; the doctor says
//! who can, and where.

use super::{finding, read, Bastion};
use crate::doctor::{Finding, Severity};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TAGS: [&str; 12] = [
    "NOPASSWD",
    "PASSWD",
    "SETENV",
    "NOSETENV",
    "EXEC",
    "NOEXEC",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "MAIL",
    "NOMAIL",
];

#[derive(Default)]
struct Sudoers {
    cmnd_alias: HashMap<String, Vec<String>>,
    runas_alias: HashMap<String, Vec<String>>,
    rules: Vec<Rule>,
}

/// One user spec as written, with where it stands.
struct Rule {
    path: PathBuf,
    line: usize,
    who: String,
    runas: Option<String>,
    cmnds: Vec<String>,
}

pub fn check(b: &Bastion, out: &mut Vec<Finding>) {
    let main = b.root.join("etc/sudoers");
    let mut s = Sudoers::default();
    let Some(text) = read(&main, "sudoers", out) else {
        return;
    };
    s.read(b, &main, &text, out, 0);
    let before = out.len();
    for Rule {
        path,
        line,
        who,
        runas,
        cmnds,
    } in &s.rules
    {
        if who.split(',').all(|w| w.trim() == "root") || !s.runs_as_root(runas.as_deref()) {
            continue;
        }
        let at = format!("{}:{line}", path.display());
        for c in cmnds.iter().flat_map(|c| s.expand(c)) {
            if let Some(why) = broad(&c) {
                out.push(finding(
                    Severity::Warning,
                    format!("{at}: {who} may run {why}"),
                ));
            }
        }
    }
    if out.len() == before {
        out.push(finding(
            Severity::Ok,
            format!(
                "{}: no rule lets a user run su, mco or ALL as root broadly",
                main.display()
            ),
        ));
    }
}

/// Why a command (alias-expanded) is broad, or `None`.
fn broad(cmnd: &str) -> Option<String> {
    let mut words = cmnd.split_whitespace();
    let program = words.next()?;
    let args: Vec<&str> = words.collect();
    let name = program.rsplit('/').next().unwrap_or(program);
    if program == "ALL" {
        return Some("any command as root (su and mco included): every scope's client key is theirs; grant only the commands their scope needs".into());
    }
    if name == "su" {
        let users: Vec<&&str> = args.iter().filter(|a| !a.starts_with('-')).collect();
        if users.is_empty() || users.iter().any(|u| **u == "root" || u.contains('*')) {
            return Some(format!(
                "`{cmnd}` as root: a root shell holds every scope's client key; name the target user (su - qaadmin) or grant mco per scope instead"
            ));
        }
    }
    if name == "mco" && (args.is_empty() || args.iter().any(|a| a.contains('*'))) {
        return Some(format!(
            "`{cmnd}` as root with any arguments: root's client key, any collective, any agent; limit it to the scope's commands (e.g. {program} ping -T qacollective) or a wrapper per scope"
        ));
    }
    None
}

impl Sudoers {
    fn read(&mut self, b: &Bastion, path: &Path, text: &str, out: &mut Vec<Finding>, depth: usize) {
        for (n, line) in logical_lines(text) {
            let line = line.trim();
            let include = ["#includedir", "@includedir", "#include", "@include"]
                .iter()
                .find(|p| line.starts_with(**p) && line[p.len()..].starts_with(' '));
            if let Some(kind) = include {
                if depth < 8 {
                    self.include(
                        b,
                        kind.ends_with("dir"),
                        line[kind.len()..].trim(),
                        out,
                        depth,
                    );
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') || line.starts_with("Defaults") {
                continue;
            }
            for (kind, map) in [
                ("Cmnd_Alias", &mut self.cmnd_alias),
                ("Runas_Alias", &mut self.runas_alias),
            ] {
                if let Some(defs) = line.strip_prefix(kind) {
                    for def in defs.split(':') {
                        if let Some((name, list)) = def.split_once('=') {
                            map.insert(name.trim().to_string(), split_list(list));
                        }
                    }
                }
            }
            if line.contains("_Alias") {
                continue;
            }
            if let Some((who, runas, cmnds)) = user_spec(line) {
                self.rules.push(Rule {
                    path: path.to_path_buf(),
                    line: n,
                    who,
                    runas,
                    cmnds,
                });
            }
        }
    }

    fn include(
        &mut self,
        b: &Bastion,
        dir: bool,
        target: &str,
        out: &mut Vec<Finding>,
        depth: usize,
    ) {
        let target = b.file(Path::new(target.trim_matches('"')));
        let files = if dir {
            super::list(&target, |n| !n.contains('.') && !n.ends_with('~'))
        } else {
            vec![target]
        };
        for f in files {
            if let Some(t) = read(&f, "sudoers include", out) {
                self.read(b, &f, &t, out, depth + 1);
            }
        }
    }

    /// Whether a rule's runas list lets it act as root (no list means root).
    fn runs_as_root(&self, runas: Option<&str>) -> bool {
        let Some(r) = runas else { return true };
        let users = r.split(':').next().unwrap_or("");
        if users.trim().is_empty() {
            return true;
        }
        split_list(users).iter().any(|u| {
            u == "ALL"
                || u == "root"
                || u == "#0"
                || self
                    .runas_alias
                    .get(u)
                    .is_some_and(|l| l.iter().any(|x| x == "ALL" || x == "root"))
        })
    }

    /// A command with its `Cmnd_Alias` expanded (one level deep per alias, at most 8).
    fn expand(&self, cmnd: &str) -> Vec<String> {
        fn go(s: &Sudoers, c: &str, depth: usize, out: &mut Vec<String>) {
            match s.cmnd_alias.get(c) {
                Some(list) if depth < 8 => list.iter().for_each(|x| go(s, x, depth + 1, out)),
                _ => out.push(c.to_string()),
            }
        }
        let mut out = Vec::new();
        go(self, cmnd, 0, &mut out);
        out.retain(|c| !c.starts_with('!'));
        out
    }
}

/// Lines with `\` continuations joined, each with its first line's number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let (body, cont) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        match out.last_mut() {
            Some((_, l)) if open => {
                l.push(' ');
                l.push_str(body.trim());
            }
            _ => out.push((i + 1, body.to_string())),
        }
        open = cont;
    }
    out
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// `WHO HOSTS = (RUNAS) TAGS: CMND, …` → (who, runas, commands without their tags).
fn user_spec(line: &str) -> Option<(String, Option<String>, Vec<String>)> {
    let (left, right) = line.split_once('=')?;
    let left: Vec<&str> = left.split_whitespace().collect();
    if left.len() < 2 {
        return None;
    }
    let who = left[..left.len() - 1].join(" ");
    let mut rest = right.trim();
    let mut runas = None;
    if let Some(r) = rest.strip_prefix('(') {
        let (inside, after) = r.split_once(')')?;
        runas = Some(inside.trim().to_string());
        rest = after.trim();
    }
    let cmnds = rest
        .split(',')
        .map(|c| {
            // A command may carry its own (RUNAS) before its tags.
            let c = c.trim();
            let c = match c.strip_prefix('(').and_then(|r| r.split_once(')')) {
                Some((_, after)) => after.trim(),
                None => c,
            };
            strip_tags(c).to_string()
        })
        .filter(|c| !c.is_empty())
        .collect();
    Some((who, runas, cmnds))
}

fn strip_tags(mut c: &str) -> &str {
    loop {
        let Some((tag, after)) = c.split_once(':') else {
            return c;
        };
        if !TAGS.contains(&tag.trim()) {
            return c;
        }
        c = after.trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_specs_read_with_runas_tags_and_continuations() {
        let (who, runas, c) = user_spec("SYSADM   ALL=(ALL) NOPASSWD: SU").unwrap();
        assert_eq!(
            (who.as_str(), runas.as_deref(), c),
            ("SYSADM", Some("ALL"), vec!["SU".to_string()])
        );
        let (_, runas, c) =
            user_spec("%qa ALL = (qaadmin) /usr/bin/mco ping, NOPASSWD: /usr/bin/mco rpc").unwrap();
        assert_eq!(runas.as_deref(), Some("qaadmin"));
        assert_eq!(c, ["/usr/bin/mco ping", "/usr/bin/mco rpc"]);
        let l = logical_lines("a \\\n  b\nc\n");
        assert_eq!(l, [(1, "a  b".to_string()), (3, "c".to_string())]);
    }

    #[test]
    fn broad_commands_are_named() {
        assert!(broad("ALL").is_some());
        assert!(broad("/bin/su").is_some());
        assert!(broad("/bin/su - root").is_some());
        assert!(broad("/bin/su - qaadmin").is_none());
        assert!(broad("/usr/bin/mco").is_some());
        assert!(broad("/usr/bin/mco *").is_some());
        assert!(broad("/usr/bin/mco ping -T qacollective").is_none());
        assert!(broad("/usr/bin/apt-get update").is_none());
    }
}
