//! Destination names and ActiveMQ wildcard patterns.
//!
//! A STOMP destination is `/topic/NAME`, `/queue/NAME`, `/temp-topic/NAME` or `/temp-queue/NAME`.
//! Names are dot-separated paths; in a SUBSCRIBE, `*` matches one element and `>` the rest
//! (ActiveMQ's syntax, which MCollective's `/topic/mcollective.>` style ACLs rely on).

use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DestKind {
    Topic,
    Queue,
    TempTopic,
    TempQueue,
}

impl DestKind {
    pub fn prefix(self) -> &'static str {
        match self {
            DestKind::Topic => "/topic/",
            DestKind::Queue => "/queue/",
            DestKind::TempTopic => "/temp-topic/",
            DestKind::TempQueue => "/temp-queue/",
        }
    }

    /// Queue semantics (one consumer per message) versus topic semantics (every subscriber).
    pub fn is_queue(self) -> bool {
        matches!(self, DestKind::Queue | DestKind::TempQueue)
    }

    pub fn is_temp(self) -> bool {
        matches!(self, DestKind::TempQueue | DestKind::TempTopic)
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DestinationError {
    #[error("destination {0:?} must start with /topic/, /queue/, /temp-topic/ or /temp-queue/")]
    UnknownPrefix(String),
    #[error("destination {0:?} has an empty name")]
    Empty(String),
    #[error("destination {0:?} has an empty path element")]
    EmptyElement(String),
    #[error("wildcards are only allowed in SUBSCRIBE, not in {0:?}")]
    WildcardNotAllowed(String),
    #[error("'>' must be the last element of {0:?}")]
    MisplacedRest(String),
}

/// A concrete destination: where a message is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub kind: DestKind,
    pub name: String,
}

impl Destination {
    fn split(s: &str) -> Result<(DestKind, &str), DestinationError> {
        let kinds = [
            DestKind::Topic,
            DestKind::Queue,
            DestKind::TempTopic,
            DestKind::TempQueue,
        ];
        for kind in kinds {
            if let Some(name) = s.strip_prefix(kind.prefix()) {
                if name.is_empty() {
                    return Err(DestinationError::Empty(s.into()));
                }
                let b = name.as_bytes();
                if b[0] == b'.'
                    || b[b.len() - 1] == b'.'
                    || memchr::memmem::find(b, b"..").is_some()
                {
                    return Err(DestinationError::EmptyElement(s.into()));
                }
                return Ok((kind, name));
            }
        }
        Err(DestinationError::UnknownPrefix(s.into()))
    }

    /// Parses a SEND destination; wildcards are refused (ActiveMQ would fan a SEND out over
    /// wildcards, but that turns one mistyped destination into a broadcast to the fleet).
    pub fn parse(s: &str) -> Result<Destination, DestinationError> {
        let (kind, name) = Destination::split(s)?;
        // Every SEND passes here: look for the characters before splitting into elements.
        if memchr::memchr2(b'*', b'>', name.as_bytes()).is_some()
            && name.split('.').any(|e| e == "*" || e == ">")
        {
            return Err(DestinationError::WildcardNotAllowed(s.into()));
        }
        Ok(Destination {
            kind,
            name: name.to_string(),
        })
    }

    pub fn new(kind: DestKind, name: impl Into<String>) -> Destination {
        Destination {
            kind,
            name: name.into(),
        }
    }
}

impl Destination {
    /// `/queue/name` and the like, rendered without the formatting machinery (once per
    /// message).
    pub fn render(&self) -> String {
        let prefix = self.kind.prefix();
        let mut s = String::with_capacity(prefix.len() + self.name.len());
        s.push_str(prefix);
        s.push_str(&self.name);
        s
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.prefix(), self.name)
    }
}

/// A SUBSCRIBE destination, possibly with wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestPattern {
    pub kind: DestKind,
    pub pattern: String,
    /// None when the pattern has no wildcard: matching is then one string comparison.
    elements: Option<Vec<Element>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    Literal(String),
    One,
    Rest,
}

impl DestPattern {
    pub fn parse(s: &str) -> Result<DestPattern, DestinationError> {
        let (kind, name) = Destination::split(s)?;
        let parts: Vec<&str> = name.split('.').collect();
        let wild = parts.iter().any(|p| *p == "*" || *p == ">");
        let elements = if wild {
            let mut els = Vec::with_capacity(parts.len());
            for (i, p) in parts.iter().enumerate() {
                els.push(match *p {
                    "*" => Element::One,
                    ">" if i + 1 == parts.len() => Element::Rest,
                    ">" => return Err(DestinationError::MisplacedRest(s.into())),
                    lit => Element::Literal(lit.to_string()),
                });
            }
            Some(els)
        } else {
            None
        };
        Ok(DestPattern {
            kind,
            pattern: name.to_string(),
            elements,
        })
    }

    /// The pattern that matches exactly `dest`, whatever characters its name holds.
    pub fn for_destination(dest: &Destination) -> DestPattern {
        DestPattern {
            kind: dest.kind,
            pattern: dest.name.clone(),
            elements: None,
        }
    }

    pub fn is_wildcard(&self) -> bool {
        self.elements.is_some()
    }

    /// The whole elements before the first wildcard, joined (`a.b` for `a.b.*.c`; empty for
    /// `>`): every name the pattern matches starts with them.
    pub fn literal_prefix(&self) -> String {
        let Some(els) = &self.elements else {
            return self.pattern.clone();
        };
        let literals: Vec<&str> = els
            .iter()
            .map_while(|e| match e {
                Element::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        literals.join(".")
    }

    /// Whether a message sent to `dest` is seen by this pattern.
    pub fn matches(&self, dest: &Destination) -> bool {
        self.kind == dest.kind && self.matches_name(&dest.name)
    }

    pub fn matches_name(&self, name: &str) -> bool {
        let Some(els) = &self.elements else {
            return self.pattern == name;
        };
        let mut parts = name.split('.');
        for el in els {
            match el {
                // `>` stands for one or more remaining elements.
                Element::Rest => return parts.next().is_some(),
                Element::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Element::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// The pattern's path elements (literals for a plain name).
    fn element_list(&self) -> Vec<Element> {
        match &self.elements {
            Some(e) => e.clone(),
            None => self
                .pattern
                .split('.')
                .map(|l| Element::Literal(l.to_string()))
                .collect(),
        }
    }

    /// Whether every destination `other` can match is matched by `self` too — how an ACL
    /// entry decides that it governs a whole wildcard subscription.
    pub fn covers(&self, other: &DestPattern) -> bool {
        fn cov(q: &[Element], p: &[Element]) -> bool {
            match (q.first(), p.first()) {
                (None, None) => true,
                (Some(Element::Rest), Some(_)) => true,
                (None, Some(_)) | (Some(_), None) => false,
                (Some(_), Some(Element::Rest)) => false,
                (Some(Element::One), Some(_)) => cov(&q[1..], &p[1..]),
                (Some(Element::Literal(a)), Some(Element::Literal(b))) => {
                    a == b && cov(&q[1..], &p[1..])
                }
                (Some(Element::Literal(_)), Some(Element::One)) => false,
            }
        }
        self.kind == other.kind && cov(&self.element_list(), &other.element_list())
    }

    /// Whether some destination is matched by both patterns.
    pub fn overlaps(&self, other: &DestPattern) -> bool {
        fn ov(q: &[Element], p: &[Element]) -> bool {
            match (q.first(), p.first()) {
                (None, None) => true,
                (None, Some(_)) | (Some(_), None) => false,
                (Some(Element::Rest), _) | (_, Some(Element::Rest)) => true,
                (Some(Element::Literal(a)), Some(Element::Literal(b))) => {
                    a == b && ov(&q[1..], &p[1..])
                }
                _ => ov(&q[1..], &p[1..]),
            }
        }
        self.kind == other.kind && ov(&self.element_list(), &other.element_list())
    }

    /// Orders patterns from general to specific: a plain name beats any wildcard; then more
    /// literal elements, then no `>`, then more elements. The ACL's "most specific wins" rule.
    pub fn specificity(&self) -> (bool, usize, bool, usize) {
        let els = self.element_list();
        let literals = els
            .iter()
            .filter(|e| matches!(e, Element::Literal(_)))
            .count();
        let rest = els.iter().any(|e| matches!(e, Element::Rest));
        (!self.is_wildcard(), literals, !rest, els.len())
    }

    /// The concrete destination this pattern names, when it has no wildcard.
    pub fn as_destination(&self) -> Option<Destination> {
        (!self.is_wildcard()).then(|| Destination::new(self.kind, self.pattern.clone()))
    }
}

impl fmt::Display for DestPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.prefix(), self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, d: &str) -> bool {
        DestPattern::parse(p)
            .unwrap()
            .matches(&Destination::parse(d).unwrap())
    }

    #[test]
    fn activemq_wildcards() {
        assert!(m(
            "/topic/mcollective.>",
            "/topic/mcollective.discovery.agent"
        ));
        assert!(m("/topic/mcollective.>", "/topic/mcollective.x"));
        assert!(!m("/topic/mcollective.>", "/topic/mcollective"));
        assert!(!m("/topic/mcollective.>", "/topic/qacollective.x"));
        assert!(m("/topic/*.discovery.agent", "/topic/qa.discovery.agent"));
        assert!(!m(
            "/topic/*.discovery.agent",
            "/topic/qa.x.discovery.agent"
        ));
        assert!(!m("/topic/*.agent", "/topic/qa.discovery"));
        assert!(m("/queue/a.b", "/queue/a.b"));
        assert!(!m("/queue/a.b", "/topic/a.b"));
        assert!(!m("/queue/a.*", "/queue/a"));
        assert!(m("/queue/>", "/queue/anything.at.all"));
    }

    #[test]
    fn covering_and_specificity() {
        let p = |s: &str| DestPattern::parse(s).unwrap();
        assert!(p("/topic/prod.>").covers(&p("/topic/prod.>")));
        assert!(p("/topic/prod.>").covers(&p("/topic/prod.*.agent")));
        assert!(p("/topic/prod.>").covers(&p("/topic/prod.x")));
        assert!(p("/topic/>").covers(&p("/topic/*.x")));
        assert!(p("/topic/*.x").covers(&p("/topic/a.x")));
        assert!(!p("/topic/prod.>").covers(&p("/topic/>")));
        assert!(!p("/topic/prod.>").covers(&p("/topic/*.agent")));
        assert!(!p("/topic/prod.>").covers(&p("/queue/prod.x")));
        assert!(!p("/topic/*.x").covers(&p("/topic/>")));
        assert!(!p("/topic/a.x").covers(&p("/topic/*.x")));
        assert!(p("/topic/a.>").overlaps(&p("/topic/*.b")));
        assert!(p("/topic/>").overlaps(&p("/topic/a.b.c")));
        assert!(!p("/topic/a.>").overlaps(&p("/topic/b.>")));
        assert!(!p("/topic/a.*").overlaps(&p("/topic/a.b.c")));
        assert!(!p("/topic/a").overlaps(&p("/queue/a")));
        assert!(p("/topic/a.b").specificity() > p("/topic/a.>").specificity());
        assert!(p("/topic/a.*.c").specificity() > p("/topic/a.>").specificity());
        assert!(p("/topic/a.>").specificity() > p("/topic/>").specificity());
        assert!(p("/topic/a.*").specificity() > p("/topic/a.>").specificity());
    }

    #[test]
    fn bad_destinations_are_named() {
        assert!(matches!(
            Destination::parse("/foo/bar"),
            Err(DestinationError::UnknownPrefix(_))
        ));
        assert!(matches!(
            Destination::parse("/queue/"),
            Err(DestinationError::Empty(_))
        ));
        assert!(matches!(
            Destination::parse("/queue/a..b"),
            Err(DestinationError::EmptyElement(_))
        ));
        assert!(matches!(
            Destination::parse("/topic/a.*"),
            Err(DestinationError::WildcardNotAllowed(_))
        ));
        assert!(matches!(
            DestPattern::parse("/topic/a.>.b"),
            Err(DestinationError::MisplacedRest(_))
        ));
    }
}
