//! The incident page: Summary and Details (events and behaviour, screenshots, traces and
//! IVP downloads, mitigations, whitelist, status and comments, history). On the MCM the
//! details come live from the owning CM; when it cannot be reached the page says so and
//! still shows the Summary from the MCM's table.

use std::collections::BTreeSet;

use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};

use aerie_domain::{ids::parse_id, indicator::SourceName, status::Status};
use aerie_proto::incidents::{EventPageParams, IncidentDetail, IncidentOut};

use super::{
    Session, UiError,
    layout::{self, Frame, Tab},
};
use crate::ops::{incidents, remote};
use crate::rights::Can;
use crate::{api, error::OpError, federation::mcm, state::AppState};

/// Where a page's links and forms point.
struct Links {
    /// The page itself and the prefix of its form actions.
    page: String,
    /// The API prefix for downloads.
    api: String,
}

impl Links {
    fn local(id: i64) -> Links {
        Links {
            page: format!("/incidents/{id}"),
            api: format!("/api/v1/incidents/{id}"),
        }
    }

    fn remote(cm: i64, id: i64) -> Links {
        Links {
            page: format!("/incidents/{cm}/{id}"),
            api: format!("/api/v1/incidents/{cm}/{id}"),
        }
    }
}

/// The page of events a query string asks for (the first when absent).
fn event_page(
    q: Result<Query<EventPageParams>, QueryRejection>,
) -> Result<(Option<(i64, i64)>, u32), UiError> {
    Ok(api::incidents::event_page(q)?)
}

pub async fn local_page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<EventPageParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let id = parse_id("id", &id)?;
    let can = Can::check(session.caller.clone())?;
    let detail = incidents::detail(&state, &can, id, event_page(q)?).await?;
    let links = Links::local(detail.incident.incident_id);
    let title = format!("Incident {}", detail.incident.incident_id);
    Ok(frame.render(
        Tab::Incidents,
        &title,
        page(&frame, &detail.incident, Ok(&detail), &links),
    ))
}

/// On the MCM: `/incidents/{cm}/{incident}`.
pub async fn remote_page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((cm, id)): Path<(String, String)>,
    q: Result<Query<EventPageParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let (cm, incident_id) = api::remote::ids(&cm, &id)?;
    let page_asked = event_page(q)?;
    let cm_row = remote::owned(&state, cm, incident_id).await?;
    let links = Links::remote(cm.get(), incident_id.get());
    let title = format!("Incident {incident_id} · {}", cm_row.name);
    let can = Can::check(session.caller.clone())?;
    let live = remote::detail(&state, &can, &cm_row, incident_id, page_asked).await;
    let shared = crate::ops::correlation::also_seen(&state, &can, cm, incident_id).await?;
    let body = match live {
        Ok(detail) => page(&frame, &detail.incident, Ok(&detail), &links),
        Err(e) if e.status() == StatusCode::BAD_GATEWAY => {
            let row = state
                .store
                .remote_incident(cm_row.id, incident_id)
                .await?
                .ok_or_else(|| OpError::not_found(format!("incident {incident_id}")))?;
            let summary = mcm::with_cm(IncidentOut::from(&row.incident), &cm_row);
            page(&frame, &summary, Err(&e.to_string()), &links)
        }
        Err(e) => return Err(e.into()),
    };
    let body = html! { (also_seen(&shared)) (body) };
    Ok(frame.render(Tab::Incidents, &title, body))
}

/// "Also seen on": the CMs whose incidents share an indicator with this one.
fn also_seen(shared: &[(aerie_domain::correlation::Indicator, Vec<String>)]) -> Markup {
    let mut cms: Vec<&str> = shared
        .iter()
        .flat_map(|(_, cms)| cms.iter().map(String::as_str))
        .collect();
    cms.sort_unstable();
    cms.dedup();
    html! {
        @if !shared.is_empty() {
            section.card #also-seen aria-label="Also seen on" {
                p { strong { "Also seen on: " } span #also-seen-cms { (cms.join(", ")) } }
                ul {
                    @for (indicator, on) in shared {
                        li {
                            (indicator.kind.as_str().replace('_', " ")) " "
                            a href={ "/incidents?" (crate::ops::correlation::filter_query(indicator)) } {
                                code { (indicator.value) }
                            }
                            " — " (on.join(", "))
                        }
                    }
                }
            }
        }
    }
}

fn summary(frame: &Frame, i: &IncidentOut) -> Markup {
    let row = |label: &str, value: &str| html! { dt { (label) } dd { (layout::shown(value)) } };
    html! {
        section.summary #summary aria-labelledby="summary-h" {
            h2 #summary-h { "Summary" }
            dl {
                dt { "Risk" } dd { (layout::risk(&i.risk)) " " span.muted { "severity " (layout::severity(i.severity)) } }
                dt { "Status" } dd { (layout::status(&i.status)) }
                (row("Threat name", &i.threat_name))
                (row("Category", &i.category.replace('_', " ")))
                (row("Endpoint IP", &i.endpoint_ip))
                (row("Endpoint host", layout::opt(&i.endpoint_name)))
                (row("Endpoint OS", layout::opt(&i.endpoint_os)))
                (row("Endpoint user", layout::opt(&i.endpoint_user)))
                (row("Source IP", layout::opt(&i.source_ip)))
                (row("Source", layout::opt(&i.source_name)))
                (row("Source country", layout::opt(&i.source_country)))
                (row(&format!("First seen ({})", frame.clock.zone_name()), &frame.clock.time(&i.first_seen_time)))
                (row(&format!("Last activity ({})", frame.clock.zone_name()), &frame.clock.time(&i.last_activity_time)))
                (row("Events", &i.event_count.to_string()))
                dt { "Progression" } dd { (layout::stages(&i.progression)) }
                (row("Collector", &format!("{} {}", i.collector_type, layout::opt(&i.collector_id))))
                @if let Some(name) = &i.cm_name {
                    (row("CM name", name))
                    (row("CM host name", name))
                    (row("CM IP", layout::opt(&i.cm_ip)))
                }
            }
        }
    }
}

/// The whitelist candidates of an incident: (kind, value), from its indicators.
fn whitelist_candidates(d: &IncidentDetail) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    out.insert(("endpoint", d.incident.endpoint_ip.clone()));
    for e in &d.events {
        if let Some(ip) = &e.source_ip {
            out.insert(("source_ip", ip.clone()));
        }
        if let Some(name) = &e.source_name {
            match SourceName::classify(name) {
                SourceName::Url { url, host } => {
                    out.insert(("url", url));
                    out.insert(("domain", host));
                }
                SourceName::Email { sender, domain } => {
                    out.insert(("email_sender", sender));
                    out.insert(("domain", domain));
                }
                SourceName::Domain(d) => {
                    out.insert(("domain", d));
                }
                SourceName::Other => {}
            }
        }
        if let Some(h) = &e.file_sha256 {
            out.insert(("file_hash", h.clone()));
        }
        for f in e.behaviour.iter().flat_map(|b| &b.files) {
            if let Some(h) = &f.sha256 {
                out.insert(("file_hash", h.clone()));
            }
        }
    }
    out
}

fn details(frame: &Frame, d: &IncidentDetail, links: &Links) -> Markup {
    let i = &d.incident;
    use aerie_domain::user::Permission;
    let triage = frame.user.can(Permission::Triage);
    let mitigate = frame.user.can(Permission::Mitigate);
    let whitelist = frame.user.can(Permission::Whitelist);
    let screenshots: Vec<_> = d
        .artifacts
        .iter()
        .filter(|a| a.kind == "screenshot")
        .collect();
    let traces: Vec<_> = d.artifacts.iter().filter(|a| a.kind == "trace").collect();
    let samples: Vec<_> = d.artifacts.iter().filter(|a| a.kind == "sample").collect();
    let indicators = d.events.iter().any(|e| {
        e.behaviour
            .as_ref()
            .is_some_and(|b| !b.files.is_empty() || !b.cnc.is_empty() || !b.persistence.is_empty())
    });
    html! {
        section.details #details aria-labelledby="details-h" {
            h2 #details-h { "Details" }
            @if triage || whitelist {
                div.actions-grid {
                    @if triage {
                    form.card #status-form method="post" action={ (links.page) "/status" } {
                        h3 { "Change status" }
                        (frame.csrf_field())
                        label for="new-status" { "New status" }
                        select #new-status name="status" {
                            @for s in Status::ALL.iter().filter(|s| i.status.parse::<Status>().is_ok_and(|now| now.check_transition(**s).is_ok())) {
                                option value=(s.as_str()) { (s.as_str().replace('_', " ")) }
                            }
                        }
                        label for="status-comment" { "Comment" }
                        textarea #status-comment name="comment" required maxlength="2000" rows="2" {}
                        button.primary type="submit" { "Change status" }
                    }
                    form.card #comment-form method="post" action={ (links.page) "/comment" } {
                        h3 { "Comment" }
                        (frame.csrf_field())
                        label for="comment" { "Comment" }
                        textarea #comment name="comment" required maxlength="2000" rows="2" {}
                        button type="submit" { "Add comment" }
                    }
                    }
                    @if whitelist {
                    form.card #whitelist-form method="post" action={ (links.page) "/whitelist" } {
                        h3 { "Whitelist" }
                        (frame.csrf_field())
                        label for="wl-indicator" { "Indicator" }
                        select #wl-indicator name="indicator" {
                            @for (kind, value) in whitelist_candidates(d) {
                                option value={ (kind) "|" (value) } { (kind.replace('_', " ")) ": " (value) }
                            }
                        }
                        label for="wl-reason" { "Why it is harmless" }
                        input #wl-reason name="reason" required maxlength="500";
                        button type="submit" { "Whitelist" }
                    }
                    }
                }
            }

            h3 { "Mitigation" }
            table.compact #mitigations {
                thead { tr { th { "Action" } th { "Indicator" } th { "State" } @if mitigate { th {} } } }
                tbody {
                    @for o in &d.mitigation_options {
                        tr {
                            td { (o.kind.replace('_', " ")) }
                            td.mono { (o.value) }
                            @match o.active {
                                Some(mid) => {
                                    @let m = d.mitigations.iter().find(|m| m.id == mid);
                                    td { span.state-on { "Active" } @if let Some(m) = m { span.muted { " by " (m.by) " at " (frame.clock.time(&m.at)) } } }
                                    @if mitigate {
                                        td { form.inline method="post" action={ (links.page) "/revoke" } {
                                            (frame.csrf_field())
                                            input type="hidden" name="mitigation" value=(mid);
                                            button type="submit" { "Revoke" }
                                        } }
                                    }
                                }
                                None => {
                                    td { span.muted { "Not applied" } }
                                    @if mitigate {
                                        td { form.inline method="post" action={ (links.page) "/mitigate" } {
                                            (frame.csrf_field())
                                            input type="hidden" name="kind" value=(o.kind);
                                            input type="hidden" name="value" value=(o.value);
                                            button type="submit" { "Apply" }
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
            }

            h3 { "Events" }
            p.muted #events-shown {
                "Newest first: " (d.events.len()) " of " (d.events_total) " events"
                @if let Some(next) = &d.events_next {
                    " · " a #older-events href={ (links.page) "?events_before=" (next) } { "Older events →" }
                }
            }
            @if d.more_indicators {
                p.muted { "More artifacts or indicators than the 500 of each listed here; the API lists the same." }
            }
            ol.timeline #events {
                @for e in &d.events {
                    li {
                        div.event-head {
                            span.time { (frame.clock.time(&e.time)) }
                            span.kind { (e.kind) }
                            span.threat { (layout::shown(&e.threat_name)) }
                            span.muted { "severity " (layout::severity(e.severity)) }
                            @if let Some(s) = e.source_name.as_ref().or(e.source_ip.as_ref()) { span.source { (layout::shown(s)) } }
                        }
                        @if let Some(b) = &e.behaviour {
                            details.behaviour open {
                                summary { "Behaviour" }
                                dl {
                                    @if !b.processes.is_empty() { dt { "Processes" } dd { ul { @for p in &b.processes { li.mono { (layout::shown(p)) } } } } }
                                    @if !b.files.is_empty() { dt { "Files written" } dd { ul { @for f in &b.files { li.mono { (layout::shown(&f.path)) @if let Some(h) = &f.sha256 { " " span.muted { (h) } } } } } } }
                                    @if !b.registry_keys.is_empty() { dt { "Registry keys" } dd { ul { @for k in &b.registry_keys { li.mono { (layout::shown(k)) } } } } }
                                    @if !b.mutexes.is_empty() { dt { "Mutexes" } dd { ul { @for m in &b.mutexes { li.mono { (layout::shown(m)) } } } } }
                                    @if !b.cnc.is_empty() { dt { "CnC servers" } dd { ul { @for c in &b.cnc { li.mono { (layout::shown(c)) } } } } }
                                    @if !b.persistence.is_empty() { dt { "Persistence" } dd { ul { @for p in &b.persistence { li.mono { (layout::shown(p)) } } } } }
                                }
                            }
                        }
                    }
                }
            }

            @if !screenshots.is_empty() {
                h3 { "Screenshots" }
                div.gallery #screenshots {
                    @for a in &screenshots {
                        a href={ (links.api) "/artifacts/" (a.sha256) "?inline=true" } {
                            img src={ (links.api) "/artifacts/" (a.sha256) "?inline=true" } alt="Detonation screenshot" loading="lazy";
                        }
                    }
                }
            }
            h3 { "Downloads" }
            ul.downloads #downloads {
                @for a in &traces {
                    li { a href={ (links.api) "/artifacts/" (a.sha256) } { "Trace (pcap), " (a.size) " bytes" } }
                }
                @for a in &samples {
                    li { a href={ (links.api) "/artifacts/" (a.sha256) } { "Submitted file, " (a.size) " bytes (SHA-256 " span.mono { (a.sha256) } ")" } }
                }
                @if indicators {
                    li { a #ivp-posix href={ (links.api) "/ivp/posix" } { "IVP for Linux/macOS (sh)" } }
                    li { a #ivp-windows href={ (links.api) "/ivp/windows" } { "IVP for Windows (PowerShell)" } }
                } @else {
                    li.muted { "No IVP: the events reported no files, CnC servers or autostart entries." }
                }
            }

            h3 { "History" }
            ol.history #history {
                @for h in &d.status_history {
                    li {
                        span.time { (frame.clock.time(&h.at)) } " "
                        strong { (h.by) } " "
                        @if h.from != h.to { "moved it from " (h.from.replace('_', " ")) " to " (h.to.replace('_', " ")) ": " } @else { "commented: " }
                        span.comment { (h.comment) }
                    }
                }
                @if d.status_history.is_empty() { li.muted { "No status changes or comments yet." } }
            }
        }
    }
}

fn page(
    frame: &Frame,
    incident: &IncidentOut,
    detail: Result<&IncidentDetail, &str>,
    links: &Links,
) -> Markup {
    html! {
        p.crumbs { a href="/incidents" { "← Incidents" } }
        h1.incident-title {
            (layout::risk(&incident.risk)) " "
            span #title { (layout::shown(&incident.threat_name)) }
            span.muted { " · incident " (incident.incident_id) }
        }
        div.incident-grid {
            (summary(frame, incident))
            @match detail {
                Ok(d) => (details(frame, d, links)),
                Err(why) => {
                    section.details #details {
                        h2 { "Details" }
                        p.flash.bad #unreachable role="alert" {
                            (why) ". Details and actions come live from the CM that owns the incident; they are unavailable until it answers again. Nothing was queued."
                        }
                    }
                }
            }
        }
    }
}
