//! `[metrics]` resolved into what the metrics listener needs: the address (loopback unless
//! said otherwise), the broker's TLS certificate when `tls = true`, and the bearer token
//! read from its file — refused when others may read the file, like a private key.

use super::{security, Config, ConfigError};
use crate::metrics::MetricsSetup;
use std::path::Path;

impl Config {
    /// `None` when monitoring is off (no `[metrics]` table).
    pub fn metrics_setup(&self) -> Result<Option<MetricsSetup>, ConfigError> {
        let Some(m) = &self.metrics else {
            return Ok(None);
        };
        let src = self.source.as_deref();
        let invalid = |message: String| ConfigError::Invalid {
            path: src.map(Path::to_path_buf).unwrap_or_default(),
            message,
        };
        let addr = m
            .listen
            .parse()
            .map_err(|e| invalid(format!("[metrics] listen {:?}: {e} (HOST:PORT)", m.listen)))?;
        let tls = match (m.tls, &self.tls) {
            (false, _) => None,
            (true, None) => {
                return Err(invalid(
                    "[metrics] tls = true needs a [tls] table with cert and key".into(),
                ))
            }
            (true, Some(t)) => Some(
                crate::broker::tls::server_config(&self.resolved_tls(t))
                    .map_err(|e| invalid(format!("[tls]: {e}")))?,
            ),
        };
        let token = match &m.token_file {
            None => None,
            Some(f) => {
                let f = security::resolve(src, f);
                let bad = |e: String| invalid(format!("[metrics] token_file {}: {e}", f.display()));
                let mode = crate::broker::tls::exposed_mode(&f).map_err(|e| bad(e.to_string()))?;
                if mode != 0 {
                    return Err(bad(format!(
                        "readable by group or others (mode {mode:03o} beyond the owner's); chmod 600 it"
                    )));
                }
                let text = std::fs::read_to_string(&f).map_err(|e| bad(e.to_string()))?;
                let token = text.trim().to_string();
                if token.is_empty() {
                    return Err(bad("empty".into()));
                }
                Some(token)
            }
        };
        Ok(Some(MetricsSetup {
            addr,
            tls,
            token,
            top_destinations: m.top_destinations,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_the_table_loopback_with_it() {
        let c = Config::parse("", Path::new("b.toml")).unwrap();
        assert!(c.metrics_setup().unwrap().is_none());
        let c = Config::parse("[metrics]\n", Path::new("b.toml")).unwrap();
        let m = c.metrics_setup().unwrap().unwrap();
        assert_eq!(m.addr.to_string(), "127.0.0.1:9163");
        assert!(m.tls.is_none() && m.token.is_none());
        assert_eq!(m.top_destinations, 50);
    }

    #[test]
    fn tls_without_a_certificate_and_a_bad_address_are_named() {
        let c = Config::parse("[metrics]\ntls = true\n", Path::new("b.toml")).unwrap();
        let e = c.metrics_setup().err().unwrap().to_string();
        assert!(
            e.contains("[metrics] tls = true needs a [tls] table"),
            "{e}"
        );
        let c = Config::parse("[metrics]\nlisten = \"localhost\"\n", Path::new("b.toml")).unwrap();
        let e = c.metrics_setup().err().unwrap().to_string();
        assert!(e.contains("[metrics] listen \"localhost\""), "{e}");
    }
}
