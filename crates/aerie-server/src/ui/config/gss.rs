//! Config › GSS Settings: the update source, "check now", the current and available
//! versions, applying the update (license needed) and rolling back.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use super::config_page;
use crate::ops::updates::{self, Source};
use crate::rights::{Administer, Can, Operator};
use crate::ui::{Session, UiError, layout::Frame};
use crate::{error::OpError, state::AppState};

const PAGE: &str = "/config/gss";

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let s = updates::settings(&state).await?;
    let auto = crate::ops::settings::system(&state).await?.software_updates;
    let license = crate::ops::licensing::for_updates(&state).await;
    let staged = updates::staged_version(&state.config.data_dir);
    let (kind, location, fingerprint) = match &s.source {
        Source::None => ("none", String::new(), String::new()),
        Source::Directory { path } => ("directory", path.display().to_string(), String::new()),
        Source::Https { url, fingerprint } => ("https", url.clone(), fingerprint.clone()),
    };
    let action =
        |name: &str| html! { (frame.csrf_field()) input type="hidden" name="action" value=(name); };
    let body = html! {
        p {
            "Signed software updates (an index and bundles, Ed25519) from a local directory or an "
            "HTTPS repository pinned to its certificate. A bundle is verified before use and "
            "never installs an older version; applying it needs a valid license for this "
            "device type, keeps the previous version for rollback, and restarts the appliance."
        }
        dl.summary #versions {
            dt { "Running version" } dd #running { (updates::running_version()) }
            dt { "Staged update" } dd #staged { @match &staged { Some(v) => (v), None => "none" } }
            dt { "Last check" } dd #last-check {
                @match &s.last_check {
                    Some((at, what)) => { (frame.clock.time(&at.to_rfc3339())) " — " (what) }
                    None => "never",
                }
            }
            dt { "Automatic updates" } dd {
                @if auto { "on: applied on the next :00 or :30" } @else { "off (System Settings › Software Updates)" }
            }
            dt { "License" } dd #update-license {
                @match &license { Ok(l) => { "valid (" (l.id) ")" } Err(e) => { (e.to_string()) } }
            }
        }
        form.card #source-form method="post" action=(PAGE) {
            (action("source"))
            label for="kind" { "Update source" }
            select #kind name="kind" {
                option value="none" selected[kind == "none"] { "None" }
                option value="directory" selected[kind == "directory"] { "Local directory" }
                option value="https" selected[kind == "https"] { "HTTPS repository" }
            }
            label for="location" { "Directory (absolute path) or https:// URL" }
            input #location name="location" value=(location);
            label for="fingerprint" { "Repository certificate SHA-256 (HTTPS only)" }
            input #fingerprint name="fingerprint" value=(fingerprint);
            button type="submit" { "Save source" }
        }
        form.inline #check-form method="post" action=(PAGE) { (action("check")) button type="submit" { "Check now" } }
        form.inline #apply-form method="post" action=(PAGE) { (action("apply")) button.primary type="submit" { "Apply update" } }
        form.inline #rollback-form method="post" action=(PAGE) { (action("rollback")) button type="submit" { "Roll back" } }
    };
    Ok(config_page(&frame, PAGE, "GSS Settings", body))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    action: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    fingerprint: String,
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
            "source" => updates::set_source(&state, by, &f.kind, &f.location, &f.fingerprint).await,
            "check" => updates::check(&state).await.map(|a| match a.offered {
                Some(b) => format!(
                    "Version {} is available (running {}).",
                    b.version, a.current
                ),
                None => format!(
                    "Up to date: {} is the newest for this appliance.",
                    a.current
                ),
            }),
            "apply" => updates::apply(&state, by).await,
            "rollback" => updates::rollback(&state, by).await,
            other => Err(OpError::invalid("action", format!("no action {other:?}"))),
        }
    })
    .await
}
