//! The OpenAPI document, generated from the handlers and wire types.

use axum::Json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Aerie API", description = "Incidents of a Central Manager (CM) or a Manager of \
        Central Managers (MCM). Errors are always `{\"error\": \"...\", \"field\": \"...\"}`."),
    paths(
        super::health::health,
        super::session::login,
        super::session::logout,
        super::keys::list,
        super::keys::create,
        super::keys::rotate,
        super::keys::revoke,
        super::events::ingest,
        super::incidents::list,
        super::incidents::detail,
        super::incidents::change_status,
        super::incidents::remote_detail,
        super::incidents::comment,
        super::remote::forward,
        super::artifacts::upload,
        super::artifacts::download,
        super::ivp::script,
        super::mitigations::list,
        super::mitigations::apply,
        super::mitigations::revoke,
        super::feeds::new_credential,
        super::feeds::feed,
        super::whitelist::list,
        super::whitelist::add,
        super::whitelist::add_for_incident,
        super::whitelist::remove,
        super::users::list,
        super::users::create,
        super::users::update,
        super::users::change_own_password,
        super::users::keys,
        super::users::create_key,
        super::users::revoke_key,
        super::roles::list,
        super::roles::create,
        super::roles::delete,
        super::audit_log::list,
        super::audit_log::verify,
        super::cms::list,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("raw_api_key" = []), ("session_cookie" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "raw_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Authorization"))),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Serves the document.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
