//! TLS listeners against real TLS clients: rustls from Rust, Python's `ssl` through stomp-py;
//! plaintext clients on the TLS port, exposed keys, and client certificates mapped to users.

mod common;
use bytes::BytesMut;
use common::pki::{pki, Pki};
use common::{require_tool, Broker, Stomp, TempDir};
use rustls::pki_types::ServerName;
use shoal::stomp::{Command, Decoder, Frame, FrameLimits, Version};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A STOMP connection over rustls; `Err` when the handshake or CONNECT fails.
fn tls_connect(
    addr: &str,
    p: &Pki,
    with_cert: bool,
    connect_headers: &str,
) -> Result<Frame, String> {
    tls_session(addr, p, with_cert, connect_headers).map(|(f, _)| f)
}

/// Sends raw frame text and returns the broker's next frame.
fn tls_request(tls: &mut Tls, text: &str) -> Result<Frame, String> {
    tls.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    read_frame(tls)
}

fn read_frame(tls: &mut Tls) -> Result<Frame, String> {
    let mut dec = Decoder::new(FrameLimits::default());
    dec.version = Version::V1_2;
    let mut buf = BytesMut::new();
    loop {
        if let Some(f) = dec.decode(&mut buf).map_err(|e| e.to_string())? {
            return Ok(f);
        }
        let mut chunk = [0u8; 1];
        let n = tls.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn tls_session(
    addr: &str,
    p: &Pki,
    with_cert: bool,
    connect_headers: &str,
) -> Result<(Frame, Tls), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if with_cert {
        b.with_client_auth_cert(p.client.0.clone(), p.client.1.clone_key())
            .unwrap()
    } else {
        b.with_no_client_auth()
    };
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let f = tls_request(
        &mut tls,
        &format!("CONNECT\naccept-version:1.2\nhost:/\n{connect_headers}\n\0"),
    )?;
    Ok((f, tls))
}

fn tls_config(p: &Pki, extra: &str) -> String {
    tls_config_auth(p, true, extra)
}

fn tls_config_auth(p: &Pki, anonymous: bool, extra: &str) -> String {
    format!(
        "[auth]\nanonymous = {anonymous}\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n{extra}",
        p.cert.display(),
        p.key.display(),
        p.ca.display()
    )
}

#[test]
fn tls_listener_serves_tls_and_turns_plaintext_away() {
    let p = pki("someone");
    let b = Broker::start_with(
        &tls_config(&p, ""),
        &[
            "--listen",
            "stomp+ssl://127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let (tls_addr, plain_addr) = (&b.addrs[0], &b.addrs[1]);
    let f = tls_connect(tls_addr, &p, false, "").unwrap();
    assert_eq!(f.command, Command::Connected);
    // A plaintext STOMP client on the TLS port is told why, in plaintext, and closed.
    let mut s = Stomp::open(tls_addr);
    s.send_raw(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0");
    s.expect_error("TLS required");
    // The plain listener next to it is unaffected.
    Stomp::connect(plain_addr);
    let _ = p.dir.path();
}

#[test]
fn client_certificates_log_in_as_their_user() {
    let p = pki("node7.example.net");
    let extra = "client_auth = \"optional\"\n\
                 [[user]]\nname = \"node7\"\ncertificate_cn = \"node7.example.net\"\ngroups = [\"nodes\"]\n\
                 [[user]]\nname = \"ops\"\npassword = \"pw\"\ngroups = [\"ops\"]\n\
                 [[acl]]\ndestination = \"queue://node7.>\"\nread = [\"user:node7\"]\nwrite = [\"*\"]\nadmin = [\"*\"]\n";
    let b = Broker::start_with(
        &tls_config_auth(&p, false, extra),
        &["--listen", "stomp+ssl://127.0.0.1:0"],
    );
    // With the certificate: no password needed, and the broker knows it is node7 — the ACL
    // lets node7 (and only node7) read its queue.
    let (f, mut node7) = tls_session(&b.addr, &p, true, "").unwrap();
    assert_eq!(f.command, Command::Connected, "{f:?}");
    let r = tls_request(
        &mut node7,
        "SUBSCRIBE\nid:1\ndestination:/queue/node7.inbox\nreceipt:r\n\n\0",
    )
    .unwrap();
    assert_eq!(r.command, Command::Receipt, "{r:?}");
    let (_, mut ops) = tls_session(&b.addr, &p, false, "login:ops\npasscode:pw\n").unwrap();
    let r = tls_request(
        &mut ops,
        "SUBSCRIBE\nid:1\ndestination:/queue/node7.inbox\n\n\0",
    )
    .unwrap();
    assert_eq!(
        r.get("message"),
        Some("access denied: ops may not read /queue/node7.inbox")
    );
    // Neither a certificate nor a login: no way in.
    assert_eq!(
        tls_connect(&b.addr, &p, false, "").unwrap().get("message"),
        Some("authentication failed")
    );
    // The certificate's user, not another one.
    let f = tls_connect(&b.addr, &p, true, "login:ops\npasscode:pw\n").unwrap();
    assert_eq!(f.get("message"), Some("authentication failed"), "{f:?}");
    // Without a certificate (optional mode), a password login still works.
    let f = tls_connect(&b.addr, &p, false, "login:ops\npasscode:pw\n").unwrap();
    assert_eq!(f.command, Command::Connected);
}

#[test]
fn required_client_certificates_fail_the_handshake_without_one() {
    let p = pki("node8");
    let b = Broker::start_with(
        &tls_config(&p, "client_auth = \"required\"\n"),
        &["--listen", "stomp+ssl://127.0.0.1:0"],
    );
    assert!(tls_connect(&b.addr, &p, false, "").is_err());
    assert_eq!(
        tls_connect(&b.addr, &p, true, "").unwrap().command,
        Command::Connected
    );
    assert!(b.wait_log("TLS handshake failed"), "{}", b.log());
}

/// Starts a broker with a TLS listener that must refuse to start (exit 2); returns stderr.
fn refused_start(cfg: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--config"])
        .arg(cfg)
        .args(["--listen", "stomp+ssl://127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_exposed_private_key_stops_the_broker_from_starting() {
    let p = pki("x");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = TempDir::new("badkey");
    let cfg = dir.write("broker.toml", &tls_config(&p, ""));
    let err = refused_start(&cfg);
    assert!(
        err.contains("server.key") && err.contains("chmod 600") && err.contains("644"),
        "{err}"
    );
}

#[test]
fn a_tls_listener_without_a_tls_table_is_a_config_error() {
    let dir = TempDir::new("notls");
    let cfg = dir.write("broker.toml", "[auth]\nanonymous = true\n");
    let err = refused_start(&cfg);
    assert!(err.contains("no [tls] table"), "{err}");
}

#[test]
fn stomp_py_over_tls_with_a_client_certificate() {
    if !require_tool("python3", &["-c", "import stomp"], "pip install stomp-py") {
        return;
    }
    let p = pki("pynode");
    let extra =
        "client_auth = \"required\"\n[[user]]\nname = \"pynode\"\ncertificate_cn = \"pynode\"\n";
    let b = Broker::start_with(
        &tls_config(&p, extra),
        &["--listen", "stomp+ssl://127.0.0.1:0"],
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/stomp_py_tls.py");
    let out = std::process::Command::new("timeout")
        .args(["60", "python3", script, &b.addr])
        .arg(&p.ca)
        .arg(&p.client_pem.0)
        .arg(&p.client_pem.1)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    assert!(report.contains("tls round trip ok"), "{report}");
}
