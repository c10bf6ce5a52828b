//! Config › SAML Settings: the IdP's metadata (pasted or uploaded) with its signing
//! certificate described, this SP's addresses and metadata for the IdP's admin, the
//! attribute mapping, and a check of metadata before it is saved.

use std::collections::HashMap;

use axum::{
    extract::{Multipart, State},
    http::HeaderMap,
    response::Response,
};
use chrono::Utc;
use maud::html;

use super::config_page;
use crate::ops::saml::{self, MAX_METADATA_BYTES, SamlForm};
use crate::rights::{Administer, Can};
use crate::ui::{Session, UiError, layout::Frame};
use crate::{error::OpError, state::AppState};

const PAGE: &str = "/config/saml";

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let s = saml::settings(&state).await?;
    let ends = s.endpoints(&state);
    let sp_metadata = saml::sp_metadata(&state).await.ok();
    let now = Utc::now().timestamp();
    let map: Vec<String> = s
        .group_map
        .iter()
        .map(|(g, r)| format!("{g} = {r}"))
        .collect();
    let body = html! {
        p {
            "Users sign in at your identity provider (SAML 2.0, SP-initiated: the login page "
            "offers " em { "Sign in with SSO" } "). Their role comes from their groups, mapped "
            "below; a user with no mapped group is refused. Local users keep their passwords."
        }
        section.card #sp-details {
            h2 { "This appliance, for your IdP" }
            dl.entries {
                dt { "Entity ID" } dd { code #sp-entity-id { (ends.entity_id) } }
                dt { "ACS URL (HTTP-POST)" } dd { code #sp-acs { (ends.acs_url) } }
                dt { "Metadata" } dd { a href="/saml/metadata" { (ends.metadata_url) } }
                dt { "NameID format" } dd { "any (emailAddress or persistent are usual)" }
                dt { "Attributes" } dd { "a user name (or the NameID) and the groups attribute named below" }
            }
            @if let Some(xml) = &sp_metadata {
                details { summary { "SP metadata XML" } pre #sp-metadata { (xml) } }
            }
        }
        section.card #idp-details {
            h2 { "Identity provider" }
            @match s.idp() {
                None => p.muted { "No IdP metadata is saved yet." },
                Some(Err(e)) => p.flash.err role="alert" { "The saved metadata no longer loads: " (e) },
                Some(Ok(info)) => dl.entries {
                    dt { "Entity ID" } dd { code #idp-entity-id { (info.entity_id) } }
                    dt { "Sign-in URL" } dd { code { (info.sso_url.as_deref().unwrap_or("none (HTTP-Redirect)")) } }
                    @for c in &info.signing_certificates {
                        dt { "Signing certificate" }
                        dd.idp-cert {
                            (c.subject) br;
                            "SHA-256 " code.fingerprint { (c.sha256) } br;
                            (saml::validity(c.not_before, c.not_after, now))
                        }
                    }
                },
            }
        }
        form.card #saml-form method="post" action=(PAGE) enctype="multipart/form-data" {
            (frame.csrf_field())
            input type="hidden" name="action" value="save";
            label { input type="checkbox" name="enabled" value="1" checked[s.enabled]; " Enable single sign-on" }
            label for="idp_metadata" {
                "IdP metadata XML: paste it"
                @if !s.idp_metadata.is_empty() { " (saved; leave blank to keep it)" }
            }
            textarea #idp_metadata name="idp_metadata" rows="5" placeholder="<EntityDescriptor …>" {}
            label for="idp_metadata_file" { "… or upload it" }
            input #idp_metadata_file type="file" name="idp_metadata_file" accept=".xml,application/samlmetadata+xml,text/xml";
            label for="sp_entity_id" { "SP entity ID (blank: the metadata URL above)" }
            input #sp_entity_id name="sp_entity_id" value=(s.sp_entity_id);
            label for="username_attribute" { "Attribute with the user name (blank: the NameID)" }
            input #username_attribute name="username_attribute" value=(s.username_attribute);
            label for="groups_attribute" { "Attribute with the groups" }
            input #groups_attribute name="groups_attribute" value=(s.groups_attribute);
            label for="group_map" { "Group mapping: one " code { "GROUP = ROLE" } " per line, first match wins (e.g. " code { "soc-analysts = analyst" } ")" }
            textarea #group_map name="group_map" rows="4" { (map.join("\n")) }
            label for="clock_skew" { "Allowed clock skew (seconds)" }
            input #clock_skew name="clock_skew" value=(s.clock_skew_secs);
            label {
                input type="checkbox" name="allow_idp_initiated" value="1" checked[s.allow_idp_initiated];
                " Accept IdP-initiated sign-in (unsolicited responses; off is safer)"
            }
            button.primary type="submit" { "Save" }
        }
        form.card #saml-check method="post" action=(PAGE) enctype="multipart/form-data" {
            (frame.csrf_field())
            input type="hidden" name="action" value="check";
            h2 { "Test connection" }
            p { "Reads metadata without saving it: the one pasted here, else the saved one." }
            textarea name="idp_metadata" rows="3" aria-label="IdP metadata to check" {}
            button type="submit" { "Check metadata" }
        }
    };
    Ok(config_page(&frame, PAGE, "SAML Settings", body))
}

/// Reads a multipart form's fields as text (a file field's content included); the
/// metadata bound keeps each field small.
async fn read_fields(mut multipart: Multipart) -> Result<HashMap<String, String>, OpError> {
    let mut fields = HashMap::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| OpError::malformed(format!("unreadable form: {e}")))?
    {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let bytes = field
            .bytes()
            .await
            .map_err(|e| OpError::malformed(format!("unreadable form field {name}: {e}")))?;
        if bytes.len() > MAX_METADATA_BYTES + 1024 {
            return Err(OpError::invalid(
                name,
                format!("at most {MAX_METADATA_BYTES} bytes are accepted"),
            ));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| OpError::invalid(name.clone(), "not UTF-8 text"))?;
        fields.insert(name, text);
    }
    Ok(fields)
}

pub async fn action(
    State(state): State<AppState>,
    session: Session,
    multipart: Multipart,
) -> Result<Response, UiError> {
    let mut f = read_fields(multipart).await?;
    session.check_csrf(f.get("_csrf").map_or("", String::as_str))?;
    let mut take = |name: &str| f.remove(name).unwrap_or_default();
    super::as_admin(&session, PAGE, |can| async move {
        let pasted = take("idp_metadata");
        let uploaded = take("idp_metadata_file");
        let metadata = if uploaded.trim().is_empty() {
            pasted
        } else {
            uploaded
        };
        match take("action").as_str() {
            "save" => {
                let form = SamlForm {
                    enabled: !take("enabled").is_empty(),
                    idp_metadata: metadata,
                    sp_entity_id: take("sp_entity_id"),
                    username_attribute: take("username_attribute"),
                    groups_attribute: take("groups_attribute"),
                    group_map: take("group_map"),
                    allow_idp_initiated: !take("allow_idp_initiated").is_empty(),
                    clock_skew_secs: take("clock_skew"),
                };
                let saved = saml::save(&state, &can, form).await?;
                Ok(if saved.enabled {
                    "Single sign-on is on.".to_owned()
                } else {
                    "SAML settings saved; single sign-on is off.".to_owned()
                })
            }
            "check" => saml::check(&state, &can, &metadata).await,
            other => Err(OpError::invalid("action", format!("no action {other:?}"))),
        }
    })
    .await
}
