//! Config › Password Reset: change your own password.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use crate::ops::{self};
use crate::rights::Can;
use crate::state::AppState;
use crate::ui::{Session, UiError, flash, layout::Frame};

use super::config_page;

pub async fn password(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let body = html! {
        form.card #password-form method="post" action="/config/password" {
            (frame.csrf_field())
            label for="current" { "Current password" }
            input #current type="password" name="current_password" required autocomplete="current-password";
            label for="new" { "New password (8 characters or more)" }
            input #new type="password" name="new_password" minlength="8" required autocomplete="new-password";
            label for="confirm" { "New password again" }
            input #confirm type="password" name="confirm" minlength="8" required autocomplete="new-password";
            button.primary type="submit" { "Change password" }
        }
    };
    Ok(config_page(
        &frame,
        "/config/password",
        "Password Reset",
        body,
    ))
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    current_password: String,
    new_password: String,
    confirm: String,
}

pub async fn password_change(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<PasswordForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    if f.new_password != f.confirm {
        return Ok(flash::redirect(
            "/config/password",
            Err("The new passwords differ.".into()),
        ));
    }
    let can = Can::check(session.caller.clone())?;
    let result =
        ops::users::change_own_password(&state, &can, &f.current_password, &f.new_password).await;
    Ok(flash::redirect(
        "/config/password",
        result
            .map(|_| "Password changed.".to_owned())
            .map_err(|e| e.to_string()),
    ))
}
