//! Realistic sensor traffic for demos, `aerie simulate` and benchmarks: attack campaigns
//! of one to four events against an endpoint (drive-by downloads, phishing, ransomware,
//! C&C callbacks), some of them benign.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

use aerie_domain::event::{Category, CollectorType, EventKind, Stage};
use aerie_proto::{
    events::{BehaviourJson, EventIn, FileJson},
    format_time,
};

const TROJANS: &[&str] = &[
    "TROJAN_Zemot.CY",
    "TROJAN_Dridex.AB",
    "TROJAN_Emotet.E5",
    "TROJAN_Qakbot.Q",
];
const RANSOM: &[&str] = &["RANSOM_Locky.B", "RANSOM_LockBit.3", "RANSOM_Conti.V2"];
const EXPLOITS: &[&str] = &[
    "EXPLOIT_CVE-2017-0199",
    "EXPLOIT_CVE-2021-40444",
    "EXPLOIT_Flash.Angler",
];
const PHISH: &[&str] = &[
    "PHISH_Office365.Login",
    "PHISH_DHL.Invoice",
    "PHISH_PayPal.Verify",
];
const ADWARE: &[&str] = &["ADWARE_InstallCore", "ADWARE_OpenCandy"];
const CNC: &[&str] = &[
    "CNC_CobaltStrike.Beacon",
    "CNC_Emotet.Epoch5",
    "CNC_TrickBot.Gtag",
];
const DOMAINS: &[&str] = &[
    "cdn-update.example.net",
    "invoice-portal.example.org",
    "login-verify.example.com",
    "files.example.ru",
    "dl.example.cn",
    "track.example.io",
];
const SENDERS: &[&str] = &[
    "billing@invoice-portal.example.org",
    "no-reply@dhl-track.example.com",
    "it-support@example-helpdesk.net",
];
const COUNTRIES: &[&str] = &["RU", "CN", "US", "NL", "BR", "KP", "IR", "DE", "UA", "RO"];
const OSES: &[&str] = &["Windows 10", "Windows 11", "macOS 14", "Ubuntu 22.04"];
const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

/// A deterministic stream of sensor events.
pub struct Traffic {
    rng: StdRng,
    endpoints: u32,
    pending: VecDeque<EventIn>,
}

impl Traffic {
    /// Traffic over `endpoints` hosts, reproducible from `seed`.
    pub fn new(seed: u64, endpoints: u32) -> Traffic {
        Traffic {
            rng: StdRng::seed_from_u64(seed),
            endpoints: endpoints.max(1),
            pending: VecDeque::new(),
        }
    }

    /// The next event, stamped `now`.
    pub fn next_event(&mut self, now: DateTime<Utc>) -> EventIn {
        if self.pending.is_empty() {
            self.campaign(now);
        }
        self.pending
            .pop_front()
            .expect("a campaign has at least one event")
    }

    /// `n` events stamped `now`.
    pub fn batch(&mut self, n: usize, now: DateTime<Utc>) -> Vec<EventIn> {
        (0..n).map(|_| self.next_event(now)).collect()
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from.choose(&mut self.rng).expect("non-empty list")
    }

    fn sha(&mut self) -> String {
        (0..32)
            .map(|_| format!("{:02x}", self.rng.random::<u8>()))
            .collect()
    }

    /// What a sandbox would report for a payload with digest `sha`.
    fn detonation(&mut self, sha: &str, windows: bool) -> BehaviourJson {
        let tag = self.rng.random_range(100..999);
        let cnc = format!(
            "198.51.100.{}:{}",
            self.rng.random_range(1..=254),
            [443, 8080, 8443][self.rng.random_range(0..3)]
        );
        if windows {
            BehaviourJson {
                processes: vec![format!("C:\\Users\\Public\\svch{tag}.exe -k netsvcs")],
                files: vec![FileJson {
                    path: format!("C:\\Users\\Public\\svch{tag}.exe"),
                    sha256: Some(sha.to_owned()),
                }],
                registry_keys: vec![format!(
                    "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\svch{tag}"
                )],
                mutexes: vec![format!("Global\\M{tag}x")],
                cnc: vec![cnc, self.pick(DOMAINS).to_owned()],
                persistence: vec![format!(
                    "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\svch{tag}"
                )],
            }
        } else {
            BehaviourJson {
                processes: vec![format!("/tmp/.cache/upd{tag} --daemon")],
                files: vec![FileJson {
                    path: format!("/tmp/.cache/upd{tag}"),
                    sha256: Some(sha.to_owned()),
                }],
                registry_keys: Vec::new(),
                mutexes: vec![format!("/tmp/.upd{tag}.lock")],
                cnc: vec![cnc],
                persistence: vec![format!("/etc/cron.d/upd{tag}")],
            }
        }
    }

    fn campaign(&mut self, now: DateTime<Utc>) {
        let host = self.rng.random_range(0..self.endpoints);
        let ip = format!(
            "10.{}.{}.{}",
            (host >> 16) & 0xff,
            (host >> 8) & 0xff,
            (host & 0xff).max(1)
        );
        let user = self.pick(USERS).to_owned();
        let os = self.pick(OSES).to_owned();
        let base = EventIn {
            kind: EventKind::Download,
            time: format_time(now),
            severity: 0.0,
            category: Category::Trojan,
            threat_name: String::new(),
            endpoint_ip: ip,
            endpoint_name: Some(format!("ws-{host:05}")),
            endpoint_os: Some(os),
            endpoint_user: Some(user),
            source_ip: Some(format!(
                "203.0.{}.{}",
                self.rng.random_range(0..=255),
                self.rng.random_range(1..=254)
            )),
            source_name: None,
            source_country: Some(self.pick(COUNTRIES).to_owned()),
            progression: Vec::new(),
            collector_id: Some(format!("wc-{:02}", self.rng.random_range(1..=8))),
            collector_type: CollectorType::Web,
            file_sha256: None,
            behaviour: None,
            artifacts: Vec::new(),
        };
        let windows = base
            .endpoint_os
            .as_deref()
            .is_some_and(|o| o.starts_with("Windows"));
        let domain = self.pick(DOMAINS).to_owned();
        let scenario = self.rng.random_range(0..100);
        let severity =
            |rng: &mut StdRng, lo: f64, hi: f64| (rng.random_range(lo..hi) * 100.0).round() / 100.0;
        match scenario {
            // benign: analysed and found harmless
            0..10 => {
                let sha = self.sha();
                self.pending.push_back(EventIn {
                    threat_name: "CLEAN_Installer".into(),
                    category: Category::Other,
                    source_name: Some(format!("http://{domain}/setup.exe")),
                    file_sha256: Some(sha),
                    progression: vec![Stage::Download],
                    ..base
                });
            }
            // drive-by: exploit, payload download, C&C callback
            10..40 => {
                let trojan = self.pick(TROJANS).to_owned();
                let exploit = self.pick(EXPLOITS).to_owned();
                let sha = self.sha();
                let s = severity(&mut self.rng, 0.55, 0.8);
                let behaviour = self.detonation(&sha, windows);
                self.pending.push_back(EventIn {
                    kind: EventKind::Exploit,
                    category: Category::Exploit,
                    threat_name: exploit,
                    severity: s,
                    source_name: Some(format!(
                        "http://{domain}/landing?id={}",
                        self.rng.random_range(1000..9999)
                    )),
                    progression: vec![Stage::Exploit],
                    ..base.clone()
                });
                self.pending.push_back(EventIn {
                    threat_name: trojan.clone(),
                    severity: (s + 0.1).min(1.0),
                    source_name: Some(format!("http://{domain}/payload.bin")),
                    file_sha256: Some(sha.clone()),
                    progression: vec![Stage::Download, Stage::Execution],
                    behaviour: Some(behaviour),
                    ..base.clone()
                });
                if self.rng.random_bool(0.6) {
                    let cnc = self.pick(CNC).to_owned();
                    let cnc_domain = self.pick(DOMAINS).to_owned();
                    self.pending.push_back(EventIn {
                        kind: EventKind::Cnc,
                        category: Category::Cnc,
                        threat_name: cnc,
                        severity: (s + 0.2).min(1.0),
                        source_name: Some(cnc_domain),
                        progression: vec![Stage::Infection],
                        ..base
                    });
                }
            }
            // phishing email, sometimes followed by a download
            40..65 => {
                let phish = self.pick(PHISH).to_owned();
                let sender = self.pick(SENDERS).to_owned();
                self.pending.push_back(EventIn {
                    kind: EventKind::Phishing,
                    category: Category::Phishing,
                    threat_name: phish,
                    severity: severity(&mut self.rng, 0.3, 0.7),
                    source_name: Some(sender),
                    collector_type: CollectorType::Email,
                    collector_id: Some("ec-01".into()),
                    progression: vec![Stage::Exploit],
                    ..base.clone()
                });
                if self.rng.random_bool(0.3) {
                    let trojan = self.pick(TROJANS).to_owned();
                    let sha = self.sha();
                    self.pending.push_back(EventIn {
                        threat_name: trojan,
                        severity: severity(&mut self.rng, 0.6, 0.9),
                        source_name: Some(format!("https://{domain}/invoice.docm")),
                        file_sha256: Some(sha),
                        progression: vec![Stage::Download],
                        ..base
                    });
                }
            }
            // ransomware: download, execution, data theft
            65..75 => {
                let ransom = self.pick(RANSOM).to_owned();
                let sha = self.sha();
                self.pending.push_back(EventIn {
                    category: Category::Ransomware,
                    threat_name: ransom.clone(),
                    severity: severity(&mut self.rng, 0.85, 1.0),
                    source_name: Some(format!("http://{domain}/update.exe")),
                    file_sha256: Some(sha),
                    progression: vec![Stage::Download, Stage::Execution, Stage::Infection],
                    ..base.clone()
                });
                let exfil = self.pick(DOMAINS).to_owned();
                self.pending.push_back(EventIn {
                    kind: EventKind::Cnc,
                    category: Category::DataTheft,
                    threat_name: ransom,
                    severity: 1.0,
                    source_name: Some(exfil),
                    progression: vec![Stage::DataTheft],
                    ..base
                });
            }
            // adware bundled with a download
            75..90 => {
                let adware = self.pick(ADWARE).to_owned();
                let sha = self.sha();
                self.pending.push_back(EventIn {
                    category: Category::Adware,
                    threat_name: adware,
                    severity: severity(&mut self.rng, 0.05, 0.3),
                    source_name: Some(format!("http://{domain}/free-player.exe")),
                    file_sha256: Some(sha),
                    progression: vec![Stage::Download],
                    ..base
                });
            }
            // a user uploads a suspicious file for analysis
            _ => {
                let trojan = self.pick(TROJANS).to_owned();
                let sha = self.sha();
                self.pending.push_back(EventIn {
                    kind: EventKind::Upload,
                    threat_name: trojan,
                    severity: severity(&mut self.rng, 0.4, 0.8),
                    collector_type: CollectorType::Upload,
                    collector_id: Some("upload".into()),
                    source_ip: None,
                    source_country: None,
                    file_sha256: Some(sha),
                    progression: vec![Stage::FileSubmission],
                    ..base
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_valid_varied_and_reproducible() {
        let now = Utc::now();
        let events = Traffic::new(7, 50).batch(2000, now);
        for (i, e) in events.iter().enumerate() {
            e.validate(&format!("events[{i}]"), now).unwrap();
        }
        let benign = events.iter().filter(|e| e.severity == 0.0).count();
        assert!(benign > 50 && benign < 400, "some benign: {benign}");
        let kinds: std::collections::HashSet<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds.len(), EventKind::ALL.len(), "every kind of event");
        assert_eq!(Traffic::new(7, 50).batch(2000, now), events);
    }
}
