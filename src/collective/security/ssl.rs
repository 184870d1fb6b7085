//! MCollective's `ssl` security plugin, bit-compatible with 2.12's `security/ssl.rb`: the
//! seed's per-scope client keys.
//!
//! - A request's `:body` is `Marshal.dump({:ssl_msg => payload, :ssl_ttl => ttl,
//!   :ssl_msgtime => msgtime})`, so the ttl and send time are signed with the payload.
//! - `:hash` is the RSA PKCS#1 v1.5 signature of the SHA-1 of exactly the `:body` bytes, as
//!   Ruby's `Base64.encode64` writes it (60-character lines, each ending in LF).
//! - A client's `:callerid` is `cert=<file name of plugin.ssl_client_public without .pem>`; the
//!   client never reads that file, the nodes hold it: a node verifies with
//!   `<plugin.ssl_client_cert_dir>/<name>.pem` and refuses (logged, no reply) a caller whose
//!   key is not there or whose signature does not verify. So a qa client's public key deployed
//!   only on the qa nodes is answered by the qa nodes alone, whatever callerid it claims.
//! - The signed ttl and msgtime must equal the envelope's (a mismatch is tampering); with
//!   `plugin.ssl.enforce_ttl = 0` a mismatch or an unsigned ttl is only logged, as in Ruby.
//!   Unlike Ruby, a body without the signed ttl (pre-2.x clients) is refused unless
//!   `enforce_ttl = 0`: an unsigned ttl could be replayed forever.
//! - Replies are signed with `plugin.ssl_server_private` (every node holds the server pair) and
//!   checked by the client with `plugin.ssl_server_public`. `MCOLLECTIVE_SSL_PRIVATE` overrides
//!   the signing key and `MCOLLECTIVE_SSL_PUBLIC` the caller's public key file.
//!
//! The RSA and SHA-1 are well-kept crates — `rsa` (constant-time `crypto-bigint`) and `sha1`
//! to sign, ring to verify (keys.rs says why and what each costs); only the base64 line
//! layout is written here.

use super::keys::{load_private, load_public, VerifyKey};
use super::{KeyFlags, Role, SecurityConfigError, SecurityError, SecurityProvider};
use crate::collective::marshal::{self, Value};
use crate::collective::mco_config::McoConfig;
use base64::Engine;
use parking_lot::Mutex;
use rsa::PrivateKey;
use sha1::Sha1;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// One end of the `ssl` plugin: a key to sign with and the keys to check the other end with.
pub struct Ssl {
    signer: PrivateKey,
    signer_path: PathBuf,
    peers: Peers,
    caller_id: Option<String>,
    enforce_ttl: bool,
}

enum Peers {
    /// A client checks replies against the one server key.
    Server { key: Arc<VerifyKey>, path: PathBuf },
    /// A node checks requests against the caller's deployed public key.
    Callers(CallerKeys),
}

impl std::fmt::Debug for Ssl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peers = match &self.peers {
            Peers::Server { path, .. } => format!("server key {}", path.display()),
            Peers::Callers(c) => format!("caller keys in {}", c.dir.display()),
        };
        f.debug_struct("Ssl")
            .field("signer", &self.signer_path)
            .field("peers", &peers)
            .field("caller_id", &self.caller_id)
            .finish()
    }
}

/// The caller's `cert=NAME` for a public key file: its file name without `.pem`.
pub fn caller_id_for(public: &Path) -> Option<String> {
    let name = public.file_name()?.to_str()?;
    let name = name.strip_suffix(".pem").unwrap_or(name);
    valid_name(name).then(|| format!("cert={name}"))
}

/// `[\w.-]+`, the names `ssl.rb` accepts in a callerid (no `/`: a name stays in the key dir).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Ssl {
    /// A client: signs requests as `caller_public`'s name with `private`, checks replies with
    /// `server_public`.
    pub fn client(
        private: &Path,
        caller_public: &Path,
        server_public: &Path,
    ) -> Result<Ssl, SecurityConfigError> {
        let caller_id = caller_id_for(caller_public)
            .ok_or_else(|| SecurityConfigError::CallerName(caller_public.to_path_buf()))?;
        Ok(Ssl {
            signer: load_private(private)?,
            signer_path: private.to_path_buf(),
            peers: Peers::Server {
                key: Arc::new(VerifyKey::of(&load_public(server_public)?)),
                path: server_public.to_path_buf(),
            },
            caller_id: Some(caller_id),
            enforce_ttl: true,
        })
    }

    /// A node: checks requests against `<cert_dir>/<caller>.pem`, signs replies with `private`.
    pub fn node(private: &Path, cert_dir: &Path) -> Result<Ssl, SecurityConfigError> {
        if !cert_dir.is_dir() {
            return Err(SecurityConfigError::CertDir(cert_dir.to_path_buf()));
        }
        Ok(Ssl {
            signer: load_private(private)?,
            signer_path: private.to_path_buf(),
            peers: Peers::Callers(CallerKeys {
                dir: cert_dir.to_path_buf(),
                cache: Mutex::new(HashMap::new()),
            }),
            caller_id: None,
            enforce_ttl: true,
        })
    }

    /// `plugin.ssl.enforce_ttl = 0`: tampered or unsigned ttl/msgtime only logged.
    pub fn with_enforce_ttl(mut self, enforce: bool) -> Ssl {
        self.enforce_ttl = enforce;
        self
    }

    /// The keys a server.cfg (`Role::Node`) or client.cfg (`Role::Client`) names; a flag
    /// wins over the environment (`MCOLLECTIVE_SSL_PRIVATE`, `_PUBLIC`), which wins over the
    /// config.
    pub fn from_config(
        cfg: &McoConfig,
        role: Role,
        flags: &KeyFlags,
    ) -> Result<Ssl, SecurityConfigError> {
        if let Some(s) = cfg.get("plugin.ssl_serializer").filter(|s| *s != "marshal") {
            return Err(SecurityConfigError::Serializer(s.to_string()));
        }
        let path = |flag: &Option<PathBuf>, env: Option<&str>, key: &'static str| {
            flag.clone()
                .or_else(|| env.and_then(std::env::var_os).map(PathBuf::from))
                .or_else(|| cfg.get(key).map(PathBuf::from))
                .ok_or(SecurityConfigError::Missing(key))
        };
        let private = Some("MCOLLECTIVE_SSL_PRIVATE");
        let ssl = match role {
            Role::Client => Ssl::client(
                &path(&flags.ssl_private, private, "plugin.ssl_client_private")?,
                &path(
                    &flags.ssl_public,
                    Some("MCOLLECTIVE_SSL_PUBLIC"),
                    "plugin.ssl_client_public",
                )?,
                &path(&flags.ssl_server_public, None, "plugin.ssl_server_public")?,
            )?,
            Role::Node => Ssl::node(
                &path(&flags.ssl_private, private, "plugin.ssl_server_private")?,
                &path(
                    &flags.ssl_client_cert_dir,
                    None,
                    "plugin.ssl_client_cert_dir",
                )?,
            )?,
        };
        Ok(ssl.with_enforce_ttl(cfg.get("plugin.ssl.enforce_ttl") != Some("0")))
    }

    /// The signature of `body` as `Base64.encode64` writes it.
    fn sign(&self, body: &[u8]) -> String {
        // Keys are at least 1024 bits (keys.rs), so a SHA-1 DigestInfo always fits.
        let sig = match self.signer.pkcs1v15_sign::<Sha1>(body) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(key = %self.signer_path.display(), "cannot sign: {e}");
                Vec::new()
            }
        };
        encode64(&sig)
    }

    /// The ttl or msgtime a signed body vouches for, checked against the envelope's.
    fn signed(
        &self,
        body: &Value,
        key: &str,
        what: &'static str,
        envelope: i64,
    ) -> Result<i64, SecurityError> {
        match body.get(key).and_then(Value::as_int) {
            Some(v) if v == envelope => Ok(v),
            Some(v) if !self.enforce_ttl => {
                tracing::warn!("{}", SecurityError::Tampered(what));
                Ok(v)
            }
            Some(_) => Err(SecurityError::Tampered(what)),
            None if !self.enforce_ttl => {
                tracing::warn!("{}", SecurityError::Unsigned(what));
                Ok(envelope)
            }
            None => Err(SecurityError::Unsigned(what)),
        }
    }
}

/// Ruby's `Base64.encode64`: standard alphabet, a LF after every 60 characters and at the end.
pub fn encode64(bytes: &[u8]) -> String {
    let flat = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for line in flat.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Ruby's `SSL.base64_decode`: the alphabet and whitespace only.
fn decode64(text: &str) -> Result<Vec<u8>, SecurityError> {
    let flat: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(flat)
        .map_err(|_| SecurityError::Base64)
}

impl SecurityProvider for Ssl {
    fn seal(&self, body: &[u8], envelope: &mut Vec<(Value, Value)>) {
        envelope.push((Value::sym("hash"), Value::str(self.sign(body))));
    }

    fn verify(&self, body: &[u8], envelope: &Value) -> Result<(), SecurityError> {
        let sig = decode64(super::hash_of(envelope)?)?;
        // A reply names its node in :senderid; a request its caller in :callerid.
        let who = |k: &str| envelope.get(k).and_then(Value::as_str).unwrap_or("");
        let (key, path, caller) = match &self.peers {
            Peers::Server { key, path } => (key.clone(), path.clone(), who("senderid")),
            Peers::Callers(keys) => {
                let (key, path) = keys.get(who("callerid"))?;
                (key, path, who("callerid"))
            }
        };
        match key.verifies(body, &sig) {
            true => Ok(()),
            false => Err(SecurityError::InvalidSignature {
                caller: caller.to_string(),
                key: path,
            }),
        }
    }

    fn request_body(&self, payload: &Value, ttl: i64, msgtime: i64) -> Vec<u8> {
        marshal::dump(&Value::sym_hash([
            ("ssl_msg", payload.clone()),
            ("ssl_ttl", Value::Int(ttl)),
            ("ssl_msgtime", Value::Int(msgtime)),
        ]))
    }

    fn open_request(
        &self,
        body: &[u8],
        ttl: i64,
        msgtime: i64,
    ) -> Result<(Value, i64, i64), SecurityError> {
        let v = marshal::load(body)?;
        let Value::Hash(pairs) = &v else {
            if self.enforce_ttl {
                return Err(SecurityError::Unsigned("TTL"));
            }
            return Ok((v, ttl, msgtime));
        };
        let ttl = self.signed(&v, "ssl_ttl", "TTL", ttl)?;
        let msgtime = self.signed(&v, "ssl_msgtime", "Message Time", msgtime)?;
        let payload = match v.get("ssl_msg") {
            Some(p) => p.clone(),
            None => Value::Hash(
                pairs
                    .iter()
                    .filter(|(k, _)| !matches!(k, Value::Sym(s) if s == "ssl_ttl" || s == "ssl_msgtime"))
                    .cloned()
                    .collect(),
            ),
        };
        Ok((payload, ttl, msgtime))
    }

    fn caller_id(&self) -> Option<String> {
        self.caller_id.clone()
    }
}

/// The callers' public keys in `plugin.ssl_client_cert_dir`, read when first needed and again
/// when the file changes (a key removed from the directory is refused from the next request).
struct CallerKeys {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    stamp: (SystemTime, u64),
    key: Arc<VerifyKey>,
}

impl CallerKeys {
    fn get(&self, caller_id: &str) -> Result<(Arc<VerifyKey>, PathBuf), SecurityError> {
        let name = caller_id
            .strip_prefix("cert=")
            .filter(|n| valid_name(n))
            .ok_or_else(|| SecurityError::CallerId(caller_id.to_string()))?;
        let path = self.dir.join(format!("{name}.pem"));
        let Ok(meta) = std::fs::metadata(&path) else {
            self.cache.lock().remove(name);
            return Err(SecurityError::UnknownCaller {
                name: name.to_string(),
                path,
            });
        };
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if let Some(c) = self.cache.lock().get(name).filter(|c| c.stamp == stamp) {
            return Ok((c.key.clone(), path));
        }
        let key = Arc::new(VerifyKey::of(&load_public(&path)?));
        self.cache.lock().insert(
            name.to_string(),
            Cached {
                stamp,
                key: key.clone(),
            },
        );
        Ok((key, path))
    }
}

#[cfg(test)]
#[path = "ssl_tests.rs"]
mod tests;
