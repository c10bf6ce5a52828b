//! Config › Roles: the seeded roles and custom roles built from permissions.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use aerie_domain::user::{Permission, Permissions, RoleName};

use crate::ops::{self};
use crate::rights::{Administer, Can};
use crate::ui::{Session, UiError, flash, layout::Frame};
use crate::{error::OpError, state::AppState};

use super::config_page;

pub async fn roles(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let roles = ops::roles::list(&state, &Can::check(session.caller.clone())?).await?;
    let body = html! {
        p { "A role is a set of permissions. The three seeded roles stay; admins build more from the permissions below. The API enforces them; the pages only hide what a role cannot do." }
        table.compact #roles {
            thead {
                tr {
                    th { "Role" }
                    @for p in Permission::ALL { th.center { (p.as_str().replace('_', " ")) } }
                    th {}
                }
            }
            tbody {
                @for r in &roles {
                    tr data-role=(r.name) {
                        td { strong { (r.name) } @if r.seeded { " " span.muted { "seeded" } } }
                        @for p in Permission::ALL {
                            td.center { @if r.permissions.contains(*p) { "✓" } @else { "—" } }
                        }
                        td {
                            @if !r.seeded {
                                form.inline method="post" action="/config/roles" {
                                    (frame.csrf_field())
                                    input type="hidden" name="action" value="delete";
                                    input type="hidden" name="name" value=(r.name);
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "New role" }
        form.card #new-role method="post" action="/config/roles" {
            (frame.csrf_field())
            input type="hidden" name="action" value="create";
            label for="role-name" { "Name (lower-case letters, digits, _ and -)" }
            input #role-name name="name" required maxlength="32";
            fieldset {
                legend { "Permissions" }
                @for p in Permission::ALL {
                    label.check {
                        input type="checkbox" name="permission" value=(p.as_str()) checked[*p == Permission::View];
                        " " (p.as_str().replace('_', " "))
                    }
                }
            }
            button.primary type="submit" { "Create role" }
        }
    };
    Ok(config_page(&frame, "/config/roles", "Roles", body))
}

/// What a form of the Roles page asks for.
enum RoleAction {
    Create(RoleName, Permissions),
    Delete(RoleName),
}

impl RoleAction {
    /// From the form's pairs: repeated `permission` fields are the new role's permissions.
    fn parse(field: impl Fn(&str) -> String, pairs: &[(String, String)]) -> Result<Self, OpError> {
        let name = RoleName::parse("name", &field("name"))?;
        match field("action").as_str() {
            "create" => {
                let permissions: Vec<&str> = pairs
                    .iter()
                    .filter(|(k, _)| k == "permission")
                    .map(|(_, v)| v.as_str())
                    .collect();
                let permissions = Permissions::parse("permissions", &permissions.join(","))?;
                Ok(RoleAction::Create(name, permissions))
            }
            "delete" => Ok(RoleAction::Delete(name)),
            other => Err(OpError::invalid(
                "action",
                format!("unknown action {other:?}"),
            )),
        }
    }
}

/// The role form: repeated `permission` fields arrive as a list of pairs.
pub async fn roles_action(
    State(state): State<AppState>,
    session: Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let field = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    session.check_csrf(&field("_csrf"))?;
    let result = async {
        let can = Can::<Administer>::check(session.caller.clone())?;
        match RoleAction::parse(field, &pairs)? {
            RoleAction::Create(name, permissions) => {
                let r = ops::roles::create(&state, &can, &name, permissions).await?;
                Ok(format!("Role {} created.", r.name))
            }
            RoleAction::Delete(name) => {
                ops::roles::delete(&state, &can, &name).await?;
                Ok("Role deleted.".to_owned())
            }
        }
    };
    let result: Result<String, OpError> = result.await;
    Ok(flash::redirect(
        "/config/roles",
        result.map_err(|e| e.to_string()),
    ))
}
