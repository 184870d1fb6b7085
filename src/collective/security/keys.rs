//! RSA keys for the `ssl` plugin, read as MCollective reads them (`ssl.rb` `read_key`): a
//! private key in PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`), a public key as a PEM
//! public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) or an X.509 certificate.
//!
//! A private key that group or others may read is refused, as MCollective's docs ask of client
//! keys (0600, root's own): a key an unprivileged user can copy is a scope anyone can use.
//! Passphrase-protected keys are not supported and say so.
//!
//! Keys are read with the `rsa` crate, which also signs (ring cannot sign with SHA-1);
//! signatures are verified with ring, already shoal's TLS provider: verifying is the hot path
//! (a client checks every node's reply) and ring does it in 34 µs where `rsa` 0.10 takes
//! 97–110 µs (2048-bit, release build, this 2-core machine; OpenSSL: 31 µs). Signing with `rsa`
//! takes 3.8–4.2 ms (OpenSSL: 0.43 ms): one per request on a client, one per reply on a node.

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use rustls_pemfile::Item;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Keys smaller than this are refused (and a PKCS#1 v1.5 SHA-1 signature cannot fail above it).
const MIN_BITS: usize = 1024;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read key {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "private key {path} is readable by group or others (mode {mode:o}); run: chmod 600 {path}"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{path}: passphrase-protected keys are not supported (MCollective's ssl plugin cannot use them either)")]
    Encrypted { path: PathBuf },
    #[error("{path}: no RSA {what} in the file ({detail})")]
    NotRsa {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{path}: a {bits}-bit key is too small (at least {MIN_BITS})")]
    TooSmall { path: PathBuf, bits: usize },
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn not_rsa(path: &Path, what: &'static str, detail: impl ToString) -> KeyError {
    KeyError::NotRsa {
        path: path.to_path_buf(),
        what,
        detail: detail.to_string(),
    }
}

fn big_enough(path: &Path, bytes: usize) -> Result<(), KeyError> {
    if bytes * 8 < MIN_BITS {
        return Err(KeyError::TooSmall {
            path: path.to_path_buf(),
            bits: bytes * 8,
        });
    }
    Ok(())
}

/// A private RSA key, refused when exposed or protected by a passphrase.
pub fn load_private(path: &Path) -> Result<PrivateKey, KeyError> {
    let mode = crate::broker::tls::exposed_mode(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if mode != 0 {
        return Err(KeyError::Exposed {
            path: path.to_path_buf(),
            mode: full_mode(path).unwrap_or(mode),
        });
    }
    let pem = read(path)?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("ENCRYPTED") {
        return Err(KeyError::Encrypted {
            path: path.to_path_buf(),
        });
    }
    let key = pem_items(&pem)
        .into_iter()
        .find_map(|item| match item {
            Item::Pkcs1Key(k) => {
                Some(PrivateKey::from_pkcs1_der(k.secret_pkcs1_der()).map_err(|e| e.to_string()))
            }
            Item::Pkcs8Key(k) => {
                Some(PrivateKey::from_pkcs8_der(k.secret_pkcs8_der()).map_err(|e| e.to_string()))
            }
            _ => None,
        })
        .ok_or_else(|| not_rsa(path, "private key", "no PEM private key"))?
        .map_err(|e| not_rsa(path, "private key", e))?;
    big_enough(path, key.size())?;
    Ok(key)
}

/// A public RSA key from a PEM public key or the first X.509 certificate in the file.
pub fn load_public(path: &Path) -> Result<PublicKey, KeyError> {
    let pem = read(path)?;
    let key = match pem_items(&pem).into_iter().find_map(|item| match item {
        Item::X509Certificate(c) => Some(
            x509_parser::parse_x509_certificate(c.as_ref())
                .map_err(|e| e.to_string())
                .and_then(|(_, cert)| {
                    PublicKey::from_public_key_der(cert.public_key().raw).map_err(|e| e.to_string())
                }),
        ),
        Item::SubjectPublicKeyInfo(k) => {
            Some(PublicKey::from_public_key_der(k.as_ref()).map_err(|e| e.to_string()))
        }
        _ => None,
    }) {
        Some(k) => k,
        // `RSA PUBLIC KEY` (PKCS#1, `openssl rsa -RSAPublicKey_out`) is not a PEM item the
        // PEM reader knows.
        None => PublicKey::from_pkcs1_pem(String::from_utf8_lossy(&pem).trim())
            .map_err(|_| "no PEM public key or certificate".to_string()),
    }
    .map_err(|e| not_rsa(path, "public key", e))?;
    big_enough(path, key.size())?;
    Ok(key)
}

/// A public key ready to verify PKCS#1 v1.5 SHA-1 signatures (with ring).
pub struct VerifyKey {
    n: Box<[u8]>,
    e: Box<[u8]>,
}

impl VerifyKey {
    pub fn of(key: &PublicKey) -> VerifyKey {
        VerifyKey {
            n: key.n_bytes(),
            e: key.e_bytes(),
        }
    }

    /// Whether `sig` is `msg`'s signature by this key.
    pub fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        ring::signature::RsaPublicKeyComponents {
            n: &self.n[..],
            e: &self.e[..],
        }
        .verify(
            &ring::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            msg,
            sig,
        )
        .is_ok()
    }
}

fn pem_items(pem: &[u8]) -> Vec<Item> {
    rustls_pemfile::read_all(&mut &pem[..])
        .filter_map(Result::ok)
        .collect()
}

fn full_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
