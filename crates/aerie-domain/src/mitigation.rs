//! Mitigation: blocking an incident's indicators through the feeds firewalls and EDRs
//! consume, and quarantining its endpoint.

use std::{collections::BTreeSet, net::IpAddr};

use chrono::{DateTime, Utc};

use crate::{
    event::Event,
    incident::{IncidentFacts, IncidentId},
    indicator::{CncHost, SourceName},
    text::Text,
};

crate::string_enum! {
    /// One way to act on an indicator.
    pub enum MitigationKind {
        BlockIp = "block_ip",
        BlockDomain = "block_domain",
        BlockUrl = "block_url",
        BlockHash = "block_hash",
        QuarantineEndpoint = "quarantine_endpoint",
    }
}

crate::string_enum! {
    /// A plain-text block list, one entry a line.
    pub enum Feed {
        Ip = "ip",
        Domain = "domain",
        Url = "url",
        Sha256 = "sha256",
        Quarantine = "quarantine",
    }
}

impl MitigationKind {
    /// `raw` written the way [`options`] writes values of this kind (canonical addresses,
    /// lower-case domains and hashes), so a request can be matched against them.
    pub fn normalize(self, raw: &str) -> String {
        let raw = raw.trim();
        match self {
            MitigationKind::BlockIp | MitigationKind::QuarantineEndpoint => {
                crate::net::parse_ip(raw).map_or_else(|| raw.to_owned(), |ip| ip.to_string())
            }
            MitigationKind::BlockDomain | MitigationKind::BlockHash => {
                raw.trim_end_matches('.').to_ascii_lowercase()
            }
            MitigationKind::BlockUrl => raw.to_owned(),
        }
    }

    /// The feed that enforces this kind of mitigation.
    pub fn feed(self) -> Feed {
        match self {
            MitigationKind::BlockIp => Feed::Ip,
            MitigationKind::BlockDomain => Feed::Domain,
            MitigationKind::BlockUrl => Feed::Url,
            MitigationKind::BlockHash => Feed::Sha256,
            MitigationKind::QuarantineEndpoint => Feed::Quarantine,
        }
    }
}

impl Feed {
    pub fn kind(self) -> MitigationKind {
        match self {
            Feed::Ip => MitigationKind::BlockIp,
            Feed::Domain => MitigationKind::BlockDomain,
            Feed::Url => MitigationKind::BlockUrl,
            Feed::Sha256 => MitigationKind::BlockHash,
            Feed::Quarantine => MitigationKind::QuarantineEndpoint,
        }
    }
}

/// Something an analyst may block: a kind and a value a feed line can carry (no
/// whitespace, validated and normalised).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct MitigationOption {
    pub kind: MitigationKind,
    pub value: String,
}

/// The mitigations an incident's indicators allow, sorted, without repeats: its source
/// addresses, domains and URLs, the CnC servers its malware contacted, the hashes of the
/// files involved, and quarantine of its endpoint.
pub fn options(incident: &IncidentFacts, events: &[Event]) -> Vec<MitigationOption> {
    let mut out = BTreeSet::new();
    let mut add = |kind, value: String| {
        out.insert(MitigationOption { kind, value });
    };
    add(
        MitigationKind::QuarantineEndpoint,
        incident.endpoint_ip.to_string(),
    );
    let mut ip = |ip: IpAddr| add(MitigationKind::BlockIp, ip.to_string());
    incident.source_ip.into_iter().for_each(&mut ip);
    events.iter().filter_map(|e| e.event.source.ip).for_each(ip);
    let names = incident
        .source_name
        .iter()
        .chain(events.iter().filter_map(|e| e.event.source.name.as_ref()));
    for name in names {
        match SourceName::classify(name.as_str()) {
            SourceName::Url { url, host } => {
                add(MitigationKind::BlockUrl, url);
                add(MitigationKind::BlockDomain, host);
            }
            SourceName::Email { domain, .. } | SourceName::Domain(domain) => {
                add(MitigationKind::BlockDomain, domain)
            }
            SourceName::Other => {}
        }
    }
    let hashes = incident
        .file_sha256
        .iter()
        .chain(events.iter().flat_map(|e| {
            e.event.file_sha256.iter().chain(
                e.event
                    .behaviour
                    .files
                    .iter()
                    .filter_map(|f| f.sha256.as_ref()),
            )
        }));
    for h in hashes {
        add(MitigationKind::BlockHash, h.as_str().to_owned());
    }
    for cnc in events.iter().flat_map(|e| &e.event.behaviour.cnc) {
        match CncHost::parse(cnc.as_str()) {
            Some(CncHost::Ip(ip)) => add(MitigationKind::BlockIp, ip.to_string()),
            Some(CncHost::Domain(d)) => add(MitigationKind::BlockDomain, d),
            None => {}
        }
    }
    out.into_iter().collect()
}

/// An applied mitigation: who blocked what, for which incident, and whether it was lifted.
#[derive(Clone, PartialEq, Debug)]
pub struct Mitigation {
    pub id: crate::ids::MitigationId,
    pub incident_id: IncidentId,
    pub kind: MitigationKind,
    pub value: String,
    pub actor: Text,
    pub created: DateTime<Utc>,
    pub revoked: Option<(DateTime<Utc>, Text)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        event::{FileWrite, NewEvent},
        text::Sha256Hex,
    };

    #[test]
    fn options_come_from_every_indicator() {
        let mut e = NewEvent::sample("10.0.0.5".parse().unwrap(), Utc::now(), 0.9);
        e.source.ip = Some("203.0.113.7".parse().unwrap());
        e.source.name = Some(Text::parse("s", "https://Evil.example/drop?x=1", 2048).unwrap());
        e.behaviour.cnc = vec![
            Text::parse("c", "198.51.100.1:443", 100).unwrap(),
            Text::parse("c", "c2.example.net", 100).unwrap(),
            Text::parse("c", "$(reboot)", 100).unwrap(),
        ];
        e.behaviour.files = vec![FileWrite {
            path: Text::parse("p", "/tmp/x", 100).unwrap(),
            sha256: Some(Sha256Hex::parse("h", &"cd".repeat(32)).unwrap()),
        }];
        let facts = IncidentFacts::open(&e);
        let event = Event {
            id: 1,
            incident_id: IncidentId::new(1),
            event: e,
        };
        let got: Vec<(MitigationKind, String)> = options(&facts, &[event])
            .into_iter()
            .map(|o| (o.kind, o.value))
            .collect();
        use MitigationKind::*;
        assert_eq!(
            got,
            vec![
                (BlockIp, "198.51.100.1".into()),
                (BlockIp, "203.0.113.7".into()),
                (BlockDomain, "c2.example.net".into()),
                (BlockDomain, "evil.example".into()),
                (BlockUrl, "https://Evil.example/drop?x=1".into()),
                (BlockHash, "cd".repeat(32)),
                (QuarantineEndpoint, "10.0.0.5".into()),
            ]
        );
    }
}
