//! MCollective's request filter: which nodes a request is for (`-I`, `-F`, `-C`, `-A`), as
//! carried in the envelope and as evaluated by a node (`security/base.rb` `validate_filter?`
//! and `util.rb`): every given condition must hold.

use super::marshal::Value;
use regex::Regex;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactFilter {
    pub fact: String,
    /// `==`, `=~`, `!=`, `<`, `>`, `<=`, `>=`.
    pub operator: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub facts: Vec<FactFilter>,
    pub classes: Vec<String>,
    pub agents: Vec<String>,
    pub identities: Vec<String>,
    /// Compound (`-S`) filters are carried but not evaluated: a node does not answer them.
    pub compound: Vec<Value>,
}

/// What a node knows about itself, for filtering.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    pub identity: String,
    pub facts: BTreeMap<String, String>,
    pub classes: Vec<String>,
    pub agents: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn str_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(Value::str).collect())
}

/// `value` or `/regex/` against `candidate`, as `Util.has_identity?`/`has_cf_class?` do.
fn matches_pattern(pattern: &str, candidate: &str) -> bool {
    match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        Some(re) => Regex::new(re).is_ok_and(|r| r.is_match(candidate)),
        None => pattern == candidate,
    }
}

impl FactFilter {
    /// Parses the `-F` syntax of `mco`: `os=Debian`, `os=/deb/`, `uptime>100`, `a!=b`, `x=~re`.
    pub fn parse(s: &str) -> Option<FactFilter> {
        let ops = ["<=", ">=", "!=", "==", "=~", "=>", "=<", "<", ">", "="];
        let (at, op) = ops
            .iter()
            .filter_map(|op| s.find(op).map(|i| (i, *op)))
            .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))?;
        let fact = s[..at].trim();
        let value = s[at + op.len()..].trim();
        if fact.is_empty() || value.is_empty() {
            return None;
        }
        let operator = match op {
            "=>" => ">=",
            "=<" => "<=",
            "=" if value.len() > 1 && value.starts_with('/') && value.ends_with('/') => "=~",
            "=" => "==",
            o => o,
        };
        Some(FactFilter {
            fact: fact.to_string(),
            operator: operator.to_string(),
            value: value.to_string(),
        })
    }

    pub fn matches(&self, facts: &BTreeMap<String, String>) -> bool {
        let Some(have) = facts.get(&self.fact) else {
            return false;
        };
        let value = self.value.as_str();
        match self.operator.as_str() {
            "=~" => {
                let re = value.trim_start_matches('/').trim_end_matches('/');
                Regex::new(re).is_ok_and(|r| r.is_match(have))
            }
            "==" => have == value,
            op => {
                let int = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                let ord = if int(have) && int(value) {
                    have.parse::<u128>()
                        .ok()
                        .zip(value.parse::<u128>().ok())
                        .map(|(a, b)| a.cmp(&b))
                } else if let (Ok(a), Ok(b)) = (have.parse::<f64>(), value.parse::<f64>()) {
                    a.partial_cmp(&b)
                } else {
                    Some(have.as_str().cmp(value))
                };
                let Some(ord) = ord else { return false };
                match op {
                    "!=" => ord.is_ne(),
                    "<" => ord.is_lt(),
                    ">" => ord.is_gt(),
                    "<=" => ord.is_le(),
                    ">=" => ord.is_ge(),
                    _ => false,
                }
            }
        }
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
            && self.classes.is_empty()
            && self.agents.is_empty()
            && self.identities.is_empty()
            && self.compound.is_empty()
    }

    /// The filter Hash (String keys, all five present, as `Util.empty_filter` makes it).
    pub fn to_value(&self) -> Value {
        let facts = Value::Array(
            self.facts
                .iter()
                .map(|f| {
                    Value::sym_hash([
                        ("fact", Value::str(&f.fact)),
                        ("operator", Value::str(&f.operator)),
                        ("value", Value::str(&f.value)),
                    ])
                })
                .collect(),
        );
        Value::Hash(vec![
            (Value::str("fact"), facts),
            (Value::str("cf_class"), str_array(&self.classes)),
            (Value::str("agent"), str_array(&self.agents)),
            (Value::str("identity"), str_array(&self.identities)),
            (Value::str("compound"), Value::Array(self.compound.clone())),
        ])
    }

    pub fn from_value(v: &Value) -> Filter {
        let facts = v
            .get_str_key("fact")
            .and_then(Value::as_array)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| {
                let field = |k| f.get(k).and_then(Value::as_str).map(str::to_string);
                Some(FactFilter {
                    fact: field("fact")?,
                    operator: field("operator")?,
                    value: field("value")?,
                })
            })
            .collect();
        Filter {
            facts,
            classes: strings(v.get_str_key("cf_class").or(v.get_str_key("puppet_class"))),
            agents: strings(v.get_str_key("agent")),
            identities: strings(v.get_str_key("identity")),
            compound: v
                .get_str_key("compound")
                .and_then(Value::as_array)
                .map(<[Value]>::to_vec)
                .unwrap_or_default(),
        }
    }

    /// Whether `node` should answer. Identity filters are alternatives (any may match, as mco
    /// sends several `-I`); every other condition must hold. Compound filters never match here.
    pub fn matches(&self, node: &NodeFacts) -> bool {
        if !self.compound.is_empty() {
            return false;
        }
        (self.identities.is_empty()
            || self
                .identities
                .iter()
                .any(|p| matches_pattern(p, &node.identity)))
            && self
                .classes
                .iter()
                .all(|p| node.classes.iter().any(|c| matches_pattern(p, c)))
            && self
                .agents
                .iter()
                .all(|p| node.agents.iter().any(|a| matches_pattern(p, a)))
            && self.facts.iter().all(|f| f.matches(&node.facts))
    }

    /// `-I node1 -F os==Debian` style, for logs and the TUI.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "(none)".into();
        }
        let mut parts = Vec::new();
        parts.extend(self.identities.iter().map(|i| format!("-I {i}")));
        parts.extend(
            self.facts
                .iter()
                .map(|f| format!("-F {}{}{}", f.fact, f.operator, f.value)),
        );
        parts.extend(self.classes.iter().map(|c| format!("-C {c}")));
        parts.extend(self.agents.iter().map(|a| format!("-A {a}")));
        if !self.compound.is_empty() {
            parts.push("-S …".into());
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeFacts {
        NodeFacts {
            identity: "web01.qa".into(),
            facts: [("os", "Debian"), ("cpus", "8"), ("load", "0.75")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            classes: vec!["role::web".into(), "base".into()],
            agents: vec!["discovery".into(), "rpcutil".into()],
        }
    }

    fn with(f: impl FnOnce(&mut Filter)) -> bool {
        let mut filter = Filter::default();
        f(&mut filter);
        filter.matches(&node())
    }

    #[test]
    fn fact_filter_syntax_is_mcos() {
        let p = |s| FactFilter::parse(s).map(|f| (f.fact, f.operator, f.value));
        let t = |a: &str, b: &str, c: &str| Some((a.into(), b.into(), c.into()));
        assert_eq!(p("os=Debian"), t("os", "==", "Debian"));
        assert_eq!(p("os=/deb/"), t("os", "=~", "/deb/"));
        assert_eq!(p("cpus>=4"), t("cpus", ">=", "4"));
        assert_eq!(p("cpus=>4"), t("cpus", ">=", "4"));
        assert_eq!(p("cpus < 4"), t("cpus", "<", "4"));
        assert_eq!(p("os!=RedHat"), t("os", "!=", "RedHat"));
        assert_eq!(p("os=~^Deb"), t("os", "=~", "^Deb"));
        assert_eq!(p("=x"), None);
        assert_eq!(p("novalue"), None);
    }

    #[test]
    fn every_condition_must_hold() {
        assert!(with(|_| {}));
        assert!(with(
            |f| f.identities = vec!["other".into(), "/^web/".into()]
        ));
        assert!(!with(|f| f.identities = vec!["web01".into()]));
        assert!(with(|f| f.classes = vec!["role::web".into()]));
        assert!(!with(
            |f| f.classes = vec!["role::web".into(), "role::db".into()]
        ));
        assert!(with(|f| f.agents = vec!["rpcutil".into()]));
        assert!(!with(|f| f.agents = vec!["puppet".into()]));
        for (s, want) in [
            ("os=Debian", true),
            ("os=/deb/", false),
            ("os=/Deb/", true),
            ("cpus>4", true),
            ("cpus>10", false), // compared as numbers, not as strings
            ("load<1.5", true),
            ("load>=0.75", true),
            ("missing=1", false),
        ] {
            let ok = with(|f| f.facts = vec![FactFilter::parse(s).unwrap()]);
            assert_eq!(ok, want, "{s}");
        }
        assert!(!with(|f| f.compound = vec![Value::Nil]));
    }

    #[test]
    fn round_trips_through_marshal_values() {
        let f = Filter {
            facts: vec![FactFilter::parse("os=Debian").unwrap()],
            classes: vec!["base".into()],
            agents: vec!["rpcutil".into()],
            identities: vec!["/web/".into()],
            compound: vec![],
        };
        assert_eq!(Filter::from_value(&f.to_value()), f);
        assert_eq!(f.describe(), "-I /web/ -F os==Debian -C base -A rpcutil");
    }
}
