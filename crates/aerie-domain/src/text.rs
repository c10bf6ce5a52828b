//! Validated text: bounded, free of control characters. Incident text is attacker-controlled;
//! these types bound its size and shape, escaping is the job of whoever renders it.

use std::fmt;

use crate::DomainError;

/// A bounded, single-line, non-empty string without control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Text(String);

/// Whether `c` changes how text reads without showing itself: bidirectional controls
/// (U+202E turns `invoice\u{202E}fdp.exe` into "invoiceexe.pdf"), zero-width characters,
/// the byte-order mark, the soft hyphen. Such characters are stored as sent and shown
/// by [`visible`].
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `text` with every invisible character ([`is_invisible`]) written as `<U+XXXX>`.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_invisible) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_invisible(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

impl Text {
    /// Longest name-like value (threat name, host name, user, OS).
    pub const SHORT: usize = 256;
    /// Longest URL-like value (source name: a domain, URL or email sender).
    pub const LONG: usize = 2048;

    /// Validates `value` for `field`, trimming surrounding whitespace.
    pub fn parse(field: &str, value: &str, max: usize) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(DomainError::new(field, "must not be empty"));
        }
        if value.chars().count() > max {
            return Err(DomainError::new(
                field,
                format!("must be at most {max} characters"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(DomainError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps text already validated when it was stored.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Stored JSON (behaviour details) holds text validated on the way in; reading it back
/// validates again, so a changed database cannot smuggle control characters.
impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Text::parse("text", &s, Text::LONG).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SHA-256 digest as 64 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::new(
                field,
                "must be a SHA-256 digest: 64 hex characters",
            ));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Sha256Hex::parse("sha256", &s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
        match value.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(DomainError::new(
                field,
                "must be a two-letter country code such as \"DE\"",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("validated ASCII")
    }
}

impl serde::Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_shown() {
        assert_eq!(visible("invoice\u{202E}fdp.exe"), "invoice<U+202E>fdp.exe");
        assert_eq!(visible("a\u{200B}b\u{FEFF}"), "a<U+200B>b<U+FEFF>");
        assert!(matches!(visible("plain é"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn text_rejects_empty_long_and_control() {
        assert!(Text::parse("f", "  ", 10).is_err());
        assert!(Text::parse("f", "abcdefghijk", 10).is_err());
        assert!(Text::parse("f", "a\nb", 10).is_err());
        assert_eq!(
            Text::parse("f", " <script> ", 10).unwrap().as_str(),
            "<script>"
        );
    }

    #[test]
    fn sha_and_country() {
        assert!(Sha256Hex::parse("f", &"A".repeat(64)).is_ok());
        assert!(Sha256Hex::parse("f", &"g".repeat(64)).is_err());
        assert_eq!(CountryCode::parse("c", "de").unwrap().as_str(), "DE");
        assert!(CountryCode::parse("c", "DEU").is_err());
    }
}
