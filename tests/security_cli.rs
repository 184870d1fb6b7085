//! The security commands and defaults as a user meets them: the first run, `shoal passwd`,
//! and `shoal doctor` on a bad and a clean config.

mod common;
use common::{Stomp, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_run_writes_a_private_config_with_an_admin_and_nobody_else_gets_in() {
    let home = TempDir::new("firstrun");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["broker", "--listen", "127.0.0.1:0"])
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut banner = String::new();
    let addr = loop {
        let line = lines.next().expect("broker output").unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(a) = line.split("listening for STOMP on ").nth(1) {
            break a.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let _guard = common::Daemon(child);
    let dir = home.path().join(".config/shoal");
    let (config, secrets) = (dir.join("broker.toml"), dir.join("admin.password"));
    assert!(
        banner.contains("first run") && banner.contains(&secrets.display().to_string()),
        "{banner}"
    );
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&secrets), 0o600);
    let text = std::fs::read_to_string(&config).unwrap();
    let password = std::fs::read_to_string(&secrets)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        text.contains("password_hash = \"$argon2id$") && !text.contains(&password),
        "hashed in the config"
    );
    assert!(text.contains("listen = [\"127.0.0.1:6163\"]"));
    // The admin gets in with the password from the secrets file; nobody else does.
    Stomp::login(&addr, "admin", &password).expect("admin logs in");
    assert!(Stomp::login(&addr, "admin", "guess").is_err());
    let mut anon = Stomp::open(&addr);
    anon.send_raw(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0");
    anon.expect_error("authentication failed");
    // The doctor is happy with what the first run wrote.
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["doctor", "--config"])
        .arg(&config)
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("0 error(s)"), "{report}");
}

#[test]
fn passwd_prints_a_hash_that_logs_in() {
    let mut p = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["passwd", "--user", "qaadmin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin
        .take()
        .unwrap()
        .write_all(b"muppets from space\n")
        .unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(out.status.success());
    let entry = String::from_utf8_lossy(&out.stdout).replace("groups = []", "groups = [\"qa\"]");
    assert!(
        entry.starts_with("[[user]]\nname = \"qaadmin\"\npassword_hash = \"$argon2id$"),
        "{entry}"
    );
    let b = common::Broker::start_with(&entry, &[]);
    Stomp::login(&b.addr, "qaadmin", "muppets from space").expect("the hash works");
    assert!(Stomp::login(&b.addr, "qaadmin", "muppets").is_err());
    // An empty password is refused.
    let mut p = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(b"\n").unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty password"));
}

fn doctor(dir: &TempDir, config: &str) -> (i32, String) {
    let cfg = dir.path().join("broker.toml");
    std::fs::write(&cfg, config).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    doctor_at(&cfg)
}

fn doctor_at(cfg: &std::path::Path) -> (i32, String) {
    // The config's folder as HOME: the default store dir is looked at there, not in ours.
    let home = cfg.parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["doctor", "--config"])
        .arg(cfg)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn doctor_flags_each_problem_and_passes_a_clean_config() {
    let dir = TempDir::new("doctor");
    let hash = shoal::broker::auth::password::hash_password("x").unwrap();
    let key = dir.write("server.key", "not really a key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let pwfile = dir.write("node.pass", &hash);
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o640)).unwrap();
    let bad = r#"listen = ["0.0.0.0:6163", "stomp+ssl://0.0.0.0:6164"]
[tls]
cert = "server.pem"
key = "server.key"
[[user]]
name = "qaadmin"
password = "muppetsfromspace"
groups = ["qa"]
[[user]]
name = "qanode"
password_file = "node.pass"
groups = ["qanodes"]
[[acl]]
destination = "topic://qacollective.>"
read = ["qa", "qanodes"]
write = ["qa", "qanodes"]
admin = ["qa"]
[[acl]]
destination = "queue://prodcollective.>"
read = ["prood"]
[store]
dir = "store"
fsync = false
"#;
    std::fs::create_dir(dir.path().join("store")).unwrap();
    std::fs::set_permissions(
        dir.path().join("store"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (code, report) = doctor(&dir, bad);
    assert_eq!(code, 1, "{report}");
    for needle in [
        "ERROR  user qaadmin: plaintext password",
        "ERROR  private key",
        "server.key is readable by group or others (mode bits 044); run: chmod 600",
        "ERROR  password_file of user qanode",
        "ERROR  port 6163 listens beyond loopback without TLS",
        "WARN   user qanode is not an admin but may write to topic://qacollective.>",
        "WARN   acl queue://prodcollective.>: no user is in any of its groups",
        "WARN   [store] fsync = false",
        "store is open to group or others (mode bits 055)",
        "$ipt -P INPUT   DROP",
        "--dport 6163 -j ACCEPT # stomp",
        "--dport 6164 -j ACCEPT # stomp+ssl",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in:\n{report}");
    }
    assert!(
        !report.contains("port 6164 listens beyond loopback without TLS"),
        "{report}"
    );
    // A readable config with users in it is an error too.
    let cfg = dir.path().join("broker.toml");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, report) = doctor_at(&cfg);
    assert!(report.contains("ERROR  config"), "{report}");

    let clean = TempDir::new("doctor-clean");
    let (code, report) = doctor(
        &clean,
        &format!(
            "listen = [\"127.0.0.1:6163\"]\n[[user]]\nname = \"admin\"\npassword_hash = \"{hash}\"\ngroups = [\"admins\"]\n\
             [[acl]]\ndestination = \"topic://>\"\nread = [\"admins\"]\nwrite = [\"admins\"]\nadmin = [\"admins\"]\n"
        ),
    );
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("0 error(s), 0 warning(s)"), "{report}");
    assert!(report.contains("no broker port needs opening"), "{report}");
    // An unreadable config is exit 2, like the broker's.
    let (code, _) = doctor_at(&clean.path().join("missing.toml"));
    assert_eq!(code, 2);
}
