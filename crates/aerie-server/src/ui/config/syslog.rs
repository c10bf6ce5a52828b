//! Config › System Settings › Syslog: the SIEM feed's destinations with their state,
//! queue depth and lag; add, change, remove, send a test message. The same as
//! `show syslog` / `set syslog …` in the CLI.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use super::config_page;
use crate::error::OpError;
use crate::ops::siem;
use crate::rights::{Administer, Can, Operator};
use crate::state::AppState;
use crate::ui::{Session, UiError, layout::Frame};

pub const PAGE: &str = "/config/system/syslog";

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let views = siem::view(&state).await?;
    let clock = crate::ui::layout::Clock::of(&state).await?;
    let feed = if frame.is_mcm() {
        "every CM's incidents (each with its CM name)"
    } else {
        "this CM's incidents"
    };
    let body = html! {
        p {
            "Streams " (feed) " — new and changed incidents, status changes — and the audit log "
            "(logins, mitigations, whitelist and admin actions) as CEF events over syslog. "
            "Each destination keeps its own place in the feed: one that is down gets everything "
            "it missed once it is back. A new destination starts with the current incident "
            "table. See " code { "docs/siem.md" } " for the fields."
        }
        p.muted { a href="/config/system" { "‹ System Settings" } }
        h2 { "Destinations" }
        @if views.is_empty() {
            p.muted #no-destinations { "No syslog server yet." }
        } @else {
            table #destinations {
                thead { tr {
                    th { "Server" } th { "Protocol" } th { "Format" } th { "State" }
                    th { "Sent" } th { "Queue" } th { "Behind" } th { "Last sent" } th {}
                } }
                tbody {
                    @for v in &views {
                        tr data-server=(v.destination.address()) {
                            td { (v.destination.address()) }
                            td {
                                (v.destination.protocol.as_str())
                                @if v.destination.pin.is_some() { " (pinned)" }
                            }
                            td { (v.destination.format.as_str()) }
                            td.state { (v.state) }
                            td.sent { (v.sent) }
                            td.queue { (v.behind) }
                            td { (v.lag_secs) " s" }
                            td { (v.last_sent.map(|t| clock.time(&t.to_rfc3339())).unwrap_or_else(|| "—".into())) }
                            td {
                                form.inline method="post" action=(PAGE) {
                                    (frame.csrf_field())
                                    input type="hidden" name="server" value=(v.destination.address());
                                    button name="action" value="test" { "Send test" }
                                    " "
                                    button.danger name="action" value="remove" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add or change a destination" }
        form.card #syslog-form method="post" action=(PAGE) {
            (frame.csrf_field())
            label for="server" { "Server (HOST:PORT, e.g. 192.0.2.10:514; an existing one is changed)" }
            input #server name="server" required placeholder="siem.example:6514";
            label for="protocol" { "Protocol" }
            select #protocol name="protocol" {
                option value="tcp" { "TCP (RFC 6587 octet counting)" }
                option value="tls" { "TLS (RFC 5425)" }
                option value="udp" { "UDP (RFC 5426)" }
            }
            label for="format" { "Syslog format" }
            select #format name="format" {
                option value="rfc5424" { "RFC 5424" }
                option value="rfc3164" { "RFC 3164 (legacy, as the original appliance sent)" }
            }
            label for="pin" {
                "TLS only: the receiver certificate's SHA-256 fingerprint (blank: it must chain to "
                "a CA of the trust store in Certificate Management)"
            }
            input #pin name="pin" placeholder="AB:CD:…";
            button.primary name="action" value="save" type="submit" { "Save destination" }
        }
    };
    Ok(config_page(
        &frame,
        "/config/system",
        "System Settings › Syslog",
        body,
    ))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    pin: String,
}

pub async fn action(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<Submitted>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    super::as_admin(&session, PAGE, |can| async move {
        let by = Operator::Admin(&can);
        match f.action.as_str() {
            "save" => {
                siem::set_server(
                    &state,
                    by,
                    &f.server,
                    &f.protocol,
                    Some(&f.format),
                    Some(&f.pin),
                )
                .await
            }
            "remove" => siem::remove_server(&state, by, &f.server).await,
            "test" => siem::send_test(&state, by, &f.server).await,
            other => Err(OpError::invalid("action", format!("no action {other:?}"))),
        }
    })
    .await
}
