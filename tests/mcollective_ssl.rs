//! MCollective's `ssl` security plugin between shoal's tools and Debian's real MCollective,
//! with keys made by openssl here: the seed's key separation (every node holds the server key
//! pair; the ops client's public key is on every node, the qa client's only on qa nodes).
//! `shoal ping` signs for real mcollectived; real `mco` is answered by `shoal node` only where
//! its key is deployed; a forged callerid, an unknown key and a tampered ttl are refused and
//! logged.

mod common;
use common::mco::{connector, have_mcollective, ping_replies, shoal_ping, Fleet, Node, ShoalNode};
use common::{Broker, Stomp, TempDir};
use shoal::collective::filter::Filter;
use shoal::collective::marshal::{self, Value};
use shoal::collective::message::{now_secs, Request};
use shoal::collective::security::ssl::Ssl;
use shoal::collective::security::SecurityProvider;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `openssl genrsa` + `-pubout`: `keys/NAME-private.pem` (0600) and `pub/NAME.pem`.
fn key_pair(dir: &TempDir, name: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    for d in ["keys", "pub"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let private = dir.path().join(format!("keys/{name}-private.pem"));
    let public = dir.path().join(format!("pub/{name}.pem"));
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let (pr, pu) = (private.to_str().unwrap(), public.to_str().unwrap());
    run(&["genrsa", "-out", pr, "2048"]);
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    run(&["rsa", "-in", pr, "-pubout", "-out", pu]);
    (private, public)
}

/// The keys of a seed-style deployment and the per-scope certificate directories.
struct Pki {
    dir: TempDir,
    server_private: PathBuf,
    server_public: PathBuf,
}

impl Pki {
    /// Server pair, `ops` and `qa` client pairs, and `stranger` (deployed nowhere);
    /// `certs-prod` holds ops.pem, `certs-qa` ops.pem and qa.pem.
    fn new() -> Pki {
        let dir = TempDir::new("mco-ssl");
        let (server_private, server_public) = key_pair(&dir, "server");
        for c in ["ops", "qa", "stranger"] {
            key_pair(&dir, c);
        }
        for (scope, clients) in [("prod", &["ops"][..]), ("qa", &["ops", "qa"][..])] {
            let d = dir.path().join(format!("certs-{scope}"));
            std::fs::create_dir_all(&d).unwrap();
            for c in clients {
                std::fs::copy(
                    dir.path().join(format!("pub/{c}.pem")),
                    d.join(format!("{c}.pem")),
                )
                .unwrap();
            }
        }
        Pki {
            dir,
            server_private,
            server_public,
        }
    }

    /// server.cfg lines of a node in `scope`.
    fn node_lines(&self, scope: &str) -> String {
        format!(
            "securityprovider = ssl\nplugin.ssl_server_private = {}\nplugin.ssl_server_public = {}\n\
             plugin.ssl_client_cert_dir = {}\n",
            self.server_private.display(),
            self.server_public.display(),
            self.dir.path().join(format!("certs-{scope}")).display()
        )
    }

    /// A client.cfg on `port` signing as `client`, checking replies with `server_public`.
    fn client_cfg(&self, port: u16, client: &str, server_public: &Path) -> PathBuf {
        self.dir.write(
            &format!("{client}-client.cfg"),
            &format!(
                "{}main_collective = mcollective\ncollectives = mcollective\nlogger_type = console\n\
                 loglevel = warn\ncolor = 0\nsecurityprovider = ssl\nplugin.ssl_server_public = {}\n\
                 plugin.ssl_client_private = {}\nplugin.ssl_client_public = {}\n",
                connector(port, "mcollective", "marionette", "unused"),
                server_public.display(),
                self.private(client).display(),
                self.dir.path().join(format!("pub/{client}.pem")).display()
            ),
        )
    }

    fn private(&self, client: &str) -> PathBuf {
        self.dir.path().join(format!("keys/{client}-private.pem"))
    }

    /// shoal's own ssl client for `signer`'s key, claiming to be `claims`.
    fn signer(&self, signer: &str, claims: &str) -> Ssl {
        let claimed = self.dir.path().join(format!("pub/{claims}.pem"));
        Ssl::client(&self.private(signer), &claimed, &self.server_public).unwrap()
    }
}

fn node<'a>(id: &'a str) -> Node<'a> {
    Node {
        id,
        user: "mcollective",
        password: "marionette",
        collectives: &["mcollective"],
        psk: "unused",
    }
}

#[test]
fn shoal_ping_signs_per_scope_keys_for_real_mcollectived() {
    if !have_mcollective() {
        return;
    }
    let b = Broker::start();
    let pki = Pki::new();
    let scope = |id: &str| if id.starts_with("qa") { "qa" } else { "prod" };
    let fleet = Fleet::start_configured(
        TempDir::new("mco-ssl-fleet"),
        b.port(),
        &[node("prod1"), node("prod2"), node("qa1")],
        &|id| pki.node_lines(scope(id)),
        &|| b.log(),
    );

    // The full-scope key is deployed everywhere: every node answers, and every reply is
    // checked against the server key.
    let ops = pki.client_cfg(b.port(), "ops", &pki.server_public);
    let (out, err, ok) = shoal_ping(&ops, &["-t", "2"]);
    assert!(ok, "{out}{err}");
    assert_eq!(ping_replies(&out), ["prod1", "prod2", "qa1"], "{out}{err}");

    // The qa key is only on the qa node: production refuses it and says why.
    let qa = pki.client_cfg(b.port(), "qa", &pki.server_public);
    let (out, err, _) = shoal_ping(&qa, &["-t", "2"]);
    assert_eq!(ping_replies(&out), ["qa1"], "{out}{err}");
    assert!(
        common::eventually(|| fleet
            .node_log("prod1")
            .contains("Could not find a public key for qa")),
        "{}",
        fleet.node_log("prod1")
    );

    // The same keys from flags, over a config that names the psk plugin.
    let plain = pki.dir.write(
        "plain.cfg",
        &connector(b.port(), "mcollective", "marionette", "unused"),
    );
    let qa_public = pki.dir.path().join("pub/qa.pem");
    let qa_private = pki.private("qa");
    let flags = [
        "-t",
        "2",
        "--ssl-private",
        qa_private.to_str().unwrap(),
        "--ssl-public",
        qa_public.to_str().unwrap(),
        "--ssl-server-public",
        pki.server_public.to_str().unwrap(),
    ];
    let (out, err, _) = shoal_ping(&plain, &flags);
    assert_eq!(ping_replies(&out), ["qa1"], "{out}{err}");

    // Replies that the server key did not sign are dropped, not shown as answers.
    let wrong = pki.dir.path().join("pub/stranger.pem");
    let suspicious = pki.client_cfg(b.port(), "ops", &wrong);
    let (out, err, _) = shoal_ping(&suspicious, &["-t", "2"]);
    assert!(ping_replies(&out).is_empty(), "{out}{err}");
    assert!(
        out.contains("rejected reply from prod1: invalid signature"),
        "{out}{err}"
    );
}

/// A discovery request from `test`, filtered to `identity`.
fn request(id: &str, identity: &str, caller: &str) -> Request {
    Request {
        request_id: id.into(),
        sender_id: "test".into(),
        caller_id: caller.into(),
        collective: "mcollective".into(),
        agent: "discovery".into(),
        filter: Filter {
            identities: vec![identity.into()],
            ..Filter::default()
        },
        ttl: 60,
        msgtime: now_secs(),
        payload: Value::str("ping"),
    }
}

/// `envelope` with `:ttl` set to `ttl` (outside the signature).
fn with_ttl(envelope: &[u8], ttl: i64) -> Vec<u8> {
    let Value::Hash(pairs) = marshal::load(envelope).unwrap() else {
        panic!("not an envelope")
    };
    let pairs = pairs
        .into_iter()
        .map(|(k, v)| match &k {
            Value::Sym(s) if s == "ttl" => (k, Value::Int(ttl)),
            _ => (k, v),
        })
        .collect();
    marshal::dump(&Value::Hash(pairs))
}

#[test]
fn shoal_node_answers_real_mco_only_where_its_key_is_deployed() {
    if !have_mcollective() {
        return;
    }
    let b = Broker::start();
    let pki = Pki::new();
    let server_cfg = |identity: &str, scope: &str| {
        format!(
            "{}identity = {identity}\nmain_collective = mcollective\ncollectives = mcollective\n{}",
            connector(b.port(), "mcollective", "marionette", "unused"),
            pki.node_lines(scope)
        )
    };

    // A server key others may read is refused before the node connects.
    let exposed = pki.dir.path().join("keys/exposed-private.pem");
    std::fs::copy(&pki.server_private, &exposed).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let cfg = pki.dir.write(
        "exposed.cfg",
        &format!(
            "{}plugin.ssl_server_private = {}\n",
            server_cfg("x", "prod"),
            exposed.display()
        ),
    );
    let out = Command::new("timeout")
        .args(["20", env!("CARGO_BIN_EXE_shoal"), "node", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("readable by group or others (mode 644)") && err.contains("chmod 600"),
        "{err}"
    );

    let prod =
        ShoalNode::start_with_config(&pki.dir, "sprod", &server_cfg("sprod", "prod"), &[], 1);
    let qa = ShoalNode::start_with_config(&pki.dir, "sqa", &server_cfg("sqa", "qa"), &[], 1);
    let fleet = Fleet {
        nodes: Vec::new(),
        dir: TempDir::new("mco-ssl-clients"),
        port: b.port(),
    };
    let ops = pki.client_cfg(b.port(), "ops", &pki.server_public);
    let qa_cfg = pki.client_cfg(b.port(), "qa", &pki.server_public);

    // Real mco verifies shoal's replies with the server key: both answer ops …
    let out = fleet.mco(&ops, &["ping", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["sprod", "sqa"], "{out}");
    let out = fleet.mco(&ops, &["rpc", "rpcutil", "ping", "-I", "sprod", "-t", "3"]);
    assert!(out.contains("Finished processing 1 / 1 hosts"), "{out}");
    // … and only the qa node answers the qa key; production logs why.
    let out = fleet.mco(&qa_cfg, &["ping", "-t", "3"]);
    assert_eq!(ping_replies(&out), ["sqa"], "{out}");
    assert!(
        common::eventually(|| prod
            .log_text()
            .contains("refused request: no public key for caller qa")),
        "{}",
        prod.log_text()
    );

    // Forged, unknown and tampered requests to sprod get no reply; a good one sent after them
    // is the first and only reply (the node handles its requests in order).
    let mut c = Stomp::connect(&b.addr);
    let reply = "/queue/mcollective.reply.test_1.1";
    c.subscribe("r", reply, &[]);
    let send = |c: &mut Stomp, body: &[u8]| {
        c.send_sync(
            "/topic/mcollective.discovery.agent",
            &[("reply-to", reply)],
            body,
        )
    };
    let forged = request(&"f".repeat(32), "sprod", "cert=ops").encode(&pki.signer("qa", "ops"));
    send(&mut c, &forged);
    let stranger = pki.signer("stranger", "stranger");
    let unknown =
        request(&"e".repeat(32), "sprod", &stranger.caller_id().unwrap()).encode(&stranger);
    send(&mut c, &unknown);
    let ops_signer = pki.signer("ops", "ops");
    let good = request(&"d".repeat(32), "sprod", "cert=ops").encode(&ops_signer);
    send(&mut c, &with_ttl(&good, 86_400));
    let sentinel = request(&"c".repeat(32), "sprod", "cert=ops").encode(&ops_signer);
    send(&mut c, &sentinel);
    let m = c.expect(shoal::stomp::Command::Message);
    let answer = shoal::collective::message::Reply::decode(&m.body, &ops_signer).unwrap();
    assert_eq!(
        answer.request_id,
        "c".repeat(32),
        "only the good request is answered"
    );
    assert_eq!(answer.sender_id, "sprod");
    let log = prod.log_text();
    for needle in [
        "refused request: invalid signature: cert=ops did not sign it with the key in",
        "refused request: no public key for caller stranger",
        "refused request: the envelope's TTL does not match the signed TTL: possible tampering",
    ] {
        assert!(log.contains(needle), "{needle}\n{log}");
    }
    drop(qa);
}
