//! shoal's own clients over TLS with client certificates required: `shoal node` and
//! `shoal ping` (from MCollective's `pool.N.ssl.*` keys and from `--tls-*` flags), `shoal
//! bench`; a certificate from another CA and a missing CA are refused with a clear error.

mod common;
use common::mco::{ping_replies, shoal_ping, ShoalNode};
use common::pki::{pki, Pki};
use common::{Broker, TempDir};
use std::process::{Command, Stdio};

const PSK: &str = "tls-psk";

/// A broker whose only listener is TLS with client certificates required.
fn tls_broker(p: &Pki) -> Broker {
    Broker::start_with(
        &format!(
            "[auth]\nanonymous = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\nclient_auth = \"required\"\n",
            p.cert.display(),
            p.key.display(),
            p.ca.display()
        ),
        &["--listen", "stomp+ssl://127.0.0.1:0"],
    )
}

/// MCollective's activemq connector over TLS, as a Debian server.cfg/client.cfg says it.
fn ssl_cfg(port: u16, p: &Pki, identity: &str) -> String {
    format!(
        "identity = {identity}\nsecurityprovider = psk\nplugin.psk = {PSK}\nconnector = activemq\n\
         plugin.activemq.pool.size = 1\nplugin.activemq.pool.1.host = 127.0.0.1\n\
         plugin.activemq.pool.1.port = {port}\nplugin.activemq.pool.1.ssl = 1\n\
         plugin.activemq.pool.1.ssl.ca = {}\nplugin.activemq.pool.1.ssl.cert = {}\n\
         plugin.activemq.pool.1.ssl.key = {}\nplugin.activemq.initial_reconnect_delay = 0.1\n",
        p.ca.display(),
        p.client_pem.0.display(),
        p.client_pem.1.display()
    )
}

#[test]
fn node_and_ping_over_tls_with_client_certificates() {
    let p = pki("bastion");
    let b = tls_broker(&p);
    let dir = TempDir::new("tls-tools");
    let _node = ShoalNode::start_with_config(&dir, "web1", &ssl_cfg(b.port(), &p, "web1"), &[], 1);
    // From the client.cfg's pool keys.
    let client = dir.write("client.cfg", &ssl_cfg(b.port(), &p, "bastion"));
    let (out, err, ok) = shoal_ping(&client, &["--timeout", "3"]);
    assert!(ok, "{out}{err}");
    assert_eq!(ping_replies(&out), ["web1"]);
    // From flags, with a config that says nothing about TLS.
    let plain = dir.write("plain.cfg", &format!("plugin.psk = {PSK}\n"));
    let tls_addr = format!("stomp+ssl://127.0.0.1:{}", b.port());
    let (cert, key) = (
        p.client_pem.0.to_str().unwrap(),
        p.client_pem.1.to_str().unwrap(),
    );
    let flags = [
        "--broker",
        &tls_addr,
        "--tls-ca",
        p.ca.to_str().unwrap(),
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--timeout",
        "3",
    ];
    let (out, err, ok) = shoal_ping(&plain, &flags);
    assert!(ok, "{out}{err}");
    assert_eq!(ping_replies(&out), ["web1"]);
    // A client certificate from another CA: the broker refuses the handshake.
    let other = pki("intruder");
    let (o_cert, o_key) = (
        other.client_pem.0.to_str().unwrap(),
        other.client_pem.1.to_str().unwrap(),
    );
    let mut forged = flags;
    forged[5] = o_cert;
    forged[7] = o_key;
    let (out, err, ok) = shoal_ping(&plain, &forged);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("client certificate"), "{err}");
    assert!(ping_replies(&out).is_empty());
    // A broker certificate from another CA than the one trusted: refused by the client.
    let mut wrong_ca = flags;
    wrong_ca[3] = other.ca.to_str().unwrap();
    let (_, err, ok) = shoal_ping(&plain, &wrong_ca);
    assert!(!ok);
    assert!(err.contains("TLS handshake"), "{err}");
    // TLS without a CA to verify the broker is refused before connecting.
    let (_, err, ok) = shoal_ping(&plain, &["--broker", &tls_addr, "--timeout", "3"]);
    assert!(!ok);
    assert!(err.contains("TLS needs a CA file"), "{err}");
}

#[test]
fn bench_over_tls() {
    let p = pki("bench");
    let b = tls_broker(&p);
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args([
            "bench",
            "--addr",
            &format!("stomp+ssl://127.0.0.1:{}", b.port()),
        ])
        .args(["--tls-ca", p.ca.to_str().unwrap()])
        .args(["--tls-cert", p.client_pem.0.to_str().unwrap()])
        .args(["--tls-key", p.client_pem.1.to_str().unwrap()])
        .args(["queue", "-p", "1", "-c", "1", "-s", "128", "-n", "2000"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2000"), "{text}");
}
