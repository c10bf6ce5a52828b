//! Our incidents and events in the original API's shapes (JATP-API.md §5.2–5.3): ids as
//! integers, severities, sizes and times as strings, `has_*` flags as 1/0, every key
//! present (missing text is `""`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use aerie_domain::{
    event::{Event, EventKind, Stage},
    incident::Incident,
    text::Text,
};

/// `YYYY-MM-DD HH:MM:SS`, UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A severity as the original wrote it: a decimal string.
pub fn severity(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_owned()
    }
}

fn text(t: &Option<Text>) -> &str {
    t.as_ref().map_or("", Text::as_str)
}

fn ip(ip: Option<std::net::IpAddr>) -> String {
    ip.map(|i| i.to_string()).unwrap_or_default()
}

/// The original's event types: `http` for downloads, `cnc`, `exploit`, `email` for
/// phishing, `upload` for submitted files.
pub fn event_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Download => "http",
        EventKind::Cnc => "cnc",
        EventKind::Exploit => "exploit",
        EventKind::Phishing => "email",
        EventKind::Upload => "upload",
    }
}

/// One row of `incident_array` (and the scalar part of `incident_details`).
pub fn incident(i: &Incident, id: i64) -> Map<String, Value> {
    let f = &i.facts;
    let has = |s: Stage| i64::from(f.progression.contains(s));
    let Value::Object(row) = json!({
        "incident_id": id,
        "first_activity_time": time(f.first_seen),
        "last_activity_time": time(f.last_activity),
        "threat_name": f.threat_name.as_str(),
        "malware_name": f.threat_name.as_str(),
        "category": f.category.as_str(),
        "malware_severity": severity(f.severity.value()),
        "risk": f.severity.risk().as_str(),
        "status": i.status.as_str(),
        "endpoint_ip": f.endpoint_ip.to_string(),
        "endpoint_name": text(&f.endpoint_name),
        "endpoint_os": text(&f.endpoint_os),
        "endpoint_user": text(&f.endpoint_user),
        "source_ip": ip(f.source_ip),
        "source_name": text(&f.source_name),
        "source_country": f.source_country.as_ref().map_or("", |c| c.as_str()),
        "collector_type": f.collector_type.as_str(),
        "collector_id": text(&f.collector_id),
        "event_count": f.event_count,
        "has_exploit": has(Stage::Exploit),
        "has_download": has(Stage::Download),
        "has_execution": has(Stage::Execution),
        "has_infection": has(Stage::Infection),
        "has_data_theft": has(Stage::DataTheft),
        "has_file_submission": has(Stage::FileSubmission),
    }) else {
        unreachable!("an object literal")
    };
    row
}

/// One row of `event_array` (and the scalar part of `event_details`); `md5` is known
/// for submitted files only.
pub fn event(e: &Event, id: i64, incident_id: i64, md5: &str) -> Map<String, Value> {
    let n = &e.event;
    let Value::Object(row) = json!({
        "event_id": id,
        "incident_id": incident_id,
        "event_type": event_type(n.kind),
        "event_name": n.threat_name.as_str(),
        "event_category": n.category.as_str(),
        "event_time": time(n.time),
        "last_activity_time": time(n.time),
        "malware_severity": severity(n.severity.value()),
        "endpoint_ip": n.endpoint.ip.to_string(),
        "endpoint_name": text(&n.endpoint.name),
        "endpoint_os": text(&n.endpoint.os),
        "endpoint_user": text(&n.endpoint.user),
        "source_ip": ip(n.source.ip),
        "source_name": text(&n.source.name),
        "collector_type": n.collector_type.as_str(),
        "collector_id": text(&n.collector_id),
        "file_sha256_string": n.file_sha256.as_ref().map_or("", |s| s.as_str()),
        "file_md5_string": md5,
    }) else {
        unreachable!("an object literal")
    };
    row
}

#[cfg(test)]
mod tests {
    #[test]
    fn severities_and_times_read_as_the_original_wrote_them() {
        assert_eq!(super::severity(0.9), "0.9");
        assert_eq!(super::severity(0.0), "0.0");
        assert_eq!(super::severity(0.25), "0.25");
        assert_eq!(super::severity(1.0), "1.0");
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-08T01:02:03.456Z").unwrap();
        assert_eq!(super::time(t.to_utc()), "2026-12-08 01:02:03");
    }
}
