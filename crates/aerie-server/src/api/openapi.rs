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
        super::campaigns::list,
        super::federation::challenge,
        super::federation::register,
        super::federation::certificate,
        super::federation::proxy_token,
        super::federation::sync,
    ),
    modifiers(&Security, &Described),
    security(("bearer" = []), ("raw_api_key" = []), ("session_cookie" = []))
)]
pub struct ApiDoc;

struct Security;

/// What client generators need of a valid document: every response described (its
/// status's reason phrase where the handler gave none) and operation ids unique
/// (`get_incidents_id` from the method and path, where the handlers' names repeat).
struct Described;

impl Modify for Described {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for (path, item) in doc.paths.paths.iter_mut() {
            let slug: String = path
                .trim_start_matches("/api/v1")
                .trim_matches('/')
                .replace('/', "_")
                .chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .collect();
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
                ("trace", &mut item.trace),
            ];
            for (method, op) in operations {
                let Some(op) = op else { continue };
                op.operation_id = Some(format!("{method}_{slug}"));
                for (status, response) in op.responses.responses.iter_mut() {
                    if let RefOr::T(r) = response
                        && r.description.trim().is_empty()
                    {
                        r.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("Response")
                            .to_owned();
                    }
                }
            }
        }
    }
}

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
