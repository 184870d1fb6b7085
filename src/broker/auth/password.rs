//! Password hashing: argon2id in PHC string form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
//!
//! Argon2id is memory-hard, so a stolen config does not give passwords away cheaply; checking
//! one costs tens of milliseconds of CPU, which is why sessions verify on a blocking thread and
//! why failures are throttled per address (see `throttle`).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PasswordError {
    #[error("not an argon2 password hash (expected \"$argon2id$v=19$…\", as `shoal passwd` prints): {0}")]
    BadHash(String),
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

/// Hashes `password` with argon2id and a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Checks that `hash` is a PHC string argon2 can verify against (done at config load, so a
/// typo in a hash is a startup error rather than a user who can never log in).
pub fn check_hash(hash: &str) -> Result<(), PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|e| PasswordError::BadHash(e.to_string()))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(PasswordError::BadHash(format!(
            "algorithm {} is not argon2",
            parsed.algorithm
        )));
    }
    Ok(())
}

/// Whether `password` matches `hash` (constant-time comparison inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password for first-run admin accounts: 24 characters from a 62-letter alphabet
/// (~143 bits).
pub fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("muppetsfromspace").unwrap();
        assert!(h.starts_with("$argon2id$"));
        check_hash(&h).unwrap();
        assert!(verify_password("muppetsfromspace", &h));
        assert!(!verify_password("muppetsfromspace ", &h));
        assert!(!verify_password("", &h));
        assert_ne!(h, hash_password("muppetsfromspace").unwrap(), "salted");
    }

    #[test]
    fn bad_hashes_are_reported() {
        assert!(check_hash("muppetsfromspace").is_err());
        assert!(check_hash("").is_err());
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn random_passwords_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }
}
