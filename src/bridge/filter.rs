//! A bridge's destination filters: which demand may cross it (dynamically included, excluded)
//! and what it forwards regardless of demand (statically included).

use crate::broker::auth::acl::parse_acl_destination;
use crate::broker::destination::DestPattern;

#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub dynamic: Vec<DestPattern>,
    pub excluded: Vec<DestPattern>,
    pub statics: Vec<DestPattern>,
}

impl Filters {
    pub fn parse(
        dynamic: &[String],
        excluded: &[String],
        statics: &[String],
    ) -> Result<Filters, String> {
        let p = |list: &[String]| -> Result<Vec<DestPattern>, String> {
            list.iter()
                .map(|d| parse_acl_destination(d).map_err(|e| format!("{d}: {e}")))
                .collect()
        };
        Ok(Filters {
            dynamic: p(dynamic)?,
            excluded: p(excluded)?,
            statics: p(statics)?,
        })
    }

    /// Whether demand for `destination` (a subscription pattern) may be told to the peer.
    pub fn allows_demand(&self, destination: &str) -> bool {
        let Ok(d) = DestPattern::parse(destination) else {
            return false;
        };
        if d.kind.is_temp() {
            return false; // temporary destinations are private to one broker's connection
        }
        if is_broker_local(&d.pattern) {
            return false;
        }
        if self.excluded.iter().any(|x| x.covers(&d)) {
            return false;
        }
        self.dynamic.is_empty() || self.dynamic.iter().any(|x| x.overlaps(&d))
    }
}

/// `shoal.…` destinations are each broker's own services (stats stream, membership queries,
/// bridge controls): never forwarded, or one broker's TUI would show another's numbers.
pub fn is_broker_local(name: &str) -> bool {
    name.starts_with("shoal.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_and_temp() {
        let f = Filters::parse(
            &[
                "topic://mcollective.>".into(),
                "queue://mcollective.>".into(),
            ],
            &["topic://mcollective.secret.>".into()],
            &[],
        )
        .unwrap();
        assert!(f.allows_demand("/topic/mcollective.discovery.agent"));
        assert!(f.allows_demand("/topic/>"), "overlaps an include");
        assert!(!f.allows_demand("/topic/other"));
        assert!(!f.allows_demand("/topic/mcollective.secret.x"));
        assert!(!f.allows_demand("/temp-queue/x"));
        assert!(Filters::default().allows_demand("/queue/anything"));
        assert!(Filters::parse(&["nonsense".into()], &[], &[]).is_err());
    }
}
