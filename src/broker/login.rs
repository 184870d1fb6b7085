//! One login attempt, made the same way on the client port and the cluster port: the
//! throttle's slot for the address and the login name (`auth::throttle`), then the verdict —
//! at once when no password needs hashing, otherwise by argon2 on a blocking thread, with at
//! most a few checks running at once (`Authenticator::hashing`). The rest wait their turn (up
//! to `HASHING_WAIT`), holding no more than their credentials: a storm of wrong passwords
//! keeps the broker's memory flat instead of holding argon2's memory cost for each.

use super::auth::throttle::{Outcome, Slot};
use super::auth::{Authenticator, Principal, AUTH_FAILED};
use super::engine::Engine;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// How long an attempt waits for a turn at hashing before it is turned away (not counted
/// as a failure).
pub const HASHING_WAIT: Duration = Duration::from_secs(30);

/// What a CONNECT presents.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub login: Option<String>,
    pub passcode: Option<String>,
    /// Subject CN of a client certificate the TLS layer verified.
    pub cert_cn: Option<String>,
}

#[derive(Debug, Error)]
pub enum LoginError {
    /// Wrong credentials (one answer for every reason: see `AUTH_FAILED`).
    #[error("{AUTH_FAILED}")]
    Failed {
        /// Recent failures from the address.
        failures: u32,
        /// How long the address's next attempt waits.
        next: Duration,
    },
    #[error("too many logins at once: try again later")]
    Busy,
}

/// Ends the slot when the attempt is dropped before it is judged.
struct Pending<'a> {
    auth: &'a Authenticator,
    slot: Option<Slot>,
}

impl Pending<'_> {
    fn finish(&mut self, outcome: Outcome) -> u32 {
        self.slot
            .take()
            .map_or(0, |slot| self.auth.finish(slot, outcome))
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.finish(Outcome::Abandoned);
    }
}

impl Engine {
    /// Decides who a CONNECT from `ip` is.
    pub async fn login(
        self: &Arc<Self>,
        ip: IpAddr,
        creds: Credentials,
    ) -> Result<Arc<Principal>, LoginError> {
        let auth = &self.security.auth;
        let slot = auth.reserve(ip, creds.login.as_deref());
        let wait = slot.wait;
        let mut pending = Pending {
            auth,
            slot: Some(slot),
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let quick = auth.quick(
            creds.login.as_deref(),
            creds.passcode.as_deref(),
            creds.cert_cn.as_deref(),
        );
        let verdict = match quick {
            Some(v) => v,
            None => {
                let hashing = auth.hashing.clone().acquire_owned();
                let Ok(Ok(permit)) = tokio::time::timeout(HASHING_WAIT, hashing).await else {
                    pending.finish(Outcome::Abandoned);
                    return Err(LoginError::Busy);
                };
                let engine = self.clone();
                tokio::task::spawn_blocking(move || {
                    let _permit = permit; // held until the hash is checked, even if we go away
                    engine.security.auth.authenticate(
                        creds.login.as_deref(),
                        creds.passcode.as_deref(),
                        creds.cert_cn.as_deref(),
                    )
                })
                .await
                .unwrap_or(Err(AUTH_FAILED))
            }
        };
        match verdict {
            Ok(p) => {
                pending.finish(Outcome::Accepted);
                Ok(p)
            }
            Err(_) => {
                let failures = pending.finish(Outcome::Refused);
                Err(LoginError::Failed {
                    failures,
                    next: auth.delay_for(ip),
                })
            }
        }
    }
}
