//! TLS for `stomp+ssl://` listeners and the cluster listener (clients: `client::tls`): rustls
//! with the `ring` provider, PEM certificate and key, optional client-certificate verification
//! against a CA whose verified subject CN maps to a user.
//!
//! The private key must not be readable by group or others (the seed's 0600 rule): a broker
//! that would serve with an exposed key refuses to start and says which file and mode.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Whether clients must present a certificate signed by `client_ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// Never asked for.
    #[default]
    None,
    /// Asked for; a client without one logs in with login/passcode instead.
    Optional,
    /// A connection without a valid client certificate fails the handshake.
    Required,
}

/// The `[tls]` table of the config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, server certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); must be mode 0600 or stricter.
    pub key: PathBuf,
    /// PEM CA certificates that sign client certificates.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: ClientAuth,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no {what} found in the PEM file")]
    Missing { path: PathBuf, what: &'static str },
    #[error(
        "private key {path} is readable by group or others (mode {mode:o}); run: chmod 600 {path}"
    )]
    KeyExposed { path: PathBuf, mode: u32 },
    #[error("client_auth = {0:?} needs client_ca")]
    NoClientCa(ClientAuth),
    #[error("TLS needs a CA file to verify the broker (--tls-ca, ssl.ca, or tls.ca)")]
    NoCa,
    #[error("{0}: a client certificate needs both cert and key")]
    Unpaired(PathBuf),
    #[error("TLS setup: {0}")]
    Rustls(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The certificates of a PEM file (at least one).
pub fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// Mode bits of a file beyond the owner's (0 when only the owner can read it).
pub fn exposed_mode(path: &Path) -> std::io::Result<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o077)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(0)
    }
}

/// The private key of a PEM file, refused when group or others may read it.
pub fn pem_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mode = exposed_mode(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if mode != 0 {
        #[cfg(unix)]
        let full = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(mode)
        };
        #[cfg(not(unix))]
        let full = mode;
        return Err(TlsError::KeyExposed {
            path: path.to_path_buf(),
            mode: full,
        });
    }
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .ok_or(TlsError::Missing {
            path: path.to_path_buf(),
            what: "private key",
        })
}

/// Builds the server side from the settings (reading and checking every file).
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match (s.client_auth, &s.client_ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (mode, None) => return Err(TlsError::NoClientCa(mode)),
        (mode, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for c in pem_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if mode == ClientAuth::Optional {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder
                .with_client_cert_verifier(v.build().map_err(|e| TlsError::Rustls(e.to_string()))?)
        }
    };
    let config = builder
        .with_single_cert(pem_certs(&s.cert)?, pem_private_key(&s.key)?)
        .map_err(|e| {
            TlsError::Rustls(format!("{} / {}: {e}", s.cert.display(), s.key.display()))
        })?;
    Ok(Arc::new(config))
}

/// The subject CN of a verified client certificate (the first in the chain).
/// A listener's TLS settings, replaceable while it runs: a reload puts renewed certificates
/// in place, and each new connection's handshake takes the current ones (connections already
/// up keep theirs).
pub type TlsSlot = Arc<arc_swap::ArcSwap<ServerConfig>>;

pub fn slot(config: Arc<ServerConfig>) -> TlsSlot {
    Arc::new(arc_swap::ArcSwap::new(config))
}

/// Puts reloaded settings in `slot` for the next handshakes; `false` when there is no slot
/// (no `stomp+ssl://` listener).
pub fn replace(slot: Option<&TlsSlot>, config: Arc<ServerConfig>) -> bool {
    slot.map(|s| s.store(config)).is_some()
}

/// The acceptor for the next handshake on a listener with `slot`.
pub fn acceptor(slot: &TlsSlot) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(slot.load_full())
}

pub fn peer_common_name(certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    let der = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}
