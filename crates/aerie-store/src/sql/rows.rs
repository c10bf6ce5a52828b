//! Turning stored rows back into domain values. Stored text was validated on the way in;
//! a value that no longer parses means the database was changed behind our back.

use std::{net::IpAddr, str::FromStr};

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};

use aerie_domain::{
    event::{Endpoint, Event, NewEvent, Progression, Source},
    incident::{Incident, IncidentFacts, IncidentId, StatusChange},
    net::{CertFingerprint, HostName},
    risk::Severity,
    text::{CountryCode, Sha256Hex, Text},
    user::{ApiKey, Permissions, RoleName, User, Username},
};

use crate::{Result, StoreError};

/// The incident columns, in the order [`incident`] reads them.
pub const INCIDENT_COLUMNS: &str = "id, first_seen_ms, last_activity_ms, severity, category, \
    threat_name, endpoint_ip, endpoint_name, endpoint_os, endpoint_user, source_ip, \
    source_name, source_country, progression, collector_id, collector_type, file_sha256, \
    event_count, status, version, change_seq";

pub const EVENT_COLUMNS: &str = "id, incident_id, kind, time_ms, severity, category, \
    threat_name, endpoint_ip, endpoint_name, endpoint_os, endpoint_user, source_ip, \
    source_name, source_country, progression, collector_id, collector_type, file_sha256, \
    behaviour, artifacts";

pub fn time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(format!("time {ms}")))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

pub fn parsed<T: FromStr>(row: &AnyRow, col: &str) -> Result<T> {
    let raw: String = row.try_get(col)?;
    raw.parse().map_err(|_| corrupt(format!("{col} {raw:?}")))
}

fn parsed_opt<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|r| r.parse().map_err(|_| corrupt(format!("{col} {r:?}"))))
        .transpose()
}

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<Text> {
    Ok(Text::from_trusted(row.try_get(col)?))
}

fn text_opt(row: &AnyRow, col: &str) -> Result<Option<Text>> {
    Ok(row
        .try_get::<Option<String>, _>(col)?
        .map(Text::from_trusted))
}

fn country(row: &AnyRow) -> Result<Option<CountryCode>> {
    let raw: Option<String> = row.try_get("source_country")?;
    raw.map(|r| CountryCode::parse("source_country", &r).map_err(|e| corrupt(e.to_string())))
        .transpose()
}

fn sha(row: &AnyRow) -> Result<Option<Sha256Hex>> {
    let raw: Option<String> = row.try_get("file_sha256")?;
    raw.map(|r| Sha256Hex::parse("file_sha256", &r).map_err(|e| corrupt(e.to_string())))
        .transpose()
}

pub(crate) fn severity(row: &AnyRow) -> Result<Severity> {
    let raw: f64 = row.try_get("severity")?;
    Severity::parse("severity", raw).map_err(|e| corrupt(e.to_string()))
}

/// The columns of the MCM's copy, in the order [`remote_incident`] reads them.
pub const REMOTE_COLUMNS: &str = "id, cm_id, incident_id, first_seen_ms, last_activity_ms, \
    severity, category, threat_name, endpoint_ip, endpoint_name, endpoint_os, endpoint_user, \
    source_ip, source_name, source_country, progression, collector_id, collector_type, \
    file_sha256, event_count, status, version, change_seq";

pub fn remote_incident(row: &AnyRow) -> Result<aerie_domain::federation::RemoteIncident> {
    Ok(aerie_domain::federation::RemoteIncident {
        row_id: row.try_get("id")?,
        cm_id: aerie_domain::ids::CmId::new(row.try_get("cm_id")?),
        incident: incident_with_id(row, "incident_id")?,
    })
}

pub fn incident(row: &AnyRow) -> Result<Incident> {
    incident_with_id(row, "id")
}

fn incident_with_id(row: &AnyRow, id_col: &str) -> Result<Incident> {
    let facts = IncidentFacts {
        first_seen: time(row.try_get("first_seen_ms")?)?,
        last_activity: time(row.try_get("last_activity_ms")?)?,
        severity: severity(row)?,
        category: parsed(row, "category")?,
        threat_name: text(row, "threat_name")?,
        endpoint_ip: parsed(row, "endpoint_ip")?,
        endpoint_name: text_opt(row, "endpoint_name")?,
        endpoint_os: text_opt(row, "endpoint_os")?,
        endpoint_user: text_opt(row, "endpoint_user")?,
        source_ip: parsed_opt::<IpAddr>(row, "source_ip")?,
        source_name: text_opt(row, "source_name")?,
        source_country: country(row)?,
        progression: Progression::from_bits(row.try_get("progression")?),
        collector_id: text_opt(row, "collector_id")?,
        collector_type: parsed(row, "collector_type")?,
        file_sha256: sha(row)?,
        event_count: row.try_get("event_count")?,
    };
    Ok(Incident {
        id: IncidentId::new(row.try_get(id_col)?),
        facts,
        status: parsed(row, "status")?,
        version: row.try_get("version")?,
        change_seq: row.try_get("change_seq")?,
    })
}

pub fn event(row: &AnyRow) -> Result<Event> {
    Ok(Event {
        id: row.try_get("id")?,
        incident_id: IncidentId::new(row.try_get("incident_id")?),
        event: NewEvent {
            kind: parsed(row, "kind")?,
            time: time(row.try_get("time_ms")?)?,
            severity: severity(row)?,
            category: parsed(row, "category")?,
            threat_name: text(row, "threat_name")?,
            endpoint: Endpoint {
                ip: parsed(row, "endpoint_ip")?,
                name: text_opt(row, "endpoint_name")?,
                os: text_opt(row, "endpoint_os")?,
                user: text_opt(row, "endpoint_user")?,
            },
            source: Source {
                ip: parsed_opt(row, "source_ip")?,
                name: text_opt(row, "source_name")?,
                country: country(row)?,
            },
            progression: Progression::from_bits(row.try_get("progression")?),
            collector_id: text_opt(row, "collector_id")?,
            collector_type: parsed(row, "collector_type")?,
            file_sha256: sha(row)?,
            behaviour: json_opt(row, "behaviour")?.unwrap_or_default(),
            artifacts: json_opt(row, "artifacts")?.unwrap_or_default(),
        },
    })
}

/// A JSON column, validated again as it is read.
pub fn json_opt<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|r| serde_json::from_str(&r).map_err(|e| corrupt(format!("{col}: {e}"))))
        .transpose()
}

pub fn status_change(row: &AnyRow) -> Result<StatusChange> {
    Ok(StatusChange {
        incident_id: IncidentId::new(row.try_get("incident_id")?),
        from: parsed(row, "from_status")?,
        to: parsed(row, "to_status")?,
        comment: text(row, "comment")?,
        actor: text(row, "actor")?,
        at: time(row.try_get("at_ms")?)?,
    })
}

pub fn user(row: &AnyRow) -> Result<User> {
    let name: String = row.try_get("username")?;
    let role: String = row.try_get("role")?;
    let role = RoleName::parse("role", &role).map_err(|e| corrupt(e.to_string()))?;
    let permissions = match (
        role.seeded(),
        row.try_get::<Option<String>, _>("role_permissions")?,
    ) {
        (Some(seeded), _) => seeded.permissions(),
        (None, Some(list)) => {
            Permissions::parse("role_permissions", &list).map_err(|e| corrupt(e.to_string()))?
        }
        (None, None) => Permissions::NONE,
    };
    Ok(User {
        id: aerie_domain::ids::UserId::new(row.try_get("id")?),
        username: Username::parse(&name).map_err(|e| corrupt(e.to_string()))?,
        role,
        permissions,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

pub fn cm(row: &AnyRow) -> Result<aerie_domain::federation::Cm> {
    let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>> {
        row.try_get::<Option<i64>, _>(col)?.map(time).transpose()
    };
    Ok(aerie_domain::federation::Cm {
        id: aerie_domain::ids::CmId::new(row.try_get("id")?),
        uid: row.try_get("uid")?,
        name: HostName::parse("name", &row.try_get::<String, _>("name")?)
            .map_err(|e| corrupt(e.to_string()))?,
        url: row.try_get("url")?,
        ip: row
            .try_get::<String, _>("ip")?
            .parse()
            .map_err(|e| corrupt(format!("CM ip: {e}")))?,
        version: row.try_get("version")?,
        fips: row.try_get::<i64, _>("fips")? != 0,
        cert_fingerprint: CertFingerprint::parse(
            "cert_fingerprint",
            &row.try_get::<String, _>("cert_fingerprint")?,
        )
        .map_err(|e| corrupt(e.to_string()))?,
        proxy_token: row.try_get("proxy_token")?,
        registered: time(row.try_get("registered_ms")?)?,
        last_seen: opt_time("last_seen_ms")?,
        last_sync: opt_time("last_sync_ms")?,
        epoch: row.try_get("epoch")?,
        acked_seq: row.try_get("acked_seq")?,
        backlog: row.try_get("backlog")?,
        incident_count: row.try_get("incident_count")?,
        deregistered: opt_time("deregistered_ms")?,
    })
}

pub fn api_key(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: aerie_domain::ids::ApiKeyId::new(row.try_get("id")?),
        user_id: aerie_domain::ids::UserId::new(row.try_get("user_id")?),
        name: text(row, "name")?,
        prefix: row.try_get("prefix")?,
        created: time(row.try_get("created_ms")?)?,
        revoked: row
            .try_get::<Option<i64>, _>("revoked_ms")?
            .map(time)
            .transpose()?,
    })
}

/// The columns of `analyses`, in the order [`analysis`] reads them.
pub const ANALYSIS_COLUMNS: &str = "event_id, sha256, md5, file_name, size, submitted_ms, \
    done_ms, severity, malware_name, reason";

pub fn analysis(row: &AnyRow) -> Result<aerie_domain::analysis::Analysis> {
    let raw: String = row.try_get("sha256")?;
    let sha256 = Sha256Hex::parse("sha256", &raw).map_err(|e| corrupt(e.to_string()))?;
    let done: Option<i64> = row.try_get("done_ms")?;
    let verdict = match done {
        None => None,
        Some(ms) => Some(aerie_domain::analysis::Verdict {
            done: time(ms)?,
            severity: severity(row)?,
            malware_name: text(row, "malware_name")?,
            reason: text(row, "reason")?,
        }),
    };
    Ok(aerie_domain::analysis::Analysis {
        event_id: row.try_get("event_id")?,
        sha256,
        md5: row.try_get("md5")?,
        file_name: text(row, "file_name")?,
        size: row.try_get("size")?,
        submitted: time(row.try_get("submitted_ms")?)?,
        verdict,
    })
}
