//! The Incidents tab: filters, the table (with CM Name on the MCM), a count of matches,
//! keyset paging, and live updates over server-sent events.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::Stream;
use maud::{Markup, html};

use aerie_domain::{event::Category, risk::Risk, status::Status};
use aerie_proto::incidents::{IncidentList, IncidentListParams, IncidentOut};

use super::{
    Session, UiError,
    layout::{self, Clock, Frame, Tab},
};
use crate::rights::Can;
use crate::{ops, state::AppState};

/// Counting stops here; beyond it the page says "more than".
const COUNT_CAP: u32 = 1_000;
const PAGE_ROWS: u32 = 50;

/// The filter form, as the browser sends it.
#[derive(serde::Deserialize, Default, Clone)]
pub struct ListForm {
    risk: Option<String>,
    status: Option<String>,
    category: Option<String>,
    q: Option<String>,
    /// A source IP, or part of a source name (the Campaigns view links with it).
    source: Option<String>,
    /// A file's SHA-256 (the Campaigns view links with it).
    file: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cm: Option<String>,
    sort: Option<String>,
    after: Option<String>,
    /// `rows`: only the live part (count and table body), for the page's script.
    fragment: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl ListForm {
    fn params(&self, clock: &Clock) -> IncidentListParams {
        IncidentListParams {
            risk: given(&self.risk),
            status: given(&self.status),
            category: given(&self.category),
            q: given(&self.q),
            source: given(&self.source),
            file: given(&self.file),
            from: given(&self.from).map(|v| clock.form_time(&v)),
            to: given(&self.to).map(|v| clock.form_time(&v)),
            cm: given(&self.cm),
            sort: given(&self.sort),
            after: given(&self.after),
            limit: Some(PAGE_ROWS),
            ..Default::default()
        }
    }

    /// The query string of this form with `after` replaced.
    fn with_after(&self, after: Option<&str>) -> String {
        let pairs = [
            ("risk", &self.risk),
            ("status", &self.status),
            ("category", &self.category),
            ("q", &self.q),
            ("source", &self.source),
            ("file", &self.file),
            ("from", &self.from),
            ("to", &self.to),
            ("cm", &self.cm),
            ("sort", &self.sort),
        ];
        let mut out = url_encode_pairs(pairs.iter().filter_map(|(k, v)| given(v).map(|v| (*k, v))));
        if let Some(a) = after {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&url_encode_pairs(std::iter::once(("after", a.to_owned()))));
        }
        out
    }
}

fn url_encode_pairs(pairs: impl Iterator<Item = (&'static str, String)>) -> String {
    pairs
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The page's data: the list (or the API's complaint about the filters) and the count.
struct Listing {
    list: Result<IncidentList, String>,
    count: Option<u64>,
}

async fn listing(
    state: &AppState,
    session: &Session,
    form: &ListForm,
    clock: &Clock,
) -> Result<Listing, UiError> {
    let params = form.params(clock);
    let can = Can::check(session.caller.clone())?;
    let list = match ops::incidents::list(state, &can, &params).await {
        Ok(list) => Ok(list),
        Err(e) if e.status().is_client_error() => Err(e.to_string()),
        Err(e) => return Err(UiError(e)),
    };
    let count = match &list {
        Ok(_) => Some(ops::incidents::count(state, &can, &params, COUNT_CAP).await?),
        Err(_) => None,
    };
    Ok(Listing { list, count })
}

fn incident_href(i: &IncidentOut) -> String {
    match i.cm_id {
        Some(cm) => format!("/incidents/{cm}/{}", i.incident_id),
        None => format!("/incidents/{}", i.incident_id),
    }
}

fn count_text(count: Option<u64>) -> String {
    match count {
        Some(n) if n > u64::from(COUNT_CAP) => format!("More than {COUNT_CAP} incidents match"),
        Some(1) => "1 incident matches".to_owned(),
        Some(n) => format!("{n} incidents match"),
        None => String::new(),
    }
}

/// The part live updates replace: the count and the rows.
fn live_part(mcm: bool, clock: &Clock, listing: &Listing) -> Markup {
    let columns = if mcm { 10 } else { 9 };
    html! {
        div #live data-count=(count_text(listing.count)) {
            p.count #count { (count_text(listing.count)) }
            table.incidents #incidents {
                thead {
                    tr {
                        @if mcm { th scope="col" { "CM Name" } }
                        th scope="col" { "Time (" (clock.zone_name()) ")" }
                        th scope="col" { "Risk" }
                        th scope="col" { "Threat name" }
                        th scope="col" { "Category" }
                        th scope="col" { "Target" }
                        th scope="col" { "Source" }
                        th scope="col" { "Progression" }
                        th scope="col" { "Status" }
                        th.num scope="col" { "Events" }
                    }
                }
                tbody #rows {
                    @match &listing.list {
                        Ok(list) if list.items.is_empty() => {
                            tr { td.empty colspan=(columns) { "No incidents match these filters." } }
                        }
                        Ok(list) => {
                            @for i in &list.items {
                                tr data-incident=(i.incident_id) {
                                    @if mcm { td.cm { (layout::opt(&i.cm_name)) } }
                                    td.time { (clock.time(&i.last_activity_time)) }
                                    td { (layout::risk(&i.risk)) }
                                    td.threat { a href=(incident_href(i)) { (layout::shown(&i.threat_name)) } }
                                    td { (i.category.replace('_', " ")) }
                                    td.target {
                                        (i.endpoint_ip)
                                        @if let Some(n) = &i.endpoint_name { br; span.muted { (layout::shown(n)) } }
                                    }
                                    td.source {
                                        (layout::shown(i.source_name.as_deref().or(i.source_ip.as_deref()).unwrap_or("—")))
                                    }
                                    td { (layout::stages(&i.progression)) }
                                    td { (layout::status(&i.status)) }
                                    td.num { (i.event_count) }
                                }
                            }
                        }
                        Err(_) => { tr { td.empty colspan=(columns) { "—" } } }
                    }
                }
            }
        }
    }
}

fn select(name: &str, label: &str, current: &Option<String>, options: &[&str]) -> Markup {
    let current = current.as_deref().unwrap_or("");
    html! {
        label {
            span { (label) }
            select name=(name) id={ "f-" (name) } {
                option value="" selected[current.is_empty()] { "Any" }
                @for o in options {
                    option value=(o) selected[current == *o] { (o.replace('_', " ")) }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(form): Query<ListForm>,
) -> Result<Response, UiError> {
    let mcm = state.appliance.is_mcm().await?;
    let clock = Clock::of(&state).await?;
    let listing = listing(&state, &session, &form, &clock).await?;
    if form.fragment.as_deref() == Some("rows") {
        return Ok(live_part(mcm, &clock, &listing).into_response());
    }
    let frame = Frame::new(&state, &session, &headers).await?;
    let cms = if mcm {
        state.store.cms().await?
    } else {
        Vec::new()
    };
    let risks: Vec<&str> = Risk::ALL.iter().rev().map(|r| r.as_str()).collect();
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    let live = form.after.is_none();
    let body = html! {
        h1.visually-hidden { "Incidents" }
        form.filters #filters method="get" action="/incidents" {
            (select("risk", "Risk", &form.risk, &risks))
            (select("status", "Status", &form.status, &statuses))
            (select("category", "Category", &form.category, &categories))
            @if mcm {
                label {
                    span { "CM" }
                    select name="cm" id="f-cm" {
                        option value="" { "Any" }
                        @for cm in &cms {
                            option value=(cm.id) selected[form.cm.as_deref() == Some(cm.id.to_string().as_str())] { (cm.name) }
                        }
                    }
                }
            }
            label { span { "From (" (frame.clock.zone_name()) ")" } input type="datetime-local" name="from" id="f-from" value=(form.from.clone().unwrap_or_default()); }
            label { span { "To (" (frame.clock.zone_name()) ")" } input type="datetime-local" name="to" id="f-to" value=(form.to.clone().unwrap_or_default()); }
            label.grow { span { "Search" } input type="search" name="q" id="f-q" placeholder="threat, host, source, IP" value=(form.q.clone().unwrap_or_default()); }
            (select("sort", "Sort", &form.sort, &["time", "risk", "endpoint"]))
            @for (name, value) in [("source", &form.source), ("file", &form.file)] {
                @if let Some(v) = given(value) {
                    input type="hidden" name=(name) value=(v);
                    p.muted.indicator-filter { "Only incidents with " (name) " " code { (v) } }
                }
            }
            div.buttons {
                button.primary #apply type="submit" { "Apply" }
                a.button href="/incidents" { "Clear" }
                @if mcm { a.button #campaigns-link href="/incidents/campaigns" { "Campaigns" } }
            }
        }
        @if let Err(message) = &listing.list {
            p.flash.bad #filter-error role="alert" { (message) }
        }
        div.livebox data-live=[live.then_some("/ui/live")] {
            (live_part(mcm, &clock, &listing))
        }
        nav.paging aria-label="Pages" {
            @if form.after.is_some() {
                a.button #first-page href={ "/incidents?" (form.with_after(None)) } { "← First page" }
            }
            @if let Ok(IncidentList { next: Some(next), .. }) = &listing.list {
                a.button #next-page href={ "/incidents?" (form.with_after(Some(next))) } { "Next page →" }
            }
            @if live { span.muted #live-state { "Live" } } @else { span.muted { "Live updates pause while paging" } }
        }
    };
    Ok(frame.render(Tab::Incidents, "Incidents", body))
}

/// Server-sent events: one `change` event whenever incidents change here (on a CM) or a
/// CM's sync lands (on the MCM), at most a few per second.
pub async fn live(
    State(state): State<AppState>,
    _session: Session,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let mut changes = if state.appliance.is_mcm().await? {
        state.federation.mcm.changes.subscribe()
    } else {
        state.store.watch_changes()
    };
    changes.mark_unchanged();
    let stream = futures::stream::unfold(changes, |mut rx| async move {
        rx.changed().await.ok()?;
        // Let a burst of commits settle into one refresh.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = *rx.borrow_and_update();
        Some((Ok(Event::default().event("change").data(n.to_string())), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
