//! What a reload of the config file can change in a running broker, and what it cannot.
//!
//! `plan` validates the whole new file as a start would (users, ACLs, TLS files, listeners,
//! bridges, metrics) — an invalid file changes nothing — and splits the differences:
//! - **in place**: `[[user]]`, `[[acl]]`, `[auth] anonymous`/`anonymous_groups`, `[broker]`
//!   (not `name`), `[limits]` (each read when it is next needed: frame and outbox limits by
//!   connections made after the reload, queue and memory limits at the next SEND),
//!   `[delivery]`, `[[bridge]]`, `[cluster] users`, and the `[tls]` certificate, key and
//!   client CA of the `stomp+ssl://` client and cluster listeners — re-read from their files
//!   at every reload, so a renewed certificate is served to the next handshakes;
//! - **at the next restart** (reported by key, not applied): `listen`, `[tls]` added or
//!   removed, `[store]`, `[cluster] listen`, `[metrics]` (its HTTPS keeps the certificate it
//!   started with), `[broker] name`, `[auth] throttle_*`, `[limits] listen_backlog` (the
//!   listeners are bound once).

use super::{Config, ConfigError};
use crate::bridge::BridgeSetup;
use crate::broker::reload::Reload;
use serde::Serialize;
use std::collections::BTreeMap;

/// A validated reload: what to put in place and what it changes.
pub struct Plan {
    pub reload: Reload,
    pub bridges: BridgeSetup,
    /// The client listeners' TLS settings, read from the files now.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// What the `[tls]` files hold (cert, key, client CA, client_auth): a change is reported.
    pub tls_fingerprint: Option<String>,
    /// What changes in place, one line each (for the log and `shoal reload`).
    pub changes: Vec<String>,
    /// Keys that differ but take effect only at a restart.
    pub needs_restart: Vec<String>,
}

fn value<T: Serialize>(v: &T) -> toml::Value {
    toml::Value::try_from(v).unwrap_or(toml::Value::String(String::new()))
}

fn differs<T: Serialize>(a: &T, b: &T) -> bool {
    value(a) != value(b)
}

/// Validates `new` and compares it with `old`, the config the broker runs on.
pub fn plan(old: &Config, new: &Config) -> Result<Plan, ConfigError> {
    // Everything a start would check, so a file that could not start a broker is refused;
    // its users and ACL are the ones put in place (plaintext passwords hashed once).
    let setup = new.setup()?;
    let tls = setup.listeners.iter().find_map(|l| l.tls.clone());
    new.metrics_setup()?;
    let bridges = new.bridge_setup()?;
    let mut needs_restart = Vec::new();
    let mut restart_if = |changed: bool, key: &str| {
        if changed {
            needs_restart.push(key.to_string());
        }
    };
    restart_if(new.listen_addrs() != old.listen_addrs(), "listen");
    restart_if(new.tls.is_some() != old.tls.is_some(), "[tls]");
    restart_if(differs(&new.store, &old.store), "[store]");
    restart_if(
        differs(
            &new.cluster.as_ref().map(|c| &c.listen),
            &old.cluster.as_ref().map(|c| &c.listen),
        ),
        "[cluster] listen",
    );
    restart_if(differs(&new.metrics, &old.metrics), "[metrics]");
    restart_if(new.broker.name != old.broker.name, "[broker] name");
    restart_if(
        (
            new.auth.throttle_base_ms,
            new.auth.throttle_max_ms,
            new.auth.throttle_forget_secs,
        ) != (
            old.auth.throttle_base_ms,
            old.auth.throttle_max_ms,
            old.auth.throttle_forget_secs,
        ),
        "[auth] throttle_base_ms/throttle_max_ms/throttle_forget_secs",
    );
    restart_if(
        new.limits.listen_backlog != old.limits.listen_backlog,
        "[limits] listen_backlog",
    );
    Ok(Plan {
        changes: describe(old, new),
        needs_restart,
        reload: Reload {
            directory: setup.security.auth.directory(),
            acl: (**setup.security.acl()).clone(),
            settings: new.broker.clone(),
            limits: new.limits.clone(),
            policy: new.delivery.clone(),
            rules_changed: differs(&old.users, &new.users)
                || differs(&old.acls, &new.acls)
                || differs(&old.auth, &new.auth),
        },
        bridges,
        tls,
        tls_fingerprint: tls_fingerprint(new),
    })
}

/// A digest of what `[tls]` names (the files' contents, not their paths), to tell a renewed
/// certificate from an unchanged one.
pub fn tls_fingerprint(c: &Config) -> Option<String> {
    let t = c.tls.as_ref()?;
    let src = c.source.as_deref();
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    for p in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
        .into_iter()
        .flatten()
    {
        d.update(&std::fs::read(super::security::resolve(src, p)).unwrap_or_default());
        d.update(b"\0");
    }
    d.update(format!("{:?}", t.client_auth).as_bytes());
    Some(
        d.finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The in-place differences, one line each.
fn describe(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let by_name = |c: &Config| -> BTreeMap<String, toml::Value> {
        c.users.iter().map(|u| (u.name.clone(), value(u))).collect()
    };
    let (was, now) = (by_name(old), by_name(new));
    for (name, v) in &now {
        match was.get(name) {
            None => out.push(format!("user {name} added")),
            Some(w) if w != v => out.push(format!("user {name} changed")),
            Some(_) => {}
        }
    }
    for name in was.keys().filter(|n| !now.contains_key(*n)) {
        out.push(format!("user {name} removed"));
    }
    if differs(&old.acls, &new.acls) {
        out.push(format!(
            "[[acl]]: {} entries (were {})",
            new.acls.len(),
            old.acls.len()
        ));
    }
    let auth = |c: &Config| (c.auth.anonymous, c.auth.anonymous_groups.clone());
    if auth(old) != auth(new) {
        out.push(format!(
            "[auth] anonymous = {} (groups {:?})",
            new.auth.anonymous, new.auth.anonymous_groups
        ));
    }
    let mut broker = new.broker.clone();
    broker.name = old.broker.name.clone();
    for (changed, key) in [
        (differs(&old.broker, &broker), "[broker]"),
        (differs(&old.limits, &new.limits), "[limits]"),
        (differs(&old.delivery, &new.delivery), "[delivery]"),
        (
            differs(
                &old.cluster.as_ref().map(|c| &c.users),
                &new.cluster.as_ref().map(|c| &c.users),
            ),
            "[cluster] users",
        ),
    ] {
        if changed {
            out.push(format!("{key} changed"));
        }
    }
    out
}
