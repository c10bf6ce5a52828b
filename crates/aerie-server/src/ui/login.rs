//! Login and logout pages. A failed login says only that the name or password is wrong.

use std::net::SocketAddr;

use axum::{
    Form,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};

use aerie_domain::appliance::ApplianceRole;

use super::{Session, UiError, layout};
use crate::{
    auth,
    ops::sessions::{self, Refused},
    state::AppState,
};

#[derive(serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// What the login page shows besides the form.
struct Offer {
    role: ApplianceRole,
    sso: bool,
    /// The System Settings login banner (plain text).
    banner: String,
}

impl Offer {
    /// On a store error the CM's title is shown, without SSO.
    async fn of(state: &AppState) -> Offer {
        Offer {
            role: state.appliance.role().await.unwrap_or(ApplianceRole::Cm),
            sso: crate::ops::saml::enabled(state).await.unwrap_or(false),
            banner: crate::ops::settings::system(state)
                .await
                .map(|s| s.login_banner)
                .unwrap_or_default(),
        }
    }
}

fn form(offer: &Offer, error: Option<&str>, username: &str) -> Markup {
    layout::bare(
        "Log in",
        html! {
            main.login {
                h1 { "Aerie" }
                p.muted { "Advanced threat protection · " (offer.role.title()) }
                @if !offer.banner.is_empty() {
                    div.banner #login-banner role="note" {
                        @for line in offer.banner.lines() { p { (layout::shown(line)) } }
                    }
                }
                @if let Some(e) = error { p.flash.bad #login-error role="alert" { (e) } }
                form method="post" action="/login" {
                    label for="username" { "User name" }
                    input #username name="username" autocomplete="username" required autofocus value=(username);
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    button.primary type="submit" { "Log in" }
                }
                @if offer.sso {
                    p.sso { a.button #sso-login href="/saml/login" { "Sign in with SSO" } }
                }
            }
        },
    )
}

pub async fn page(State(state): State<AppState>) -> Result<Markup, UiError> {
    Ok(form(&Offer::of(&state).await, None, ""))
}

pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<LoginForm>,
) -> Response {
    let offer = Offer::of(&state).await;
    if auth::from_our_origin(&headers, &uri).is_err() {
        return (
            StatusCode::FORBIDDEN,
            form(&offer, Some("cross-site login refused"), ""),
        )
            .into_response();
    }
    let refused =
        |status, text: &str| (status, form(&offer, Some(text), &f.username)).into_response();
    match sessions::log_in(&state, peer.ip(), &f.username, &f.password).await {
        Ok(Ok((_, token, expires))) => match auth::session_cookie(&token, expires) {
            Ok(cookie) => {
                let mut resp = Redirect::to("/incidents").into_response();
                resp.headers_mut().insert(header::SET_COOKIE, cookie);
                resp
            }
            Err(e) => super::UiError(e).into_response(),
        },
        Ok(Err(Refused::TooMany(wait))) => refused(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed logins from your address or for this user; try again in {} s.",
                wait.wait.as_secs().max(1)
            ),
        ),
        Ok(Err(Refused::Wrong)) => {
            refused(StatusCode::UNAUTHORIZED, "Wrong user name or password.")
        }
        Err(e) => super::UiError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<LogoutForm>,
) -> Response {
    if let Err(e) = session.check_csrf(&f.csrf) {
        return e.into_response();
    }
    if let Some(secret) = &session.caller.session
        && let Err(e) = state
            .store
            .delete_session(&crate::secret::secret_hash(secret))
            .await
    {
        return super::UiError(e.into()).into_response();
    }
    let _ = crate::audit::by(&state, &session.caller, "logout", "session", "").await;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, auth::cleared_cookie());
    resp
}
