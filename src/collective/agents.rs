//! The agents a shoal node answers: `discovery` (ping → pong) and `rpcutil`, with the reply
//! shapes `agent/rpcutil.rb` produces, so `mco ping`, `mco rpc rpcutil …` and `mco inventory`
//! show shoal nodes like any other.

use super::filter::NodeFacts;
use super::marshal::Value;
use super::message::now_secs;
use std::sync::atomic::{AtomicU64, Ordering};

/// The agents every shoal node has.
pub const AGENTS: [&str; 2] = ["discovery", "rpcutil"];

/// Counters `rpcutil daemon_stats` reports (and `mco inventory` prints).
#[derive(Debug, Default)]
pub struct NodeStats {
    pub total: AtomicU64,
    pub validated: AtomicU64,
    pub unvalidated: AtomicU64,
    pub passed: AtomicU64,
    pub filtered: AtomicU64,
    pub ttlexpired: AtomicU64,
    pub replies: AtomicU64,
}

impl NodeStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything an agent may read about the node it runs on.
pub struct NodeContext<'a> {
    pub facts: &'a NodeFacts,
    pub main_collective: &'a str,
    pub collectives: &'a [String],
    pub config_file: &'a str,
    pub started: i64,
    pub stats: &'a NodeStats,
}

pub fn version() -> String {
    format!("shoal-{}", env!("CARGO_PKG_VERSION"))
}

/// The reply payload for `payload` sent to `agent`, or `None` when this node has no such agent.
pub fn handle(agent: &str, payload: &Value, ctx: &NodeContext) -> Option<Value> {
    match agent {
        "discovery" => Some(match payload.as_str() {
            Some("ping") => Value::str("pong"),
            other => Value::str(format!("Unknown Request: {}", other.unwrap_or("?"))),
        }),
        "rpcutil" => Some(rpcutil(payload, ctx)),
        _ => None,
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(Value::str).collect())
}

fn facts_hash(ctx: &NodeContext) -> Value {
    Value::Hash(
        ctx.facts
            .facts
            .iter()
            .map(|(k, v)| (Value::str(k), Value::str(v)))
            .collect(),
    )
}

fn fact_value(ctx: &NodeContext, name: &str) -> Value {
    ctx.facts
        .facts
        .get(name)
        .map(Value::str)
        .unwrap_or(Value::Nil)
}

fn agent_meta(name: &str) -> Value {
    Value::sym_hash([
        ("agent", Value::str(name)),
        ("license", Value::str("Apache-2.0")),
        (
            "timeout",
            Value::Int(if name == "discovery" { 5 } else { 2 }),
        ),
        ("description", Value::str(format!("{name} (shoal)"))),
        ("name", Value::str(name)),
        ("url", Value::str("https://github.com/shoal")),
        ("version", Value::str(version())),
        ("author", Value::str("shoal")),
    ])
}

/// A SimpleRPC reply: `{:statuscode, :statusmsg, :data}`.
fn rpc_reply(code: i64, msg: &str, data: Vec<(&str, Value)>) -> Value {
    Value::sym_hash([
        ("statuscode", Value::Int(code)),
        ("statusmsg", Value::str(msg)),
        ("data", Value::sym_hash(data)),
    ])
}

fn rpcutil(payload: &Value, ctx: &NodeContext) -> Value {
    let action = payload.get("action").and_then(Value::as_str).unwrap_or("");
    let arg = |k: &str| {
        payload
            .get("data")
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let agents: Vec<String> = AGENTS.iter().map(|s| s.to_string()).collect();
    let collectives = || strings(ctx.collectives);
    match action {
        "ping" => rpc_reply(0, "OK", vec![("pong", Value::Int(now_secs()))]),
        "collective_info" => rpc_reply(
            0,
            "OK",
            vec![
                ("main_collective", Value::str(ctx.main_collective)),
                ("collectives", collectives()),
            ],
        ),
        "inventory" => rpc_reply(
            0,
            "OK",
            vec![
                ("agents", strings(&agents)),
                ("facts", facts_hash(ctx)),
                ("version", Value::str(version())),
                ("classes", strings(&ctx.facts.classes)),
                ("main_collective", Value::str(ctx.main_collective)),
                ("collectives", collectives()),
                ("data_plugins", Value::Array(vec![])),
            ],
        ),
        "get_fact" => {
            let fact = arg("fact");
            rpc_reply(
                0,
                "OK",
                vec![
                    ("value", fact_value(ctx, &fact)),
                    ("fact", Value::str(fact)),
                ],
            )
        }
        "get_facts" => {
            let values = arg("facts")
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(|f| (Value::str(f), fact_value(ctx, f)))
                .collect();
            rpc_reply(0, "OK", vec![("values", Value::Hash(values))])
        }
        "agent_inventory" => rpc_reply(
            0,
            "OK",
            vec![(
                "agents",
                Value::Array(AGENTS.iter().map(|a| agent_meta(a)).collect()),
            )],
        ),
        "get_config_item" => {
            let item = arg("item");
            let value = match item.as_str() {
                "identity" => Value::str(&ctx.facts.identity),
                "main_collective" => Value::str(ctx.main_collective),
                "collectives" => collectives(),
                _ => {
                    return rpc_reply(1, &format!("Unknown config property {item}"), vec![]);
                }
            };
            rpc_reply(0, "OK", vec![("item", Value::str(item)), ("value", value)])
        }
        "daemon_stats" => {
            let n = |c: &AtomicU64| Value::Int(c.load(Ordering::Relaxed) as i64);
            let s = ctx.stats;
            rpc_reply(
                0,
                "OK",
                vec![
                    ("threads", Value::Array(vec![])),
                    ("agents", strings(&agents)),
                    ("pid", Value::Int(i64::from(std::process::id()))),
                    (
                        "times",
                        Value::sym_hash([
                            ("utime", Value::Float(0.0)),
                            ("stime", Value::Float(0.0)),
                        ]),
                    ),
                    ("configfile", Value::str(ctx.config_file)),
                    ("version", Value::str(version())),
                    ("starttime", Value::Int(ctx.started)),
                    ("total", n(&s.total)),
                    ("validated", n(&s.validated)),
                    ("unvalidated", n(&s.unvalidated)),
                    ("passed", n(&s.passed)),
                    ("filtered", n(&s.filtered)),
                    ("ttlexpired", n(&s.ttlexpired)),
                    ("replies", n(&s.replies)),
                ],
            )
        }
        other => rpc_reply(
            2,
            &format!("Unknown action '{other}' for agent rpcutil"),
            vec![],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_with<R>(f: impl FnOnce(&NodeContext) -> R) -> R {
        let facts = NodeFacts {
            identity: "n1".into(),
            facts: [("os".to_string(), "Debian".to_string())].into(),
            classes: vec!["base".into()],
            agents: AGENTS.iter().map(|s| s.to_string()).collect(),
        };
        let stats = NodeStats::default();
        let collectives = vec!["mcollective".to_string(), "qa".to_string()];
        f(&NodeContext {
            facts: &facts,
            main_collective: "mcollective",
            collectives: &collectives,
            config_file: "/etc/mcollective/server.cfg",
            started: 1,
            stats: &stats,
        })
    }

    fn rpc(action: &str, data: Vec<(&str, Value)>) -> Value {
        ctx_with(|c| {
            handle(
                "rpcutil",
                &Value::sym_hash([
                    ("agent", Value::str("rpcutil")),
                    ("action", Value::str(action)),
                    ("data", Value::sym_hash(data)),
                ]),
                c,
            )
            .unwrap()
        })
    }

    #[test]
    fn discovery_answers_ping_with_pong() {
        ctx_with(|c| {
            assert_eq!(
                handle("discovery", &Value::str("ping"), c),
                Some(Value::str("pong"))
            );
            assert_eq!(handle("puppet", &Value::str("x"), c), None);
        });
    }

    #[test]
    fn rpcutil_actions_reply_like_the_ruby_agent() {
        let r = rpc("get_fact", vec![("fact", Value::str("os"))]);
        assert_eq!(r.get("statuscode"), Some(&Value::Int(0)));
        assert_eq!(
            r.get("data").unwrap().get("value"),
            Some(&Value::str("Debian"))
        );
        let r = rpc("inventory", vec![]);
        let d = r.get("data").unwrap();
        assert_eq!(
            d.get("classes"),
            Some(&Value::Array(vec![Value::str("base")]))
        );
        assert_eq!(
            d.get("facts").unwrap().get_str_key("os"),
            Some(&Value::str("Debian"))
        );
        let r = rpc("collective_info", vec![]);
        assert_eq!(
            r.get("data")
                .unwrap()
                .get("collectives")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(
            rpc("ping", vec![])
                .get("data")
                .unwrap()
                .get("pong")
                .unwrap()
                .as_int()
                .unwrap()
                > 1_700_000_000
        );
        assert_eq!(
            rpc("get_config_item", vec![("item", Value::str("x"))]).get("statuscode"),
            Some(&Value::Int(1))
        );
        assert_eq!(
            rpc("reboot", vec![]).get("statuscode"),
            Some(&Value::Int(2))
        );
        let r = rpc("daemon_stats", vec![]);
        assert_eq!(
            r.get("data").unwrap().get("starttime"),
            Some(&Value::Int(1))
        );
    }
}
