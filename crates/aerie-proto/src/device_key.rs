//! Device keys: the secret every node of one federation derives from the shared
//! passphrase. FIPS mode derives it with a FIPS-approved KDF (PBKDF2-HMAC-SHA256), other
//! nodes with Argon2id, so nodes in different modes hold different keys and cannot
//! authenticate — the handshake carries the KDF id so the CM can say why.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};

/// A versioned key-derivation function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kdf {
    /// Argon2id, 19 MiB, 2 passes (outside FIPS mode).
    Argon2idV1,
    /// PBKDF2-HMAC-SHA256, 600,000 iterations (FIPS mode).
    Pbkdf2Sha256V1,
}

impl Kdf {
    pub fn for_fips(fips: bool) -> Kdf {
        if fips {
            Kdf::Pbkdf2Sha256V1
        } else {
            Kdf::Argon2idV1
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Kdf::Argon2idV1 => "argon2id-v1",
            Kdf::Pbkdf2Sha256V1 => "pbkdf2-sha256-v1",
        }
    }

    pub fn parse(id: &str) -> Option<Kdf> {
        [Kdf::Argon2idV1, Kdf::Pbkdf2Sha256V1]
            .into_iter()
            .find(|k| k.id() == id)
    }

    pub fn is_fips(self) -> bool {
        self == Kdf::Pbkdf2Sha256V1
    }
}

/// Domain separation: every node must derive the same key from the passphrase alone.
const SALT: &[u8] = b"aerie/mcm/device-key/v1";
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// 256 bits derived from the passphrase. Never printed, wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceKey([u8; 32]);

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(***)")
    }
}

impl Drop for DeviceKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl DeviceKey {
    /// Derives the key; costs a fraction of a second by design.
    pub fn derive(kdf: Kdf, passphrase: &str) -> DeviceKey {
        let mut out = [0u8; 32];
        match kdf {
            Kdf::Argon2idV1 => {
                let params =
                    Params::new(19 * 1024, 2, 1, Some(32)).expect("valid Argon2 parameters");
                Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                    .hash_password_into(passphrase.as_bytes(), SALT, &mut out)
                    .expect("Argon2 accepts these lengths");
            }
            Kdf::Pbkdf2Sha256V1 => aws_lc_rs::pbkdf2::derive(
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(PBKDF2_ITERATIONS).expect("non-zero"),
                SALT,
                passphrase.as_bytes(),
                &mut out,
            ),
        }
        DeviceKey(out)
    }

    /// Rebuilds a key kept in hex by [`DeviceKey::to_hex`].
    pub fn from_hex(hex: &str) -> Option<DeviceKey> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(DeviceKey(out))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// HMAC-SHA256 of `message` under this key, hex: proves knowledge of the key without
    /// revealing it.
    pub fn prove(&self, message: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        aws_lc_rs::hmac::sign(&key, message)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Checks a proof from [`DeviceKey::prove`] in constant time.
    pub fn verify(&self, message: &[u8], proof_hex: &str) -> bool {
        let Some(proof) = decode_hex(proof_hex) else {
            return false;
        };
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        aws_lc_rs::hmac::verify(&key, message, &proof).is_ok()
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_derive_different_keys_and_proofs_check() {
        let a = DeviceKey::derive(Kdf::Argon2idV1, "password123");
        let b = DeviceKey::derive(Kdf::Argon2idV1, "password123");
        let fips = DeviceKey::derive(Kdf::Pbkdf2Sha256V1, "password123");
        let other = DeviceKey::derive(Kdf::Argon2idV1, "password124");
        assert_eq!(a, b, "deterministic");
        assert_ne!(a, fips, "FIPS mode derives another key");
        assert_ne!(a, other);
        let proof = a.prove(b"challenge");
        assert!(b.verify(b"challenge", &proof));
        assert!(!fips.verify(b"challenge", &proof));
        assert!(!a.verify(b"other challenge", &proof));
        assert!(!a.verify(b"challenge", "zz"));
        assert_eq!(DeviceKey::from_hex(&a.to_hex()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "DeviceKey(***)");
        assert_eq!(
            Kdf::parse(Kdf::Pbkdf2Sha256V1.id()),
            Some(Kdf::Pbkdf2Sha256V1)
        );
    }
}
