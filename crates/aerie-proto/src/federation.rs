//! The CM ↔ MCM wire protocol (see `docs/protocol.md`): registration by proof of the
//! device key bound to the MCM's certificate, the ordered change stream in resync
//! epochs, and the proxy token.

use serde::{Deserialize, Serialize};

use aerie_domain::{
    DomainError,
    federation::{ResyncStep, SyncBatch, SyncOutcome},
    incident::{Incident, IncidentFacts, IncidentId},
    risk::Severity,
    text::{CountryCode, Sha256Hex, Text},
};

use crate::incidents::IncidentOut;

/// The largest counter (id, version, epoch, count) the protocol carries: the
/// largest integer JSON numbers hold exactly. Anything above is refused as input.
pub const MAX_COUNTER: i64 = 1 << 53;

/// `value` as a change-stream position (`change_seq`, `high_seq`, `after_seq`): any
/// non-negative 64-bit integer. On PostgreSQL a position packs a transaction id with the
/// change's number within it, beyond the range of [`MAX_COUNTER`]; both ends are Rust
/// and read JSON integers exactly.
fn position(field: impl Into<String>, value: i64) -> Result<i64, DomainError> {
    if value >= 0 {
        Ok(value)
    } else {
        Err(DomainError::new(
            field,
            format!("{value} is out of range: expected 0 or more"),
        ))
    }
}

/// `value` as a counter in `min..=MAX_COUNTER`, or an error naming `field`.
fn counter(field: impl Into<String>, value: i64, min: i64) -> Result<i64, DomainError> {
    if (min..=MAX_COUNTER).contains(&value) {
        Ok(value)
    } else {
        Err(DomainError::new(
            field,
            format!("{value} is out of range: expected {min} to {MAX_COUNTER}"),
        ))
    }
}

/// Most incidents one sync request carries.
pub const MAX_SYNC_ROWS: usize = 1000;
/// Most bytes of incidents one sync request carries, well under the default body cap.
pub const MAX_SYNC_BYTES: usize = 1 << 20;

aerie_domain::string_enum! {
    /// Why the MCM refused a CM, as `ErrorBody.code`, so the CM can say exactly what is
    /// wrong and how to fix it.
    pub enum FederationCode {
        /// The address is a CM, not an MCM.
        NotMcm = "not_mcm",
        /// No admin user of that name on the MCM.
        UnknownUsername = "unknown_username",
        /// The proof does not match the MCM's device key.
        WrongPassphrase = "wrong_passphrase",
        /// One side is in FIPS mode and the other is not.
        FipsMismatch = "fips_mismatch",
        /// The registration nonce is unknown, used or expired.
        BadNonce = "bad_nonce",
        /// The MCM removed this CM with `set mcm remove`.
        Deregistered = "deregistered",
        /// The MCM does not know this CM's credential.
        UnknownCm = "unknown_cm",
    }
}

/// The MCM's federation endpoints.
pub mod paths {
    pub const CHALLENGE: &str = "/api/v1/federation/challenge";
    pub const REGISTER: &str = "/api/v1/federation/register";
    pub const PROXY_TOKEN: &str = "/api/v1/federation/proxy-token";
    pub const SYNC: &str = "/api/v1/federation/sync";
    pub const CERTIFICATE: &str = "/api/v1/federation/certificate";
}

/// "FIPS mode differs: MCM is in FIPS mode, this CM is not" (or the reverse).
pub fn fips_mismatch(mcm_fips: bool) -> String {
    if mcm_fips {
        "FIPS mode differs: MCM is in FIPS mode, this CM is not — put every system in one \
         mode (set fips enable or disable), then set mcm ip … again"
            .to_owned()
    } else {
        "FIPS mode differs: this CM is in FIPS mode, the MCM is not — put every system in one \
         mode (set fips enable or disable), then set mcm ip … again"
            .to_owned()
    }
}

/// Headers with which the MCM tells a CM who acts for a live action.
pub mod acting {
    /// The MCM user's name; the CM records it as `USER@mcm`.
    pub const USER: &str = "x-aerie-acting-user";
    /// The MCM user's role name.
    pub const ROLE: &str = "x-aerie-acting-role";
    /// The role's permissions, as `Permissions::names` writes them.
    pub const PERMISSIONS: &str = "x-aerie-acting-permissions";
}

/// `POST /api/v1/federation/challenge`: a single-use nonce and the MCM's KDF.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct Challenge {
    pub nonce: String,
    /// The MCM's device-key KDF id: it tells the CM whether the MCM is in FIPS mode.
    pub kdf: String,
}

/// `POST /api/v1/federation/register`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub cm_uid: String,
    pub cm_name: String,
    /// Where the MCM reaches this CM for live actions.
    pub cm_url: String,
    pub cm_fingerprint: String,
    pub version: String,
    pub kdf: String,
    pub nonce: String,
    /// [`register_message`] signed with the device key.
    pub proof: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct RegisterResponse {
    pub cm_id: i64,
    /// This CM's own credential for the sync calls; the MCM keeps only its hash.
    pub credential: String,
    /// [`registered_message`] signed with the device key: the MCM holds it too.
    pub mcm_proof: String,
}

/// What the CM signs: the nonce, the certificate it sees the MCM present (a man in the
/// middle shows another one, so the MCM's check fails), and who registers.
pub fn register_message(
    nonce: &str,
    mcm_fingerprint: &str,
    username: &str,
    cm_uid: &str,
    cm_fingerprint: &str,
) -> Vec<u8> {
    format!("aerie-register-v1\n{nonce}\n{mcm_fingerprint}\n{username}\n{cm_uid}\n{cm_fingerprint}")
        .into_bytes()
}

/// What the MCM signs back, binding the credential it issued.
pub fn registered_message(
    nonce: &str,
    mcm_fingerprint: &str,
    cm_id: i64,
    credential: &str,
) -> Vec<u8> {
    format!("aerie-registered-v1\n{nonce}\n{mcm_fingerprint}\n{cm_id}\n{credential}").into_bytes()
}

/// `POST /api/v1/federation/certificate`: a CM whose pinned MCM certificate is no longer
/// presented asks the MCM to prove, with the device key and what only its own MCM knows
/// of it, the certificate it presents now.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateChallenge {
    /// 32 random bytes, hex, chosen by the CM.
    pub nonce: String,
    /// The id the MCM gave this CM at registration.
    pub cm_id: i64,
}

/// The MCM's answer: the fingerprint of the certificate it serves and
/// `HMAC(device_key, certificate_message(nonce, fingerprint, cm_id, proxy_hash))`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct CertificateProof {
    pub fingerprint: String,
    pub proof: String,
}

/// What the MCM proves when its certificate changed: the CM checks it with the fingerprint
/// it *saw*, so a man in the middle relaying to the real MCM fails; and with the hash of
/// the proxy token this CM gave its MCM at registration, so another box that merely knows
/// the passphrase (and so the device key) cannot pass for the MCM.
pub fn certificate_message(
    nonce: &str,
    mcm_fingerprint: &str,
    cm_id: i64,
    proxy_hash: &str,
) -> Vec<u8> {
    format!("aerie-certificate-v2\n{nonce}\n{mcm_fingerprint}\n{cm_id}\n{proxy_hash}").into_bytes()
}

/// `POST /api/v1/federation/proxy-token`: the secret the MCM presents for live actions.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyToken {
    pub token: String,
}

/// An incident of the change stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct SyncedIncident {
    #[serde(flatten)]
    pub incident: IncidentOut,
    pub change_seq: i64,
}

/// A removal: the incident turned benign (or is gone) at this version.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    pub incident_id: i64,
    pub version: i64,
}

/// `POST /api/v1/federation/sync`: one batch of the change stream, or a heartbeat when
/// empty.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, utoipa::ToSchema)]
pub struct SyncRequest {
    pub upserts: Vec<SyncedIncident>,
    pub removals: Vec<Removal>,
    /// The highest change sequence number covered; 0 for a heartbeat.
    pub high_seq: i64,
    /// Changes still waiting on the CM.
    pub backlog: i64,
    /// The CM's host name now: the MCM renames its CM when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cm_name: Option<String>,
    /// Whether the CM is in FIPS mode now: the MCM refuses a CM in the other mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fips: Option<bool>,
    /// The fingerprint of the certificate the CM serves now: the MCM re-pins its proxy
    /// when the CM's certificate was replaced (this request is authenticated and pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cm_fingerprint: Option<String>,
    /// The CM's resync epoch (see `docs/protocol.md`).
    #[serde(default)]
    pub epoch: i64,
    /// The acknowledged sequence number this request follows (the CM's cursor); absent
    /// in a resync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<i64>,
    /// `start`, `part` or `end` in a resync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub resync: Option<ResyncStep>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct SyncAck {
    /// The highest change sequence number of this CM applied on the MCM, in `epoch`.
    pub acked_seq: i64,
    /// The MCM's resync epoch of this CM.
    #[serde(default)]
    pub epoch: i64,
    /// False when the MCM applied nothing: the CM's epoch or cursor does not match the
    /// MCM's copy (one of them was restored from an older copy), and the CM resyncs.
    #[serde(default = "yes")]
    pub applied: bool,
    /// Rows the end of a resync dropped.
    #[serde(default)]
    pub swept: u64,
    /// The fingerprint of the certificate the MCM serves now: a CM pinned to another one
    /// reconnects and asks the MCM to prove it (`POST /api/v1/federation/certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcm_fingerprint: Option<String>,
}

fn yes() -> bool {
    true
}

impl From<SyncOutcome> for SyncAck {
    fn from(o: SyncOutcome) -> Self {
        SyncAck {
            acked_seq: o.acked_seq,
            epoch: o.epoch,
            applied: o.applied,
            swept: o.swept,
            mcm_fingerprint: None,
        }
    }
}

impl SyncedIncident {
    pub fn of(incident: &Incident) -> SyncedIncident {
        SyncedIncident {
            incident: IncidentOut::from(incident),
            change_seq: incident.change_seq,
        }
    }

    /// An upper estimate of the incident's JSON size: field names and numbers take less
    /// than 700 bytes, text at most six bytes a character once escaped.
    pub fn approx_bytes(incident: &Incident) -> usize {
        let f = &incident.facts;
        let text =
            |t: &Option<aerie_domain::text::Text>| t.as_ref().map_or(0, |t| t.as_str().len());
        700 + 6
            * (f.threat_name.as_str().len()
                + text(&f.endpoint_name)
                + text(&f.endpoint_os)
                + text(&f.endpoint_user)
                + text(&f.source_name)
                + text(&f.collector_id))
    }

    /// Validates the wire form back into a domain incident; `at` names it in errors.
    pub fn to_domain(&self, at: &str) -> Result<Incident, DomainError> {
        let i = &self.incident;
        let f = |name: &str| format!("{at}.{name}");
        fn parse<T: std::str::FromStr<Err = String>>(
            field: String,
            v: &str,
        ) -> Result<T, DomainError> {
            v.parse().map_err(|e: String| DomainError::new(field, e))
        }
        let short = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| Text::parse(&f(name), v, Text::SHORT))
                .transpose()
        };
        let ip = |name: &str, v: &str| {
            aerie_domain::net::parse_ip(v)
                .ok_or_else(|| DomainError::new(f(name), format!("{v:?} is not an IP address")))
        };
        let facts = IncidentFacts {
            first_seen: crate::parse_time(&f("first_seen_time"), &i.first_seen_time)?,
            last_activity: crate::parse_time(&f("last_activity_time"), &i.last_activity_time)?,
            severity: Severity::parse(&f("severity"), i.severity)?,
            category: parse(f("category"), &i.category)?,
            threat_name: Text::parse(&f("threat_name"), &i.threat_name, Text::SHORT)?,
            endpoint_ip: ip("endpoint_ip", &i.endpoint_ip)?,
            endpoint_name: short("endpoint_name", &i.endpoint_name)?,
            endpoint_os: short("endpoint_os", &i.endpoint_os)?,
            endpoint_user: short("endpoint_user", &i.endpoint_user)?,
            source_ip: i
                .source_ip
                .as_deref()
                .map(|v| ip("source_ip", v))
                .transpose()?,
            source_name: i
                .source_name
                .as_deref()
                .map(|v| Text::parse(&f("source_name"), v, Text::LONG))
                .transpose()?,
            source_country: i
                .source_country
                .as_deref()
                .map(|v| CountryCode::parse(&f("source_country"), v))
                .transpose()?,
            progression: i
                .progression
                .iter()
                .map(|s| parse(f("progression"), s))
                .collect::<Result<_, _>>()?,
            collector_id: short("collector_id", &i.collector_id)?,
            collector_type: parse(f("collector_type"), &i.collector_type)?,
            file_sha256: i
                .file_sha256
                .as_deref()
                .map(|v| Sha256Hex::parse(&f("file_sha256"), v))
                .transpose()?,
            event_count: counter(f("event_count"), i.event_count, 1)?,
        };
        Ok(Incident {
            id: IncidentId::new(counter(f("incident_id"), i.incident_id, 1)?),
            facts,
            status: parse(f("status"), &i.status)?,
            version: counter(f("version"), i.version, 1)?,
            change_seq: position(f("change_seq"), self.change_seq)?,
        })
    }
}

impl SyncRequest {
    /// Validates the request into a domain batch.
    pub fn to_batch(&self) -> Result<SyncBatch, DomainError> {
        if self.upserts.len() + self.removals.len() > MAX_SYNC_ROWS {
            return Err(DomainError::new(
                "upserts",
                format!("send at most {MAX_SYNC_ROWS} incidents per sync request"),
            ));
        }
        let upserts = self
            .upserts
            .iter()
            .enumerate()
            .map(|(n, u)| u.to_domain(&format!("upserts[{n}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(benign) = upserts
            .iter()
            .position(|i| i.risk() == aerie_domain::risk::Risk::Benign)
        {
            return Err(DomainError::new(
                format!("upserts[{benign}]"),
                "benign incidents are never sent to the MCM: send a removal",
            ));
        }
        let removals = self
            .removals
            .iter()
            .enumerate()
            .map(|(n, r)| {
                Ok((
                    IncidentId::new(counter(
                        format!("removals[{n}].incident_id"),
                        r.incident_id,
                        1,
                    )?),
                    counter(format!("removals[{n}].version"), r.version, 1)?,
                ))
            })
            .collect::<Result<Vec<_>, DomainError>>()?;
        Ok(SyncBatch {
            upserts,
            removals,
            high_seq: position("high_seq", self.high_seq)?,
            backlog: counter("backlog", self.backlog, 0)?,
            cm_name: self
                .cm_name
                .as_deref()
                .map(|n| aerie_domain::net::HostName::parse("cm_name", n))
                .transpose()?,
            fips: self.fips,
            cm_fingerprint: self
                .cm_fingerprint
                .as_deref()
                .map(|f| aerie_domain::net::CertFingerprint::parse("cm_fingerprint", f))
                .transpose()?,
            epoch: counter("epoch", self.epoch, 0)?,
            after_seq: self
                .after_seq
                .map(|a| position("after_seq", a))
                .transpose()?,
            resync: self.resync,
        })
    }
}

/// A registered CM as the MCM's Secondary CMs list shows it (`GET /api/v1/cms`).
#[derive(Serialize, Deserialize, utoipa::ToSchema, Debug, Clone, PartialEq)]
pub struct CmOut {
    pub id: i64,
    /// The CM name: its host name.
    pub name: String,
    pub hostname: String,
    pub ip: String,
    pub url: String,
    pub version: String,
    pub fips: bool,
    /// online, offline or deregistered.
    pub status: String,
    pub registered: String,
    pub last_sync: Option<String>,
    /// How far behind the MCM's copy may be: seconds since the last applied batch while
    /// the CM reports a backlog, or since its last contact while it is silent; 0 when
    /// caught up.
    pub sync_lag_seconds: i64,
    /// Changes the CM reported as not yet sent.
    pub backlog: i64,
    /// True when the CM has been silent for a while: `backlog` is the last it reported.
    pub backlog_stale: bool,
    pub incident_count: i64,
}

impl CmOut {
    pub fn of(cm: &aerie_domain::federation::Cm, now: chrono::DateTime<chrono::Utc>) -> Self {
        CmOut {
            id: cm.id.get(),
            status: cm.state(now).as_str().to_owned(),
            hostname: cm.name.to_string(),
            name: cm.name.to_string(),
            ip: cm.ip.to_string(),
            url: cm.url.clone(),
            version: cm.version.clone(),
            fips: cm.fips,
            registered: crate::format_time(cm.registered),
            last_sync: cm.last_sync.map(crate::format_time),
            sync_lag_seconds: cm.sync_lag_seconds(now),
            backlog: cm.backlog,
            backlog_stale: cm.backlog_is_stale(now),
            incident_count: cm.incident_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_counters_are_refused_with_their_field() {
        let field = |r: SyncRequest| r.to_batch().unwrap_err().field;
        let heartbeat = SyncRequest::default();
        assert!(heartbeat.to_batch().is_ok());
        assert_eq!(
            field(SyncRequest {
                high_seq: -1,
                ..Default::default()
            }),
            "high_seq"
        );
        let packed = SyncRequest {
            high_seq: (1 << 40) << 20,
            ..Default::default()
        };
        assert!(packed.to_batch().is_ok(), "positions use all 63 bits");
        assert_eq!(
            field(SyncRequest {
                backlog: -1,
                ..Default::default()
            }),
            "backlog"
        );
        let removal = |incident_id, version| SyncRequest {
            removals: vec![Removal {
                incident_id,
                version,
            }],
            ..Default::default()
        };
        assert_eq!(field(removal(-5, 1)), "removals[0].incident_id");
        assert_eq!(field(removal(5, 0)), "removals[0].version");
        assert!(removal(5, 1).to_batch().is_ok());

        let facts = IncidentFacts::open(&aerie_domain::event::NewEvent::sample(
            "10.0.0.1".parse().unwrap(),
            chrono::Utc::now(),
            0.9,
        ));
        let incident = Incident {
            id: IncidentId::new(7),
            facts,
            status: aerie_domain::status::Status::New,
            version: 1,
            change_seq: 3,
        };
        let upsert = |edit: fn(&mut SyncedIncident)| {
            let mut u = SyncedIncident::of(&incident);
            edit(&mut u);
            SyncRequest {
                upserts: vec![u],
                high_seq: 3,
                ..Default::default()
            }
        };
        assert!(upsert(|_| {}).to_batch().is_ok());
        assert_eq!(
            field(upsert(|u| u.incident.incident_id = -1)),
            "upserts[0].incident_id"
        );
        assert_eq!(
            field(upsert(|u| u.change_seq = -1)),
            "upserts[0].change_seq"
        );
    }
}
