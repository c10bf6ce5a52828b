//! The whitelist: indicators an analyst declared harmless. Events that match an entry are
//! benign; incidents that match are re-evaluated to benign (and so leave the MCM).

use chrono::{DateTime, Utc};

use crate::{
    DomainError,
    event::{CollectorType, NewEvent},
    indicator::{SourceName, normal_domain, within_domain},
    text::{Sha256Hex, Text},
};

crate::string_enum! {
    /// What a whitelist entry matches.
    pub enum WhitelistKind {
        FileHash = "file_hash",
        Domain = "domain",
        Url = "url",
        SourceIp = "source_ip",
        EmailSender = "email_sender",
        Endpoint = "endpoint",
    }
}

impl WhitelistKind {
    /// Validates and normalises a value of this kind (lower-case hashes, domains and
    /// senders; canonical IP addresses).
    pub fn normalize(self, field: &str, raw: &str) -> Result<String, DomainError> {
        let raw = raw.trim();
        let bad = |what: &str| DomainError::new(field, format!("{raw:?} is not {what}"));
        match self {
            WhitelistKind::FileHash => Ok(Sha256Hex::parse(field, raw)?.as_str().to_owned()),
            WhitelistKind::Domain => normal_domain(raw).ok_or_else(|| bad("a domain name")),
            WhitelistKind::Url => match SourceName::classify(raw) {
                SourceName::Url { url, .. } if url.len() <= Text::LONG => Ok(url),
                _ => Err(bad("an http:// or https:// URL")),
            },
            WhitelistKind::SourceIp | WhitelistKind::Endpoint => crate::net::parse_ip(raw.trim())
                .map(|ip| ip.to_string())
                .ok_or_else(|| bad("an IPv4 or IPv6 address")),
            WhitelistKind::EmailSender => match SourceName::classify(raw) {
                SourceName::Email { sender, .. } => Ok(sender),
                _ => Err(bad("an email address")),
            },
        }
    }

    /// Whether an event carries this indicator with (normalised) `value`.
    pub fn matches(self, value: &str, e: &NewEvent) -> bool {
        let source = || {
            e.source
                .name
                .as_ref()
                .map(|n| SourceName::classify(n.as_str()))
        };
        match self {
            WhitelistKind::FileHash => {
                e.file_sha256.as_ref().is_some_and(|h| h.as_str() == value)
                    || e.behaviour
                        .files
                        .iter()
                        .any(|f| f.sha256.as_ref().is_some_and(|h| h.as_str() == value))
            }
            WhitelistKind::Domain => source()
                .as_ref()
                .and_then(SourceName::domain)
                .is_some_and(|d| within_domain(d, value)),
            WhitelistKind::Url => {
                matches!(source(), Some(SourceName::Url { url, .. }) if url == value)
            }
            WhitelistKind::SourceIp => e.source.ip.is_some_and(|ip| ip.to_string() == value),
            WhitelistKind::EmailSender => {
                e.collector_type == CollectorType::Email
                    && matches!(source(), Some(SourceName::Email { sender, .. }) if sender == value)
            }
            WhitelistKind::Endpoint => e.endpoint.ip.to_string() == value,
        }
    }
}

/// An analyst's decision that an indicator is harmless.
#[derive(Clone, PartialEq, Debug)]
pub struct WhitelistEntry {
    pub id: crate::ids::WhitelistId,
    pub kind: WhitelistKind,
    /// Normalised by [`WhitelistKind::normalize`].
    pub value: String,
    pub reason: Text,
    pub actor: Text,
    pub created: DateTime<Utc>,
}

impl WhitelistEntry {
    pub fn matches(&self, e: &NewEvent) -> bool {
        self.kind.matches(&self.value, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event::NewEvent, risk::Severity};

    fn event() -> NewEvent {
        let mut e = NewEvent::sample("10.0.0.5".parse().unwrap(), Utc::now(), 0.8);
        e.source.ip = Some("203.0.113.7".parse().unwrap());
        e.source.name = Some(Text::parse("s", "http://cdn.evil.example/x.exe", 2048).unwrap());
        e.file_sha256 = Some(Sha256Hex::parse("h", &"ab".repeat(32)).unwrap());
        e.severity = Severity::parse("s", 0.8).unwrap();
        e
    }

    #[test]
    fn normalises_or_says_what_is_wrong() {
        let n = |k: WhitelistKind, v: &str| k.normalize("value", v);
        assert_eq!(
            n(WhitelistKind::Domain, "Evil.Example.").unwrap(),
            "evil.example"
        );
        assert_eq!(
            n(WhitelistKind::FileHash, &"AB".repeat(32)).unwrap(),
            "ab".repeat(32)
        );
        assert_eq!(
            n(WhitelistKind::SourceIp, " 203.0.113.7 ").unwrap(),
            "203.0.113.7"
        );
        let e = n(WhitelistKind::Endpoint, "not-an-ip").unwrap_err();
        assert_eq!(e.field, "value");
        assert!(e.message.contains("IPv4 or IPv6"), "{e}");
        assert!(n(WhitelistKind::Url, "ftp://x.example/").is_err());
        assert!(n(WhitelistKind::EmailSender, "nobody").is_err());
    }

    #[test]
    fn matches_by_kind() {
        let e = event();
        let m = |k: WhitelistKind, v: &str| k.matches(&k.normalize("v", v).unwrap(), &e);
        assert!(m(WhitelistKind::Domain, "evil.example"));
        assert!(m(WhitelistKind::Domain, "cdn.evil.example"));
        assert!(!m(WhitelistKind::Domain, "other.example"));
        assert!(m(WhitelistKind::Url, "http://cdn.evil.example/x.exe"));
        assert!(m(WhitelistKind::SourceIp, "203.0.113.7"));
        assert!(m(WhitelistKind::Endpoint, "10.0.0.5"));
        assert!(m(WhitelistKind::FileHash, &"ab".repeat(32)));
        assert!(!m(WhitelistKind::EmailSender, "a@evil.example"));
    }
}
