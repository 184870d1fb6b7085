//! MCollective security plugins: what authenticates a message body.
//!
//! MCollective's envelope carries the serialized payload (`:body`) and whatever the plugin adds
//! to prove who sent it. `psk` adds `:hash` = MD5(body + shared key): anyone holding the key may
//! send anything. `ssl` ([`ssl`]) signs with RSA keys: each client scope has its own key pair,
//! and a node answers only callers whose public key is deployed on it — the seed's key
//! separation. [`from_config`] picks the plugin a server.cfg / client.cfg names.

mod keys;
pub mod ssl;

use super::marshal::{self, MarshalError, Value};
use super::mco_config::McoConfig;
pub use keys::KeyError;
use md5::{Digest, Md5};
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SecurityError {
    #[error("invalid signature (the sender's pre-shared key differs from ours)")]
    BadSignature,
    #[error("message has no {0}")]
    Missing(&'static str),
    #[error("invalid signature: {caller} did not sign it with the key in {key}")]
    InvalidSignature { caller: String, key: PathBuf },
    #[error("callerid {0:?} is not cert=NAME (the ssl plugin's caller ids)")]
    CallerId(String),
    #[error("no public key for caller {name}: {path} does not exist")]
    UnknownCaller { name: String, path: PathBuf },
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("the envelope's {0} does not match the signed {0}: possible tampering")]
    Tampered(&'static str),
    #[error("the request has no signed {0} (an older security protocol; plugin.ssl.enforce_ttl = 0 accepts it)")]
    Unsigned(&'static str),
    #[error("signed body is not Ruby Marshal: {0}")]
    Body(#[from] MarshalError),
    #[error(":hash is not base64")]
    Base64,
}

/// A security plugin: seals outgoing envelopes and verifies incoming ones.
pub trait SecurityProvider: Send + Sync + std::fmt::Debug {
    /// Adds the plugin's fields (`:hash` …) for `body` to an envelope under construction.
    fn seal(&self, body: &[u8], envelope: &mut Vec<(Value, Value)>);
    /// Checks that `envelope` (whose `:body` is `body`) was sealed by a holder of the secret.
    fn verify(&self, body: &[u8], envelope: &Value) -> Result<(), SecurityError>;
    /// The `:body` of a request carrying `payload` (psk: the payload's Marshal bytes).
    fn request_body(&self, payload: &Value, _ttl: i64, _msgtime: i64) -> Vec<u8> {
        marshal::dump(payload)
    }
    /// A verified request `:body` opened: the payload, and the ttl and msgtime that count
    /// (psk: the envelope's, which nothing vouches for; ssl: the signed ones).
    fn open_request(
        &self,
        body: &[u8],
        ttl: i64,
        msgtime: i64,
    ) -> Result<(Value, i64, i64), SecurityError> {
        Ok((marshal::load(body)?, ttl, msgtime))
    }
    /// The `:callerid` this plugin sends, when the plugin decides it (ssl: `cert=NAME`).
    fn caller_id(&self) -> Option<String> {
        None
    }
}

/// Which end of a request the plugin serves: a client signs requests and checks replies, a
/// node checks requests and signs replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Node,
}

#[derive(Debug, Error)]
pub enum SecurityConfigError {
    #[error("securityprovider = {0}: shoal supports the psk and ssl plugins")]
    Unsupported(String),
    #[error("no pre-shared key: set plugin.psk in the config, $MCOLLECTIVE_PSK, or --psk-file")]
    NoPsk,
    #[error("securityprovider = ssl needs {0}")]
    Missing(&'static str),
    #[error("plugin.ssl_serializer = {0}: shoal's ssl plugin reads and writes marshal only")]
    Serializer(String),
    #[error("plugin.ssl_client_public {0}: its file name (without .pem) is the caller id and may hold only letters, digits, _, . and -")]
    CallerName(PathBuf),
    #[error("plugin.ssl_client_cert_dir {0} is not a directory")]
    CertDir(PathBuf),
    #[error("{0}")]
    Key(#[from] KeyError),
}

/// Keys given on the command line: they win over the config and the environment, and any
/// `ssl_*` one turns the ssl plugin on.
#[derive(Debug, Clone, Default)]
pub struct KeyFlags {
    pub psk: Option<String>,
    /// The key to sign with: the client's private key (ping), the server's (node).
    pub ssl_private: Option<PathBuf>,
    pub ssl_public: Option<PathBuf>,
    pub ssl_server_public: Option<PathBuf>,
    pub ssl_client_cert_dir: Option<PathBuf>,
}

impl KeyFlags {
    fn wants_ssl(&self) -> bool {
        self.ssl_private.is_some()
            || self.ssl_public.is_some()
            || self.ssl_server_public.is_some()
            || self.ssl_client_cert_dir.is_some()
    }
}

/// The plugin `cfg` names (`securityprovider`, default psk) for `role`, with `flags` over it.
pub fn from_config(
    cfg: &McoConfig,
    role: Role,
    flags: &KeyFlags,
) -> Result<Arc<dyn SecurityProvider>, SecurityConfigError> {
    let provider = match flags.wants_ssl() {
        true => "ssl",
        false => cfg.security_provider(),
    };
    match provider {
        "psk" => {
            let key = flags
                .psk
                .clone()
                .or_else(|| cfg.psk())
                .ok_or(SecurityConfigError::NoPsk)?;
            Ok(Arc::new(Psk::new(key)))
        }
        "ssl" => Ok(Arc::new(ssl::Ssl::from_config(cfg, role, flags)?)),
        other => Err(SecurityConfigError::Unsupported(other.to_string())),
    }
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

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(..)")
    }
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

/// An envelope's `:hash`, where both plugins put what proves the sender.
pub(crate) fn hash_of(envelope: &Value) -> Result<&str, SecurityError> {
    envelope
        .get("hash")
        .and_then(Value::as_str)
        .ok_or(SecurityError::Missing(":hash"))
}

impl SecurityProvider for Psk {
    fn seal(&self, body: &[u8], envelope: &mut Vec<(Value, Value)>) {
        envelope.push((Value::sym("hash"), Value::str(self.hash(body))));
    }

    fn verify(&self, body: &[u8], envelope: &Value) -> Result<(), SecurityError> {
        if hash_of(envelope)? == self.hash(body) {
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
