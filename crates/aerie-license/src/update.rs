//! The update repository: a signed `index` document listing bundles, the choice of the
//! upgrade to install, and the `.tar.gz` bundles themselves ([`bundle`]).

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::license::DeviceType;
use crate::signed::{self, SignedError, VendorKey};

mod bundle;

pub use bundle::{
    BuiltBundle, BundleManifest, MANIFEST_NAME, ManifestFile, SOFTWARE_BINARY, build_bundle,
    check_bundle_file, unpack_bundle,
};

/// The kind string of a signed update index.
pub const INDEX_KIND: &str = "index";
/// The product name an index must carry.
pub const PRODUCT: &str = "aerie";

/// A release version `X.Y.Z`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

/// A text that is not an `X.Y.Z` version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a version: expected three numbers X.Y.Z, such as 5.0.7")]
pub struct VersionError(String);

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_owned());
        let number = |part: &str| -> Result<u32, VersionError> {
            let canonical = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if canonical {
                part.parse().map_err(|_| err())
            } else {
                Err(err())
            }
        };
        let mut parts = s.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c), None) => Ok(Self::new(number(a)?, number(b)?, number(c)?)),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a bundle updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleKind {
    /// The appliance software (`bin/aerie`).
    Software,
    /// Detection content (rules, feeds).
    Content,
}

impl fmt::Display for BundleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BundleKind::Software => "software",
            BundleKind::Content => "content",
        })
    }
}

/// The signed list of bundles an update source offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Must be [`PRODUCT`].
    pub product: String,
    pub issued_at: DateTime<Utc>,
    /// After this the index is refused, so an old index cannot be replayed forever.
    pub expires_at: DateTime<Utc>,
    pub bundles: Vec<BundleEntry>,
}

/// One bundle file in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleEntry {
    pub version: Version,
    pub kind: BundleKind,
    /// The oldest installed version this bundle can upgrade; `None` means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_from_version: Option<Version>,
    /// The file name next to the index (no directories).
    pub file: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    pub size: u64,
    pub released_at: DateTime<Utc>,
    /// The device the bundle is for; `None` means both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceType>,
}

impl BundleEntry {
    /// Whether the bundle is meant for `device`.
    pub fn applies_to(&self, device: DeviceType) -> bool {
        self.device.is_none_or(|d| d == device)
    }
}

/// Why an index, a choice of upgrade or a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The index envelope or its signature is bad.
    #[error("update index refused: {0}")]
    Signature(#[from] SignedError),
    #[error(
        "the update index expired on {expires_at}: it may be an old copy replayed; \
         check that the update source publishes a fresh index, and this appliance's clock"
    )]
    IndexExpired { expires_at: DateTime<Utc> },
    #[error("the update index is for product {found:?}, not {PRODUCT:?}: check the update source")]
    WrongProduct { found: String },
    /// Signed, but its content makes no sense.
    #[error("the update index is invalid: {0}")]
    BadIndex(String),
    #[error(
        "bundle {offered} is not newer than the installed version {current}: downgrades and \
         reinstalls are refused"
    )]
    Downgrade { current: Version, offered: Version },
    #[error(
        "bundle {offered} upgrades only from {min_from} or later; this appliance runs {current}: \
         install an intermediate version first"
    )]
    TooOld {
        current: Version,
        offered: Version,
        min_from: Version,
    },
    #[error("bundle {offered} is for {bundle_device} appliances; this one is {this}")]
    WrongDevice {
        offered: Version,
        bundle_device: DeviceType,
        this: DeviceType,
    },
    #[error("{file}: the bundle's SHA-256 is {found}; the signed index says {expected}: refused")]
    HashMismatch {
        file: String,
        found: String,
        expected: String,
    },
    #[error("{file}: the bundle is {found} bytes; the signed index says {expected}: refused")]
    SizeMismatch {
        file: String,
        found: u64,
        expected: u64,
    },
    /// The archive's content is unsafe or does not match its manifest.
    #[error("bad bundle: {0}")]
    BadBundle(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// Verifies a signed index and checks it is current, for this product, and well formed.
pub fn check_index(
    text: &str,
    trusted: &[VendorKey],
    now: DateTime<Utc>,
) -> Result<Index, UpdateError> {
    let index: Index = signed::verify(text, INDEX_KIND, trusted)?;
    if index.product != PRODUCT {
        return Err(UpdateError::WrongProduct {
            found: index.product,
        });
    }
    if index.expires_at <= index.issued_at {
        return Err(UpdateError::BadIndex(
            "it expires before it was issued".into(),
        ));
    }
    if now >= index.expires_at {
        return Err(UpdateError::IndexExpired {
            expires_at: index.expires_at,
        });
    }
    let mut files = HashSet::new();
    for (i, b) in index.bundles.iter().enumerate() {
        let bad = |why: String| {
            Err(UpdateError::BadIndex(format!(
                "bundle {}: {why}",
                b.version
            )))
        };
        if !is_plain_file_name(&b.file) {
            return bad(format!(
                "the file name {:?} is not a plain file name",
                b.file
            ));
        }
        if !files.insert(b.file.as_str()) {
            return bad(format!("the file {:?} is listed twice", b.file));
        }
        if b.sha256.len() != 64 || !b.sha256.bytes().all(|c| c.is_ascii_hexdigit()) {
            return bad(format!("{:?} is not a hex SHA-256", b.sha256));
        }
        if b.min_from_version.is_some_and(|m| m > b.version) {
            return bad("min_from_version is newer than the bundle".into());
        }
        let clash = index.bundles[..i].iter().any(|o| {
            o.version == b.version
                && o.kind == b.kind
                && (o.device.is_none() || b.device.is_none() || o.device == b.device)
        });
        if clash {
            return bad(format!(
                "two {} bundles of this version for the same device",
                b.kind
            ));
        }
    }
    Ok(index)
}

/// The newest bundle of `kind` for `device` that upgrades `current`: strictly newer, and
/// not requiring a newer starting version than `current`.
pub fn newest_for<'a>(
    index: &'a Index,
    current: &Version,
    device: DeviceType,
    kind: BundleKind,
) -> Option<&'a BundleEntry> {
    index
        .bundles
        .iter()
        .filter(|b| b.kind == kind && b.applies_to(device))
        .filter(|b| check_upgrade(b, current, device).is_ok())
        .max_by_key(|b| b.version)
}

/// Checks that `entry` may be installed over `current` on `device`, e.g. when an operator
/// picks a bundle by hand.
pub fn check_upgrade(
    entry: &BundleEntry,
    current: &Version,
    device: DeviceType,
) -> Result<(), UpdateError> {
    let offered = entry.version;
    if let Some(bundle_device) = entry.device.filter(|d| *d != device) {
        return Err(UpdateError::WrongDevice {
            offered,
            bundle_device,
            this: device,
        });
    }
    if offered <= *current {
        return Err(UpdateError::Downgrade {
            current: *current,
            offered,
        });
    }
    if let Some(min_from) = entry.min_from_version.filter(|m| m > current) {
        return Err(UpdateError::TooOld {
            current: *current,
            offered,
            min_from,
        });
    }
    Ok(())
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly_and_order_numerically() {
        assert_eq!("5.0.7".parse::<Version>().unwrap(), Version::new(5, 0, 7));
        for bad in [
            "5.0", "5.0.7.1", "5.0.x", "", "+1.0.0", "01.0.0", " 1.0.0", "1..0",
        ] {
            let e = bad.parse::<Version>().unwrap_err();
            assert!(e.to_string().contains("X.Y.Z"), "{bad:?}: {e}");
        }
        assert!(Version::new(5, 10, 0) > Version::new(5, 9, 99));
        assert_eq!(Version::new(1, 2, 3).to_string(), "1.2.3");
        assert_eq!(
            serde_json::to_string(&Version::new(1, 2, 3)).unwrap(),
            "\"1.2.3\""
        );
    }

    #[test]
    fn file_names_must_be_plain() {
        assert!(is_plain_file_name("aerie-5.1.0-software.tar.gz"));
        for bad in ["", "../x", "a/b", "a\\b", ".hidden", "x..y", "a b"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
