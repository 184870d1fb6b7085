//! MCollective security plugins: what authenticates a message body.
//!
//! MCollective's envelope carries the serialized payload (`:body`) and whatever the plugin adds
//! to prove who sent it. `psk` adds `:hash` = MD5(body + shared key): anyone holding the key may
//! send anything. The `ssl` plugin (RSA signatures with per-client keys deployed to the nodes of
//! a scope — the seed's key separation) fits the same trait: `seal` would add the signature and
//! the caller's certificate name, `verify` would check them against the deployed public keys.

use super::marshal::Value;
use md5::{Digest, Md5};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecurityError {
    #[error("invalid signature (the sender's pre-shared key differs from ours)")]
    BadSignature,
    #[error("message has no {0}")]
    Missing(&'static str),
}

/// A security plugin: seals outgoing envelopes and verifies incoming ones.
pub trait SecurityProvider: Send + Sync {
    /// Adds the plugin's fields (`:hash` …) for `body` to an envelope under construction.
    fn seal(&self, body: &[u8], envelope: &mut Vec<(Value, Value)>);
    /// Checks that `envelope` (whose `:body` is `body`) was sealed by a holder of the secret.
    fn verify(&self, body: &[u8], envelope: &Value) -> Result<(), SecurityError>;
}

/// Who the `callerid` names (`plugin.psk.callertype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerType {
    #[default]
    Uid,
    Gid,
    User,
    Identity,
}

impl CallerType {
    pub fn parse(s: &str) -> Option<CallerType> {
        Some(match s {
            "uid" => CallerType::Uid,
            "gid" => CallerType::Gid,
            "user" => CallerType::User,
            "identity" => CallerType::Identity,
            _ => return None,
        })
    }

    /// The caller id as MCollective writes it: `uid=1000`, `user=ops`, `identity=bastion`.
    pub fn caller_id(self, identity: &str) -> String {
        match self {
            CallerType::Uid => format!("uid={}", current_uid()),
            CallerType::Gid => format!("gid={}", current_gid()),
            CallerType::User => format!(
                "user={}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            ),
            CallerType::Identity => format!("identity={identity}"),
        }
    }
}

fn current_uid() -> u32 {
    proc_status_id("Uid:")
}

fn current_gid() -> u32 {
    proc_status_id("Gid:")
}

/// The real id from /proc/self/status (no libc dependency for two numbers).
fn proc_status_id(field: &str) -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The `psk` plugin: `:hash` = lowercase hex MD5 of the body bytes followed by the key.
pub struct Psk {
    key: String,
}

impl Psk {
    pub fn new(key: impl Into<String>) -> Psk {
        Psk { key: key.into() }
    }

    pub fn hash(&self, body: &[u8]) -> String {
        let mut h = Md5::new();
        h.update(body);
        h.update(self.key.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl SecurityProvider for Psk {
    fn seal(&self, body: &[u8], envelope: &mut Vec<(Value, Value)>) {
        envelope.push((Value::sym("hash"), Value::str(self.hash(body))));
    }

    fn verify(&self, body: &[u8], envelope: &Value) -> Result<(), SecurityError> {
        let got = envelope
            .get("hash")
            .and_then(Value::as_str)
            .ok_or(SecurityError::Missing(":hash"))?;
        if got == self.hash(body) {
            Ok(())
        } else {
            Err(SecurityError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_hash_matches_the_captured_vectors() {
        let psk = Psk::new("interop-psk");
        assert_eq!(
            psk.hash(b"\x04\x08I\"\tping\x06:\x06ET"),
            "a8c1d3260d9626991ecb6d2c04a56389"
        );
        assert_eq!(
            psk.hash(b"\x04\x08I\"\tpong\x06:\x06ET"),
            "6c6927c1d8b788966ca6a69de9afc62e"
        );
    }

    #[test]
    fn caller_ids_look_like_mcollectives() {
        assert_eq!(CallerType::Identity.caller_id("b1"), "identity=b1");
        assert!(CallerType::Uid.caller_id("x").starts_with("uid="));
        assert_eq!(CallerType::parse("gid"), Some(CallerType::Gid));
        assert_eq!(CallerType::parse("cert"), None);
    }
}
