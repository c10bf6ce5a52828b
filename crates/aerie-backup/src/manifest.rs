//! The manifest (the archive's last member), member names and the member checks.

use std::collections::HashMap;

use aws_lc_rs::digest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::BackupError;

/// The name of the manifest member; no other member may use it.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The manifest format this crate writes and reads.
pub const MANIFEST_FORMAT: u8 = 1;
/// A manifest larger than this is refused rather than read into memory.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// What the server says about the backup; stored in the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestMeta {
    /// The product version that wrote the backup.
    pub version: String,
    /// `"cm"` or `"mcm"`.
    pub role: String,
    pub created: DateTime<Utc>,
    /// The store's schema version.
    pub schema: i64,
    /// The server's own fields.
    pub extra: serde_json::Value,
}

/// `manifest.json`: the meta fields plus one entry per member, in archive order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u8,
    pub version: String,
    pub role: String,
    pub created: DateTime<Utc>,
    pub schema: i64,
    pub members: Vec<Member>,
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl Manifest {
    pub(crate) fn new(meta: ManifestMeta, members: Vec<Member>) -> Self {
        Manifest {
            format: MANIFEST_FORMAT,
            version: meta.version,
            role: meta.role,
            created: meta.created,
            schema: meta.schema,
            members,
            extra: meta.extra,
        }
    }

    /// Checks that the members found in the archive are exactly those the manifest lists,
    /// with the same sizes and digests.
    pub(crate) fn check_members(&self, found: &[Member]) -> Result<(), BackupError> {
        let mut listed: HashMap<&str, &Member> = HashMap::with_capacity(self.members.len());
        for member in &self.members {
            if listed.insert(&member.name, member).is_some() {
                return Err(BackupError::ManifestMismatch(format!(
                    "it lists {:?} twice",
                    member.name
                )));
            }
        }
        for member in found {
            let Some(entry) = listed.remove(member.name.as_str()) else {
                return Err(BackupError::bad_member(
                    &member.name,
                    "it is in the archive but not in the manifest",
                ));
            };
            if entry.size != member.size {
                return Err(BackupError::bad_member(
                    &member.name,
                    format!(
                        "it has {} bytes, the manifest says {}",
                        member.size, entry.size
                    ),
                ));
            }
            if !entry.sha256.eq_ignore_ascii_case(&member.sha256) {
                return Err(BackupError::bad_member(
                    &member.name,
                    "its SHA-256 differs from the manifest's",
                ));
            }
        }
        if let Some(name) = self
            .members
            .iter()
            .map(|m| m.name.as_str())
            .find(|n| listed.contains_key(n))
        {
            return Err(BackupError::ManifestMismatch(format!(
                "it lists {name:?}, which the archive lacks"
            )));
        }
        Ok(())
    }
}

/// One member of the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// A relative, `/`-separated path such as `store/aerie.db`.
    pub name: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Checks a member name: relative, `/`-separated, no empty, `.` or `..` component, no
/// backslash or control character.
pub(crate) fn check_name(name: &str) -> Result<(), BackupError> {
    let refuse = |reason: &str| Err(BackupError::bad_member(name, reason));
    if name.is_empty() {
        return refuse("the name is empty");
    }
    if name.len() > 4096 {
        return refuse("the name is longer than 4096 bytes");
    }
    if name.starts_with('/') {
        return refuse("the name is an absolute path");
    }
    if name.contains('\\') || name.chars().any(char::is_control) {
        return refuse("the name contains a backslash or a control character");
    }
    for part in name.split('/') {
        match part {
            "" => return refuse("the name has an empty component"),
            "." | ".." => return refuse("the name has a `.` or `..` component"),
            _ => {}
        }
    }
    Ok(())
}

/// SHA-256 and byte count of a stream, computed while it passes through.
pub(crate) struct Digester {
    ctx: digest::Context,
    pub size: u64,
}

impl Digester {
    pub fn new() -> Self {
        Digester {
            ctx: digest::Context::new(&digest::SHA256),
            size: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.ctx.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn finish(self, name: &str) -> Member {
        let digest = self.ctx.finish();
        let mut sha256 = String::with_capacity(64);
        for b in digest.as_ref() {
            sha256.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            sha256.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Member {
            name: name.to_owned(),
            size: self.size,
            sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, size: u64, sha: &str) -> Member {
        Member {
            name: name.into(),
            size,
            sha256: sha.into(),
        }
    }

    fn manifest(members: Vec<Member>) -> Manifest {
        Manifest::new(
            ManifestMeta {
                version: "1.0.0".into(),
                role: "cm".into(),
                created: Utc::now(),
                schema: 3,
                extra: serde_json::json!({"k": "v"}),
            },
            members,
        )
    }

    #[test]
    fn names() {
        for good in ["store/aerie.db", "a", "artifacts/ab/abcd", "tls/key.pem"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../evil",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\nb",
            "..",
        ] {
            assert!(
                matches!(check_name(bad), Err(BackupError::BadMember { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        let mut d = Digester::new();
        d.update(b"a");
        d.update(b"bc");
        let m = d.finish("x");
        assert_eq!(m.size, 3);
        assert_eq!(
            m.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn member_checks() {
        let a = member("a", 1, "aa");
        let b = member("b", 2, "bb");
        let m = manifest(vec![a.clone(), b.clone()]);
        m.check_members(&[a.clone(), b.clone()]).unwrap();
        m.check_members(&[b.clone(), a.clone()]).unwrap();

        let err = |found: &[Member], m: &Manifest| m.check_members(found).unwrap_err().to_string();
        assert!(err(std::slice::from_ref(&a), &m).contains("lacks"));
        assert!(
            err(&[a.clone(), b.clone(), member("c", 0, "")], &m).contains("not in the manifest")
        );
        assert!(err(&[a.clone(), member("b", 3, "bb")], &m).contains("3 bytes"));
        assert!(err(&[a.clone(), member("b", 2, "bc")], &m).contains("SHA-256"));
        let twice = manifest(vec![a.clone(), a.clone()]);
        assert!(err(std::slice::from_ref(&a), &twice).contains("twice"));
    }

    #[test]
    fn manifest_json_shape() {
        let m = manifest(vec![member("a", 1, "aa")]);
        let json: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(json["format"], 1);
        assert_eq!(json["role"], "cm");
        assert_eq!(json["schema"], 3);
        assert_eq!(json["members"][0]["sha256"], "aa");
        assert_eq!(json["extra"]["k"], "v");
        assert!(json["created"].as_str().unwrap().contains('T'));
        let back: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }
}
