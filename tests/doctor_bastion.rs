//! `shoal doctor --bastion` on fixture trees (`--root`): each finding of the seed's bastion
//! checklist — keys, configs with secrets, sshd, sudoers — with its file, line and fix, and
//! what it could not read.

mod common;
use common::TempDir;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn put(root: &TempDir, rel: &str, text: &str, mode: u32) {
    let p = root.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `shoal doctor --bastion --root ROOT`: (stdout, exit code).
fn doctor(root: &Path) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["doctor", "--bastion", "--root"])
        .arg(root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    (text, out.status.code().unwrap_or(-1))
}

/// The line of `report` that contains every one of `needles`.
fn line_with<'a>(report: &'a str, needles: &[&str]) -> &'a str {
    report
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in\n{report}"))
}

/// Whether this test runs as root (files it makes are root's).
fn as_root(root: &TempDir) -> bool {
    std::fs::metadata(root.path()).unwrap().uid() == 0
}

#[test]
fn every_bastion_finding_names_its_file_line_and_fix() {
    let t = TempDir::new("bastion");
    let r = t.path().display().to_string();
    put(
        &t,
        "etc/mcollective/client.cfg",
        "# the admins' client\nsecurityprovider = ssl\nplugin.psk = leaked\n\
         plugin.ssl_client_private = /etc/mcollective/ssl/qa-private.pem\n",
        0o644,
    );
    put(&t, "etc/mcollective/ssl/qa-private.pem", "key", 0o640);
    put(
        &t,
        "etc/mcollective/server.cfg",
        "plugin.activemq.pool.1.password = secret\n\
         plugin.ssl_server_private = /etc/mcollective/ssl/server-private.pem\n",
        0o640,
    );
    put(&t, "etc/mcollective/ssl/server-private.pem", "key", 0o600);
    put(
        &t,
        "home/qa/.mcollective",
        "plugin.ssl_client_private = /home/qa/.mcollective.d/qa.pem\n",
        0o600,
    );
    put(
        &t,
        "etc/ssh/sshd_config",
        "# Debian's layout\nInclude /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n\
         Match User backup\n  AllowUsers backup\n",
        0o644,
    );
    put(
        &t,
        "etc/ssh/sshd_config.d/10-root.conf",
        "permitrootlogin yes\n",
        0o644,
    );
    put(
        &t,
        "etc/sudoers",
        "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
        0o440,
    );
    put(
        &t,
        "etc/sudoers.d/mco",
        "User_Alias MCOLADM = pim,pam\nCmnd_Alias SU = /bin/su\nMCOLADM ALL=(ALL) NOPASSWD: SU\n\
         %qa ALL=(root) /usr/bin/mco\n%qa ALL=(root) /usr/bin/mco ping -T qacollective\n\
         %web ALL=(www-data) /bin/su\n",
        0o440,
    );
    put(
        &t,
        "etc/sudoers.d/README.txt",
        "evil ALL=(ALL) ALL\n",
        0o440,
    );
    let root = as_root(&t);
    if root {
        // A key its user owns, however strict its mode.
        chown(
            t.path().join("etc/mcollective/ssl/server-private.pem"),
            Some(1000),
            Some(1000),
        )
        .unwrap();
    }

    let (report, code) = doctor(t.path());
    assert_eq!(code, 1, "errors make the exit code 1");
    line_with(
        &report,
        &[
            "ERROR",
            &format!(
                "{r}/etc/mcollective/client.cfg:3: plugin.psk in a world-readable file (mode 644)"
            ),
            "chmod o-r",
        ],
    );
    line_with(
        &report,
        &[
            "ok",
            &format!("{r}/etc/mcollective/server.cfg: secrets not world-readable (mode 640)"),
        ],
    );
    line_with(
        &report,
        &[
            "ERROR",
            "qa-private.pem (",
            "client.cfg:4 plugin.ssl_client_private) is mode 640",
            "chmod 600",
        ],
    );
    line_with(
        &report,
        &[
            "ERROR",
            "server-private.pem (",
            "server.cfg:2 plugin.ssl_server_private) is owned by",
            "chown root:root",
        ],
    );
    if root {
        line_with(&report, &["server-private.pem", "owned by 1000:1000"]);
    }
    line_with(
        &report,
        &["skip", &format!("{r}/home/qa/.mcollective.d/qa.pem (")],
    )
    .contains("absent; not checked")
    .then_some(())
    .expect("the reason is said");
    // sshd: the included file's value is the first, so it wins; Match ends the global part.
    line_with(
        &report,
        &[
            "ERROR",
            &format!("{r}/etc/ssh/sshd_config.d/10-root.conf:1: PermitRootLogin yes"),
            "PermitRootLogin no",
        ],
    );
    line_with(&report, &["WARN", "neither AllowUsers nor AllowGroups"]);
    // sudoers: aliases expanded, includedir read (README.txt skipped), runas respected.
    line_with(
        &report,
        &["WARN", "sudoers:3: %sudo may run any command as root"],
    );
    line_with(
        &report,
        &["WARN", "sudoers.d/mco:3: MCOLADM may run `/bin/su` as root"],
    );
    line_with(
        &report,
        &[
            "WARN",
            "sudoers.d/mco:4: %qa may run `/usr/bin/mco` as root with any arguments",
        ],
    );
    assert!(
        !report.contains("sudoers.d/mco:5"),
        "a scoped mco rule is fine\n{report}"
    );
    assert!(
        !report.contains("sudoers.d/mco:6"),
        "su run as www-data is not root\n{report}"
    );
    assert!(!report.contains("evil"), "{report}");
    assert!(!report.contains("sudoers:2"), "root's own rule\n{report}");
}

#[test]
fn a_bastion_set_up_as_the_seed_says_passes() {
    let t = TempDir::new("bastion-ok");
    put(
        &t,
        "etc/mcollective/client.cfg",
        "plugin.psk = p\nplugin.ssl_client_private = /etc/mcollective/ssl/ops-private.pem\n",
        0o640,
    );
    put(&t, "etc/mcollective/ssl/ops-private.pem", "key", 0o600);
    put(
        &t,
        "etc/ssh/sshd_config",
        "PermitRootLogin prohibit-password\nAllowGroups mcoadmins\n",
        0o644,
    );
    put(
        &t,
        "etc/sudoers",
        "root ALL=(ALL:ALL) ALL\n%mcoadmins ALL=(root) /usr/bin/mco ping -T qacollective\n",
        0o440,
    );
    let (report, code) = doctor(t.path());
    line_with(&report, &["ok", "PermitRootLogin prohibit-password"]);
    line_with(&report, &["ok", "allowgroups mcoadmins"]);
    line_with(
        &report,
        &[
            "ok",
            "no rule lets a user run su, mco or ALL as root broadly",
        ],
    );
    line_with(&report, &["skip", "server.cfg", "absent; not checked"]);
    if as_root(&t) {
        line_with(&report, &["ok", "ops-private.pem", "root:root, mode 600"]);
        assert_eq!(code, 0, "{report}");
        assert!(
            report.contains("0 error(s), 0 warning(s), 1 not checked"),
            "{report}"
        );
    } else {
        // Not root: the key is the test user's own, which the doctor reports.
        line_with(&report, &["ERROR", "ops-private.pem", "chown root:root"]);
    }
}
