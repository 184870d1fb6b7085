//! One login attempt, made the same way on the client port and the cluster port. Credentials
//! already verified (and logins that need no password) get in at once. Any other attempt
//! takes the throttle's slot for the address and the login name (`auth::throttle`), then
//! gets its verdict by argon2 on a blocking thread, with at most a few checks running at once
//! (`Authenticator::hashing`); one that finds the same credentials verified meanwhile is not
//! hashed again, so a fleet of nodes sharing a user and reconnecting at once costs one hash.
//! The rest wait their turn (up to `HASHING_WAIT`), holding no more than their credentials: a
//! storm of wrong passwords keeps the broker's memory flat instead of holding argon2's memory
//! cost for each.

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
        let (login, passcode, cn) = (
            creds.login.as_deref(),
            creds.passcode.as_deref(),
            creds.cert_cn.as_deref(),
        );
        // Credentials already verified (and logins that need no password) are let in at once:
        // they teach a guesser nothing, and a fleet reconnecting after a restart is mostly
        // these.
        if let Some(Ok(p)) = auth.quick(login, passcode, cn) {
            return Ok(p);
        }
        let mut pending = Pending { auth, slot: None };
        let verdict = loop {
            let slot = auth.reserve(ip, login);
            let wait = slot.wait;
            pending.slot = Some(slot);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if let Some(v) = auth.quick(login, passcode, cn) {
                break v;
            }
            let hashing = auth.hashing.clone().acquire_owned();
            let Ok(Ok(permit)) = tokio::time::timeout(HASHING_WAIT, hashing).await else {
                pending.finish(Outcome::Abandoned);
                return Err(LoginError::Busy);
            };
            // A failure from this address or name while we waited: back in line (see
            // `throttle`), so a parallel burst is judged no faster than a sequence.
            if pending.slot.as_ref().is_some_and(|s| auth.failed_since(s)) {
                drop(permit);
                pending.finish(Outcome::Abandoned);
                continue;
            }
            let engine = self.clone();
            break tokio::task::spawn_blocking(move || {
                let _permit = permit; // held until the hash is checked, even if we go away
                engine.security.auth.authenticate(
                    creds.login.as_deref(),
                    creds.passcode.as_deref(),
                    creds.cert_cn.as_deref(),
                )
            })
            .await
            .unwrap_or(Err(AUTH_FAILED));
        };
        match verdict {
            Ok(p) => {
                pending.finish(Outcome::Accepted);
                Ok(p)
            }
            Err(_) => {
                self.counters.login_failed();
                let failures = pending.finish(Outcome::Refused);
                Err(LoginError::Failed {
                    failures,
                    next: auth.delay_for(ip),
                })
            }
        }
    }
}
