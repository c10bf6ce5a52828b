//! Config › RADIUS Settings: the servers, the role mapping, and a test login. Shared
//! secrets are never shown back: a blank secret field keeps the stored one.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use super::config_page;
use crate::ops::radius::{self, RadiusForm, RoleAttribute};
use crate::rights::{Administer, Can};
use crate::ui::{Session, UiError, layout::Frame};
use crate::{error::OpError, state::AppState};

/// Server rows on the page.
const ROWS: usize = 3;
const PAGE: &str = "/config/radius";

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let s = radius::settings(&state).await?;
    let fips = state.appliance.fips().await?;
    let map: Vec<String> = s
        .role_map
        .iter()
        .map(|(v, r)| format!("{v} = {r}"))
        .collect();
    let body = html! {
        p {
            "Users who are not local log in with the RADIUS servers below (PAP), tried in order; "
            "the first server that answers decides. Their role comes from the reply attribute "
            "chosen here. Local users always log in with their own password."
        }
        @if fips {
            p.flash.err #fips-warning role="alert" {
                "This appliance is in FIPS mode. RADIUS over UDP rests on MD5, which FIPS does not "
                "approve: enabling it needs your confirmation below."
            }
        }
        form.card #radius-form method="post" action=(PAGE) {
            (frame.csrf_field())
            input type="hidden" name="action" value="save";
            label { input type="checkbox" name="enabled" value="1" checked[s.enabled]; " Enable RADIUS login" }
            @for n in 0..ROWS {
                @let server = s.servers.get(n);
                fieldset {
                    legend { "Server " (n + 1) }
                    label for={ "server" (n + 1) } { "Address (IP or IP:PORT; port 1812 by default)" }
                    input id={ "server" (n + 1) } name={ "server" (n + 1) } value=(server.map(|s| s.address.to_string()).unwrap_or_default());
                    label for={ "secret" (n + 1) } {
                        "Shared secret"
                        @if server.is_some() { " (set; leave blank to keep it)" }
                    }
                    input id={ "secret" (n + 1) } type="password" name={ "secret" (n + 1) } autocomplete="off";
                }
            }
            label for="timeout" { "Timeout per try (seconds)" }
            input #timeout name="timeout" value=(format!("{}", s.timeout_ms as f64 / 1000.0));
            label for="retries" { "Retries per server" }
            input #retries name="retries" value=(s.retries);
            label for="role_attribute" { "Attribute that carries the role" }
            select #role_attribute name="role_attribute" {
                option value="class" selected[s.role_attribute == RoleAttribute::Class] { "Class" }
                option value="filter-id" selected[s.role_attribute == RoleAttribute::FilterId] { "Filter-Id" }
            }
            label for="role_map" { "Role mapping: one " code { "VALUE = ROLE" } " per line (e.g. " code { "soc-analysts = analyst" } ")" }
            textarea #role_map name="role_map" rows="4" { (map.join("\n")) }
            label {
                input type="checkbox" name="require_message_authenticator" value="1" checked[s.require_message_authenticator];
                " Require Message-Authenticator in answers (BlastRADIUS; Debian 12's FreeRADIUS does not send it)"
            }
            @if fips {
                label { input type="checkbox" name="fips_confirmed" value="1" checked[s.fips_confirmed]; " I confirm RADIUS (MD5) in FIPS mode" }
            }
            button.primary type="submit" { "Save" }
        }
        form.card #radius-test method="post" action=(PAGE) {
            (frame.csrf_field())
            input type="hidden" name="action" value="test";
            h2 { "Test connection" }
            p { "Asks the saved servers about these credentials; logs nobody in." }
            label for="test_user" { "User name" }
            input #test_user name="test_user" autocomplete="off";
            label for="test_password" { "Password" }
            input #test_password type="password" name="test_password" autocomplete="off";
            button type="submit" { "Test" }
        }
    };
    Ok(config_page(&frame, PAGE, "RADIUS Settings", body))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    action: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    server1: String,
    #[serde(default)]
    secret1: String,
    #[serde(default)]
    server2: String,
    #[serde(default)]
    secret2: String,
    #[serde(default)]
    server3: String,
    #[serde(default)]
    secret3: String,
    #[serde(default)]
    timeout: String,
    #[serde(default)]
    retries: String,
    #[serde(default)]
    role_attribute: String,
    #[serde(default)]
    role_map: String,
    #[serde(default)]
    require_message_authenticator: Option<String>,
    #[serde(default)]
    fips_confirmed: Option<String>,
    #[serde(default)]
    test_user: String,
    #[serde(default)]
    test_password: String,
}

pub async fn action(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<Submitted>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    super::as_admin(&session, PAGE, |can| async move {
        match f.action.as_str() {
            "save" => {
                let form = RadiusForm {
                    enabled: f.enabled.is_some(),
                    servers: vec![
                        (f.server1, f.secret1),
                        (f.server2, f.secret2),
                        (f.server3, f.secret3),
                    ],
                    timeout_secs: f.timeout,
                    retries: f.retries,
                    role_attribute: f.role_attribute,
                    role_map: f.role_map,
                    require_message_authenticator: f.require_message_authenticator.is_some(),
                    fips_confirmed: f.fips_confirmed.is_some(),
                };
                let saved = radius::save(&state, &can, form).await?;
                Ok(if saved.enabled {
                    format!(
                        "RADIUS login is on, with {} server(s).",
                        saved.servers.len()
                    )
                } else {
                    "RADIUS settings saved; RADIUS login is off.".to_owned()
                })
            }
            "test" => radius::test(&state, &can, &f.test_user, &f.test_password).await,
            other => Err(OpError::invalid("action", format!("no action {other:?}"))),
        }
    })
    .await
}
