//! docs/configuration.md against the config's structs: every ```toml block there parses as a
//! config, and at every table the documented keys are exactly the keys the structs accept
//! (read from serde's own "unknown field …, expected one of …" answer), so neither can drift.

use super::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const REFERENCE: &str = include_str!("../../docs/configuration.md");

fn toml_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Keys per table path ("" for the top level, "bridge.tls" for a table in `[[bridge]]`).
fn documented(v: &toml::Value, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    let Some(t) = v.as_table() else { return };
    let keys = out.entry(path.to_string()).or_default();
    keys.extend(t.keys().cloned());
    for (k, v) in t {
        let sub = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match v {
            toml::Value::Table(_) => documented(v, &sub, out),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                for i in items {
                    documented(i, &sub, out);
                }
            }
            _ => {}
        }
    }
}

/// The config text that puts an unknown key at table `path`, inside whatever that table
/// needs around it (`[[bridge]]` needs a name and a uri before its `[bridge.tls]`).
fn probe(path: &str, arrays: &BTreeSet<String>) -> String {
    const KEY: &str = "zz_not_a_key = 1\n";
    match path {
        "" => KEY.to_string(),
        "bridge.tls" => {
            format!("[[bridge]]\nname = \"b\"\nuri = \"static:(tcp://h:1)\"\n[bridge.tls]\n{KEY}")
        }
        p if arrays.contains(p) => format!("[[{p}]]\n{KEY}"),
        p => format!("[{p}]\n{KEY}"),
    }
}

/// The fields serde says the table at `path` accepts.
fn accepted(path: &str, arrays: &BTreeSet<String>) -> BTreeSet<String> {
    let text = probe(path, arrays);
    let err = Config::parse(&text, Path::new("probe.toml"))
        .err()
        .unwrap_or_else(|| panic!("an unknown key at [{path}] was accepted"))
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .or_else(|| err.split("expected ").nth(1))
        .unwrap_or_else(|| panic!("[{path}]: no field list in {err:?}"));
    list.split([',', ' '])
        .filter(|f| *f != "or")
        .map(|f| f.trim().trim_matches('`').to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn every_documented_key_exists_and_every_key_is_documented() {
    let blocks = toml_blocks(REFERENCE);
    assert!(
        !blocks.is_empty(),
        "no toml blocks in docs/configuration.md"
    );
    let mut docs = BTreeMap::new();
    let mut arrays = BTreeSet::new();
    for b in &blocks {
        Config::parse(b, Path::new("docs/configuration.md")).unwrap_or_else(|e| {
            panic!("a block of docs/configuration.md does not parse: {e}\n{b}")
        });
        let v: toml::Value = toml::from_str(b).unwrap();
        for (k, item) in v.as_table().unwrap() {
            if item
                .as_array()
                .is_some_and(|a| a.iter().all(toml::Value::is_table))
            {
                arrays.insert(k.clone());
            }
        }
        documented(&v, "", &mut docs);
    }
    let mut problems = Vec::new();
    for (path, keys) in &docs {
        let code = accepted(path, &arrays);
        for k in code.difference(keys) {
            problems.push(format!(
                "[{path}] {k}: accepted by the config, not documented"
            ));
        }
        for k in keys.difference(&code) {
            problems.push(format!("[{path}] {k}: documented, not a key"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
}
