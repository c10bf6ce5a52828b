//! Campaigns (the MCM, inside the Incidents tab): indicators seen in incidents of two or
//! more CMs, each linking to the incident table filtered to it.

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
};
use maud::html;

use super::{
    Session, UiError,
    layout::{Frame, Tab},
};
use crate::rights::{Can, View};
use crate::{ops::correlation, state::AppState};

#[derive(serde::Deserialize, Default)]
pub struct Window {
    hours: Option<String>,
}

/// The windows offered, in hours.
const WINDOWS: [(u32, &str); 4] = [
    (24, "24 hours"),
    (168, "7 days"),
    (720, "30 days"),
    (8760, "a year"),
];

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(w): Query<Window>,
) -> Result<Response, UiError> {
    let can = Can::<View>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let hours = w
        .hours
        .as_deref()
        .and_then(|h| h.trim().parse::<u32>().ok())
        .unwrap_or(correlation::DEFAULT_HOURS);
    let found = correlation::campaigns(&state, &can, Some(hours)).await?;
    let body = html! {
        h1 { "Campaigns" }
        p {
            "A file, source domain, URL, address or email sender seen in incidents of two or more "
            "CMs. Each links to those incidents."
        }
        form.filters #campaign-window method="get" action="/incidents/campaigns" {
            label {
                span { "Last activity within" }
                select name="hours" id="f-hours" {
                    @for (h, label) in WINDOWS {
                        option value=(h) selected[h == hours] { (label) }
                    }
                }
            }
            div.buttons {
                button.primary type="submit" { "Show" }
                a.button href="/incidents" { "All incidents" }
            }
        }
        table.compact #campaigns {
            thead { tr { th { "Indicator" } th { "Value" } th { "CMs" } th { "Incidents" } th { "First seen (" (frame.clock.zone_name()) ")" } th { "Last seen" } } }
            tbody {
                @for c in &found {
                    tr.campaign data-kind=(c.kind) {
                        td.kind { (c.kind.replace('_', " ")) }
                        td.value { a href={ "/incidents?" (c.incidents_query) } { code { (c.value) } } }
                        td.cms { (c.cms.iter().map(|cm| cm.name.as_str()).collect::<Vec<_>>().join(", ")) }
                        td.count { (c.incidents) }
                        td { (frame.clock.time(&c.first_seen)) }
                        td { (frame.clock.time(&c.last_seen)) }
                    }
                }
                @if found.is_empty() {
                    tr { td.empty colspan="6" { "No indicator is shared by two CMs in this window." } }
                }
            }
        }
    };
    Ok(frame.render(Tab::Incidents, "Campaigns", body))
}
