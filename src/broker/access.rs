//! The engine's authorization checks: which ACL right each operation needs, and the one
//! exception — a connection always owns its temporary destinations.
//!
//! | operation | needs |
//! |---|---|
//! | SEND | `write` on the destination; `admin` too when the SEND creates it |
//! | SEND with `reply-to` | `read` and `write` on the reply-to destination: a client may only direct answers where it could read them itself, so nobody can make nodes write into another scope |
//! | SUBSCRIBE | `read`; `admin` when it creates the destination; wildcards: see `auth::acl` |
//! | temp destinations | free for their owner; anyone else needs the right on `temp-queue://…` / `temp-topic://…` |
//!
//! Transactions are checked frame by frame as they arrive, not at COMMIT, so a denied SEND
//! inside a transaction fails at once.

use super::auth::{Action, Principal};
use super::destination::{DestPattern, Destination};
use super::engine::{Engine, EngineError};
use super::message::Message;
use super::state::Core;
use super::subscription::ConnId;

impl Engine {
    /// Checks one right for `who` on `dest`.
    fn check(
        &self,
        conn: ConnId,
        who: &Principal,
        action: Action,
        dest: &Destination,
    ) -> Result<(), EngineError> {
        if dest.kind.is_temp() && Engine::temp_owner(&dest.name) == Some(conn) {
            return Ok(());
        }
        if self.security.acl().allows(who, action, dest) {
            return Ok(());
        }
        let e = EngineError::Denied {
            user: who.user.clone(),
            action,
            destination: dest.to_string(),
        };
        self.counters.refused(&e);
        Err(e)
    }

    pub(super) fn authorize_send(
        &self,
        core: &Core,
        conn: ConnId,
        m: &Message,
    ) -> Result<(), EngineError> {
        self.authorize_send_to(core, conn, &m.destination, m.header("reply-to"))
    }

    /// The SEND check on its own, for a SEND that waits in a transaction: it is refused when
    /// it arrives, not at COMMIT.
    pub fn authorize_send_now(
        &self,
        conn: ConnId,
        dest: &Destination,
        reply_to: Option<&str>,
    ) -> Result<(), EngineError> {
        if self.security.acl_is_empty() {
            return Ok(());
        }
        let core = self.core.lock();
        self.authorize_send_to(&core, conn, dest, reply_to)
    }

    fn authorize_send_to(
        &self,
        core: &Core,
        conn: ConnId,
        dest: &Destination,
        reply_to: Option<&str>,
    ) -> Result<(), EngineError> {
        let Some(who) = core.conns.get(&conn).and_then(|c| c.principal.clone()) else {
            return Ok(());
        };
        if self.security.acl_is_empty() {
            return Ok(());
        }
        self.check(conn, &who, Action::Write, dest)?;
        if !core.dests.contains_key(dest) {
            self.check(conn, &who, Action::Admin, dest)?;
        }
        if let Some(reply_to) = reply_to {
            if let Ok(d) = Destination::parse(reply_to) {
                // The sender's own temp destination, as `make_message` will name it (a
                // transacted SEND is checked before that rewrite).
                let d = Engine::internal(conn, d);
                self.check(conn, &who, Action::Read, &d)?;
                self.check(conn, &who, Action::Write, &d)?;
            }
        }
        Ok(())
    }

    pub(super) fn authorize_subscribe(
        &self,
        core: &Core,
        conn: ConnId,
        who: &Principal,
        pattern: &DestPattern,
    ) -> Result<(), EngineError> {
        if self.security.acl_is_empty() {
            return Ok(());
        }
        match pattern.as_destination() {
            Some(d) => {
                self.check(conn, who, Action::Read, &d)?;
                if !core.dests.contains_key(&d) {
                    self.check(conn, who, Action::Admin, &d)?;
                }
                Ok(())
            }
            None if self.security.acl().may_read_some(who, pattern) => Ok(()),
            None => {
                let e = EngineError::Denied {
                    user: who.user.clone(),
                    action: Action::Read,
                    destination: pattern.to_string(),
                };
                self.counters.refused(&e);
                Err(e)
            }
        }
    }
}
