//! The individual checks. Each looks at one kind of risk and says what to do about it.

use super::{Finding, Severity};
use crate::broker::auth::acl::parse_acl_destination;
use crate::broker::tls::exposed_mode;
use crate::config::security::resolve;
use crate::config::Config;
use std::path::Path;

fn finding(severity: Severity, message: String) -> Finding {
    Finding { severity, message }
}

pub fn all(c: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    plaintext_passwords(c, &mut out);
    file_modes(c, &mut out);
    listeners(c, &mut out);
    collective_writers(c, &mut out);
    unusable_acls(c, &mut out);
    bridges(c, &mut out);
    store(c, &mut out);
    out
}

/// The message store: on, synced, private.
fn store(c: &Config, out: &mut Vec<Finding>) {
    let s = &c.store;
    if !s.enabled {
        out.push(finding(
            Severity::Warning,
            "[store] enabled = false: persistent messages are kept in memory only; a crash or restart loses them".into(),
        ));
        return;
    }
    if !s.fsync {
        out.push(finding(
            Severity::Warning,
            "[store] fsync = false: receipts go out before the disk has the message; a machine crash (not a broker crash) can lose receipted messages".into(),
        ));
    }
    let dir = match &s.dir {
        Some(d) => resolve(c.source.as_deref(), d),
        None => match crate::broker::store::StoreSettings::default_dir() {
            Some(d) => d,
            None => return,
        },
    };
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(&dir) {
        let mode = m.permissions().mode() & 0o077;
        if mode != 0 {
            out.push(finding(
                Severity::Error,
                format!(
                    "message store {} is open to group or others (mode bits {mode:03o}): messages are readable there; run: chmod 700 {}",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
    }
}

fn plaintext_passwords(c: &Config, out: &mut Vec<Finding>) {
    for u in &c.users {
        if u.password.is_some() {
            out.push(finding(
                Severity::Error,
                format!("user {}: plaintext password in the config; replace it with password_hash (`shoal passwd`)", u.name),
            ));
        }
    }
}

/// The mode check for one file: `what` names it in the message.
fn check_private(path: &Path, what: &str, severity: Severity, out: &mut Vec<Finding>) {
    match exposed_mode(path) {
        Ok(0) => out.push(finding(
            Severity::Ok,
            format!("{what} {} is private (0600 or stricter)", path.display()),
        )),
        Ok(m) => out.push(finding(
            severity,
            format!(
                "{what} {} is readable by group or others (mode bits {m:03o}); run: chmod 600 {}",
                path.display(),
                path.display()
            ),
        )),
        Err(e) => out.push(finding(
            Severity::Error,
            format!("{what} {}: {e}", path.display()),
        )),
    }
}

fn file_modes(c: &Config, out: &mut Vec<Finding>) {
    let src = c.source.as_deref();
    if let Some(p) = src {
        let sev = if c.users.is_empty() {
            Severity::Warning
        } else {
            Severity::Error
        };
        check_private(p, "config", sev, out);
        // The first run's secrets file sits next to the config.
        if let Some(secret) = p
            .parent()
            .map(|d| d.join("admin.password"))
            .filter(|s| s.exists())
        {
            check_private(&secret, "secrets file", Severity::Error, out);
        }
    }
    if let Some(t) = &c.tls {
        check_private(&resolve(src, &t.key), "private key", Severity::Error, out);
    }
    for u in &c.users {
        if let Some(f) = &u.password_file {
            check_private(
                &resolve(src, f),
                &format!("password_file of user {}", u.name),
                Severity::Error,
                out,
            );
        }
    }
}

fn listeners(c: &Config, out: &mut Vec<Finding>) {
    let exposed = super::firewall::exposed_ports(c);
    for (port, what) in &exposed {
        if *what == "stomp" {
            out.push(finding(
                Severity::Error,
                format!("port {port} listens beyond loopback without TLS: logins and fleet commands cross the network in clear; use stomp+ssl:// with [tls]"),
            ));
        }
    }
    if !exposed.is_empty() && c.auth.anonymous {
        out.push(finding(
            Severity::Error,
            "anonymous access is on and the broker listens beyond loopback: anyone who can connect can command the fleet".into(),
        ));
    }
    if c.users.is_empty() && !c.auth.anonymous {
        out.push(finding(
            Severity::Warning,
            "no [[user]]: nobody can log in".into(),
        ));
    }
    if exposed.is_empty() {
        out.push(finding(
            Severity::Ok,
            "every listener is on loopback".into(),
        ));
    }
}

/// Whether a user counts as an administrator: its name or one of its groups says so.
fn is_admin(name: &str, groups: &[String]) -> bool {
    name.contains("admin") || groups.iter().any(|g| g.contains("admin"))
}

fn collective_writers(c: &Config, out: &mut Vec<Finding>) {
    for a in &c.acls {
        let Ok(p) = parse_acl_destination(&a.destination) else {
            continue;
        };
        // `topic://>` or `topic://X.>`: every agent of a whole collective (or of all of them).
        let whole = !p.kind.is_queue()
            && (p.pattern == ">"
                || p.pattern.matches('.').count() == 1 && p.pattern.ends_with(".>"));
        if !whole {
            continue;
        }
        for u in &c.users {
            let writes = a.write.iter().any(|g| {
                g == "*" || u.groups.contains(g) || g.strip_prefix("user:") == Some(&u.name)
            });
            if writes && !is_admin(&u.name, &u.groups) {
                out.push(finding(
                    Severity::Warning,
                    format!("user {} is not an admin but may write to {}: it can send requests to every node of that collective", u.name, a.destination),
                ));
            }
        }
    }
}

fn unusable_acls(c: &Config, out: &mut Vec<Finding>) {
    for a in &c.acls {
        if let Err(e) = parse_acl_destination(&a.destination) {
            out.push(finding(
                Severity::Error,
                format!("acl {}: {e}", a.destination),
            ));
            continue;
        }
        let usable = |g: &String| {
            g == "*"
                || c.users
                    .iter()
                    .any(|u| u.groups.contains(g) || g.strip_prefix("user:") == Some(&u.name))
                || (c.auth.anonymous && c.auth.anonymous_groups.contains(g))
        };
        if !a.read.iter().chain(&a.write).chain(&a.admin).any(usable) {
            out.push(finding(
                Severity::Warning,
                format!("acl {}: no user is in any of its groups; it grants nothing (a typo in a group name?)", a.destination),
            ));
        }
    }
}

fn bridges(c: &Config, out: &mut Vec<Finding>) {
    if c.bridges.is_empty() && c.cluster.is_none() {
        out.push(finding(Severity::Ok, "no bridges configured".into()));
    }
    for b in &c.bridges {
        if b.password.is_some() {
            out.push(finding(
                Severity::Error,
                format!(
                    "bridge {}: plaintext password in the config; use password_file (mode 0600)",
                    b.name
                ),
            ));
        }
        if let Some(f) = &b.password_file {
            check_private(
                &resolve(c.source.as_deref(), f),
                &format!("password_file of bridge {}", b.name),
                Severity::Error,
                out,
            );
        }
        let has_cert = b.tls.as_ref().is_some_and(|t| t.cert.is_some());
        if b.user.is_none() && !has_cert {
            out.push(finding(
                Severity::Warning,
                format!("bridge {} has no authentication (no user, no client certificate): the peer must accept anonymous bridges", b.name),
            ));
        }
        let cleartext = crate::bridge::config::parse_uri(&b.uri)
            .unwrap_or_default()
            .iter()
            .any(|p| !p.tls && !super::firewall::is_loopback(&format!("{}:{}", p.host, p.port)));
        if cleartext {
            out.push(finding(
                Severity::Warning,
                format!(
                    "bridge {} crosses the network without TLS ({}): use ssl:// with [bridge.tls]",
                    b.name, b.uri
                ),
            ));
        }
    }
    if let Some(cl) = &c.cluster {
        for l in &cl.listen {
            if let Ok((addr, false)) = crate::broker::server::parse_listen(l) {
                if !super::firewall::is_loopback(&addr) {
                    out.push(finding(
                        Severity::Error,
                        format!("cluster port {addr} listens beyond loopback without TLS: bridge credentials and all forwarded traffic cross in clear"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(text: &str) -> Vec<(Severity, String)> {
        let c = Config::parse(text, Path::new("t.toml")).unwrap();
        all(&c)
            .into_iter()
            .map(|f| (f.severity, f.message))
            .collect()
    }

    fn has(found: &[(Severity, String)], sev: Severity, needle: &str) -> bool {
        found.iter().any(|(s, m)| *s == sev && m.contains(needle))
    }

    #[test]
    fn each_problem_is_flagged() {
        let f = msgs(
            r#"listen = ["0.0.0.0:6163"]
[auth]
anonymous = true
[[user]]
name = "qanode"
password = "plain"
groups = ["qa"]
[[acl]]
destination = "topic://qacollective.>"
write = ["qa"]
[[acl]]
destination = "queue://x.>"
read = ["typo"]
"#,
        );
        assert!(
            has(&f, Severity::Error, "user qanode: plaintext password"),
            "{f:?}"
        );
        assert!(
            has(
                &f,
                Severity::Error,
                "port 6163 listens beyond loopback without TLS"
            ),
            "{f:?}"
        );
        assert!(has(&f, Severity::Error, "anonymous access is on"), "{f:?}");
        assert!(
            has(
                &f,
                Severity::Warning,
                "user qanode is not an admin but may write to topic://qacollective.>"
            ),
            "{f:?}"
        );
        assert!(
            has(
                &f,
                Severity::Warning,
                "acl queue://x.>: no user is in any of its groups"
            ),
            "{f:?}"
        );
    }
}
