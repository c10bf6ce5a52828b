//! Config › Licensing: what is licensed on this appliance and until when; install a
//! license text from the vendor.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::{Markup, html};

use aerie_license::License;

use super::config_page;
use crate::ops::licensing::{self, Installed};
use crate::rights::{Administer, Can, Operator};
use crate::state::AppState;
use crate::ui::{Session, UiError, layout::Frame};

const PAGE: &str = "/config/licensing";

fn details(frame: &Frame, l: &License) -> Markup {
    let now = chrono::Utc::now();
    html! {
        dl.summary #license {
            dt { "License id" } dd #license-id { (l.id) }
            dt { "Customer" } dd #license-customer { (l.customer) }
            dt { "Device type" } dd { (l.device) }
            dt { "Appliance id" } dd { code { (l.appliance_id) } }
            dt { "Features" } dd { @if l.features.is_empty() { "—" } @else { (l.features.join(", ")) } }
            dt { "Valid from" } dd { (frame.clock.time(&l.not_before.to_rfc3339())) }
            dt { "Valid until" } dd #license-until {
                (frame.clock.time(&l.not_after.to_rfc3339()))
                @if l.is_valid_at(now) { " (" (l.days_left(now)) " days left)" }
            }
            @if let Some(s) = l.support_until { dt { "Support until" } dd { (frame.clock.time(&s.to_rfc3339())) } }
            @if let Some(n) = l.max_cms { dt { "CMs at most" } dd { (n) } }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let this = licensing::this_appliance(&state).await?;
    let installed = licensing::installed(&state).await?;
    let body = html! {
        p {
            "A license is a document signed by the vendor for one appliance. Without a valid "
            "license everything keeps working, but software and content updates are refused."
        }
        dl.summary #this-appliance {
            dt { "This appliance" } dd { (this.device) " · id " code #appliance-id { (this.id) } }
            dt { "Trusted vendor key" } dd {
                @for k in &this.trusted { code { (k.fingerprint()) } " " }
                @if this.test_key { strong.warn #test-key { "TEST KEY (vendor_public_key_override): not for production" } }
            }
        }
        section.card #license-status {
            h2 { "Installed license" }
            @match &installed {
                Installed::None => { p #license-state { "No license is installed: updates are refused." } }
                Installed::Valid(l) => {
                    p #license-state.ok { "Valid: updates are allowed." }
                    (details(&frame, l))
                }
                Installed::Invalid { license, why } => {
                    p #license-state.flash.bad { "Not valid — " (why) ". Updates are refused." }
                    @if let Some(l) = license { (details(&frame, l)) }
                }
            }
        }
        form.card #license-form method="post" action=(PAGE) {
            (frame.csrf_field())
            label for="license-text" { "License text from the vendor (aerie-license-v1.…)" }
            textarea #license-text name="license" rows="5" {}
            button.primary type="submit" { "Install license" }
        }
    };
    Ok(config_page(&frame, PAGE, "Licensing", body))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    license: String,
}

pub async fn install(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<Submitted>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    super::as_admin(&session, PAGE, |can| async move {
        licensing::install(&state, Operator::Admin(&can), &f.license).await
    })
    .await
}
