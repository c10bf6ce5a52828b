//! The web UI: server-rendered HTML (maud escapes every value), our own CSS and one small
//! script, under a strict Content-Security-Policy (no inline script or style). Pages are
//! a thin layer over the JSON API's handlers, so the UI enforces exactly the API's rules.
//!
//! Forms carry a CSRF token derived from the session secret; the session cookie is
//! Secure, HttpOnly and SameSite=Strict, and cookie-authenticated writes must also come
//! from our own origin.

mod campaigns;
mod config;
mod flash;
mod incident;
mod incident_action;
mod incidents;
mod layout;
mod login;
mod sso;
pub(crate) mod uploads;

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRequestParts},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use crate::{
    auth::{Caller, Credential},
    error::OpError,
    state::AppState,
};

/// The policy every response carries unless it sets its own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/incidents") }))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", axum::routing::post(login::logout))
        .route("/incidents", get(incidents::page))
        .route("/incidents/campaigns", get(campaigns::page))
        .route("/ui/live", get(incidents::live))
        .route("/incidents/{id}", get(incident::local_page))
        .route(
            "/incidents/{id}/{second}",
            get(incident::remote_page).post(incident_action::local_action),
        )
        .route(
            "/incidents/{id}/{second}/{action}",
            axum::routing::post(incident_action::remote_action),
        )
        .route("/config", get(config::index))
        .route(
            "/config/users",
            get(config::users).post(config::users_action),
        )
        .route(
            "/config/roles",
            get(config::roles).post(config::roles_action),
        )
        .route(
            "/config/password",
            get(config::password).post(config::password_change),
        )
        .route(
            "/config/radius",
            get(config::radius::page).post(config::radius::action),
        )
        .route(
            "/config/saml",
            get(config::saml::page).post(config::saml::action),
        )
        .route("/saml/metadata", get(sso::metadata))
        .route("/saml/login", get(sso::start))
        .route("/saml/acs", axum::routing::post(sso::acs))
        .route(
            "/config/system",
            get(config::system::page).post(config::system::save),
        )
        .route(
            config::syslog::PAGE,
            get(config::syslog::page).post(config::syslog::action),
        )
        .route(
            "/config/certificates",
            get(config::certificates::page).post(config::certificates::action),
        )
        .route(
            "/config/backup",
            get(config::backup::page).post(config::backup::action),
        )
        .route(
            "/config/backup/download/{name}",
            get(config::backup::download),
        )
        .route(
            "/config/licensing",
            get(config::licensing::page).post(config::licensing::install),
        )
        .route(
            "/config/gss",
            get(config::gss::page).post(config::gss::action),
        )
        .route("/config/cms", get(config::cms))
        .route("/config/mcm", get(config::mcm))
        .route(
            "/uploads",
            get(uploads::page)
                .post(uploads::submit)
                .layer(DefaultBodyLimit::max(uploads::MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/ui/static/app.css", get(css))
        .route("/ui/static/app.js", get(js))
}

async fn css() -> Response {
    asset(include_str!("static/app.css"), "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(
        include_str!("static/app.js"),
        "text/javascript; charset=utf-8",
    )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    resp
}

/// A logged-in browser session.
#[derive(Clone)]
pub struct Session {
    pub caller: Caller,
    /// The token this session's forms must send back.
    pub csrf: String,
}

/// The CSRF token of a session: a hash of its secret, so it needs no storage and dies
/// with the session.
fn csrf_token(session_secret: &str) -> String {
    crate::secret::secret_hash(&format!("aerie-csrf:{session_secret}"))
}

impl Session {
    /// Refuses a form that does not carry this session's token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), UiError> {
        if aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), self.csrf.as_bytes())
            .is_ok()
        {
            Ok(())
        } else {
            Err(UiError(OpError::refused(
                "this form has expired or did not come from Aerie; reload the page and try again",
            )))
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Caller::from_request_parts(parts, state).await {
            Ok(caller) if caller.credential == Credential::SessionCookie => {
                let csrf = csrf_token(caller.session.as_deref().unwrap_or_default());
                Ok(Session { caller, csrf })
            }
            Ok(_) => Err(Redirect::to("/login").into_response()),
            Err(OpError::Unauthenticated(_)) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(UiError(e).into_response()),
        }
    }
}

/// An error shown as a page.
#[derive(Debug)]
pub struct UiError(pub OpError);

impl From<OpError> for UiError {
    fn from(e: OpError) -> Self {
        UiError(e)
    }
}

impl From<aerie_domain::DomainError> for UiError {
    fn from(e: aerie_domain::DomainError) -> Self {
        UiError(e.into())
    }
}

impl From<aerie_store::StoreError> for UiError {
    fn from(e: aerie_store::StoreError) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let page = layout::bare(
            "Error",
            maud::html! {
                main.narrow {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
                    p.error { (self.0.to_string()) }
                    p { a href="/incidents" { "Back to the incidents" } }
                }
            },
        );
        (status, page).into_response()
    }
}
