//! The ops that read one incident or event in depth: `incident_details`, `event_details`,
//! `analysis_details`, `behavior_details`.

use axum::response::Response;
use serde_json::{Map, Value, json};

use aerie_domain::{
    analysis::Analysis,
    event::{Event, EventKind},
};

use super::{
    Failed, codes, ok,
    ops::{Call, object},
    rows,
};
use crate::{
    auth::Caller,
    error::OpError,
    ops,
    rights::{Can, View},
    state::AppState,
};

impl Call<'_> {
    /// `incident_details`: the incident with its events by kind (`download_array`,
    /// `infection_array`, `exploit_array`, `email_array`, `upload_array`).
    pub(super) async fn incident_details(&self, caller: Caller) -> Result<Response, Failed> {
        Can::<View>::check(caller)?;
        let id = self.incident_id()?;
        let incident = ops::incidents::local(self.state, id).await?;
        let mut details = rows::incident(&incident, id.get());
        let mut arrays: [(&str, Vec<Value>); 5] = [
            ("download_array", vec![]),
            ("infection_array", vec![]),
            ("exploit_array", vec![]),
            ("email_array", vec![]),
            ("upload_array", vec![]),
        ];
        let mut events = Vec::new();
        ops::incidents::scan_events(self.state, id, |page| {
            events.extend_from_slice(page);
            false
        })
        .await?;
        for e in events.iter().rev() {
            let n = &e.event;
            let source = n
                .source
                .name
                .as_ref()
                .map_or(String::new(), |t| t.as_str().to_owned());
            let host = host_of(&source)
                .or_else(|| n.source.ip.map(|ip| ip.to_string()))
                .unwrap_or_default();
            let sha = n.file_sha256.as_ref().map_or("", |s| s.as_str());
            let md5 = md5_of(self.state, e).await?;
            let (slot, row) = match n.kind {
                EventKind::Download => (
                    0,
                    json!({
                        "event_id": e.id,
                        "source_url": source,
                        "file_md5_string": md5,
                        "file_sha256_string": sha,
                        "malware_name": n.threat_name.as_str(),
                        "malware_severity": rows::severity(n.severity.value()),
                        "req_headers": {"host": host},
                        "event_time": rows::time(n.time),
                    }),
                ),
                EventKind::Cnc => {
                    let mut servers: Vec<String> = n
                        .behaviour
                        .cnc
                        .iter()
                        .map(|c| c.as_str().to_owned())
                        .collect();
                    if servers.is_empty() && !host.is_empty() {
                        servers.push(host.clone());
                    }
                    (
                        1,
                        json!({
                            "infection_id": e.id,
                            "event_id": e.id,
                            "cnc_servers": servers.join(","),
                            "malware_name": n.threat_name.as_str(),
                            "malware_severity": rows::severity(n.severity.value()),
                            "event_time": rows::time(n.time),
                        }),
                    )
                }
                EventKind::Exploit => (
                    2,
                    json!({
                        "event_id": e.id,
                        "source_url": source,
                        "exploit_name": n.threat_name.as_str(),
                        "malware_severity": rows::severity(n.severity.value()),
                        "event_time": rows::time(n.time),
                    }),
                ),
                EventKind::Phishing => (
                    3,
                    json!({
                        "event_id": e.id,
                        "sender": source,
                        "subject": n.threat_name.as_str(),
                        "malware_severity": rows::severity(n.severity.value()),
                        "event_time": rows::time(n.time),
                    }),
                ),
                EventKind::Upload => (
                    4,
                    json!({
                        "event_id": e.id,
                        "file_md5_string": md5,
                        "file_sha256_string": sha,
                        "event_time": rows::time(n.time),
                    }),
                ),
            };
            arrays[slot].1.push(row);
        }
        for (name, list) in arrays {
            details.insert(name.into(), Value::Array(list));
        }
        Ok(ok(object(json!({"incident_details": details}))))
    }

    /// The event `event_id` of this CM (reading it takes the right to view).
    async fn event(&self, _can: &Can<View>) -> Result<Event, Failed> {
        let id = self.event_id()?;
        self.state
            .appliance
            .on_cm("events are kept by their CM")
            .await?;
        self.state
            .store
            .event(id)
            .await
            .map_err(OpError::from)?
            .ok_or_else(|| Failed::new(codes::NOT_FOUND, format!("no event {id}")))
    }

    /// `event_details`: the event, and `analysis_done_time` (a submitted file's verdict
    /// time, null while its analysis runs; a sensor event's own time).
    pub(super) async fn event_details(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<View>::check(caller)?;
        let e = self.event(&can).await?;
        let mut row = event_row(self.state, &e).await?;
        let done = match e.event.kind {
            EventKind::Upload => ops::uploads::analysis(self.state, &can, e.id)
                .await?
                .and_then(|a| a.verdict)
                .map(|v| json!(rows::time(v.done)))
                .unwrap_or(Value::Null),
            _ => json!(rows::time(e.event.time)),
        };
        row.insert("analysis_done_time".into(), done);
        Ok(ok(object(json!({"event_details": row}))))
    }

    /// `analysis_details`: by `event_id`, or by `md5sum` (a submitted file's). A pending
    /// analysis, or an MD5 never submitted, is a negative status.
    pub(super) async fn analysis_details(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<View>::check(caller)?;
        if let Some(md5) = self.params.any(&["md5sum"]) {
            let md5 = md5.trim().to_ascii_lowercase();
            if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Failed::new(codes::INVALID, "md5sum must be 32 hex digits"));
            }
            self.state
                .appliance
                .on_cm("files are analysed by their CM")
                .await?;
            let a = ops::uploads::analysis_by_md5(self.state, &can, &md5)
                .await?
                .ok_or_else(|| {
                    Failed::new(
                        codes::NOT_FOUND,
                        format!("no file with MD5 {md5} was submitted"),
                    )
                })?;
            return analysis_reply(&a);
        }
        let e = self.event(&can).await?;
        if e.event.kind == EventKind::Upload {
            let a = ops::uploads::analysis(self.state, &can, e.id)
                .await?
                .ok_or_else(|| {
                    Failed::new(codes::NOT_FOUND, format!("event {} has no analysis", e.id))
                })?;
            return analysis_reply(&a);
        }
        // A sensor's detection is its analysis.
        let n = &e.event;
        let severity = rows::severity(n.severity.value());
        let entry = json!({
            "event_id": e.id,
            "malware_severity": severity,
            "malware_name": n.threat_name.as_str(),
            "malware_category": n.category.as_str(),
            "verdict": if n.severity.value() > 0.0 { "malicious" } else { "clean" },
            "file_sha256_string": n.file_sha256.as_ref().map_or("", |s| s.as_str()),
            "file_md5_string": "",
            "file_name": "",
            "file_size": "",
            "analysis_done_time": rows::time(n.time),
            "reason": "the sensor's detection",
        });
        Ok(ok(object(json!({
            "analysis_array": [entry.clone()],
            "analysis_details": entry,
        }))))
    }

    /// `behavior_details`: what the detonation of the event's file saw.
    pub(super) async fn behavior_details(&self, caller: Caller) -> Result<Response, Failed> {
        let e = self.event(&Can::check(caller)?).await?;
        let b = &e.event.behaviour;
        let strings = |v: &[aerie_domain::text::Text]| -> Vec<String> {
            v.iter().map(|t| t.as_str().to_owned()).collect()
        };
        let mut registry: Vec<Value> = b
            .registry_keys
            .iter()
            .map(|k| json!({"key_path": k.as_str(), "was_created": 1}))
            .collect();
        registry.extend(
            b.persistence
                .iter()
                .filter(|p| p.as_str().starts_with("HK"))
                .map(|k| json!({"key_path": k.as_str(), "was_created": 1})),
        );
        let ivp = !b.is_empty() || e.event.file_sha256.is_some();
        let details = json!({
            "event_id": e.id,
            "has_ivp": i64::from(ivp),
            "cnc_array": b.cnc.iter().map(|c| json!({"cnc_server": c.as_str()})).collect::<Vec<_>>(),
            "processes_spawned": strings(&b.processes),
            "registry_changes": registry,
            "mutexes": strings(&b.mutexes),
            "file_opened": b.files.iter().map(|f| f.path.as_str().to_owned()).collect::<Vec<_>>(),
        });
        let host = self.state.appliance.hostname().await?;
        Ok(ok(object(json!({
            "behavior_details": details,
            "server_name": host,
            "server_ip": server_ip(self.host),
            "crsf_token": "",
        }))))
    }
}

/// The MD5 of an event's file, when it was submitted here.
async fn md5_of(state: &AppState, e: &Event) -> Result<String, OpError> {
    if e.event.kind != EventKind::Upload {
        return Ok(String::new());
    }
    Ok(state
        .store
        .analysis(e.id)
        .await?
        .map(|a| a.md5)
        .unwrap_or_default())
}

pub(super) async fn event_row(state: &AppState, e: &Event) -> Result<Map<String, Value>, OpError> {
    let md5 = md5_of(state, e).await?;
    Ok(rows::event(e, e.id, e.incident_id.get(), &md5))
}

fn analysis_reply(a: &Analysis) -> Result<Response, Failed> {
    let Some(v) = &a.verdict else {
        return Err(Failed::new(
            codes::PENDING,
            format!("the analysis of event {} is not done yet", a.event_id),
        ));
    };
    let entry = json!({
        "event_id": a.event_id,
        "malware_severity": rows::severity(v.severity.value()),
        "malware_name": v.malware_name.as_str(),
        "malware_category": "",
        "verdict": if v.malicious() { "malicious" } else { "clean" },
        "file_sha256_string": a.sha256.as_str(),
        "file_md5_string": a.md5,
        "file_name": a.file_name.as_str(),
        "file_size": a.size.to_string(),
        "submit_time": rows::time(a.submitted),
        "analysis_done_time": rows::time(v.done),
        "reason": v.reason.as_str(),
    });
    Ok(ok(object(json!({
        "analysis_array": [entry.clone()],
        "analysis_details": entry,
    }))))
}

/// The host of a URL or host name (`http://a.example:8080/x` → `a.example`).
fn host_of(source: &str) -> Option<String> {
    let rest = source.split_once("://").map_or(source, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// The address the client reached us at, when it addressed one (not a name).
fn server_ip(host: &str) -> String {
    host_of(host)
        .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(
            super::host_of("http://a.example:8080/x").as_deref(),
            Some("a.example")
        );
        assert_eq!(
            super::host_of("a.example/x?y").as_deref(),
            Some("a.example")
        );
        assert_eq!(
            super::host_of("https://u@[::1]:443/").as_deref(),
            Some("::1")
        );
        assert_eq!(super::host_of("").as_deref(), None);
    }
}
