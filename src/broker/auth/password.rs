//! Password hashing: argon2id in PHC string form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
//!
//! Argon2id is memory-hard, so a stolen config does not give passwords away cheaply; checking
//! one costs tens of milliseconds of CPU, which is why sessions verify on a blocking thread and
//! why failures are throttled per address (see `throttle`).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Whether `password` matches `hash`, computed in `scratch` (grown to the hash's memory cost
/// and kept for the next check) rather than in a fresh allocation of that size per check. The allocator keeps
/// what it is given back: with fresh 19 MiB blocks a storm of wrong passwords grew the broker
/// by hundreds of MiB, two checks at a time; with the blocks reused it stays where it was.
pub fn verify_password_in(password: &str, hash: &str, scratch: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if scratch.len() < blocks {
        scratch.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut scratch[..blocks])
        .is_ok()
        && Output::new(out).is_ok_and(|o| o == expected) // constant-time comparison
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
        let mut scratch = Vec::new();
        for _ in 0..2 {
            assert!(verify_password_in("muppetsfromspace", &h, &mut scratch));
            assert!(!verify_password_in("muppetsfromspace ", &h, &mut scratch));
            assert!(!verify_password_in("", &h, &mut scratch));
        }
        assert_ne!(h, hash_password("muppetsfromspace").unwrap(), "salted");
    }

    #[test]
    fn bad_hashes_are_reported() {
        assert!(check_hash("muppetsfromspace").is_err());
        assert!(check_hash("").is_err());
        assert!(!verify_password_in("x", "not a hash", &mut Vec::new()));
    }

    #[test]
    fn random_passwords_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }
}
