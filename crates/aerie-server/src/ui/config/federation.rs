//! Config › Secondary CMs (on the MCM) and MCM Settings (read-only, on a CM).

use axum::{extract::State, http::HeaderMap, response::Response};
use maud::html;

use crate::ops::{self};
use crate::rights::Can;
use crate::ui::{Session, UiError, layout::Frame};
use crate::{error::OpError, state::AppState};

use super::config_page;

pub async fn cms(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let cms = ops::cms::list(&state, &Can::check(session.caller.clone())?).await?;
    let body = html! {
        p { "CMs register from their own CLI (" code { "set mcm ip … passphrase …" } ") and leave with " code { "set mcm remove" } "; there is no delete here." }
        table.compact #cms {
            thead { tr { th { "CM name" } th { "IP" } th { "Version" } th { "FIPS" } th { "Status" } th { "Last sync (" (frame.clock.zone_name()) ")" } th.num { "Lag (s)" } th.num { "Backlog" } th.num { "Incidents" } } }
            tbody {
                @for cm in &cms {
                    tr data-cm=(cm.name) {
                        td { strong { (cm.name) } }
                        td { (cm.ip) }
                        td { (cm.version) }
                        td { @if cm.fips { "on" } @else { "off" } }
                        td { span class={ "cm-state cm-" (cm.status) } { (cm.status) } }
                        td { (cm.last_sync.as_deref().map(|t| frame.clock.time(t)).unwrap_or_else(|| "never".into())) }
                        td.num { (cm.sync_lag_seconds) }
                        td.num {
                            (cm.backlog)
                            @if cm.backlog_stale {
                                " " span.muted title="The CM has been silent; this is the last backlog it reported." { "(last known)" }
                            }
                        }
                        td.num { (cm.incident_count) }
                    }
                }
                @if cms.is_empty() { tr { td.empty colspan="9" { "No CM has registered yet." } } }
            }
        }
    };
    Ok(config_page(&frame, "/config/cms", "Secondary CMs", body))
}

pub async fn mcm(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    if frame.is_mcm() {
        return Err(UiError(OpError::missing(
            "this appliance is the MCM; see Secondary CMs",
        )));
    }
    let m = crate::federation::show(&state.federation).await?;
    let row =
        |k: &str, v: Option<String>| html! { dt { (k) } dd { (v.unwrap_or_else(|| "—".into())) } };
    let body = html! {
        @if m.address.is_none() {
            p #mcm-none { "No MCM is configured. An administrator sets it in the CLI: " code { "set mcm ip IP passphrase PASSPHRASE [username USER]" } }
        } @else {
            dl.summary #mcm-settings {
                (row("MCM address", m.address.clone()))
                (row("Registered as", m.username.clone()))
                (row("Sync state", m.state.clone()))
                (row("Last sync", m.last_sync.clone()))
                (row("Backlog (incident changes)", m.backlog.map(|b| b.to_string())))
            }
        }
    };
    Ok(config_page(&frame, "/config/mcm", "MCM Settings", body))
}
