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
    incident::IncidentId,
    query::{Cursor, IncidentFilter, IncidentQuery, IncidentSort},
    user::{RoleName, Username},
};

use super::{Failed, Params, codes, details::event_row, mcm, ok, rows, streamed};
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
        self.incident_pages(None)
    }

    /// The incidents of the window, newest first, streamed: this CM's, or with
    /// `remote` (the CMs' names) the MCM's table with federation-wide ids.
    pub(super) fn incident_pages(
        &self,
        remote: Option<std::sync::Arc<Vec<(aerie_domain::ids::CmId, String)>>>,
    ) -> Result<Response, Failed> {
        let (from, to) = self.window()?;
        let max = self.max_severity()?;
        let state = self.state.clone();
        let filter = IncidentFilter {
            from: DateTime::from_timestamp_millis(from),
            to: DateTime::from_timestamp_millis(to),
            ..Default::default()
        };
        let pages = futures::stream::try_unfold(Some(None::<Cursor>), move |cursor| {
            let (state, filter, remote) = (state.clone(), filter.clone(), remote.clone());
            async move {
                let Some(after) = cursor else { return Ok(None) };
                let query = IncidentQuery {
                    filter,
                    sort: IncidentSort::Time,
                    limit: PAGE,
                    after,
                };
                let within = |i: &aerie_domain::incident::Incident| i.facts.severity.value() <= max;
                let (rows, next) = match &remote {
                    None => {
                        let page = state.store.incidents(&query).await?;
                        let rows = page
                            .items
                            .iter()
                            .filter(|i| within(i))
                            .map(|i| rows::incident(i, i.id.get()))
                            .collect();
                        (rows, page.next)
                    }
                    Some(names) => {
                        let page = state.store.remote_incidents(&query, &[]).await?;
                        let rows = page
                            .items
                            .iter()
                            .filter(|r| within(&r.incident))
                            .map(|r| mcm::remote_row(r, names))
                            .collect();
                        (rows, page.next)
                    }
                };
                Ok::<_, OpError>(Some((rows, next.map(Some))))
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

    pub(super) fn incident_id(&self) -> Result<IncidentId, Failed> {
        let id = self
            .params
            .int("incident_id")?
            .ok_or_else(|| Failed::new(codes::INVALID, "missing parameter incident_id"))?;
        Ok(IncidentId::new(id))
    }

    pub(super) fn event_id(&self) -> Result<i64, Failed> {
        self.params
            .int("event_id")?
            .ok_or_else(|| Failed::new(codes::INVALID, "missing parameter event_id"))
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
