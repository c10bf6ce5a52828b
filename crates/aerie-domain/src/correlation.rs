//! Cross-CM correlation: the indicators an incident carries (its file, its source's
//! domain, URL, address or sender — a CnC server is the source of a CnC incident) and
//! what makes a campaign: one indicator seen in incidents of two or more CMs.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::{
    ids::CmId,
    indicator::SourceName,
    text::{Sha256Hex, Text},
};

crate::string_enum! {
    /// What kind of thing an indicator is.
    pub enum IndicatorKind {
        FileSha256 = "file_sha256",
        Domain = "domain",
        Url = "url",
        Ip = "ip",
        EmailSender = "email_sender",
    }
}

/// One indicator, normalized (lower case) so that two CMs' sightings compare equal.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Indicator {
    pub kind: IndicatorKind,
    pub value: String,
}

/// The indicators of an incident with this file, source address and source name.
pub fn indicators(
    file: Option<&Sha256Hex>,
    source_ip: Option<IpAddr>,
    source_name: Option<&Text>,
) -> Vec<Indicator> {
    let mut out = Vec::new();
    let mut push = |kind, value: String| out.push(Indicator { kind, value });
    if let Some(sha) = file {
        push(IndicatorKind::FileSha256, sha.as_str().to_ascii_lowercase());
    }
    if let Some(ip) = source_ip {
        push(IndicatorKind::Ip, crate::net::canonical_ip(ip).to_string());
    }
    match source_name.map(|n| SourceName::classify(n.as_str())) {
        Some(SourceName::Url { url, host }) => {
            push(IndicatorKind::Url, url.to_ascii_lowercase());
            push(IndicatorKind::Domain, host);
        }
        Some(SourceName::Email { sender, .. }) => push(IndicatorKind::EmailSender, sender),
        Some(SourceName::Domain(d)) => push(IndicatorKind::Domain, d),
        Some(SourceName::Other) | None => {}
    }
    out.sort();
    out.dedup();
    out
}

/// One indicator seen on two or more CMs.
#[derive(Clone, PartialEq, Debug)]
pub struct Campaign {
    pub indicator: Indicator,
    /// The CMs whose incidents carry it, by id.
    pub cms: Vec<CmId>,
    /// The earliest first activity and the latest last activity of those incidents.
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub incidents: i64,
}

/// A campaign needs this many CMs.
pub const MIN_CMS: i64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_give_their_domain_url_sender_and_address() {
        let sha = Sha256Hex::parse("s", &"AB".repeat(32)).unwrap();
        let url = Text::from_trusted("http://Evil.Example:8080/x".into());
        let found = indicators(Some(&sha), Some("203.0.113.5".parse().unwrap()), Some(&url));
        let kinds: Vec<_> = found.iter().map(|i| (i.kind, i.value.as_str())).collect();
        assert!(kinds.contains(&(IndicatorKind::FileSha256, "ab".repeat(32).as_str())));
        assert!(kinds.contains(&(IndicatorKind::Ip, "203.0.113.5")));
        assert!(kinds.contains(&(IndicatorKind::Domain, "evil.example")));
        assert!(kinds.contains(&(IndicatorKind::Url, "http://evil.example:8080/x")));
        let mail = Text::from_trusted("Boss@Corp.Example".into());
        assert_eq!(
            indicators(None, None, Some(&mail)),
            vec![Indicator {
                kind: IndicatorKind::EmailSender,
                value: "boss@corp.example".into()
            }]
        );
        assert!(
            indicators(None, None, Some(&Text::from_trusted("not a source".into()))).is_empty()
        );
    }
}
