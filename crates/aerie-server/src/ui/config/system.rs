//! Config › System Settings: host name, time zone, session lifetime, login banner,
//! listen port and Software Updates — the same record `set system …` edits.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use super::config_page;
use crate::ops::settings::{self, SystemForm};
use crate::rights::{Administer, Can, Operator};
use crate::state::AppState;
use crate::ui::{Session, UiError, layout::Frame};

const PAGE: &str = "/config/system";

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let s = settings::system(&state).await?;
    let (next, why) = settings::next_listen(&state.config, &s);
    let now = state.appliance.identity.listening();
    let body = html! {
        p {
            "Changes apply at once, except the listen port, which applies at the next start. "
            "The same settings are shown by " code { "show system" } " and changed by "
            code { "set system …" } " in the CLI. Every change is recorded in the audit log."
        }
        p { a #syslog-link href=(super::syslog::PAGE) { "Syslog (SIEM feed) ›" } " — where incidents and the audit log stream as CEF." }
        form.card #system-form method="post" action=(PAGE) {
            (frame.csrf_field())
            label for="hostname" { "Host name (on the MCM, this CM's name in the CM Name column)" }
            input #hostname name="hostname" value=(frame.hostname) required;
            label for="time_zone" { "Time zone for times shown in the web UI (IANA name; blank: UTC)" }
            input #time_zone name="time_zone" list="zones" placeholder="UTC"
                value=(s.time_zone.as_ref().map(|z| z.name()).unwrap_or_default());
            datalist #zones {
                @for z in ["UTC", "America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney"] {
                    option value=(z) {}
                }
            }
            label for="session_ttl" {
                "Session lifetime in minutes (blank: the configuration's "
                (state.config.session_ttl_minutes) ")"
            }
            input #session_ttl name="session_ttl" inputmode="numeric"
                value=(s.session_ttl_minutes.map(|m| m.to_string()).unwrap_or_default());
            label for="login_banner" { "Login banner (plain text shown above the login form)" }
            textarea #login_banner name="login_banner" rows="3" maxlength=(aerie_domain::settings::MAX_BANNER_CHARS) { (s.login_banner) }
            label for="listen_port" { "HTTPS port (applies at the next start)" }
            input #listen_port name="listen_port" inputmode="numeric"
                value=(s.listen_port.map(|p| p.to_string()).unwrap_or_default());
            p.muted #listen-note {
                "Listening now on " (now) "; from the next start on " (next) " (" (why) ")."
            }
            label {
                input #software_updates type="checkbox" name="software_updates" value="1" checked[s.software_updates];
                " Software Updates: apply signed updates by themselves, on the next :00 or :30 (needs a valid license; see GSS Settings)"
            }
            button.primary type="submit" { "Save" }
        }
    };
    Ok(config_page(&frame, PAGE, "System Settings", body))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    session_ttl: String,
    #[serde(default)]
    login_banner: String,
    #[serde(default)]
    listen_port: String,
    #[serde(default)]
    software_updates: Option<String>,
}

pub async fn save(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<Submitted>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    super::as_admin(&session, PAGE, |can| async move {
        let form = SystemForm {
            hostname: f.hostname,
            time_zone: f.time_zone,
            session_ttl: f.session_ttl,
            login_banner: f.login_banner,
            listen_port: f.listen_port,
            software_updates: f.software_updates.is_some(),
        };
        settings::change(&state, Operator::Admin(&can), form.parse()?).await
    })
    .await
}
