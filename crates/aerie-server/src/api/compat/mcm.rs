//! The original API on the MCM, for the whole federation. `incidents` reads the MCM's
//! table; `events` asks every registered CM live; ops naming an incident or an event go
//! live to the CM that owns it, as the web UI does. Ids are made federation-wide:
//! `cm_id × 1,000,000,000 + the CM's own id` (an integer, as the clients expect), and
//! every row names its CM (`cm_id`, `cm_name`). An unreachable CM is a negative status
//! naming it, never a list that silently lacks its rows.

use axum::response::Response;
use futures::StreamExt;
use serde_json::{Map, Value, json};

use aerie_domain::{
    federation::{Cm, RemoteIncident},
    ids::CmId,
    incident::IncidentId,
};

use super::{Failed, codes, ok, ops::Call, rows, streamed};
use crate::{
    auth::Caller,
    error::OpError,
    federation::proxy,
    rights::{Can, View},
    state::AppState,
};

/// Ids of one CM are below this; a federation-wide id is `cm_id * SPAN + id`.
pub const SPAN: i64 = 1_000_000_000;

/// The CM and its own id in a federation-wide id.
pub fn split_id(id: i64) -> Result<(CmId, i64), Failed> {
    if id < SPAN {
        return Err(Failed::new(
            codes::INVALID,
            format!("{id} is not an MCM id (cm_id × {SPAN} + the CM's id)"),
        ));
    }
    Ok((CmId::new(id / SPAN), id % SPAN))
}

fn join_id(cm: CmId, id: i64) -> i64 {
    cm.get() * SPAN + id
}

/// Runs `op` for the federation; `None` for ops the MCM answers as any appliance.
pub async fn run(call: &Call<'_>, op: &str, caller: &Caller) -> Result<Option<Response>, Failed> {
    match op {
        "incidents" => incidents(call, caller).await.map(Some),
        "events" => events(call, caller).await.map(Some),
        "incident_details" | "add_incident_comments" => {
            forward(call, op, caller, "incident_id").await.map(Some)
        }
        "event_details" | "behavior_details" => {
            forward(call, op, caller, "event_id").await.map(Some)
        }
        "analysis_details" if call.params.any(&["md5sum"]).is_none() => {
            forward(call, op, caller, "event_id").await.map(Some)
        }
        "analysis_details" => by_md5(call, caller).await.map(Some),
        _ => Ok(None),
    }
}

/// `incidents`: the MCM's table, every CM's rows in the window, streamed.
async fn incidents(call: &Call<'_>, caller: &Caller) -> Result<Response, Failed> {
    Can::<View>::check(caller.clone())?;
    call.incident_pages(Some(cm_names(call.state).await?))
}

/// A row of the MCM's table as `incident_array` lists it.
pub(super) fn remote_row(r: &RemoteIncident, names: &[(CmId, String)]) -> Map<String, Value> {
    let mut row = rows::incident(&r.incident, join_id(r.cm_id, r.incident.id.get()));
    name_cm(&mut row, r.cm_id, names);
    row
}

/// `events`: each registered CM's events in the window, asked live, one CM after the
/// other; any CM that does not answer fails the call, naming it.
async fn events(call: &Call<'_>, caller: &Caller) -> Result<Response, Failed> {
    Can::<View>::check(caller.clone())?;
    call.window()?;
    let form = pass_on(call, &["interval_sec", "end_time_sec"], None);
    let cms: Vec<Cm> = live_cms(call.state).await?;
    let mut answers = Vec::with_capacity(cms.len());
    for cm in &cms {
        let mut answer = ask(call.state, cm, caller, "events", &form).await?;
        let list = answer
            .get_mut("event_array")
            .and_then(Value::as_array_mut)
            .map(std::mem::take)
            .unwrap_or_default();
        answers.push((cm.clone(), list));
    }
    let rows = futures::stream::iter(answers.into_iter().map(|(cm, list)| {
        Ok::<_, OpError>(
            list.into_iter()
                .filter_map(|v| match v {
                    Value::Object(mut row) => {
                        rewrite_ids(&mut row, cm.id);
                        row.insert("cm_id".into(), json!(cm.id.get()));
                        row.insert("cm_name".into(), json!(cm.name.as_str()));
                        Some(row)
                    }
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
    }))
    .boxed();
    Ok(streamed("event_array", rows))
}

/// An op about one incident or event: sent to the CM that owns it with the CM's own id;
/// ids in the answer are made federation-wide again.
async fn forward(
    call: &Call<'_>,
    op: &str,
    caller: &Caller,
    id_param: &str,
) -> Result<Response, Failed> {
    Can::<View>::check(caller.clone())?;
    let id = call
        .params
        .int(id_param)?
        .ok_or_else(|| Failed::new(codes::INVALID, format!("missing parameter {id_param}")))?;
    let (cm_id, local) = split_id(id)?;
    let cm = proxy::registered_cm(call.state.store.as_ref(), cm_id).await?;
    if id_param == "incident_id"
        && call
            .state
            .store
            .remote_incident(cm.id, IncidentId::new(local))
            .await
            .map_err(OpError::from)?
            .is_none()
    {
        return Err(Failed::new(
            codes::NOT_FOUND,
            format!("no incident {id} (incident {local} of CM {})", cm.name),
        ));
    }
    let form = pass_on(
        call,
        &["status", "last_status", "comments", "get_components"],
        Some((id_param, local)),
    );
    let answer = ask(call.state, &cm, caller, op, &form).await?;
    let mut answer = match answer {
        Value::Object(m) => m,
        _ => {
            return Err(Failed::new(
                codes::UNAVAILABLE,
                format!("CM {} answered no object", cm.name),
            ));
        }
    };
    answer.remove("status");
    for v in answer.values_mut() {
        rewrite_nested(v, cm.id);
    }
    answer.insert("cm_id".into(), json!(cm.id.get()));
    answer.insert("cm_name".into(), json!(cm.name.as_str()));
    if op == "add_incident_comments" {
        crate::audit::by(
            call.state,
            caller,
            "cm.incident_action",
            format!("CM {} incident {local}", cm.name),
            "original API add_incident_comments",
        )
        .await?;
    }
    Ok(ok(answer))
}

/// `analysis_details` by `md5sum`: the first CM that knows the file.
async fn by_md5(call: &Call<'_>, caller: &Caller) -> Result<Response, Failed> {
    Can::<View>::check(caller.clone())?;
    let form = pass_on(call, &["md5sum", "get_components"], None);
    for cm in live_cms(call.state).await? {
        match ask(call.state, &cm, caller, "analysis_details", &form).await {
            Ok(Value::Object(mut m)) => {
                m.remove("status");
                for v in m.values_mut() {
                    rewrite_nested(v, cm.id);
                }
                m.insert("cm_id".into(), json!(cm.id.get()));
                m.insert("cm_name".into(), json!(cm.name.as_str()));
                return Ok(ok(m));
            }
            Ok(_) => {}
            Err(f) if f.status == codes::NOT_FOUND => {}
            Err(f) => return Err(f),
        }
    }
    Err(Failed::new(
        codes::NOT_FOUND,
        "no CM has analysed a file with this MD5",
    ))
}

/// Sends `op` with `form` to the CM's original API; its own failure comes back as one,
/// prefixed with the CM's name.
async fn ask(
    state: &AppState,
    cm: &Cm,
    caller: &Caller,
    op: &str,
    form: &str,
) -> Result<Value, Failed> {
    let answer = proxy::post_form(
        cm,
        caller,
        &format!("/cyadmin/api.php?op={op}"),
        form.to_owned(),
    )
    .await;
    state.metrics.proxy_call(cm.name.as_str(), answer.is_ok());
    let answer = answer.map_err(|e| Failed::new(codes::UNAVAILABLE, e.to_string()))?;
    match answer.get("status").and_then(Value::as_i64) {
        Some(0) => Ok(answer),
        Some(status) => Err(Failed::new(
            status,
            format!(
                "CM {}: {}",
                cm.name,
                answer
                    .get("error_msg")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
            ),
        )),
        None => Err(Failed::new(
            codes::UNAVAILABLE,
            format!("CM {} answered without a status", cm.name),
        )),
    }
}

/// The form passed on to a CM: those of `names` given, and the CM's own id.
fn pass_on(call: &Call<'_>, names: &[&str], id: Option<(&str, i64)>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for name in names {
        if let Some(v) = call.params.get(name) {
            form.append_pair(name, v);
        }
    }
    if let Some((name, local)) = id {
        form.append_pair(name, &local.to_string());
    }
    form.finish()
}

/// Registered CMs that are not deregistered.
async fn live_cms(state: &AppState) -> Result<Vec<Cm>, Failed> {
    Ok(state
        .store
        .cms()
        .await
        .map_err(OpError::from)?
        .into_iter()
        .filter(|c| c.deregistered.is_none())
        .collect())
}

async fn cm_names(state: &AppState) -> Result<std::sync::Arc<Vec<(CmId, String)>>, Failed> {
    let cms = state.store.cms().await.map_err(OpError::from)?;
    Ok(std::sync::Arc::new(
        cms.into_iter()
            .map(|c| (c.id, c.name.as_str().to_owned()))
            .collect(),
    ))
}

fn name_cm(row: &mut Map<String, Value>, cm: CmId, names: &[(CmId, String)]) {
    let name = names
        .iter()
        .find(|(id, _)| *id == cm)
        .map_or("", |(_, n)| n.as_str());
    row.insert("cm_id".into(), json!(cm.get()));
    row.insert("cm_name".into(), json!(name));
}

/// The id fields of the CM's rows, made federation-wide.
const ID_FIELDS: [&str; 3] = ["incident_id", "event_id", "infection_id"];

fn rewrite_ids(row: &mut Map<String, Value>, cm: CmId) {
    for field in ID_FIELDS {
        if let Some(id) = row.get(field).and_then(Value::as_i64) {
            row.insert(field.into(), json!(join_id(cm, id)));
        }
    }
}

fn rewrite_nested(v: &mut Value, cm: CmId) {
    match v {
        Value::Object(m) => {
            rewrite_ids(m, cm);
            for inner in m.values_mut() {
                if inner.is_array() || inner.is_object() {
                    rewrite_nested(inner, cm);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_nested(i, cm)),
        _ => {}
    }
}

/// The CM's incident of its event `local`, asked live as `caller` (for a deep link).
pub async fn event_incident(
    state: &AppState,
    caller: &Caller,
    cm: CmId,
    local: i64,
) -> Result<i64, Failed> {
    Can::<View>::check(caller.clone())?;
    let cm = proxy::registered_cm(state.store.as_ref(), cm).await?;
    let form = format!("event_id={local}");
    let answer = ask(state, &cm, caller, "event_details", &form).await?;
    answer["event_details"]["incident_id"]
        .as_i64()
        .ok_or_else(|| {
            Failed::new(
                codes::UNAVAILABLE,
                format!("CM {} named no incident", cm.name),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_federation_wide_and_come_apart_again() {
        let id = join_id(CmId::new(3), 42);
        assert_eq!(id, 3_000_000_042);
        let (cm, local) = split_id(id).unwrap();
        assert_eq!((cm.get(), local), (3, 42));
        assert!(split_id(42).is_err());
    }

    #[test]
    fn nested_ids_are_rewritten() {
        let mut v = json!({"incident_details": {"incident_id": 5, "download_array": [{"event_id": 7}], "infection_array": [{"infection_id": 8, "cnc_servers": "a"}]}});
        rewrite_nested(&mut v, CmId::new(2));
        assert_eq!(
            v["incident_details"]["incident_id"],
            json!(2_000_000_005i64)
        );
        assert_eq!(
            v["incident_details"]["download_array"][0]["event_id"],
            json!(2_000_000_007i64)
        );
        assert_eq!(
            v["incident_details"]["infection_array"][0]["infection_id"],
            json!(2_000_000_008i64)
        );
    }
}
