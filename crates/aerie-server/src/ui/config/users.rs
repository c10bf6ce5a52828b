//! Config › Users: create, change role, disable, reset passwords, API keys.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::html;

use aerie_domain::{
    ids::{ApiKeyId, UserId, parse_id},
    text::Text,
    user::{RoleName, Username},
};

use crate::ops::{self, users::UserChange};
use crate::rights::{Administer, Can};
use crate::ui::{Session, UiError, flash, layout::Frame};
use crate::{error::OpError, state::AppState};

use super::config_page;

pub async fn users(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let can = Can::<Administer>::check(session.caller.clone())?;
    let users = ops::users::list(&state, &can).await?;
    // One query a user for the keys, not a user lookup each.
    let mut keys = Vec::new();
    for u in &users {
        keys.push(state.store.api_keys(u.id).await?);
    }
    let roles: Vec<RoleName> = ops::roles::list(&state, &can)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let body = html! {
        table.compact #users {
            thead { tr { th { "User" } th { "Role" } th { "State" } th { "Password" } th { "API keys" } } }
            tbody {
                @for (u, ks) in users.iter().zip(&keys) {
                    tr data-user=(u.username.as_str()) {
                        td { strong { (u.username.as_str()) } }
                        td {
                            form.inline method="post" action="/config/users" {
                                (frame.csrf_field())
                                input type="hidden" name="action" value="role";
                                input type="hidden" name="user" value=(u.id);
                                select name="role" aria-label={ "Role of " (u.username.as_str()) } {
                                    @for r in &roles { option value=(r) selected[*r == u.role] { (r) } }
                                }
                                button type="submit" { "Set" }
                            }
                        }
                        td {
                            form.inline method="post" action="/config/users" {
                                (frame.csrf_field())
                                input type="hidden" name="user" value=(u.id);
                                @if u.disabled {
                                    span.state-off { "Disabled" } " "
                                    input type="hidden" name="action" value="enable";
                                    button type="submit" { "Enable" }
                                } @else {
                                    span.state-on { "Enabled" } " "
                                    input type="hidden" name="action" value="disable";
                                    button type="submit" { "Disable" }
                                }
                            }
                        }
                        td {
                            form.inline method="post" action="/config/users" {
                                (frame.csrf_field())
                                input type="hidden" name="action" value="password";
                                input type="hidden" name="user" value=(u.id);
                                input type="password" name="password" minlength="8" required placeholder="new password" aria-label={ "New password for " (u.username.as_str()) } autocomplete="new-password";
                                button type="submit" { "Reset" }
                            }
                        }
                        td {
                            ul.keys {
                                @for k in ks.iter().filter(|k| k.revoked.is_none()) {
                                    li {
                                        span.mono { (k.prefix) "…" } " " (k.name.as_str()) " "
                                        form.inline method="post" action="/config/users" {
                                            (frame.csrf_field())
                                            input type="hidden" name="action" value="revoke_key";
                                            input type="hidden" name="user" value=(u.id);
                                            input type="hidden" name="key" value=(k.id);
                                            button type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                            form.inline method="post" action="/config/users" {
                                (frame.csrf_field())
                                input type="hidden" name="action" value="key";
                                input type="hidden" name="user" value=(u.id);
                                input name="name" required maxlength="64" placeholder="key name" aria-label={ "API key name for " (u.username.as_str()) };
                                button type="submit" { "Generate" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "New user" }
        form.card.row #new-user method="post" action="/config/users" {
            (frame.csrf_field())
            input type="hidden" name="action" value="create";
            label { span { "User name" } input name="username" required maxlength="64" autocomplete="off"; }
            label { span { "Password" } input type="password" name="password" minlength="8" required autocomplete="new-password"; }
            label { span { "Role" } select name="role" { @for r in &roles { option value=(r) selected[r.as_str() == "analyst"] { (r) } } } }
            button.primary type="submit" { "Create user" }
        }
    };
    Ok(config_page(&frame, "/config/users", "Users", body))
}

#[derive(serde::Deserialize)]
pub struct UsersForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    action: String,
    user: Option<String>,
    username: Option<String>,
    password: Option<String>,
    role: Option<String>,
    name: Option<String>,
    key: Option<String>,
}

/// What a form of the Users page asks for (its `action` field picks the form).
enum UserAction {
    Create {
        name: Username,
        password: String,
        role: RoleName,
    },
    Change(UserId, UserChange),
    CreateKey(UserId, Text),
    RevokeKey(UserId, ApiKeyId),
}

impl UserAction {
    fn parse(f: UsersForm) -> Result<UserAction, OpError> {
        let text = |v: Option<String>| v.unwrap_or_default();
        let role = |v: Option<String>| RoleName::parse("role", &text(v));
        let user = || parse_id::<UserId>("user", f.user.as_deref().unwrap_or_default());
        let change = |c: UserChange| Ok::<_, OpError>(UserAction::Change(user()?, c));
        match f.action.as_str() {
            "create" => Ok(UserAction::Create {
                name: Username::parse(&text(f.username))?,
                password: text(f.password),
                role: role(f.role)?,
            }),
            "role" => change(UserChange {
                role: Some(role(f.role)?),
                ..Default::default()
            }),
            "disable" | "enable" => change(UserChange {
                disabled: Some(f.action == "disable"),
                ..Default::default()
            }),
            "password" => change(UserChange {
                password: Some(text(f.password)),
                ..Default::default()
            }),
            "key" => Ok(UserAction::CreateKey(
                user()?,
                Text::parse("name", &text(f.name), 64)?,
            )),
            "revoke_key" => Ok(UserAction::RevokeKey(
                user()?,
                parse_id("key", &text(f.key))?,
            )),
            other => Err(OpError::invalid(
                "action",
                format!("unknown action {other:?}"),
            )),
        }
    }
}

/// What the page says after `change` (the form makes one change at a time).
fn changed(change: &UserChange) -> impl Fn(&aerie_domain::user::User) -> String + use<> {
    let (role, disabled) = (change.role.is_some(), change.disabled);
    move |user| {
        let name = user.username.as_str();
        match (role, disabled) {
            (true, _) => format!("{name} is now {}.", user.role),
            (_, Some(true)) => format!("{name} is disabled; their sessions ended."),
            (_, Some(false)) => format!("{name} is enabled."),
            _ => format!("Password of {name} reset."),
        }
    }
}

pub async fn users_action(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(f): Form<UsersForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    // Refusals come back as the page's flash message, like every other outcome.
    let back = |result: Result<String, OpError>| {
        Ok(flash::redirect(
            "/config/users",
            result.map_err(|e| e.to_string()),
        ))
    };
    let can = match Can::<Administer>::check(session.caller.clone()) {
        Ok(can) => can,
        Err(e) => return back(Err(e)),
    };
    let action = match UserAction::parse(f) {
        Ok(action) => action,
        Err(e) => return back(Err(e)),
    };
    let result = match action {
        UserAction::Create {
            name,
            password,
            role,
        } => ops::users::create(&state, &can, &name, &password, &role)
            .await
            .map(|u| {
                format!(
                    "User {} created with the {} role.",
                    u.username.as_str(),
                    u.role
                )
            }),
        UserAction::Change(id, change) => {
            let say = changed(&change);
            ops::users::update(&state, &can, id, change)
                .await
                .map(|u| say(&u))
        }
        UserAction::CreateKey(id, name) => {
            return match ops::users::create_key(&state, &can, id, &name).await {
                // The secret is shown once, on this page, never in a redirect or cookie.
                Ok((key, secret)) => {
                    let frame = Frame::new(&state, &session, &headers).await?;
                    let body = html! {
                        p.flash.ok #new-key role="status" {
                            "API key " strong { (key.name.as_str()) } " created. Copy it now; it is not shown again:"
                        }
                        p { code.secret #key-secret { (secret) } }
                        p { a.button href="/config/users" { "Back to the users" } }
                    };
                    Ok(config_page(&frame, "/config/users", "Users", body))
                }
                Err(e) => back(Err(e)),
            };
        }
        UserAction::RevokeKey(id, key) => ops::users::revoke_key(&state, &can, id, key)
            .await
            .map(|_| "API key revoked.".to_owned()),
    };
    back(result)
}
