//! The page frame: header with the tabs, Refresh and Logout; flash messages; helpers for
//! the values every page shows (risk badges, times, stages).

use axum::{
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use maud::{DOCTYPE, Markup, html};

use aerie_domain::{settings::Tz, user::User};

use super::{
    Session, UiError,
    flash::{self, Flash},
};
use crate::state::AppState;
use aerie_domain::appliance::ApplianceRole;

/// Which tab a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Incidents,
    Config,
    Uploads,
}

/// What every page of a session shows around its content.
pub struct Frame {
    pub role: ApplianceRole,
    pub hostname: String,
    pub user: User,
    pub csrf: String,
    pub flash: Option<Flash>,
    pub clock: Clock,
    /// A warning every page shows to admins (the HTTPS certificate near expiry).
    pub admin_notice: Option<String>,
}

impl Frame {
    pub async fn new(
        state: &AppState,
        session: &Session,
        headers: &HeaderMap,
    ) -> Result<Frame, UiError> {
        Ok(Frame {
            role: state.appliance.role().await?,
            hostname: state.appliance.hostname().await?,
            user: session.caller.user.clone(),
            csrf: session.csrf.clone(),
            flash: flash::take(headers),
            clock: Clock::of(state).await?,
            admin_notice: session
                .caller
                .user
                .can(aerie_domain::user::Permission::Administer)
                .then(|| crate::ops::certificates::expiry_banner(state))
                .flatten(),
        })
    }

    pub fn is_mcm(&self) -> bool {
        self.role == ApplianceRole::Mcm
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="_csrf" value=(self.csrf); }
    }

    /// The whole page.
    pub fn render(&self, tab: Tab, title: &str, body: Markup) -> Response {
        let appliance = if self.is_mcm() { "MCM" } else { "CM" };
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Aerie " (appliance) " " (self.hostname) }
                    link rel="stylesheet" href="/ui/static/app.css";
                    script src="/ui/static/app.js" defer {}
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        span.brand { "Aerie" }
                        span.appliance title="Appliance role and host name" {
                            span.role { (appliance) } " " (self.hostname)
                        }
                        nav aria-label="Main" {
                            a.tab.active[tab == Tab::Incidents] href="/incidents" { "Incidents" }
                            a.tab.active[tab == Tab::Config] href="/config" { "Config" }
                            @if !self.is_mcm() {
                                a.tab.active[tab == Tab::Uploads] href="/uploads" { "Uploads" }
                            }
                        }
                        div.actions {
                            a.button #refresh href="" { "Refresh" }
                            form.inline method="post" action="/logout" {
                                (self.csrf_field())
                                button #logout type="submit" { "Logout" }
                            }
                            span.user { (self.user.username.as_str()) " · " (self.user.role.as_str()) }
                        }
                    }
                    @if let Some(n) = &self.admin_notice {
                        div.flash.bad #admin-notice role="alert" { (n) }
                    }
                    @if let Some(f) = &self.flash {
                        div.flash.ok[f.ok].bad[!f.ok] #flash role="status" { (f.text) }
                    }
                    main #main { (body) }
                }
            }
        };
        let mut resp = page.into_response();
        if self.flash.is_some() {
            flash::clear(&mut resp);
        }
        resp
    }
}

/// A page without the session frame (login, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Aerie" }
                link rel="stylesheet" href="/ui/static/app.css";
            }
            body.bare { (body) }
        }
    }
}

/// A severity as analysts read it: two decimals, without float noise (`0.81`).
pub fn severity(severity: f64) -> String {
    format!("{severity:.2}")
}

pub fn risk(risk: &str) -> Markup {
    html! { span class={ "risk risk-" (risk) } { (risk) } }
}

pub fn status(status: &str) -> Markup {
    html! { span class={ "status status-" (status) } { (status.replace('_', " ")) } }
}

/// How pages show times: in the System Settings time zone.
#[derive(Clone, Copy)]
pub struct Clock {
    pub zone: Tz,
}

impl Clock {
    pub async fn of(state: &AppState) -> Result<Clock, UiError> {
        Ok(Clock {
            zone: crate::ops::settings::time_zone(state).await?,
        })
    }

    /// An API time (RFC 3339) as `2026-11-26 10:00:05` in the zone; text that is not a
    /// time is shown as it is.
    pub fn time(&self, t: &str) -> String {
        match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(at) => at
                .with_timezone(&self.zone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            Err(_) => t.to_owned(),
        }
    }

    /// The zone's name, for column headings: `Time (Europe/Berlin)`.
    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// A `datetime-local` form value (`2026-11-26T10:00`, in the zone) as RFC 3339 UTC;
    /// anything else is passed on for the API to judge.
    pub fn form_time(&self, v: &str) -> String {
        let parsed = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"));
        match parsed.map(|t| t.and_local_timezone(self.zone).earliest()) {
            Ok(Some(at)) => at.with_timezone(&chrono::Utc).to_rfc3339(),
            _ => v.to_owned(),
        }
    }
}

pub fn stages(stages: &[String]) -> Markup {
    html! {
        span.stages {
            @for s in stages { span.stage title=(s) { (s.replace('_', " ")) } }
        }
    }
}

/// Attacker-controlled text, escaped, with every invisible character (a right-to-left
/// override, a zero-width space) shown and marked as `<U+XXXX>`.
pub fn shown(text: &str) -> Markup {
    if !text.chars().any(aerie_domain::text::is_invisible) {
        return html! { (text) };
    }
    html! {
        @for c in text.chars() {
            @if aerie_domain::text::is_invisible(c) {
                span.invisible title="An invisible character, shown" { "<U+" (format!("{:04X}", c as u32)) ">" }
            } @else {
                (c)
            }
        }
    }
}

pub fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}
