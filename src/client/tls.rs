//! TLS for every shoal client (ping, node, attach, bench, bridges): rustls with the `ring`
//! provider, a CA file to trust, an optional client certificate, and the name to verify.
//!
//! The material comes from flags (`--tls-ca` …), shoal's config (a bridge's `[tls]`) or
//! MCollective's `plugin.activemq.pool.N.ssl.*` keys. MCollective's `ssl.fallback = 1` (TLS
//! without verifying the broker, when no CA is given) is honoured only where it is asked for,
//! with a warning: it encrypts but lets anyone on the path pose as the broker.

use crate::broker::tls::{pem_certs, pem_private_key, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a client's TLS material is (paths, not yet read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM CA certificate(s) that sign the broker's certificate.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate and key, for brokers that ask for one (the key must be 0600).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name to verify in the broker's certificate (default: the host dialed).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Without a CA, connect without verifying the broker (MCollective's `ssl.fallback`).
    #[serde(default)]
    pub insecure_fallback: bool,
}

/// `--tls-*` flags, the same on every shoal client command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Speak TLS, trusting this PEM CA for the broker's certificate (also implied by a
    /// `stomp+ssl://HOST:PORT` address).
    #[arg(long, global = true, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) to present, for brokers that require one.
    #[arg(long, global = true, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, mode 0600).
    #[arg(long, global = true, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name to verify in the broker's certificate (default: the host connected to).
    #[arg(long, global = true)]
    pub tls_server_name: Option<String>,
}

impl TlsArgs {
    /// Whether any flag was given (they turn TLS on).
    pub fn given(&self) -> bool {
        self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_server_name.is_some()
    }

    /// `base` (e.g. from MCollective's pool keys) with what the flags set on top.
    pub fn over(&self, base: Option<TlsFiles>) -> TlsFiles {
        let mut f = base.unwrap_or_default();
        if let Some(ca) = &self.tls_ca {
            f.ca = Some(ca.clone());
        }
        if self.tls_cert.is_some() {
            f.cert = self.tls_cert.clone();
            f.key = self.tls_key.clone();
        }
        if self.tls_server_name.is_some() {
            f.server_name = self.tls_server_name.clone();
        }
        f
    }
}

/// A client address: `HOST:PORT` (also `tcp://`, `stomp://`) or `stomp+ssl://HOST:PORT`
/// (also `ssl://`); returns `HOST:PORT` and whether it asks for TLS.
pub fn parse_addr(s: &str) -> (&str, bool) {
    let (a, tls) = crate::stomp::scheme::split_scheme(s);
    (a.trim_end_matches('/'), tls)
}

/// A client TLS setup, read and checked: ready to wrap connections.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: Option<String>,
}

impl ClientTls {
    /// Reads the files (every problem named with its path).
    pub fn load(f: &TlsFiles) -> Result<ClientTls, TlsError> {
        let config = match (&f.ca, f.insecure_fallback) {
            (Some(ca), _) => client_config(ca, f.cert.as_deref(), f.key.as_deref())?,
            (None, true) => {
                tracing::warn!(
                    "TLS without a CA file (ssl.fallback): the broker's certificate is not verified"
                );
                unverified(f.cert.as_deref(), f.key.as_deref())?
            }
            (None, false) => return Err(TlsError::NoCa),
        };
        Ok(ClientTls {
            config,
            server_name: f.server_name.clone(),
        })
    }

    /// The name to verify for a connection to `host` (`[::1]` and `host:port` trimmed).
    pub fn name_for(&self, addr: &str) -> Result<ServerName<'static>, TlsError> {
        let host = match &self.server_name {
            Some(n) => n.clone(),
            None => host_of(addr).to_string(),
        };
        ServerName::try_from(host.clone())
            .map_err(|e| TlsError::Rustls(format!("server name {host:?}: {e}")))
    }
}

/// `host` of `host:port` / `[v6]:port`.
fn host_of(addr: &str) -> &str {
    let h = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    h.trim_start_matches('[').trim_end_matches(']')
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trust `ca`, and present a client certificate when one is given (its key must be private).
pub fn client_config(
    ca: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in pem_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
    }
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots);
    with_identity(b, cert, key)
}

fn unverified(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider())));
    with_identity(b, cert, key)
}

fn with_identity(
    b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = match (cert, key) {
        (Some(c), Some(k)) => b
            .with_client_auth_cert(pem_certs(c)?, pem_private_key(k)?)
            .map_err(|e| TlsError::Rustls(format!("{} / {}: {e}", c.display(), k.display())))?,
        (None, None) => b.with_no_client_auth(),
        (Some(c), None) | (None, Some(c)) => return Err(TlsError::Unpaired(c.to_path_buf())),
    };
    Ok(Arc::new(config))
}

/// `ssl.fallback`: any certificate is accepted; signatures are still checked, so the session
/// is encrypted to whoever answered.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_say_whether_they_want_tls() {
        assert_eq!(parse_addr("stomp+ssl://mq1:6164"), ("mq1:6164", true));
        assert_eq!(parse_addr("ssl://[::1]:6164/"), ("[::1]:6164", true));
        assert_eq!(parse_addr("tcp://mq1:6163"), ("mq1:6163", false));
        assert_eq!(parse_addr("127.0.0.1:6163"), ("127.0.0.1:6163", false));
    }

    #[test]
    fn a_client_without_a_ca_is_refused_unless_fallback_is_asked_for() {
        assert!(matches!(
            ClientTls::load(&TlsFiles::default()),
            Err(TlsError::NoCa)
        ));
        let t = ClientTls::load(&TlsFiles {
            insecure_fallback: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            t.name_for("[::1]:6163").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert!(matches!(
            ClientTls::load(&TlsFiles {
                insecure_fallback: true,
                cert: Some("/x.pem".into()),
                ..Default::default()
            }),
            Err(TlsError::Unpaired(_))
        ));
    }
}
