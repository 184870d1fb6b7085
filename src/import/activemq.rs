//! `shoal import-activemq activemq.xml`: an ActiveMQ broker config turned into shoal's TOML.
//!
//! Mapped: `broker@brokerName`; STOMP `transportConnector`s (client listeners) and the OpenWire
//! one (the cluster port, as the seed uses 6166); `networkConnector`s with their TTLs, duplex,
//! conduit/priority flags, credentials and destination filters; `simpleAuthenticationPlugin`
//! users (their plaintext passwords become argon2 hashes) and groups; `authorizationEntry`s;
//! `broker@persistent`, KahaDB's journal file size and `systemUsage` memory and store limits.
//! `${…}` placeholders are resolved before (`placeholders`). Everything else is listed as not mapped, so nothing is dropped silently — old configs that
//! no longer start on current ActiveMQ (e.g. `destroyApplicationContextOnStop`) convert all the
//! same.

use crate::broker::auth::password::hash_password;
use std::fmt::Write;

/// The converted config and what could not be mapped.
#[derive(Debug, Default)]
pub struct Imported {
    pub toml: String,
    pub not_mapped: Vec<String>,
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// `tcp://0.0.0.0:6166?x=y` → `0.0.0.0:6166`.
fn host_port(uri: &str) -> Option<String> {
    let rest = uri.split("://").nth(1)?;
    let rest = rest.split('?').next()?.trim_end_matches('/');
    rest.contains(':').then(|| rest.to_string())
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn elements<'a, 'i>(n: roxmltree::Node<'a, 'i>) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// `<queue physicalName="a.>"/>` / `<topic …/>` children → `queue://a.>`.
fn destinations(n: Option<roxmltree::Node>) -> Vec<String> {
    n.into_iter()
        .flat_map(elements)
        .filter_map(|d| {
            Some(format!(
                "{}://{}",
                d.tag_name().name(),
                d.attribute("physicalName")?
            ))
        })
        .collect()
}

fn bool_attr(n: roxmltree::Node, name: &str) -> Option<bool> {
    n.attribute(name)
        .map(|v| v.trim().eq_ignore_ascii_case("true"))
}

pub fn convert(xml: &str) -> Result<Imported, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not valid XML: {e}"))?;
    let broker = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "broker")
        .ok_or("no <broker> element")?;
    let mut out = Imported::default();
    let t = &mut out.toml;
    let _ = writeln!(
        t,
        "# Converted by `shoal import-activemq`; review, then `shoal doctor --config` it."
    );
    let mut listen = Vec::new();
    let mut cluster = Vec::new();
    for c in broker
        .descendants()
        .filter(|n| n.tag_name().name() == "transportConnector")
    {
        let uri = c.attribute("uri").unwrap_or("");
        let scheme = uri.split("://").next().unwrap_or("");
        match (scheme, host_port(uri)) {
            ("stomp" | "stomp+nio", Some(a)) => listen.push(a),
            ("stomp+ssl" | "stomp+nio+ssl", Some(a)) => {
                listen.push(format!("stomp+ssl://{a}"));
                out.not_mapped.push(format!(
                    "transportConnector {uri}: add a [tls] table with the certificate and key"
                ));
            }
            ("tcp" | "nio", Some(a)) => cluster.push(a),
            _ => out
                .not_mapped
                .push(format!("transportConnector {uri}: no shoal equivalent")),
        }
    }
    if !listen.is_empty() {
        let _ = writeln!(t, "listen = {}", list(&listen));
    }
    let _ = writeln!(t, "\n[broker]");
    if let Some(name) = broker.attribute("brokerName") {
        let _ = writeln!(t, "name = {}", q(name));
    }
    for attr in broker.attributes() {
        if !matches!(
            attr.name(),
            "brokerName" | "dataDirectory" | "schemaLocation"
        ) {
            out.not_mapped.push(format!(
                "broker attribute {}=\"{}\"",
                attr.name(),
                attr.value()
            ));
        }
    }
    if !cluster.is_empty() {
        let _ = writeln!(
            t,
            "\n# The OpenWire connector carried the network of brokers: shoal's cluster port."
        );
        let _ = writeln!(t, "[cluster]\nlisten = {}", list(&cluster));
        // The peers log in as the users this broker's own connectors use (the seed's
        // mqcluster on both sides): they are the bridge users.
        let mut users: Vec<String> = broker
            .descendants()
            .filter(|n| n.tag_name().name() == "networkConnector")
            .filter_map(|n| n.attribute("userName").map(str::to_string))
            .collect();
        users.dedup();
        if !users.is_empty() {
            let _ = writeln!(t, "users = {}", list(&users));
        }
    }
    for n in broker
        .descendants()
        .filter(|n| n.tag_name().name() == "networkConnector")
    {
        let name = n.attribute("name").unwrap_or("bridge");
        let _ = writeln!(t, "\n[[bridge]]\nname = {}", q(name));
        let _ = writeln!(t, "uri = {}", q(n.attribute("uri").unwrap_or("")));
        if let Some(u) = n.attribute("userName") {
            let _ = writeln!(t, "user = {}", q(u));
        }
        if let Some(p) = n.attribute("password") {
            let _ = writeln!(
                t,
                "password = {}   # plaintext, as in activemq.xml: move it to password_file (0600)",
                q(p)
            );
            out.not_mapped.push(format!("networkConnector {name}: its password stays plaintext in the output; move it to a password_file"));
        }
        for (xml_attr, key) in [
            ("duplex", "duplex"),
            ("conduitSubscriptions", "conduit_subscriptions"),
            (
                "suppressDuplicateQueueSubscriptions",
                "suppress_duplicate_queue_subscriptions",
            ),
            (
                "decreaseNetworkConsumerPriority",
                "decrease_network_consumer_priority",
            ),
        ] {
            if let Some(v) = bool_attr(n, xml_attr) {
                let _ = writeln!(t, "{key} = {v}");
            }
        }
        for (xml_attr, key) in [
            ("networkTTL", "network_ttl"),
            ("messageTTL", "message_ttl"),
            ("consumerTTL", "consumer_ttl"),
        ] {
            if let Some(v) = n
                .attribute(xml_attr)
                .and_then(|v| v.trim().parse::<u32>().ok())
            {
                let _ = writeln!(t, "{key} = {v}");
            }
        }
        for (xml_el, key) in [
            (
                "dynamicallyIncludedDestinations",
                "dynamically_included_destinations",
            ),
            ("excludedDestinations", "excluded_destinations"),
            (
                "staticallyIncludedDestinations",
                "statically_included_destinations",
            ),
        ] {
            let d = destinations(child(n, xml_el));
            if !d.is_empty() {
                let _ = writeln!(t, "{key} = {}", list(&d));
            }
        }
        for attr in n.attributes() {
            let known = [
                "name",
                "uri",
                "userName",
                "password",
                "duplex",
                "conduitSubscriptions",
                "suppressDuplicateQueueSubscriptions",
                "decreaseNetworkConsumerPriority",
                "networkTTL",
                "messageTTL",
                "consumerTTL",
            ];
            if !known.contains(&attr.name()) {
                out.not_mapped.push(format!(
                    "networkConnector {name}: {}=\"{}\"",
                    attr.name(),
                    attr.value()
                ));
            }
        }
    }
    for u in broker
        .descendants()
        .filter(|n| n.tag_name().name() == "authenticationUser")
    {
        let name = u.attribute("username").unwrap_or("");
        let groups: Vec<String> = u
            .attribute("groups")
            .unwrap_or("")
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        let _ = writeln!(t, "\n[[user]]\nname = {}", q(name));
        match u.attribute("password") {
            Some(p) => {
                let h = hash_password(p).map_err(|e| e.to_string())?;
                let _ = writeln!(t, "password_hash = {}", q(&h));
            }
            None => out.not_mapped.push(format!(
                "user {name} has no password: add password_hash (shoal passwd)"
            )),
        }
        let _ = writeln!(t, "groups = {}", list(&groups));
    }
    let split = |v: Option<&str>| -> Vec<String> {
        v.unwrap_or("")
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect()
    };
    // ActiveMQ grants the union of every matching entry; shoal lets the most specific decide.
    // To keep the meaning, each entry also carries the groups of the entries that cover it.
    let mut acl: Vec<(String, [Vec<String>; 3])> = Vec::new();
    for e in broker
        .descendants()
        .filter(|n| n.tag_name().name() == "authorizationEntry")
    {
        let dest = match (e.attribute("queue"), e.attribute("topic")) {
            (Some(qn), _) => format!("queue://{qn}"),
            (_, Some(tn)) => format!("topic://{tn}"),
            _ => {
                out.not_mapped
                    .push("authorizationEntry without queue or topic".into());
                continue;
            }
        };
        acl.push((
            dest,
            [
                split(e.attribute("read")),
                split(e.attribute("write")),
                split(e.attribute("admin")),
            ],
        ));
    }
    let patterns: Vec<Option<crate::broker::destination::DestPattern>> = acl
        .iter()
        .map(|(d, _)| crate::broker::auth::acl::parse_acl_destination(d).ok())
        .collect();
    for (i, (dest, rights)) in acl.iter().enumerate() {
        let mut merged = rights.clone();
        for (j, (_, other)) in acl.iter().enumerate() {
            let covers = matches!((&patterns[j], &patterns[i]), (Some(pj), Some(pi)) if j != i && pj.covers(pi));
            if covers {
                for (m, o) in merged.iter_mut().zip(other) {
                    for g in o {
                        if !m.contains(g) {
                            m.push(g.clone());
                        }
                    }
                }
            }
        }
        let _ = writeln!(t, "\n[[acl]]\ndestination = {}", q(dest));
        for (right, groups) in ["read", "write", "admin"].iter().zip(&merged) {
            let _ = writeln!(t, "{right} = {}", list(groups));
        }
    }
    if broker
        .descendants()
        .any(|n| n.tag_name().name() == "tempDestinationAuthorizationEntry")
    {
        out.not_mapped.push("tempDestinationAuthorizationEntry: temporary destinations are private to their connection in shoal; add temp-queue:// ACL entries if others must write to them".into());
    }
    convert_storage(broker, &mut out);
    let mapped = [
        "persistenceAdapter",
        "systemUsage",
        "transportConnectors",
        "transportConnector",
        "networkConnectors",
        "networkConnector",
        "plugins",
        "simpleAuthenticationPlugin",
        "users",
        "authenticationUser",
        "authorizationPlugin",
        "map",
        "authorizationMap",
        "authorizationEntries",
        "authorizationEntry",
        "tempDestinationAuthorizationEntry",
        "dynamicallyIncludedDestinations",
        "excludedDestinations",
        "staticallyIncludedDestinations",
        "queue",
        "topic",
    ];
    for c in elements(broker) {
        let name = c.tag_name().name();
        if !mapped.contains(&name) {
            out.not_mapped
                .push(format!("<{name}> (shoal has its own defaults for it)"));
        }
    }
    Ok(out)
}

/// ActiveMQ sizes: `64 mb`, `100 gb`, `32mb`, `1024` (bytes), binary multiples.
fn size_bytes(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let mult = match v[digits..].trim() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `broker@persistent`, `persistenceAdapter` and `systemUsage` → `[store]` and `[limits]`.
fn convert_storage(broker: roxmltree::Node, out: &mut Imported) {
    let usage_limit = |name: &str| {
        broker
            .descendants()
            .find(|n| n.tag_name().name() == name && n.attribute("limit").is_some())
            .and_then(|n| n.attribute("limit"))
    };
    let mut store = Vec::new();
    if bool_attr(broker, "persistent") == Some(false) {
        store.push("enabled = false".to_string());
    }
    if let Some(k) = broker
        .descendants()
        .find(|n| n.tag_name().name() == "kahaDB")
    {
        out.not_mapped.push("persistenceAdapter kahaDB: shoal keeps persistent messages in its own journal ([store] dir, default ~/.local/share/shoal/store); messages in KahaDB are not migrated, so drain the queues before switching".into());
        if let Some(b) = k.attribute("journalMaxFileLength").and_then(size_bytes) {
            store.push(format!("segment_bytes = {b}"));
        }
    } else if broker
        .descendants()
        .any(|n| n.tag_name().name() == "persistenceAdapter")
    {
        out.not_mapped
            .push("persistenceAdapter (not kahaDB): shoal uses its own journal ([store])".into());
    }
    let mut limits = Vec::new();
    for (usage, key, table) in [
        ("storeUsage", "max_disk_bytes", &mut store),
        ("memoryUsage", "max_memory_bytes", &mut limits),
    ] {
        if let Some(v) = usage_limit(usage) {
            match size_bytes(v) {
                Some(b) => table.push(format!("{key} = {b}")),
                None => out
                    .not_mapped
                    .push(format!("{usage} limit {v:?}: not a size")),
            }
        }
    }
    if usage_limit("tempUsage").is_some() {
        out.not_mapped.push(
            "tempUsage: shoal keeps non-persistent messages in memory only (bounded by [limits])"
                .into(),
        );
    }
    for (table, lines) in [("store", store), ("limits", limits)] {
        if !lines.is_empty() {
            let _ = writeln!(out.toml, "\n[{table}]\n{}", lines.join("\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../tests/fixtures/activemq-mqbroker01.xml");

    #[test]
    fn the_seed_config_converts() {
        let out = convert(SEED).unwrap();
        let c = crate::config::Config::parse(&out.toml, std::path::Path::new("imported.toml"))
            .expect(&out.toml);
        assert_eq!(c.broker.name, "mqbroker01");
        assert_eq!(c.listen, ["0.0.0.0:6163"]);
        assert_eq!(c.cluster.as_ref().unwrap().listen, ["0.0.0.0:6166"]);
        assert_eq!(
            c.cluster.as_ref().unwrap().users.as_deref(),
            Some(&["mqcluster".to_string()][..])
        );
        let b = &c.bridges[0];
        assert_eq!(
            (b.name.as_str(), b.uri.as_str()),
            ("amq1-amq2", "static:(tcp://mqbroker02:6166)")
        );
        assert!(b.duplex && b.suppress_duplicate_queue_subscriptions && b.network_ttl == 2);
        assert_eq!(b.user.as_deref(), Some("mqcluster"));
        let qa = c.users.iter().find(|u| u.name == "qaadmin").unwrap();
        assert!(qa
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$"));
        assert_eq!(qa.groups, ["mcollective", "admins", "everyone"]);
        assert!(
            !out.toml.contains("muppetsfromspace"),
            "user passwords are hashed"
        );
        assert!(c
            .acls
            .iter()
            .any(|a| a.destination == "topic://mcollective.>"
                && a.write == ["mcollective", "admins"]));
        assert!(
            out.not_mapped
                .iter()
                .any(|m| m.contains("destroyApplicationContextOnStop")),
            "{:?}",
            out.not_mapped
        );
        assert!(
            out.not_mapped
                .iter()
                .any(|m| m.contains("managementContext")),
            "{:?}",
            out.not_mapped
        );
    }

    #[test]
    fn storage_settings_convert() {
        let xml = r#"<beans><broker xmlns="http://activemq.apache.org/schema/core" brokerName="b" persistent="false">
          <persistenceAdapter><kahaDB directory="/var/lib/activemq/kahadb" journalMaxFileLength="32mb"/></persistenceAdapter>
          <systemUsage><systemUsage>
            <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
            <storeUsage><storeUsage limit="100 gb"/></storeUsage>
            <tempUsage><tempUsage limit="50 gb"/></tempUsage>
          </systemUsage></systemUsage>
        </broker></beans>"#;
        let out = convert(xml).unwrap();
        let c = crate::config::Config::parse(&out.toml, std::path::Path::new("i.toml"))
            .expect(&out.toml);
        assert!(!c.store.enabled);
        assert_eq!(c.store.segment_bytes, 32 << 20);
        assert_eq!(c.store.max_disk_bytes, 100 << 30);
        assert_eq!(c.limits.max_memory_bytes, 64 << 20);
        let said = out.not_mapped.join("\n");
        assert!(said.contains("KahaDB are not migrated"), "{said}");
        assert!(said.contains("tempUsage"), "{said}");
        assert!(!said.contains("<systemUsage>"), "{said}");
        assert_eq!(size_bytes("1024"), Some(1024));
        assert_eq!(size_bytes("12 parsecs"), None);
    }

    #[test]
    fn bad_xml_is_reported() {
        assert!(convert("<beans><broker")
            .unwrap_err()
            .contains("not valid XML"));
        assert!(convert("<beans/>").unwrap_err().contains("no <broker>"));
    }
}
