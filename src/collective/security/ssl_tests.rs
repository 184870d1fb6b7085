use super::*;
use crate::collective::security::KeyError;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ssl");
/// The signature Ruby's OpenSSL made of RUBY_BODY with ops-private.pem.
const RUBY_HASH: &str = "dgQ2QeJVIB+BTBxDgd4GBm5Vmy4870/kOUALrpOkzjoZIntUqw9/TdXhnO5N\n\
pUJDC4l6yP9LHQ0lhTXIfSlLS+iemlThvLqMxiOCNNvKueqVxX+Xqj2i7FnI\n\
1iEurq5NbVpFAIYXgg9Kgl5DugjQBHEs/rUwIGv8BpsIy8N7x9IDwd0cMjEH\n\
XxlwJFwFhRsgPCictQeT3wKpTuzQRQL6hbRL/hbaOtp0fslZ1Q7Rpm+2LCTS\n\
yCwsn7u55rli2F1AM5znvPOf3aTOwOWPkOIB8pZWTzpiUCtMrrthamZFTkSu\n\
u46VpnxP7+E7Vsnb42DoOTu/+dlEmzlILmbfnuVLXA==\n";
const MSGTIME: i64 = 1764633600;

/// A directory of its own under the system temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "shoal-ssl-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    /// A fixture copied in with `mode`.
    fn copy(&self, fixture: &str, as_name: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let to = self.0.join(as_name);
        std::fs::copy(Path::new(FIXTURES).join(fixture), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
        to
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn ops_client(d: &Dir) -> Ssl {
    let key = d.copy("ops-private.pem", "ops-private.pem", 0o600);
    Ssl::client(&key, &fixture("ops.pem"), &fixture("server-public.pem")).unwrap()
}

/// A node whose cert dir holds ops.pem and qa.pem.
fn node(d: &Dir) -> Ssl {
    let key = d.copy("server-private.pem", "server-private.pem", 0o600);
    let certs = d.0.join("clients");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(fixture("ops.pem"), certs.join("ops.pem")).unwrap();
    std::fs::copy(fixture("qa.pem"), certs.join("qa.pem")).unwrap();
    Ssl::node(&key, &certs).unwrap()
}

fn ruby_envelope() -> Value {
    marshal::load(&std::fs::read(fixture("request-signed-by-ops.marshal")).unwrap()).unwrap()
}

fn body_of(env: &Value) -> Vec<u8> {
    env.get("body").and_then(Value::as_bytes).unwrap().to_vec()
}

/// The envelope with `key` replaced.
fn with(env: &Value, key: &str, v: Value) -> Value {
    let Value::Hash(pairs) = env else {
        panic!("not a hash")
    };
    Value::Hash(
        pairs
            .iter()
            .map(|(k, old)| match k {
                Value::Sym(s) if s == key => (k.clone(), v.clone()),
                _ => (k.clone(), old.clone()),
            })
            .collect(),
    )
}

#[test]
fn signs_byte_for_byte_as_rubys_ssl_plugin() {
    let d = Dir::new("sign");
    let client = ops_client(&d);
    let env = ruby_envelope();
    let body = client.request_body(&Value::str("ping"), 60, MSGTIME);
    assert_eq!(body, body_of(&env), "the signed body Ruby's Marshal wrote");
    let mut sealed = Vec::new();
    client.seal(&body, &mut sealed);
    assert_eq!(sealed[0].1.as_str(), Some(RUBY_HASH));
    assert_eq!(env.get("hash").and_then(Value::as_str), Some(RUBY_HASH));
    assert_eq!(RUBY_HASH.len(), 350, "Base64.encode64 of 256 bytes");
    assert_eq!(client.caller_id().as_deref(), Some("cert=ops"));
}

#[test]
fn a_node_verifies_rubys_request_and_opens_the_signed_ttl() {
    let d = Dir::new("verify");
    let node = node(&d);
    let env = ruby_envelope();
    let body = body_of(&env);
    node.verify(&body, &env)
        .expect("signed by ops, whose key is deployed");
    let (payload, ttl, msgtime) = node.open_request(&body, 60, MSGTIME).unwrap();
    assert_eq!(payload, Value::str("ping"));
    assert_eq!((ttl, msgtime), (60, MSGTIME));
}

#[test]
fn a_node_refuses_forged_unknown_and_malformed_callers() {
    let d = Dir::new("callers");
    let node = node(&d);
    let env = ruby_envelope();
    let body = body_of(&env);
    // Signed by ops, claiming to be qa (whose key is deployed): the signature does not verify.
    let forged = with(&env, "callerid", Value::str("cert=qa"));
    match node.verify(&body, &forged) {
        Err(SecurityError::InvalidSignature { caller, key }) => {
            assert_eq!(caller, "cert=qa");
            assert!(key.ends_with("clients/qa.pem"), "{key:?}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = with(&env, "callerid", Value::str("cert=prod"));
    assert!(matches!(
        node.verify(&body, &unknown),
        Err(SecurityError::UnknownCaller { name, .. }) if name == "prod"
    ));
    for bad in ["uid=0", "cert=../ops", "cert=", "cert=a/b"] {
        let e = with(&env, "callerid", Value::str(bad));
        assert!(
            matches!(node.verify(&body, &e), Err(SecurityError::CallerId(_))),
            "{bad}"
        );
    }
    // A body changed after signing.
    let mut tampered = body.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        node.verify(&tampered, &env),
        Err(SecurityError::InvalidSignature { .. })
    ));
    // A key removed from the directory is refused from the next request on.
    std::fs::remove_file(d.0.join("clients/ops.pem")).unwrap();
    assert!(matches!(
        node.verify(&body, &env),
        Err(SecurityError::UnknownCaller { .. })
    ));
}

#[test]
fn a_ttl_or_msgtime_changed_in_the_envelope_is_tampering() {
    let d = Dir::new("ttl");
    let node = node(&d);
    let body = body_of(&ruby_envelope());
    assert!(matches!(
        node.open_request(&body, 86_400, MSGTIME),
        Err(SecurityError::Tampered("TTL"))
    ));
    assert!(matches!(
        node.open_request(&body, 60, MSGTIME + 3600),
        Err(SecurityError::Tampered("Message Time"))
    ));
    // An old-protocol body (the payload alone) carries no signed ttl.
    let old = marshal::dump(&Value::str("ping"));
    assert!(matches!(
        node.open_request(&old, 60, MSGTIME),
        Err(SecurityError::Unsigned("TTL"))
    ));
    // enforce_ttl = 0: only logged, and the signed values win.
    let lax = node.with_enforce_ttl(false);
    let (_, ttl, _) = lax.open_request(&body, 86_400, MSGTIME).unwrap();
    assert_eq!(ttl, 60);
    assert!(lax.open_request(&old, 60, MSGTIME).is_ok());
}

#[test]
fn a_client_checks_replies_against_the_server_key() {
    let d = Dir::new("replies");
    let client = ops_client(&d);
    let node = node(&d);
    let body = marshal::dump(&Value::str("pong"));
    let mut env = vec![(Value::sym("senderid"), Value::str("node1"))];
    node.seal(&body, &mut env);
    let env = Value::Hash(env);
    client
        .verify(&body, &env)
        .expect("signed with the server key");
    // A reply signed by a client key (anyone but a node) is refused.
    let mut forged = vec![(Value::sym("senderid"), Value::str("node1"))];
    client.seal(&body, &mut forged);
    assert!(matches!(
        client.verify(&body, &Value::Hash(forged)),
        Err(SecurityError::InvalidSignature { caller, .. }) if caller == "node1"
    ));
}

#[test]
fn keys_load_as_mcollective_reads_them() {
    let d = Dir::new("keys");
    // PKCS#8 and PKCS#1 private keys; SPKI public keys and X.509 certificates.
    load_private(&d.copy("ops-private.pem", "a.pem", 0o600)).unwrap();
    load_private(&d.copy("server-private.pem", "b.pem", 0o400)).unwrap();
    let from_cert = load_public(&fixture("ops-cert.pem")).unwrap();
    assert_eq!(from_cert, load_public(&fixture("ops.pem")).unwrap());
    // Readable by others: refused, naming the file, its mode and the fix.
    let exposed = d.copy("ops-private.pem", "exposed.pem", 0o644);
    let e = load_private(&exposed).unwrap_err();
    assert!(matches!(e, KeyError::Exposed { mode: 0o644, .. }), "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    // A public key where a private one belongs.
    let e = load_private(&d.copy("ops.pem", "pub.pem", 0o600)).unwrap_err();
    assert!(matches!(e, KeyError::NotRsa { .. }), "{e}");
    // Missing files say which.
    let e = Ssl::node(&exposed, &d.0.join("nowhere")).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
}

#[test]
fn caller_ids_come_from_the_public_key_file_name() {
    assert_eq!(
        caller_id_for(Path::new("/etc/mcollective/ssl/qa-admin.pem")).as_deref(),
        Some("cert=qa-admin")
    );
    assert_eq!(caller_id_for(Path::new("ops")).as_deref(), Some("cert=ops"));
    assert_eq!(caller_id_for(Path::new("/x/bad name.pem")), None);
}

#[test]
fn base64_lines_are_rubys() {
    assert_eq!(encode64(b""), "");
    assert_eq!(encode64(&[0u8; 45]).lines().next().unwrap().len(), 60);
    assert_eq!(encode64(&[0u8; 46]).matches('\n').count(), 2);
}
