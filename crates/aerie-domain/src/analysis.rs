//! The analysis of a submitted file: what this CM already knows of its content decides
//! the verdict (hash reputation). A file this CM's sensors caught as malware is
//! malicious with their severity and name; a whitelisted file, or one never seen, is
//! clean. Nothing here is a fixed answer: the verdict follows the CM's own incidents and
//! whitelist at the time of the analysis.

use chrono::{DateTime, Utc};

use crate::{
    risk::Severity,
    text::{Sha256Hex, Text},
};

/// A file submitted for analysis, and its verdict once the analysis is done.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// The upload event the submission opened.
    pub event_id: i64,
    pub sha256: Sha256Hex,
    /// Lowercase hex; integrations look files up by MD5.
    pub md5: String,
    pub file_name: Text,
    pub size: i64,
    pub submitted: DateTime<Utc>,
    /// `None` while the analysis runs.
    pub verdict: Option<Verdict>,
}

/// What the analysis concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub done: DateTime<Utc>,
    /// 0 is clean; above 0 malicious.
    pub severity: Severity,
    /// The malware's name, empty when clean.
    pub malware_name: Text,
    /// Why, in words: which incident knew the file, or that none did.
    pub reason: Text,
}

/// The worst sensor detection of a file's content on this CM.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownFile {
    pub severity: Severity,
    pub threat_name: Text,
    pub incident_id: crate::incident::IncidentId,
}

impl Verdict {
    /// The verdict on a file from what the CM knows of its content at `now`.
    pub fn judge(known: Option<&KnownFile>, whitelisted: bool, now: DateTime<Utc>) -> Verdict {
        let clean = |reason: String| Verdict {
            done: now,
            severity: Severity::BENIGN,
            malware_name: Text::from_trusted(String::new()),
            reason: Text::from_trusted(reason),
        };
        match known {
            _ if whitelisted => clean("the file's hash is whitelisted".into()),
            Some(k) if k.severity > Severity::BENIGN => Verdict {
                done: now,
                severity: k.severity,
                malware_name: k.threat_name.clone(),
                reason: Text::from_trusted(format!(
                    "the same file was detected as {} in incident {}",
                    k.threat_name.as_str(),
                    k.incident_id
                )),
            },
            Some(k) => clean(format!(
                "the same file was seen as benign in incident {}",
                k.incident_id
            )),
            None => clean("no sensor of this CM has seen this file".into()),
        }
    }

    pub fn malicious(&self) -> bool {
        self.severity > Severity::BENIGN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::IncidentId;

    fn known(severity: f64) -> KnownFile {
        KnownFile {
            severity: Severity::parse("s", severity).unwrap(),
            threat_name: Text::from_trusted("TROJAN_Zbot.A".into()),
            incident_id: IncidentId::new(7),
        }
    }

    #[test]
    fn a_detected_file_is_malicious_with_the_detection_s_name() {
        let v = Verdict::judge(Some(&known(0.9)), false, Utc::now());
        assert!(v.malicious());
        assert_eq!(v.severity.value(), 0.9);
        assert_eq!(v.malware_name.as_str(), "TROJAN_Zbot.A");
        assert!(v.reason.as_str().contains("incident 7"));
    }

    #[test]
    fn whitelisted_unknown_and_benign_files_are_clean() {
        for v in [
            Verdict::judge(Some(&known(0.9)), true, Utc::now()),
            Verdict::judge(None, false, Utc::now()),
            Verdict::judge(Some(&known(0.0)), false, Utc::now()),
        ] {
            assert!(!v.malicious(), "{v:?}");
            assert_eq!(v.malware_name.as_str(), "");
        }
    }
}
