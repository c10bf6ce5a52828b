//! Artifacts sensors attach to events: detonation screenshots and packet captures, kept
//! once per content (by SHA-256) and recognised by their content, never by a name.

use chrono::{DateTime, Utc};

use crate::text::Sha256Hex;

crate::string_enum! {
    /// What an artifact is.
    pub enum ArtifactKind {
        Screenshot = "screenshot",
        Trace = "trace",
        /// A file an analyst submitted for analysis (Uploads); any content.
        Sample = "sample",
    }
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
/// pcap (µs and ns, both byte orders) and pcapng section headers.
const PCAP_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x0a, 0x0d, 0x0d, 0x0a],
];

impl ArtifactKind {
    /// The kind these bytes start like, if any. (A full parse is the server's job.)
    pub fn sniff(bytes: &[u8]) -> Option<ArtifactKind> {
        if bytes.starts_with(PNG_MAGIC) {
            Some(ArtifactKind::Screenshot)
        } else if bytes.len() >= 4 && PCAP_MAGICS.iter().any(|m| bytes[..4] == *m) {
            Some(ArtifactKind::Trace)
        } else {
            None
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ArtifactKind::Screenshot => "image/png",
            ArtifactKind::Trace => "application/vnd.tcpdump.pcap",
            ArtifactKind::Sample => "application/octet-stream",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ArtifactKind::Screenshot => "png",
            ArtifactKind::Trace => "pcap",
            ArtifactKind::Sample => "bin",
        }
    }
}

/// A stored artifact's record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ArtifactInfo {
    pub sha256: Sha256Hex,
    pub kind: ArtifactKind,
    pub size: i64,
    pub created: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(
            ArtifactKind::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ArtifactKind::Screenshot)
        );
        assert_eq!(
            ArtifactKind::sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
            Some(ArtifactKind::Trace)
        );
        assert_eq!(ArtifactKind::sniff(b"GIF89a"), None);
        assert_eq!(ArtifactKind::sniff(b""), None);
    }
}
