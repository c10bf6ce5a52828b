//! The signed envelope: `aerie-<kind>-v1.<base64url(payload JSON)>.<base64url(signature)>`.
//!
//! The Ed25519 signature covers the ASCII bytes `aerie-<kind>-v1.<base64url payload>`, so the
//! kind is signed too: a license never verifies as an update index, and the reverse.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

const FORMAT_VERSION: &str = "v1";
const MAX_TEXT_LEN: usize = 8 * 1024 * 1024;

/// Why a signed text was refused, or a key could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignedError {
    /// Not an Aerie signed document at all (cut short, not base64, another format).
    #[error("this is not a valid Aerie signed document: {0}")]
    Malformed(String),
    /// A well-formed document of another kind, e.g. a license where an update index belongs.
    #[error("this is an Aerie {found} document, not a {expected}: load the right file")]
    WrongKind { expected: String, found: String },
    /// No trusted key verifies the signature.
    #[error(
        "the signature does not verify with the vendor key {keys}: the document was altered \
         or signed by someone else"
    )]
    BadSignature { keys: String },
    /// The list of trusted vendor keys is empty.
    #[error("no vendor key is trusted, so no signed document can be checked: configure one")]
    NoTrustedKeys,
    /// The signature verifies, but the payload is not the expected JSON.
    #[error("the signed document's content is not understood: {0}")]
    BadPayload(String),
    /// A key could not be parsed, loaded, generated or used.
    #[error("{0}")]
    Key(String),
}

/// A vendor's Ed25519 public key (raw 32 bytes), trusted to sign licenses and update indexes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorKey([u8; 32]);

impl VendorKey {
    /// Wraps the raw 32 bytes of an Ed25519 public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short hex id (the first 8 bytes of the key's SHA-256) to show which key is trusted.
    pub fn fingerprint(&self) -> String {
        let d = digest::digest(&digest::SHA256, &self.0);
        crate::hex(&d.as_ref()[..8])
    }
}

impl FromStr for VendorKey {
    type Err = SignedError;

    /// Base64, standard or URL-safe, padded or not, of the raw 32 bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(s).ok())
            .ok_or_else(|| {
                SignedError::Key("the vendor key is not base64 (of its 32 raw bytes)".into())
            })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            SignedError::Key(format!(
                "the vendor key is {} bytes long; an Ed25519 public key has 32",
                b.len()
            ))
        })?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for VendorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for VendorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VendorKey({})", self.fingerprint())
    }
}

impl Serialize for VendorKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for VendorKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The vendor's private Ed25519 key, for the vendor tool and for tests.
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// A fresh random key pair.
    pub fn generate() -> Result<Self, SignedError> {
        Ed25519KeyPair::generate()
            .map(Self)
            .map_err(|_| SignedError::Key("could not generate an Ed25519 key pair".into()))
    }

    /// Loads a key saved by [`SigningKey::to_pkcs8`] (PKCS#8 v1 or v2 DER).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignedError> {
        Ed25519KeyPair::from_pkcs8(der)
            .map(Self)
            .map_err(|e| SignedError::Key(format!("not an Ed25519 PKCS#8 private key: {e}")))
    }

    /// The key as PKCS#8 v2 DER, for saving; the buffer is wiped when dropped.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, SignedError> {
        let doc = self
            .0
            .to_pkcs8()
            .map_err(|_| SignedError::Key("could not serialize the signing key".into()))?;
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }

    /// The public half, to hand to appliances as a trusted [`VendorKey`].
    pub fn public(&self) -> VendorKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.0.public_key().as_ref());
        VendorKey(raw)
    }

    /// Serializes `payload` to JSON and signs it as a document of `kind`.
    pub fn sign_document(
        &self,
        kind: &str,
        payload: &impl Serialize,
    ) -> Result<String, SignedError> {
        check_kind(kind)?;
        let json =
            serde_json::to_vec(payload).map_err(|e| SignedError::BadPayload(e.to_string()))?;
        let signed_part = format!("{}.{}", header(kind), URL_SAFE_NO_PAD.encode(json));
        let sig = self
            .0
            .try_sign(signed_part.as_bytes())
            .map_err(|_| SignedError::Key("signing failed".into()))?;
        Ok(format!(
            "{signed_part}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public().fingerprint())
    }
}

/// Checks `text` as a document of `kind` signed by one of `trusted` (a rotation list, tried
/// in order) and decodes its payload. Whitespace anywhere in `text` is ignored, so a text
/// pasted with line breaks still verifies.
pub fn verify<T: DeserializeOwned>(
    text: &str,
    kind: &str,
    trusted: &[VendorKey],
) -> Result<T, SignedError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(malformed("it is larger than 8 MiB"));
    }
    let text: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if text.is_empty() {
        return Err(malformed("it is empty"));
    }
    let mut parts = text.split('.');
    let (Some(head), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three parts separated by '.'"));
    };
    let found = head
        .strip_prefix("aerie-")
        .and_then(|rest| rest.rsplit_once('-'))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| malformed("it does not start with aerie-<kind>-v1"))?;
    let (found_kind, found_version) = found;
    if found_version != FORMAT_VERSION {
        return Err(malformed(&format!(
            "format {found_version} is not supported (this appliance reads {FORMAT_VERSION})"
        )));
    }
    if found_kind != kind {
        return Err(SignedError::WrongKind {
            expected: kind.into(),
            found: found_kind.into(),
        });
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| malformed("the signature is not base64url"))?;
    if sig.len() != 64 {
        return Err(malformed("the signature is not 64 bytes long"));
    }
    if trusted.is_empty() {
        return Err(SignedError::NoTrustedKeys);
    }
    let signed_part = &text[..head.len() + 1 + payload.len()];
    let ok = trusted.iter().any(|key| {
        UnparsedPublicKey::new(&ED25519, key.as_bytes())
            .verify(signed_part.as_bytes(), &sig)
            .is_ok()
    });
    if !ok {
        let keys = trusted
            .iter()
            .map(VendorKey::fingerprint)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SignedError::BadSignature { keys });
    }
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the payload is not base64url"))?;
    serde_json::from_slice(&json).map_err(|e| SignedError::BadPayload(e.to_string()))
}

fn header(kind: &str) -> String {
    format!("aerie-{kind}-{FORMAT_VERSION}")
}

fn check_kind(kind: &str) -> Result<(), SignedError> {
    let ok = !kind.is_empty()
        && !kind.starts_with('-')
        && !kind.ends_with('-')
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(malformed(&format!(
            "the kind {kind:?} must be lowercase letters, digits and inner '-'"
        )))
    }
}

fn malformed(why: &str) -> SignedError {
    SignedError::Malformed(why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_key_round_trips_through_text() {
        let key = SigningKey::generate().unwrap().public();
        let text = key.to_string();
        assert_eq!(text.parse::<VendorKey>().unwrap(), key);
        let url = URL_SAFE_NO_PAD.encode(key.as_bytes());
        assert_eq!(url.parse::<VendorKey>().unwrap(), key);
        assert_eq!(key.fingerprint().len(), 16);
    }

    #[test]
    fn vendor_key_refuses_wrong_length() {
        let err = STANDARD.encode([1u8; 31]).parse::<VendorKey>().unwrap_err();
        assert!(err.to_string().contains("31 bytes"), "{err}");
        assert!("not base64!".parse::<VendorKey>().is_err());
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        let key = SigningKey::generate().unwrap();
        let loaded = SigningKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(loaded.public(), key.public());
        assert!(SigningKey::from_pkcs8(b"junk").is_err());
    }

    #[test]
    fn bad_kinds_are_refused_when_signing() {
        let key = SigningKey::generate().unwrap();
        for kind in ["", "License", "a.b", "-x", "x-"] {
            assert!(key.sign_document(kind, &1).is_err(), "{kind:?}");
        }
    }

    #[test]
    fn envelope_shape_and_whitespace() {
        let key = SigningKey::generate().unwrap();
        let text = key.sign_document("note", &"hello").unwrap();
        assert!(text.starts_with("aerie-note-v1."));
        let wrapped: String = text
            .as_bytes()
            .chunks(20)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let got: String = verify(&format!("\n  {wrapped}\r\n"), "note", &[key.public()]).unwrap();
        assert_eq!(got, "hello");
    }

    #[test]
    fn other_format_versions_and_shapes_are_malformed() {
        let key = SigningKey::generate().unwrap();
        let text = key.sign_document("note", &"hello").unwrap();
        let v2 = text.replacen("-v1.", "-v2.", 1);
        let trusted = [key.public()];
        for bad in [v2.as_str(), "", "a.b", "aerie-note-v1.x.y.z", "jwt.abc.def"] {
            assert!(
                matches!(
                    verify::<String>(bad, "note", &trusted),
                    Err(SignedError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn empty_trust_list_is_its_own_error() {
        let key = SigningKey::generate().unwrap();
        let text = key.sign_document("note", &"hello").unwrap();
        assert_eq!(
            verify::<String>(&text, "note", &[]),
            Err(SignedError::NoTrustedKeys)
        );
    }
}
