//! Authorization: per-destination ACL entries in the spirit of ActiveMQ's authorizationEntry.
//!
//! Rules, in order:
//! - no entries at all: every authenticated principal may do everything (a single-user broker);
//! - otherwise the *most specific* entry matching the destination decides (`DestPattern::
//!   specificity`; on a tie, the entry listed first), and a destination no entry matches is
//!   denied;
//! - a wildcard SUBSCRIBE is refused when no entry overlapping it grants `read` (the user could
//!   read nothing through it); otherwise it is accepted and attached only to destinations the
//!   user may read, checked one destination at a time as they appear — so `/topic/>` from a QA
//!   admin delivers QA traffic and never production's.
//!
//! Groups are names; `*` in a list means every principal, `user:NAME` one user.

use crate::broker::destination::{DestPattern, Destination, DestinationError};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Admin,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Admin => "admin",
        })
    }
}

/// Who a connection is, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub groups: Vec<String>,
}

impl Principal {
    fn in_any(&self, groups: &[String]) -> bool {
        groups.iter().any(|g| {
            g == "*"
                || self.groups.iter().any(|mine| mine == g)
                || g.strip_prefix("user:") == Some(self.user.as_str())
        })
    }
}

#[derive(Debug, Clone)]
pub struct AclEntry {
    pub pattern: DestPattern,
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub admin: Vec<String>,
}

impl AclEntry {
    fn groups(&self, action: Action) -> &[String] {
        match action {
            Action::Read => &self.read,
            Action::Write => &self.write,
            Action::Admin => &self.admin,
        }
    }
}

/// `topic://a.>`, `queue://a`, `temp-queue://>` (ActiveMQ's style) or `/topic/a.>`.
pub fn parse_acl_destination(s: &str) -> Result<DestPattern, DestinationError> {
    let stomp = match s.split_once("://") {
        Some((kind, name)) => format!("/{kind}/{name}"),
        None => s.to_string(),
    };
    DestPattern::parse(&stomp)
}

#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Most specific first; stable, so equal specificity keeps file order.
    entries: Vec<AclEntry>,
}

impl Acl {
    pub fn new(mut entries: Vec<AclEntry>) -> Acl {
        entries.sort_by_key(|e| std::cmp::Reverse(e.pattern.specificity()));
        Acl { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[AclEntry] {
        &self.entries
    }

    /// The entry that decides for `dest`.
    pub fn entry_for(&self, dest: &Destination) -> Option<&AclEntry> {
        self.entries.iter().find(|e| e.pattern.matches(dest))
    }

    pub fn allows(&self, who: &Principal, action: Action, dest: &Destination) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        self.entry_for(dest)
            .is_some_and(|e| who.in_any(e.groups(action)))
    }

    /// Whether a wildcard subscription could deliver anything to `who` (see the module doc).
    pub fn may_read_some(&self, who: &Principal, pattern: &DestPattern) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        // Walk from most to least specific. An entry that covers the whole pattern decides
        // every destination the entries after it could have: stop there.
        for e in &self.entries {
            if e.pattern.overlaps(pattern) && who.in_any(&e.read) {
                return true;
            }
            if e.pattern.covers(pattern) {
                return false;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(d: &str, read: &[&str], write: &[&str]) -> AclEntry {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        AclEntry {
            pattern: parse_acl_destination(d).unwrap(),
            read: v(read),
            write: v(write),
            admin: v(write),
        }
    }

    fn who(user: &str, groups: &[&str]) -> Principal {
        Principal {
            user: user.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn d(s: &str) -> Destination {
        Destination::parse(s).unwrap()
    }

    fn seed() -> Acl {
        Acl::new(vec![
            entry("topic://>", &["admins"], &["admins"]),
            entry("queue://>", &["admins"], &["admins"]),
            entry(
                "topic://qacollective.>",
                &["qa", "admins"],
                &["qa", "admins"],
            ),
            entry(
                "queue://qacollective.>",
                &["qa", "admins"],
                &["qa", "admins"],
            ),
            entry(
                "topic://prodcollective.>",
                &["prod", "admins"],
                &["prod", "admins"],
            ),
            entry(
                "queue://prodcollective.>",
                &["prod", "admins"],
                &["prod", "admins"],
            ),
            entry("queue://qacollective.secret", &["user:auditor"], &[]),
        ])
    }

    #[test]
    fn most_specific_entry_wins_and_default_is_deny() {
        let acl = seed();
        let qa = who("qaadmin", &["qa"]);
        let admin = who("root", &["admins"]);
        let auditor = who("auditor", &[]);
        assert!(acl.allows(
            &qa,
            Action::Write,
            &d("/topic/qacollective.discovery.agent")
        ));
        assert!(!acl.allows(
            &qa,
            Action::Write,
            &d("/topic/prodcollective.discovery.agent")
        ));
        assert!(!acl.allows(&qa, Action::Read, &d("/queue/prodcollective.nodes")));
        assert!(!acl.allows(&qa, Action::Read, &d("/topic/other")));
        assert!(acl.allows(&admin, Action::Admin, &d("/topic/anything")));
        // The specific entry overrides the broader qacollective.> one, for qa and admins too.
        assert!(!acl.allows(&qa, Action::Read, &d("/queue/qacollective.secret")));
        assert!(!acl.allows(&admin, Action::Read, &d("/queue/qacollective.secret")));
        assert!(acl.allows(&auditor, Action::Read, &d("/queue/qacollective.secret")));
        // No entry for temp destinations: denied.
        assert!(!acl.allows(&admin, Action::Write, &d("/temp-queue/x")));
        assert!(
            Acl::default().allows(&qa, Action::Admin, &d("/topic/x")),
            "no ACL: allow"
        );
    }

    #[test]
    fn wildcard_subscriptions() {
        let acl = seed();
        let qa = who("qaadmin", &["qa"]);
        let p = |s: &str| DestPattern::parse(s).unwrap();
        assert!(!acl.may_read_some(&qa, &p("/topic/prodcollective.>")));
        assert!(!acl.may_read_some(&qa, &p("/topic/prodcollective.*.agent")));
        assert!(acl.may_read_some(&qa, &p("/topic/>")));
        assert!(acl.may_read_some(&qa, &p("/topic/*.discovery.agent")));
        assert!(!acl.may_read_some(&qa, &p("/queue/mcollective.>")));
        // A broad grant shadowed by a specific denial grants nothing.
        let acl = Acl::new(vec![
            entry("topic://>", &["*"], &[]),
            entry("topic://prod.>", &["prod"], &[]),
        ]);
        assert!(!acl.may_read_some(&qa, &p("/topic/prod.>")));
        assert!(acl.may_read_some(&qa, &p("/topic/>")));
    }

    #[test]
    fn everyone_and_user_entries() {
        let acl = Acl::new(vec![entry("topic://public.>", &["*"], &["user:bob"])]);
        assert!(acl.allows(&who("x", &[]), Action::Read, &d("/topic/public.a")));
        assert!(!acl.allows(&who("x", &[]), Action::Write, &d("/topic/public.a")));
        assert!(acl.allows(&who("bob", &[]), Action::Write, &d("/topic/public.a")));
    }
}
