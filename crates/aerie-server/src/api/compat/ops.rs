//! The ops of `/cyadmin/api.php`, each a translation onto [`crate::ops`]. On the MCM the
//! ops that name an incident or event go live to the CM that owns it ([`super::mcm`]).

use std::net::SocketAddr;

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use aerie_domain::{
    analysis::Analysis,
    event::{Event, EventKind},
    incident::IncidentId,
    query::{Cursor, IncidentFilter, IncidentQuery, IncidentSort},
    user::{RoleName, Username},
};

use super::{Failed, Params, codes, mcm, ok, rows, streamed};
use crate::{
    auth::Caller,
    error::OpError,
    ops,
    rights::{Administer, Can, Operator, Triage, View},
    state::AppState,
};

/// Rows read per page of a streamed list.
const PAGE: u32 = 500;

/// One call of the API.
pub struct Call<'a> {
    pub state: &'a AppState,
    pub headers: &'a HeaderMap,
    pub params: &'a Params,
    pub peer: SocketAddr,
    /// The host the client addressed (`HOST[:PORT]`).
    pub host: &'a str,
}

impl Call<'_> {
    pub async fn run(&self, op: &str) -> Result<Response, Failed> {
        if op == "login" {
            return self.login().await;
        }
        let known = [
            "logout",
            "get_users",
            "add_user",
            "incidents",
            "events",
            "incident_details",
            "event_details",
            "analysis_details",
            "behavior_details",
            "add_incident_comments",
            "add_license",
        ];
        if !known.contains(&op) {
            return Err(Failed::new(
                codes::UNKNOWN_OP,
                if op.is_empty() {
                    "missing parameter op".to_owned()
                } else {
                    format!("unknown op {:?}", op.chars().take(64).collect::<String>())
                },
            ));
        }
        let caller = super::caller(self.state, self.headers, self.params).await?;
        if self.state.appliance.is_mcm().await?
            && let Some(resp) = mcm::run(self, op, &caller).await?
        {
            return Ok(resp);
        }
        match op {
            "logout" => self.logout(&caller).await,
            "get_users" => self.get_users(caller).await,
            "add_user" => self.add_user(caller).await,
            "incidents" => self.incidents(caller).await,
            "events" => self.events(caller).await,
            "incident_details" => self.incident_details(caller).await,
            "event_details" => self.event_details(caller).await,
            "analysis_details" => self.analysis_details(caller).await,
            "behavior_details" => self.behavior_details(caller).await,
            "add_incident_comments" => self.add_incident_comments(caller).await,
            "add_license" => self.add_license(caller).await,
            _ => unreachable!("checked above"),
        }
    }

    async fn session_timeout_sec(&self) -> Result<i64, Failed> {
        Ok(ops::settings::session_ttl_minutes(self.state).await? as i64 * 60)
    }

    /// `login`: `user_name` (or `username`) and `password`; sets `SESSID`.
    async fn login(&self) -> Result<Response, Failed> {
        let user = self
            .params
            .any(&["user_name", "username", "user"])
            .ok_or_else(|| Failed::new(codes::INVALID, "missing parameter user_name"))?;
        let password = self.params.required("password")?;
        let (_, token, _) =
            match ops::sessions::log_in(self.state, self.peer.ip(), user, password).await? {
                Ok(done) => done,
                Err(ops::sessions::Refused::Wrong) => {
                    return Err(Failed::new(
                        codes::UNAUTHENTICATED,
                        "wrong user name or password",
                    ));
                }
                Err(ops::sessions::Refused::TooMany(_)) => {
                    return Err(Failed::new(
                        codes::UNAVAILABLE,
                        "too many failed logins lately: wait a few minutes",
                    ));
                }
            };
        let timeout = self.session_timeout_sec().await?;
        let mut resp = ok(object(json!({"session_timeout_sec": timeout})));
        let cookie = format!(
            "{}={token}; Path=/cyadmin; Max-Age={timeout}; Secure; HttpOnly; SameSite=Strict",
            super::SESSION_COOKIE
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        Ok(resp)
    }

    async fn logout(&self, caller: &Caller) -> Result<Response, Failed> {
        if let Some(token) = &caller.session {
            self.state
                .store
                .delete_session(&crate::secret::secret_hash(token))
                .await
                .map_err(OpError::from)?;
        }
        Ok(ok(Map::new()))
    }

    /// `get_users`: every user for an admin; the caller alone for anyone else (the SOAR
    /// app calls it to test its credentials).
    async fn get_users(&self, caller: Caller) -> Result<Response, Failed> {
        let users = match Can::<Administer>::check(caller.clone()) {
            Ok(can) => ops::users::list(self.state, &can).await?,
            Err(_) => vec![caller.user.clone()],
        };
        let rows: Vec<Value> = users
            .iter()
            .map(|u| {
                json!({
                    "user_id": u.id.get(),
                    "user_name": u.username.as_str(),
                    "full_name": "",
                    "role": u.role.as_str(),
                    "is_admin": i64::from(u.permissions.contains(aerie_domain::user::Permission::Administer)),
                    "is_disabled": i64::from(u.disabled),
                })
            })
            .collect();
        Ok(ok(object(json!({
            "user_array": rows,
            "session_timeout_sec": self.session_timeout_sec().await?,
        }))))
    }

    /// `add_user`: `user_name`, `password`, and `is_admin=1` (role admin) or a `role`
    /// (default analyst). `full_name` and the original's other flags are accepted and
    /// not kept.
    async fn add_user(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<Administer>::check(caller)?;
        let name = Username::parse(self.params.required("user_name")?).map_err(OpError::from)?;
        let password = self.params.required("password")?;
        let role = match (
            self.params.get("is_admin").map(str::trim),
            self.params.any(&["role"]),
        ) {
            (Some("1"), _) => "admin",
            (_, Some(role)) => role,
            _ => "analyst",
        };
        let role = RoleName::parse("role", role).map_err(OpError::from)?;
        let user = ops::users::create(self.state, &can, &name, password, &role).await?;
        Ok(ok(object(json!({"user_id": user.id.get()}))))
    }

    /// The `(from, to)` window of a list op in ms: the seconds
    /// `(end_time_sec − interval_sec, end_time_sec]`, by default the 24 hours up to now.
    pub(super) fn window(&self) -> Result<(i64, i64), Failed> {
        let now = Utc::now().timestamp();
        let end = self.params.int("end_time_sec")?.unwrap_or(now);
        let interval = self.params.int("interval_sec")?.unwrap_or(86_400);
        if interval <= 0 {
            return Err(Failed::new(codes::INVALID, "interval_sec must be above 0"));
        }
        let ms = |s: i64| s.checked_mul(1000);
        match (
            ms(end.saturating_sub(interval).saturating_add(1)),
            ms(end.saturating_add(1)),
        ) {
            (Some(from), Some(to)) if from >= 0 => Ok((from, to)),
            _ => Err(Failed::new(
                codes::INVALID,
                "end_time_sec and interval_sec must name a window after 1970",
            )),
        }
    }

    /// The `max_risk_value` filter: incidents of at most that severity (0 to 1; 1, what
    /// the Splunk app sends, is every incident).
    pub(super) fn max_severity(&self) -> Result<f64, Failed> {
        match self
            .params
            .get("max_risk_value")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => Ok(1.0),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| {
                    Failed::new(
                        codes::INVALID,
                        format!("max_risk_value must be from 0 to 1, not {v:?}"),
                    )
                }),
        }
    }

    /// `incidents`: every incident whose last activity is in the window, newest first,
    /// streamed (no page cap).
    async fn incidents(&self, caller: Caller) -> Result<Response, Failed> {
        Can::<View>::check(caller)?;
        let (from, to) = self.window()?;
        let max = self.max_severity()?;
        let state = self.state.clone();
        let filter = IncidentFilter {
            from: DateTime::from_timestamp_millis(from),
            to: DateTime::from_timestamp_millis(to),
            ..Default::default()
        };
        let pages = futures::stream::try_unfold(Some(None::<Cursor>), move |cursor| {
            let (state, filter) = (state.clone(), filter.clone());
            async move {
                let Some(after) = cursor else { return Ok(None) };
                let query = IncidentQuery {
                    filter,
                    sort: IncidentSort::Time,
                    limit: PAGE,
                    after,
                };
                let page = state.store.incidents(&query).await?;
                let rows = page
                    .items
                    .iter()
                    .filter(|i| i.facts.severity.value() <= max)
                    .map(|i| rows::incident(i, i.id.get()))
                    .collect();
                Ok::<_, OpError>(Some((rows, page.next.map(Some))))
            }
        });
        Ok(streamed("incident_array", pages))
    }

    /// `events`: every event in the window, oldest first, streamed.
    async fn events(&self, caller: Caller) -> Result<Response, Failed> {
        Can::<View>::check(caller)?;
        let (from, to) = self.window()?;
        let state = self.state.clone();
        let pages = futures::stream::try_unfold(Some(None::<(i64, i64)>), move |cursor| {
            let state = state.clone();
            async move {
                let Some(after) = cursor else { return Ok(None) };
                let page = state.store.events_between(from, to, after, PAGE).await?;
                let next = (page.len() == PAGE as usize)
                    .then(|| page.last().map(|e| (e.event.time.timestamp_millis(), e.id)));
                let mut out = Vec::with_capacity(page.len());
                for e in &page {
                    out.push(event_row(&state, e).await?);
                }
                Ok::<_, OpError>(Some((out, next)))
            }
        });
        Ok(streamed("event_array", pages))
    }

    fn incident_id(&self) -> Result<IncidentId, Failed> {
        let id = self
            .params
            .int("incident_id")?
            .ok_or_else(|| Failed::new(codes::INVALID, "missing parameter incident_id"))?;
        Ok(IncidentId::new(id))
    }

    fn event_id(&self) -> Result<i64, Failed> {
        self.params
            .int("event_id")?
            .ok_or_else(|| Failed::new(codes::INVALID, "missing parameter event_id"))
    }

    /// `incident_details`: the incident with its events by kind (`download_array`,
    /// `infection_array`, `exploit_array`, `email_array`, `upload_array`).
    async fn incident_details(&self, caller: Caller) -> Result<Response, Failed> {
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

    /// The event `event_id` of this CM, refused when the caller may not view.
    async fn event(&self, caller: Caller) -> Result<Event, Failed> {
        Can::<View>::check(caller)?;
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
    async fn event_details(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<View>::check(caller.clone())?;
        let e = self.event(caller).await?;
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
    async fn analysis_details(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<View>::check(caller.clone())?;
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
        let e = self.event(caller).await?;
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
    async fn behavior_details(&self, caller: Caller) -> Result<Response, Failed> {
        let e = self.event(caller).await?;
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

    /// `add_incident_comments`: `incident_id`, `comments`, and `status` to move it to
    /// (with `last_status`, the status the client saw, checked when given).
    async fn add_incident_comments(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<Triage>::check(caller)?;
        let id = self.incident_id()?;
        let incident = ops::incidents::local(self.state, id).await?;
        if let Some(last) = self.params.any(&["last_status"]) {
            let last = ops::incidents::status(last.trim())?;
            if last != incident.status {
                return Err(Failed::new(
                    codes::CONFLICT,
                    format!(
                        "incident {id} is {}, not {last}: reload it and try again",
                        incident.status
                    ),
                ));
            }
        }
        let comment = ops::incidents::comment_text(self.params.get("comments").unwrap_or(""))?;
        match self.params.any(&["status"]) {
            Some(to) if ops::incidents::status(to.trim())? != incident.status => {
                let to = ops::incidents::status(to.trim())?;
                ops::incidents::change_status(self.state, &can, id, to, &comment).await?;
            }
            _ if comment.as_str().trim().is_empty() => {
                return Err(Failed::new(
                    codes::INVALID,
                    "nothing to do: give comments, or a status other than the incident's",
                ));
            }
            _ => {
                ops::incidents::comment(self.state, &can, id, &comment).await?;
            }
        }
        Ok(ok(object(
            json!({"session_timeout_sec": self.session_timeout_sec().await?}),
        )))
    }

    /// `add_license`: the license as a file part (`filename`, `file` or `license`) or as
    /// the `license` field; `license_type` product or support.
    async fn add_license(&self, caller: Caller) -> Result<Response, Failed> {
        let can = Can::<Administer>::check(caller)?;
        if let Some(kind) = self.params.any(&["license_type"])
            && !matches!(kind.trim(), "product" | "support")
        {
            return Err(Failed::new(
                codes::INVALID,
                format!("license_type must be product or support, not {kind:?}"),
            ));
        }
        let (_, bytes) = ["filename", "file", "license"]
            .iter()
            .find_map(|f| self.params.file(f).filter(|(_, b)| !b.is_empty()))
            .ok_or_else(|| {
                Failed::new(
                    codes::INVALID,
                    "missing the license: send it as the file part filename",
                )
            })?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| Failed::new(codes::INVALID, "the license is not text"))?;
        let said = ops::licensing::install(self.state, Operator::Admin(&can), &text).await?;
        Ok(ok(object(json!({"message": said}))))
    }
}

/// A JSON object literal as a map.
pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
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

async fn event_row(state: &AppState, e: &Event) -> Result<Map<String, Value>, OpError> {
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

/// Where `/cyadmin/index.html?event_id=N|incident_id=N` leads; on the MCM an event's
/// incident is asked of its CM as the signed-in `viewer`.
pub async fn deep_link(
    state: &AppState,
    params: &Params,
    viewer: Option<&Caller>,
) -> Result<String, Failed> {
    if let Some(id) = params.int("incident_id")? {
        if state.appliance.is_mcm().await? {
            let (cm, local) = mcm::split_id(id)?;
            return Ok(format!("/incidents/{}/{local}", cm.get()));
        }
        return Ok(format!("/incidents/{id}"));
    }
    let Some(id) = params.int("event_id")? else {
        return Ok("/incidents".to_owned());
    };
    if state.appliance.is_mcm().await? {
        let (cm, local) = mcm::split_id(id)?;
        let Some(viewer) = viewer else {
            return Ok("/login".to_owned());
        };
        let incident = mcm::event_incident(state, viewer, cm, local).await?;
        return Ok(format!("/incidents/{}/{incident}", cm.get()));
    }
    match state.store.event(id).await.map_err(OpError::from)? {
        Some(e) => Ok(format!("/incidents/{}", e.incident_id)),
        None => Err(Failed::new(codes::NOT_FOUND, format!("no event {id}"))),
    }
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
