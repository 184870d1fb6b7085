//! Who may connect (authentication) and what they may touch (authorization).
//!
//! The engine holds one `Security`: an `Authenticator` that turns CONNECT credentials or a
//! verified client certificate into a `Principal`, and an `Acl` that the engine consults on
//! every SEND, SUBSCRIBE, reply-to and destination creation. In-process clients (the TUI,
//! bridges' local side) act without a principal: they are the broker's own code.

pub mod acl;
pub mod password;
pub mod throttle;

pub use acl::{Acl, AclEntry, Action, Principal};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use throttle::{LoginThrottle, Outcome, Slot, ThrottleSettings};

/// A configured user, with its password already resolved to a hash.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub name: String,
    /// argon2 PHC string; `None` for certificate-only users.
    pub password_hash: Option<String>,
    pub groups: Vec<String>,
    /// Subject CN of the client certificate that logs in as this user.
    pub certificate_cn: Option<String>,
}

/// The one answer every failure gets, so a guesser cannot tell unknown users from wrong
/// passwords.
pub const AUTH_FAILED: &str = "authentication failed";

/// Who exists: the users and whether anonymous access is allowed. Replaced whole by a
/// reload (`Authenticator::replace`), while the throttle's memory of failures stays.
pub struct Directory {
    users: HashMap<String, UserRecord>,
    by_cn: HashMap<String, String>,
    /// The principal of connections without credentials, when anonymous access is allowed.
    anonymous: Option<Arc<Principal>>,
}

impl Directory {
    pub fn new(users: Vec<UserRecord>, anonymous: Option<Principal>) -> Directory {
        let by_cn = users
            .iter()
            .filter_map(|u| u.certificate_cn.clone().map(|cn| (cn, u.name.clone())))
            .collect();
        Directory {
            users: users.into_iter().map(|u| (u.name.clone(), u)).collect(),
            by_cn,
            anonymous: anonymous.map(Arc::new),
        }
    }

    /// The principal a user logs in as (the anonymous one under its name), for checks made
    /// on a user's behalf while it is not connected (durable subscriptions after a restart)
    /// and for connections re-checked by a reload.
    pub fn principal_of(&self, user: &str) -> Option<Arc<Principal>> {
        match self.users.get(user) {
            Some(u) => Some(principal(u)),
            None => self.anonymous.clone().filter(|a| a.user == user),
        }
    }
}

fn principal(u: &UserRecord) -> Arc<Principal> {
    Arc::new(Principal {
        user: u.name.clone(),
        groups: u.groups.clone(),
    })
}

pub struct Authenticator {
    directory: ArcSwap<Directory>,
    throttle: LoginThrottle,
    pub throttle_settings: ThrottleSettings,
    /// Successful (user, passcode) checks, keyed by a fast hash, so a fleet reconnecting at
    /// once does not pay argon2 per connection. Entries are dropped when a check fails.
    verified: Mutex<HashMap<(String, u64), ()>>,
    dummy_hash: String,
    /// Password checks running at once. Each argon2 check holds its memory cost (19 MiB by
    /// default) until it ends: 150 wrong passwords at once once took the broker to 2.8 GiB.
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
    /// argon2's working memory, one per check that ran at once, reused (see
    /// `password::verify_password_in`).
    scratch: Mutex<Vec<Vec<argon2::Block>>>,
}

impl Authenticator {
    pub fn new(
        users: Vec<UserRecord>,
        anonymous: Option<Principal>,
        throttle: ThrottleSettings,
    ) -> Authenticator {
        Authenticator::with_directory(Directory::new(users, anonymous), throttle)
    }

    pub fn with_directory(directory: Directory, throttle: ThrottleSettings) -> Authenticator {
        Authenticator {
            directory: ArcSwap::from_pointee(directory),
            throttle: LoginThrottle::default(),
            throttle_settings: throttle,
            verified: Mutex::new(HashMap::new()),
            dummy_hash: password::hash_password("shoal-dummy").unwrap_or_default(),
            scratch: Mutex::new(Vec::new()),
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4)),
            )),
        }
    }

    /// No users, everyone anonymous: for embedding and tests that do not exercise security.
    pub fn open() -> Authenticator {
        Authenticator::new(
            Vec::new(),
            Some(Principal {
                user: "anonymous".into(),
                groups: vec!["anonymous".into()],
            }),
            ThrottleSettings {
                base: Duration::from_millis(200),
                max: Duration::from_secs(10),
                forget_after: Duration::from_secs(900),
            },
        )
    }

    pub fn has_users(&self) -> bool {
        !self.directory.load().users.is_empty()
    }

    pub fn allows_anonymous(&self) -> bool {
        self.directory.load().anonymous.is_some()
    }

    /// Who exists now.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.load_full()
    }

    /// Puts a reloaded set of users in place; the throttle keeps what it knows. Verified
    /// passcodes stay: the cache is keyed by the user's stored hash, so a changed password
    /// misses it and a removed user is refused before it is consulted — and a fleet sharing
    /// an unchanged user does not pay argon2 again after every reload.
    pub fn replace(&self, directory: Arc<Directory>) {
        self.directory.store(directory);
    }

    /// The throttle's slot for an attempt from `ip` as `login` (see `throttle`).
    pub fn reserve(&self, ip: IpAddr, login: Option<&str>) -> Slot {
        self.throttle.reserve(ip, login, &self.throttle_settings)
    }

    /// See `LoginThrottle::failed_since`.
    pub fn failed_since(&self, slot: &Slot) -> bool {
        self.throttle.failed_since(slot)
    }

    /// Ends the attempt of `slot`; returns the address's recent failures.
    pub fn finish(&self, slot: Slot, outcome: Outcome) -> u32 {
        self.throttle.finish(slot, outcome, &self.throttle_settings)
    }

    /// Addresses and login names being spaced now (see `LoginThrottle::throttled`).
    pub fn throttled(&self) -> (usize, usize) {
        self.throttle.throttled(&self.throttle_settings)
    }

    /// How long the next attempt from `ip` would wait (for log lines).
    pub fn delay_for(&self, ip: IpAddr) -> Duration {
        self.throttle.delay_for(ip, &self.throttle_settings)
    }

    /// The verdict when no password needs hashing — no users, a certificate, no login, or a
    /// passcode already verified — and `None` when argon2 must decide (see `login`).
    pub fn quick(
        &self,
        login: Option<&str>,
        passcode: Option<&str>,
        cert_cn: Option<&str>,
    ) -> Option<Result<Arc<Principal>, &'static str>> {
        let dir = self.directory.load();
        // A broker with no users and anonymous access ignores credentials, as ActiveMQ does
        // without an authentication plugin (MCollective always sends some).
        if dir.users.is_empty() {
            return Some(dir.anonymous.clone().ok_or(AUTH_FAILED));
        }
        if let Some(user) = cert_cn.and_then(|cn| dir.by_cn.get(cn)) {
            if login.is_some_and(|l| l != user) {
                return Some(Err(AUTH_FAILED));
            }
            return Some(Ok(principal(&dir.users[user])));
        }
        let Some(login) = login.filter(|l| !l.is_empty()) else {
            return Some(dir.anonymous.clone().ok_or(AUTH_FAILED));
        };
        let user = dir.users.get(login)?;
        let hash = user.password_hash.as_ref()?;
        let key = (login.to_string(), fast_hash(hash, passcode.unwrap_or("")));
        self.verified
            .lock()
            .contains_key(&key)
            .then(|| Ok(principal(user)))
    }

    /// Decides who a CONNECT is. Blocking (argon2 takes milliseconds): call it from a blocking
    /// thread, as `login` does. `cert_cn` is the subject CN of a client certificate the TLS
    /// layer verified.
    pub fn authenticate(
        &self,
        login: Option<&str>,
        passcode: Option<&str>,
        cert_cn: Option<&str>,
    ) -> Result<Arc<Principal>, &'static str> {
        if let Some(verdict) = self.quick(login, passcode, cert_cn) {
            return verdict;
        }
        let dir = self.directory.load();
        let login = login.unwrap_or("");
        let passcode = passcode.unwrap_or("");
        let verify = |hash: &str| {
            let mut scratch = self.scratch.lock().pop().unwrap_or_default();
            let ok = password::verify_password_in(passcode, hash, &mut scratch);
            self.scratch.lock().push(scratch);
            ok
        };
        let Some(user) = dir.users.get(login) else {
            // Same work as for a real user, so timing does not reveal who exists.
            let _ = verify(&self.dummy_hash);
            return Err(AUTH_FAILED);
        };
        let Some(hash) = &user.password_hash else {
            return Err(AUTH_FAILED);
        };
        if verify(hash) {
            let mut v = self.verified.lock();
            if v.len() > 100_000 {
                v.clear();
            }
            v.insert((login.to_string(), fast_hash(hash, passcode)), ());
            Ok(principal(user))
        } else {
            Err(AUTH_FAILED)
        }
    }

    /// See `Directory::principal_of`.
    pub fn principal_of(&self, user: &str) -> Option<Arc<Principal>> {
        self.directory.load().principal_of(user)
    }
}

/// A keyed in-memory hash of a passcode: the cache never holds the passcode itself, and the
/// key (the stored hash, with its random salt) differs per user and per broker run.
fn fast_hash(key: &str, passcode: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static STATE: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut h = STATE.get_or_init(Default::default).build_hasher();
    h.write(key.as_bytes());
    h.write_u8(0);
    h.write(passcode.as_bytes());
    h.finish()
}

/// Everything the engine needs to decide who may do what. The users and the ACL can be
/// replaced while the broker runs (a reload); readers take the current ones.
pub struct Security {
    pub auth: Authenticator,
    acl: ArcSwap<Acl>,
    /// Whether the ACL has no entries (everyone may do everything): asked on every SEND,
    /// cheaper than loading the ACL (see `flow::SendLimits`).
    acl_empty: std::sync::atomic::AtomicBool,
}

impl Security {
    pub fn new(auth: Authenticator, acl: Acl) -> Security {
        Security {
            auth,
            acl_empty: acl.is_empty().into(),
            acl: ArcSwap::from_pointee(acl),
        }
    }

    /// No ACL entries: every authenticated principal may do everything.
    pub fn acl_is_empty(&self) -> bool {
        self.acl_empty.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn open() -> Security {
        Security::new(Authenticator::open(), Acl::default())
    }

    /// The ACL in force now.
    pub fn acl(&self) -> arc_swap::Guard<Arc<Acl>> {
        self.acl.load()
    }

    pub(crate) fn replace_acl(&self, acl: Acl) {
        use std::sync::atomic::Ordering::Release;
        // The flag only ever says "empty" while the ACL in place is: cleared before a
        // non-empty ACL goes in, set after an empty one did (a SEND never skips a check).
        let empty = acl.is_empty();
        if !empty {
            self.acl_empty.store(false, Release);
        }
        self.acl.store(Arc::new(acl));
        if empty {
            self.acl_empty.store(true, Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(anonymous: bool) -> Authenticator {
        let users = vec![
            UserRecord {
                name: "qaadmin".into(),
                password_hash: Some(password::hash_password("muppets").unwrap()),
                groups: vec!["qa".into()],
                certificate_cn: None,
            },
            UserRecord {
                name: "node7".into(),
                password_hash: None,
                groups: vec!["nodes".into()],
                certificate_cn: Some("node7.example.net".into()),
            },
        ];
        let anon = anonymous.then(|| Principal {
            user: "anonymous".into(),
            groups: vec![],
        });
        Authenticator::new(users, anon, Authenticator::open().throttle_settings)
    }

    #[test]
    fn passwords_certificates_and_anonymous() {
        let a = auth(false);
        assert_eq!(
            a.authenticate(Some("qaadmin"), Some("muppets"), None)
                .unwrap()
                .groups,
            ["qa"]
        );
        assert_eq!(
            a.authenticate(Some("qaadmin"), Some("muppets"), None)
                .unwrap()
                .user,
            "qaadmin",
            "cached path"
        );
        assert_eq!(
            a.authenticate(Some("qaadmin"), Some("wrong"), None),
            Err(AUTH_FAILED)
        );
        assert_eq!(
            a.authenticate(Some("nobody"), Some("muppets"), None),
            Err(AUTH_FAILED)
        );
        assert_eq!(a.authenticate(None, None, None), Err(AUTH_FAILED));
        assert_eq!(
            a.authenticate(Some("node7"), Some(""), None),
            Err(AUTH_FAILED),
            "certificate-only user"
        );
        assert_eq!(
            a.authenticate(None, None, Some("node7.example.net"))
                .unwrap()
                .user,
            "node7"
        );
        assert_eq!(
            a.authenticate(Some("qaadmin"), None, Some("node7.example.net")),
            Err(AUTH_FAILED)
        );
        assert_eq!(
            a.authenticate(None, None, Some("unknown.example.net")),
            Err(AUTH_FAILED)
        );
        let b = auth(true);
        assert_eq!(b.authenticate(None, None, None).unwrap().user, "anonymous");
        assert_eq!(
            b.authenticate(Some("qaadmin"), Some("wrong"), None),
            Err(AUTH_FAILED)
        );
        let open = Authenticator::open();
        assert_eq!(
            open.authenticate(Some("mcollective"), Some("marionette"), None)
                .unwrap()
                .user,
            "anonymous"
        );
    }

    #[test]
    fn a_reload_keeps_verified_passcodes_only_where_the_password_is_the_same() {
        let user = |name: &str, pass: &str| UserRecord {
            name: name.into(),
            password_hash: Some(password::hash_password(pass).unwrap()),
            groups: vec![],
            certificate_cn: None,
        };
        let (fleet, ops) = (user("fleet", "shared"), user("ops", "old"));
        let a = Authenticator::new(
            vec![fleet.clone(), ops],
            None,
            Authenticator::open().throttle_settings,
        );
        assert!(a.authenticate(Some("fleet"), Some("shared"), None).is_ok());
        assert!(a.authenticate(Some("ops"), Some("old"), None).is_ok());
        // ops's password changes, fleet's does not; nobody else exists.
        a.replace(Arc::new(Directory::new(
            vec![fleet, user("ops", "new")],
            None,
        )));
        assert!(
            matches!(a.quick(Some("fleet"), Some("shared"), None), Some(Ok(_))),
            "an unchanged user pays argon2 again after a reload"
        );
        assert_eq!(a.quick(Some("ops"), Some("old"), None), None);
        assert_eq!(
            a.authenticate(Some("ops"), Some("old"), None),
            Err(AUTH_FAILED)
        );
        assert!(a.authenticate(Some("ops"), Some("new"), None).is_ok());
        a.replace(Arc::new(Directory::new(vec![], None)));
        assert_eq!(
            a.authenticate(Some("fleet"), Some("shared"), None),
            Err(AUTH_FAILED)
        );
    }
}
