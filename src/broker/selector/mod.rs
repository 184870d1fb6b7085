//! JMS message selectors over STOMP headers.
//!
//! MCollective's directed requests depend on this: every node subscribes to the one shared
//! `/queue/<collective>.nodes` with `selector: mc_identity = '<identity>'`, and only that node
//! may receive a request addressed to it. Evaluation follows SQL's three-valued logic: a missing
//! header is NULL, a comparison with NULL is unknown, and only a definite TRUE selects.

mod like;
mod parse;

use like::Like;

use std::fmt;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid selector at position {pos}: {msg}")]
pub struct SelectorError {
    /// 1-based character position in the selector text.
    pub pos: usize,
    pub msg: String,
}

impl SelectorError {
    fn new(pos: usize, msg: impl Into<String>) -> SelectorError {
        SelectorError {
            pos,
            msg: msg.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit(Literal),
    Ident(String),
    Neg(Box<Expr>),
    Arith(&'static str, Box<Expr>, Box<Expr>),
    Cmp(&'static str, Box<Expr>, Box<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Literal>),
    Like(Box<Expr>, Like),
    IsNull(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A compiled selector.
#[derive(Debug, Clone)]
pub struct Selector {
    source: String,
    expr: Expr,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A value during evaluation. Header values are strings; they compare as numbers when the other
/// side is numeric and they parse as one (STOMP has no typed properties, and ActiveMQ does the same
/// conversion for `JMSPriority > 4`-style selectors on STOMP messages).
#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Null,
    Str(std::borrow::Cow<'a, str>),
    Num(f64),
    Bool(bool),
}

impl<'a> Value<'a> {
    fn from_lit(l: &'a Literal) -> Value<'a> {
        match l {
            Literal::Str(s) => Value::Str(s.as_str().into()),
            Literal::Num(n) => Value::Num(*n),
            Literal::Bool(b) => Value::Bool(*b),
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl Selector {
    pub fn parse(source: &str) -> Result<Selector, SelectorError> {
        Ok(Selector {
            source: source.to_string(),
            expr: parse::Parser::parse(source)?,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The identity this selector addresses when it is MCollective's `mc_identity = 'x'`.
    pub fn mc_identity(&self) -> Option<&str> {
        match &self.expr {
            Expr::Cmp("=", l, r) => match (&**l, &**r) {
                (Expr::Ident(i), Expr::Lit(Literal::Str(s)))
                | (Expr::Lit(Literal::Str(s)), Expr::Ident(i))
                    if i == "mc_identity" =>
                {
                    Some(s)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// True only when the selector is definitely true for a message with these headers.
    pub fn matches<'h>(&self, lookup: &dyn Fn(&str) -> Option<&'h str>) -> bool {
        truth(&eval(&self.expr, lookup)) == Some(true)
    }
}

/// Maps JMS header names onto STOMP header names.
fn header_name(ident: &str) -> &str {
    match ident {
        "JMSMessageID" => "message-id",
        "JMSCorrelationID" => "correlation-id",
        "JMSPriority" => "priority",
        "JMSTimestamp" => "timestamp",
        "JMSType" => "type",
        "JMSExpiration" => "expires",
        "JMSReplyTo" => "reply-to",
        "JMSDestination" => "destination",
        "JMSDeliveryMode" => "persistent",
        other => other,
    }
}

fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn eval<'a, 'h: 'a>(e: &'a Expr, lookup: &dyn Fn(&str) -> Option<&'h str>) -> Value<'a> {
    match e {
        Expr::Lit(l) => Value::from_lit(l),
        Expr::Ident(name) => {
            if name == "JMSDeliveryMode" {
                return match lookup("persistent") {
                    Some("true") => Value::Str("PERSISTENT".into()),
                    _ => Value::Str("NON_PERSISTENT".into()),
                };
            }
            match lookup(header_name(name)) {
                Some(v) => Value::Str(v.into()),
                None => Value::Null,
            }
        }
        Expr::Neg(x) => match eval(x, lookup).num() {
            Some(n) => Value::Num(-n),
            None => Value::Null,
        },
        Expr::Arith(op, a, b) => match (eval(a, lookup).num(), eval(b, lookup).num()) {
            (Some(x), Some(y)) => Value::Num(match *op {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                _ => x / y,
            }),
            _ => Value::Null,
        },
        Expr::Cmp(op, a, b) => {
            let (a, b) = (eval(a, lookup), eval(b, lookup));
            match compare(&a, &b) {
                Some(ord) => Value::Bool(match *op {
                    "=" => ord.is_eq(),
                    "<>" => ord.is_ne(),
                    "<" => ord.is_lt(),
                    ">" => ord.is_gt(),
                    "<=" => ord.is_le(),
                    _ => ord.is_ge(),
                }),
                None => Value::Null,
            }
        }
        Expr::Between(x, lo, hi) => {
            let (x, lo, hi) = (eval(x, lookup), eval(lo, lookup), eval(hi, lookup));
            match (compare(&x, &lo), compare(&x, &hi)) {
                (Some(a), Some(b)) => Value::Bool(a.is_ge() && b.is_le()),
                _ => Value::Null,
            }
        }
        Expr::In(x, items) => {
            let x = eval(x, lookup);
            if x == Value::Null {
                return Value::Null;
            }
            Value::Bool(
                items
                    .iter()
                    .any(|l| compare(&x, &Value::from_lit(l)) == Some(std::cmp::Ordering::Equal)),
            )
        }
        Expr::Like(x, pattern) => match eval(x, lookup) {
            Value::Str(s) => Value::Bool(pattern.matches(&s)),
            _ => Value::Null,
        },
        Expr::IsNull(x) => Value::Bool(eval(x, lookup) == Value::Null),
        Expr::Not(x) => match truth(&eval(x, lookup)) {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        },
        Expr::And(a, b) => match (truth(&eval(a, lookup)), truth(&eval(b, lookup))) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => Value::Null,
        },
        Expr::Or(a, b) => match (truth(&eval(a, lookup)), truth(&eval(b, lookup))) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => Value::Null,
        },
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Str(x), Value::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Str(s)) | (Value::Str(s), Value::Bool(x)) => {
            let y = s.eq_ignore_ascii_case("true");
            if !(y || s.eq_ignore_ascii_case("false")) {
                return None;
            }
            Some(x.cmp(&y)).map(|o| {
                if matches!(a, Value::Bool(_)) {
                    o
                } else {
                    o.reverse()
                }
            })
        }
        _ => a.num()?.partial_cmp(&b.num()?),
    }
}

#[cfg(test)]
mod tests;
