//! Secrets: random tokens of each kind, their stored form, and password hashes.
//!
//! Every token is 256 random bits, base64url, after its kind's prefix; only its SHA-256
//! is stored. This module is the ground floor: it imports nothing of the crate.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;

/// What a random secret is for; the prefix tells kinds apart on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SecretKind {
    /// A login session (`st_…`), sent as a cookie or a bearer token.
    Session,
    /// A user's API key (`ak_…`).
    ApiKey,
    /// The token the MCM presents to a CM for live actions (`px_…`).
    Proxy,
    /// The credential an MCM issues to a registered CM (`cm_…`).
    CmCredential,
    /// The credential firewalls and EDRs fetch mitigation feeds with (`fd_…`).
    FeedCredential,
    /// A registration nonce (`n_…`).
    Nonce,
    /// A CM's stable identity (`cm-…`, shortened).
    CmUid,
    /// A generated password (no prefix).
    Password,
}

impl SecretKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            SecretKind::Session => "st_",
            SecretKind::ApiKey => "ak_",
            SecretKind::Proxy => "px_",
            SecretKind::CmCredential => "cm_",
            SecretKind::FeedCredential => "fd_",
            SecretKind::Nonce => "n_",
            SecretKind::CmUid => "cm-",
            SecretKind::Password => "",
        }
    }

    /// Whether `secret` is of this kind, by its prefix.
    pub fn marks(self, secret: &str) -> bool {
        secret.starts_with(self.prefix())
    }

    /// The first characters of a secret of this kind, shown to tell keys apart.
    pub fn display_prefix(self, secret: &str) -> String {
        secret.chars().take(self.prefix().len() + 6).collect()
    }
}

/// A fresh 256-bit random secret of `kind`.
pub fn new_secret(kind: SecretKind) -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
    format!(
        "{}{}",
        kind.prefix(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret: SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a password as an Argon2id PHC string.
pub fn hash_password(password: &str) -> String {
    // Hashing fails only on parameters out of range or a failing RNG, neither of which
    // the default parameters and the system RNG produce.
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .expect("Argon2id with default parameters hashes any password")
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A PHC hash of a password nobody knows, verified against when the user does not exist
/// so that unknown and known user names take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_secret(SecretKind::Password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret(SecretKind::ApiKey);
        assert!(SecretKind::ApiKey.marks(&a) && a.len() == 3 + 43);
        assert_ne!(a, new_secret(SecretKind::ApiKey));
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), a);
        assert_eq!(SecretKind::ApiKey.display_prefix(&a), a[..9]);
    }
}
