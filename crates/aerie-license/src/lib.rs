//! Signed documents from the vendor, checked offline against trusted Ed25519 keys. Pure: no
//! HTTP and no database; the server fetches the texts and files, and stores the answers.
//!
//! - [`signed`]: the `aerie-<kind>-v1.<payload>.<signature>` envelope, vendor keys, signing.
//! - [`license`]: licenses bound to a device type and an appliance id.
//! - [`update`]: the signed update index, choosing an upgrade, and `.tar.gz` bundles.

pub mod license;
pub mod signed;
pub mod update;

pub use license::{DeviceType, License, LicenseRefusal, check_license};
pub use signed::{SignedError, SigningKey, VendorKey, verify};
pub use update::{
    BundleEntry, BundleKind, BundleManifest, Index, UpdateError, Version, build_bundle,
    check_bundle_file, check_index, newest_for, unpack_bundle,
};

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
