//! Protocol versions and their negotiation.
//!
//! The version decides how header values are escaped, whether SUBSCRIBE needs an `id`, and
//! which header names an ACK uses, so sessions carry it everywhere.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V1_0,
    V1_1,
    V1_2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    fn parse(s: &str) -> Option<Version> {
        match s.trim() {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }

    /// Picks the highest version both sides speak from a CONNECT's `accept-version` header.
    /// No header means a 1.0 client. `Err` carries the versions the server supports, which the
    /// spec asks the ERROR frame to list.
    pub fn negotiate(accept_version: Option<&str>) -> Result<Version, &'static str> {
        let Some(list) = accept_version else {
            return Ok(Version::V1_0);
        };
        list.split(',')
            .filter_map(Version::parse)
            .max()
            .ok_or("1.0,1.1,1.2")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_highest_common() {
        assert_eq!(Version::negotiate(None), Ok(Version::V1_0));
        assert_eq!(Version::negotiate(Some("1.0,1.1")), Ok(Version::V1_1));
        assert_eq!(Version::negotiate(Some("1.2,1.0")), Ok(Version::V1_2));
        assert_eq!(Version::negotiate(Some("1.1,2.0")), Ok(Version::V1_1));
        assert!(Version::negotiate(Some("2.0,3.0")).is_err());
    }
}
