//! MCollective request and reply envelopes (what `security/base.rb` builds), to and from the
//! Ruby Marshal bytes of a STOMP body.

use super::filter::Filter;
use super::marshal::{self, Encoding, MarshalError, Value};
use super::security::{SecurityError, SecurityProvider};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProtocolError {
    #[error("body is not Ruby Marshal: {0}")]
    Marshal(#[from] MarshalError),
    #[error("{0}")]
    Security(#[from] SecurityError),
    #[error("envelope has no {0}")]
    Missing(&'static str),
    #[error("request {id} from {sender} expired: sent {age} s ago, ttl {ttl} s")]
    Expired {
        id: String,
        sender: String,
        age: i64,
        ttl: i64,
    },
}

/// A request as a node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: String,
    pub sender_id: String,
    pub caller_id: String,
    pub collective: String,
    pub agent: String,
    pub filter: Filter,
    pub ttl: i64,
    /// Unix seconds when it was sent.
    pub msgtime: i64,
    /// The decoded payload: `"ping"` for discovery, a Hash for SimpleRPC.
    pub payload: Value,
}

/// A reply as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub request_id: String,
    pub sender_id: String,
    pub sender_agent: String,
    pub msgtime: i64,
    pub payload: Value,
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A new request id: 32 lowercase hex characters, like a uuid without dashes.
pub fn new_request_id() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

fn text(v: &Value, what: &'static str) -> Result<String, ProtocolError> {
    v.get(what)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or(ProtocolError::Missing(what))
}

fn ascii(s: &str) -> Value {
    Value::Str(s.as_bytes().to_vec(), Encoding::UsAscii)
}

impl Request {
    /// The Marshal bytes of the envelope, sealed by `security`.
    pub fn encode(&self, security: &dyn SecurityProvider) -> Vec<u8> {
        let body = security.request_body(&self.payload, self.ttl, self.msgtime);
        let mut env = vec![
            (
                Value::sym("body"),
                Value::Str(body.clone(), Encoding::Binary),
            ),
            (Value::sym("senderid"), Value::str(&self.sender_id)),
            (Value::sym("requestid"), ascii(&self.request_id)),
            (Value::sym("filter"), self.filter.to_value()),
            (Value::sym("collective"), Value::str(&self.collective)),
            (Value::sym("agent"), Value::str(&self.agent)),
            (Value::sym("callerid"), Value::str(&self.caller_id)),
            (Value::sym("ttl"), Value::Int(self.ttl)),
            (Value::sym("msgtime"), Value::Int(self.msgtime)),
        ];
        security.seal(&body, &mut env);
        marshal::dump(&Value::Hash(env))
    }

    /// Reads and verifies a request; a request older than its ttl is an error too, as in
    /// MCollective (`msgtime` + `ttl` < now), so clocks matter. The ttl and msgtime are those
    /// the security plugin vouches for (ssl: the signed ones).
    pub fn decode(bytes: &[u8], security: &dyn SecurityProvider) -> Result<Request, ProtocolError> {
        let env = marshal::load(bytes)?;
        let body = env
            .get("body")
            .and_then(Value::as_bytes)
            .ok_or(ProtocolError::Missing(":body"))?;
        let request_id = text(&env, "requestid")?;
        let sender_id = text(&env, "senderid")?;
        security.verify(body, &env)?;
        let ttl = env.get("ttl").and_then(Value::as_int).unwrap_or(60);
        let msgtime = env
            .get("msgtime")
            .and_then(Value::as_int)
            .ok_or(ProtocolError::Missing(":msgtime"))?;
        let (payload, ttl, msgtime) = security.open_request(body, ttl, msgtime)?;
        let age = now_secs() - msgtime;
        if age > ttl {
            return Err(ProtocolError::Expired {
                id: request_id,
                sender: sender_id,
                age,
                ttl,
            });
        }
        Ok(Request {
            payload,
            filter: env
                .get("filter")
                .map(Filter::from_value)
                .unwrap_or_default(),
            caller_id: text(&env, "callerid").unwrap_or_default(),
            collective: text(&env, "collective")?,
            agent: text(&env, "agent")?,
            request_id,
            sender_id,
            ttl,
            msgtime,
        })
    }
}

impl Reply {
    pub fn encode(&self, security: &dyn SecurityProvider) -> Vec<u8> {
        let body = marshal::dump(&self.payload);
        let mut env = vec![
            (Value::sym("senderid"), Value::str(&self.sender_id)),
            (Value::sym("requestid"), ascii(&self.request_id)),
            (Value::sym("senderagent"), Value::str(&self.sender_agent)),
            (Value::sym("msgtime"), Value::Int(self.msgtime)),
            (
                Value::sym("body"),
                Value::Str(body.clone(), Encoding::Binary),
            ),
        ];
        security.seal(&body, &mut env);
        marshal::dump(&Value::Hash(env))
    }

    pub fn decode(bytes: &[u8], security: &dyn SecurityProvider) -> Result<Reply, ProtocolError> {
        let env = marshal::load(bytes)?;
        let body = env
            .get("body")
            .and_then(Value::as_bytes)
            .ok_or(ProtocolError::Missing(":body"))?;
        security.verify(body, &env)?;
        Ok(Reply {
            request_id: text(&env, "requestid")?,
            sender_id: text(&env, "senderid")?,
            sender_agent: text(&env, "senderagent").unwrap_or_default(),
            msgtime: env.get("msgtime").and_then(Value::as_int).unwrap_or(0),
            payload: marshal::load(body)?,
        })
    }
}

/// The `:senderid` of an envelope, read without the key (for log lines about messages that
/// fail verification); `?` when there is none.
pub fn sender_of(bytes: &[u8]) -> String {
    marshal::load(bytes)
        .ok()
        .and_then(|v| {
            v.get("senderid")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

/// A one-line, human description of an MCollective body for logs and the TUI's tap: agent,
/// action, caller, filter and data of a request, or sender and status of a reply. Works
/// without the key (nothing is verified); `None` when the body is not an MCollective envelope.
pub fn describe(bytes: &[u8]) -> Option<String> {
    let env = marshal::load(bytes).ok()?;
    // The ssl plugin wraps a request's payload with its signed ttl: show the payload.
    let payload = env
        .get("body")
        .and_then(Value::as_bytes)
        .and_then(|b| marshal::load(b).ok())
        .map(|p| match p.get("ssl_msg") {
            Some(inner) => inner.clone(),
            None => p,
        });
    let s = |k: &str| {
        env.get(k)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    if env.get("senderagent").is_some() {
        let what = match &payload {
            Some(p @ Value::Hash(_)) => format!(
                "status {} {} data {}",
                p.get("statuscode").map(inspect).unwrap_or_default(),
                p.get("statusmsg").map(inspect).unwrap_or_default(),
                p.get("data").map(inspect).unwrap_or_default()
            ),
            Some(p) => inspect(p),
            None => "(undecodable body)".into(),
        };
        return Some(format!(
            "reply from {} agent {} request {}: {what}",
            s("senderid"),
            s("senderagent"),
            s("requestid")
        ));
    }
    env.get("agent")?;
    let (action, data) = match &payload {
        Some(p @ Value::Hash(_)) => (
            p.get("action").map(inspect).unwrap_or_default(),
            p.get("data").map(inspect).unwrap_or_default(),
        ),
        Some(p) => (inspect(p), String::new()),
        None => ("(undecodable body)".into(), String::new()),
    };
    let filter = env
        .get("filter")
        .map(Filter::from_value)
        .unwrap_or_default();
    Some(format!(
        "request {} from {} ({}) to {}.{} action {action}{}{} filter {} ttl {}",
        s("requestid"),
        s("senderid"),
        s("callerid"),
        s("collective"),
        s("agent"),
        if data.is_empty() { "" } else { " data " },
        data,
        filter.describe(),
        env.get("ttl").map(inspect).unwrap_or_default()
    ))
}

/// Ruby's `inspect`-like rendering of a value.
pub fn inspect(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(b, Encoding::Binary) if std::str::from_utf8(b).is_err() => {
            format!("<{} bytes>", b.len())
        }
        Value::Str(b, _) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::Sym(s) => format!(":{s}"),
        Value::Array(a) => format!("[{}]", a.iter().map(inspect).collect::<Vec<_>>().join(", ")),
        Value::Hash(h) => format!(
            "{{{}}}",
            h.iter()
                .map(|(k, v)| match k {
                    Value::Sym(s) => format!("{s}: {}", inspect(v)),
                    k => format!("{} => {}", inspect(k), inspect(v)),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
