//! The passphrase a CM and its MCM share, from which both derive the device key.

use crate::DomainError;

/// A shared passphrase: 8 to 128 characters without control characters. It has no
/// `Debug` or `Display` output and its memory is wiped when it is dropped.
#[derive(Clone, PartialEq, Eq, zeroize::ZeroizeOnDrop)]
pub struct Passphrase(String);

impl Passphrase {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(field: &str, value: &str) -> Result<Passphrase, DomainError> {
        let length = value.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&length) {
            return Err(DomainError::new(
                field,
                format!(
                    "the passphrase must be {} to {} characters (it has {length})",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(DomainError::new(
                field,
                "the passphrase must not contain control characters",
            ));
        }
        Ok(Passphrase(value.to_owned()))
    }

    /// The secret itself, for key derivation and for the admin channel's request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_and_redaction() {
        assert!(Passphrase::parse("p", "short").is_err());
        assert!(Passphrase::parse("p", &"x".repeat(129)).is_err());
        assert!(Passphrase::parse("p", "tab\there!").is_err());
        let p = Passphrase::parse("p", "pass phrase 1").unwrap();
        assert_eq!(p.expose(), "pass phrase 1");
        assert_eq!(format!("{p:?}"), "Passphrase(******)");
    }
}
