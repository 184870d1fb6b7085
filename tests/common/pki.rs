//! Certificates for TLS tests: a CA, a server certificate for 127.0.0.1/localhost, and a
//! client certificate, written as PEM files (keys 0600) and kept as DER for rustls clients.

use super::TempDir;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;

/// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate.
pub struct Pki {
    pub dir: TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_der: CertificateDer<'static>,
    pub client: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    pub client_pem: (PathBuf, PathBuf),
}

pub fn private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn pki(client_cn: &str) -> Pki {
    let dir = TempDir::new("pki");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "shoal test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = KeyPair::generate().unwrap();
    let srv = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&srv_key, &ca, &ca_key)
        .unwrap();
    let cli_key = KeyPair::generate().unwrap();
    let mut cli_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    cli_params
        .distinguished_name
        .push(DnType::CommonName, client_cn);
    let cli = cli_params.signed_by(&cli_key, &ca, &ca_key).unwrap();
    let ca_path = dir.write("ca.pem", &ca.pem());
    let cert = dir.write("server.pem", &srv.pem());
    let key = dir.path().join("server.key");
    private(&key, &srv_key.serialize_pem());
    let client_cert = dir.write("client.pem", &cli.pem());
    let client_key = dir.path().join("client.key");
    private(&client_key, &cli_key.serialize_pem());
    Pki {
        ca: ca_path,
        cert,
        key,
        ca_der: ca.der().clone(),
        client: (
            vec![cli.der().clone()],
            PrivateKeyDer::try_from(cli_key.serialize_der()).unwrap(),
        ),
        client_pem: (client_cert, client_key),
        dir,
    }
}
