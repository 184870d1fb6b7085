//! The security part of the config: `[auth]`, `[[user]]`, `[[acl]]`, and how they become the
//! engine's `Security` (passwords resolved to hashes, ACL patterns parsed).

use super::ConfigError;
use crate::broker::auth::acl::parse_acl_destination;
use crate::broker::auth::password::{check_hash, hash_password};
use crate::broker::auth::throttle::ThrottleSettings;
use crate::broker::auth::{
    Acl, AclEntry, Authenticator, Directory, Principal, Security, UserRecord,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[auth]`: anonymous access and login throttling.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Let clients without credentials in (as `anonymous`, in `anonymous_groups`). Off: nobody
    /// gets in unless configured.
    pub anonymous: bool,
    pub anonymous_groups: Vec<String>,
    /// Delay before answering a CONNECT from an address after its first failed login; doubles
    /// with each further failure, up to `throttle_max_ms`; forgotten after `throttle_forget_secs`.
    pub throttle_base_ms: u64,
    pub throttle_max_ms: u64,
    pub throttle_forget_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            anonymous: false,
            anonymous_groups: vec!["anonymous".into()],
            throttle_base_ms: 200,
            throttle_max_ms: 10_000,
            throttle_forget_secs: 900,
        }
    }
}

/// One `[[user]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// argon2 hash as printed by `shoal passwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// A file holding the hash (or, discouraged, the password); keep it mode 0600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Plaintext password: accepted (hashed at start-up) but warned about; `shoal doctor`
    /// reports it as an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Subject CN of a client certificate (verified against `[tls] client_ca`) that logs in as
    /// this user without a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_cn: Option<String>,
}

/// One `[[acl]]`: a destination pattern and the groups allowed each right.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// `topic://mcollective.>`, `queue://prodcollective.>`, `temp-queue://>`, or `/topic/…`.
    pub destination: String,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    #[serde(default)]
    pub admin: Vec<String>,
}

/// Resolves a path from the config relative to the config file's folder.
pub fn resolve(base: Option<&Path>, p: &Path) -> PathBuf {
    match base.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

fn invalid(path: Option<&Path>, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.map(Path::to_path_buf).unwrap_or_default(),
        message,
    }
}

/// What a user's password setting resolves to.
fn user_hash(u: &UserConfig, source: Option<&Path>) -> Result<Option<String>, ConfigError> {
    let set = [
        u.password_hash.is_some(),
        u.password_file.is_some(),
        u.password.is_some(),
    ];
    if set.iter().filter(|x| **x).count() > 1 {
        return Err(invalid(
            source,
            format!(
                "user {}: use only one of password_hash, password_file, password",
                u.name
            ),
        ));
    }
    if let Some(h) = &u.password_hash {
        check_hash(h).map_err(|e| invalid(source, format!("user {}: {e}", u.name)))?;
        return Ok(Some(h.clone()));
    }
    if let Some(f) = &u.password_file {
        let f = resolve(source, f);
        let text = std::fs::read_to_string(&f).map_err(|e| {
            invalid(
                source,
                format!(
                    "user {}: cannot read password_file {}: {e}",
                    u.name,
                    f.display()
                ),
            )
        })?;
        if crate::broker::tls::exposed_mode(&f).unwrap_or(0) != 0 {
            tracing::warn!(
                "password_file {} of user {} is readable by group or others: chmod 600 it",
                f.display(),
                u.name
            );
        }
        let text = text.trim();
        if text.starts_with("$argon2") {
            check_hash(text)
                .map_err(|e| invalid(source, format!("user {}: {}: {e}", u.name, f.display())))?;
            return Ok(Some(text.to_string()));
        }
        return hash_password(text)
            .map(Some)
            .map_err(|e| invalid(source, e.to_string()));
    }
    if let Some(p) = &u.password {
        tracing::warn!("user {} has a plaintext password in the config: replace it with password_hash (shoal passwd)", u.name);
        return hash_password(p)
            .map(Some)
            .map_err(|e| invalid(source, e.to_string()));
    }
    if u.certificate_cn.is_none() {
        return Err(invalid(source, format!("user {} has no password_hash, password_file, password or certificate_cn: it could never log in", u.name)));
    }
    Ok(None)
}

pub fn build_security(
    auth: &AuthSettings,
    users: &[UserConfig],
    acls: &[AclConfig],
    source: Option<&Path>,
) -> Result<Security, ConfigError> {
    let mut records = Vec::with_capacity(users.len());
    for u in users {
        if u.name.is_empty() {
            return Err(invalid(source, "a [[user]] has an empty name".into()));
        }
        if records.iter().any(|r: &UserRecord| r.name == u.name) {
            return Err(invalid(source, format!("user {} is defined twice", u.name)));
        }
        records.push(UserRecord {
            name: u.name.clone(),
            password_hash: user_hash(u, source)?,
            groups: u.groups.clone(),
            certificate_cn: u.certificate_cn.clone(),
        });
    }
    let mut entries = Vec::with_capacity(acls.len());
    for (i, a) in acls.iter().enumerate() {
        let pattern = parse_acl_destination(&a.destination).map_err(|e| {
            invalid(
                source,
                format!("acl entry {} ({}): {e}", i + 1, a.destination),
            )
        })?;
        entries.push(AclEntry {
            pattern,
            read: a.read.clone(),
            write: a.write.clone(),
            admin: a.admin.clone(),
        });
    }
    let anonymous = auth.anonymous.then(|| Principal {
        user: "anonymous".into(),
        groups: auth.anonymous_groups.clone(),
    });
    let throttle = ThrottleSettings {
        base: Duration::from_millis(auth.throttle_base_ms),
        max: Duration::from_millis(auth.throttle_max_ms.max(auth.throttle_base_ms)),
        forget_after: Duration::from_secs(auth.throttle_forget_secs),
    };
    Ok(Security::new(
        Authenticator::with_directory(Directory::new(records, anonymous), throttle),
        Acl::new(entries),
    ))
}
