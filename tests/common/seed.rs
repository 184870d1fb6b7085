//! The seed deployment's users and ACLs: admin, qaadmin (group qa, `qacollective.>` only)
//! and prodadmin (group prod, `prodcollective.>` only).

use super::{Broker, Stomp};
use shoal::broker::auth::password::hash_password;

/// The seed's users and ACLs as config text, followed by `extra`.
pub fn seed_config(extra: &str) -> String {
    let h = |p: &str| hash_password(p).unwrap();
    let mut c = String::new();
    for (name, pass, groups) in [
        ("admin", "root-secret", "\"admins\""),
        ("qaadmin", "muppetsfromspace", "\"qa\""),
        ("prodadmin", "poobatron", "\"prod\""),
    ] {
        c.push_str(&format!(
            "[[user]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [{groups}]\n",
            h(pass)
        ));
    }
    for (dest, groups) in [
        ("topic://>", "\"admins\""),
        ("queue://>", "\"admins\""),
        ("topic://qacollective.>", "\"qa\", \"admins\""),
        ("queue://qacollective.>", "\"qa\", \"admins\""),
        ("topic://prodcollective.>", "\"prod\", \"admins\""),
        ("queue://prodcollective.>", "\"prod\", \"admins\""),
    ] {
        c.push_str(&format!("[[acl]]\ndestination = \"{dest}\"\nread = [{groups}]\nwrite = [{groups}]\nadmin = [{groups}]\n"));
    }
    c.push_str(extra);
    c
}

pub fn qa(b: &Broker) -> Stomp {
    Stomp::login(&b.addr, "qaadmin", "muppetsfromspace").expect("qaadmin logs in")
}

pub fn prod(b: &Broker) -> Stomp {
    Stomp::login(&b.addr, "prodadmin", "poobatron").expect("prodadmin logs in")
}

/// Logs in as `user` (one of the seed's) with more CONNECT headers (a `client-id`, say).
pub fn login_with(b: &Broker, user: &str, headers: &[(&str, &str)]) -> Stomp {
    let pass = match user {
        "admin" => "root-secret",
        "qaadmin" => "muppetsfromspace",
        "prodadmin" => "poobatron",
        u => panic!("{u} is not a seed user"),
    };
    let mut h = vec![("login", user), ("passcode", pass)];
    h.extend_from_slice(headers);
    Stomp::connect_with(&b.addr, &h)
}
