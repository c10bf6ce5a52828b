//! The Config tab: Users, Roles and Password Reset on both roles; Secondary CMs on the
//! MCM; the MCM settings (read-only `show mcm`) on a CM. Later settings pages join the
//! list as they land; there are no dead links.

use axum::{Form, extract::State, http::HeaderMap, response::Response};
use maud::{Markup, html};

use aerie_domain::{
    ids::{ApiKeyId, UserId, parse_id},
    text::Text,
    user::{Permission, Permissions, RoleName, Username},
};

use super::{
    Session, UiError, flash,
    layout::{self, Frame, Tab},
};
use crate::ops::{self, users::UserChange};
use crate::rights::{Administer, Can};
use crate::{error::OpError, state::AppState};

struct Entry {
    href: &'static str,
    title: &'static str,
    about: &'static str,
}

fn entries(mcm: bool) -> Vec<Entry> {
    let mut list = vec![
        Entry {
            href: "/config/users",
            title: "Users",
            about: "Create users, assign roles, disable, reset passwords, API keys.",
        },
        Entry {
            href: "/config/roles",
            title: "Roles",
            about: "The seeded roles and custom roles built from permissions.",
        },
        Entry {
            href: "/config/password",
            title: "Password Reset",
            about: "Change your own password.",
        },
        Entry {
            href: "/config/saml",
            title: "SAML Settings",
            about: "Single sign-on with your SAML identity provider, roles from its groups.",
        },
        Entry {
            href: "/config/radius",
            title: "RADIUS Settings",
            about: "Log users in with your RADIUS servers, their role from a reply attribute.",
        },
    ];
    if mcm {
        list.push(Entry {
            href: "/config/cms",
            title: "Secondary CMs",
            about: "The CMs registered with this MCM and how their sync goes.",
        });
    } else {
        list.push(Entry {
            href: "/config/mcm",
            title: "MCM Settings",
            about: "The MCM this CM reports to (read-only; set it in the CLI).",
        });
    }
    list
}

pub(super) fn config_page(frame: &Frame, current: &str, title: &str, body: Markup) -> Response {
    let content = html! {
        div.config {
            nav.side aria-label="Config" {
                h2 { "Config" }
                ul {
                    @for e in entries(frame.is_mcm()) {
                        li { a.active[e.href == current] href=(e.href) { (e.title) } }
                    }
                }
            }
            section.config-body { h1 { (title) } (body) }
        }
    };
    frame.render(Tab::Config, title, content)
}

pub async fn index(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let body = html! {
        dl.entries {
            @for e in entries(frame.is_mcm()) {
                dt { a href=(e.href) { (e.title) } }
                dd { (e.about) }
            }
        }
    };
    Ok(config_page(&frame, "/config", "Config", body))
}

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

pub async fn cms(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    let cms = ops::cms::list(&state, &Can::check(session.caller.clone())?).await?;
    let body = html! {
        p { "CMs register from their own CLI (" code { "set mcm ip … passphrase …" } ") and leave with " code { "set mcm remove" } "; there is no delete here." }
        table.compact #cms {
            thead { tr { th { "CM name" } th { "IP" } th { "Version" } th { "FIPS" } th { "Status" } th { "Last sync (UTC)" } th.num { "Lag (s)" } th.num { "Backlog" } th.num { "Incidents" } } }
            tbody {
                @for cm in &cms {
                    tr data-cm=(cm.name) {
                        td { strong { (cm.name) } }
                        td { (cm.ip) }
                        td { (cm.version) }
                        td { @if cm.fips { "on" } @else { "off" } }
                        td { span class={ "cm-state cm-" (cm.status) } { (cm.status) } }
                        td { (cm.last_sync.as_deref().map(layout::time).unwrap_or_else(|| "never".into())) }
                        td.num { (cm.sync_lag_seconds) }
                        td.num {
                            (cm.backlog)
                            @if cm.backlog_stale {
                                " " span.muted title="The CM has been silent; this is the last backlog it reported." { "(last known)" }
                            }
                        }
                        td.num { (cm.incident_count) }
                    }
                }
                @if cms.is_empty() { tr { td.empty colspan="9" { "No CM has registered yet." } } }
            }
        }
    };
    Ok(config_page(&frame, "/config/cms", "Secondary CMs", body))
}

pub async fn mcm(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let frame = Frame::new(&state, &session, &headers).await?;
    if frame.is_mcm() {
        return Err(UiError(OpError::missing(
            "this appliance is the MCM; see Secondary CMs",
        )));
    }
    let m = crate::federation::show(&state.federation).await?;
    let row =
        |k: &str, v: Option<String>| html! { dt { (k) } dd { (v.unwrap_or_else(|| "—".into())) } };
    let body = html! {
        @if m.address.is_none() {
            p #mcm-none { "No MCM is configured. An administrator sets it in the CLI: " code { "set mcm ip IP passphrase PASSPHRASE [username USER]" } }
        } @else {
            dl.summary #mcm-settings {
                (row("MCM address", m.address.clone()))
                (row("Registered as", m.username.clone()))
                (row("Sync state", m.state.clone()))
                (row("Last sync", m.last_sync.clone()))
                (row("Backlog (incident changes)", m.backlog.map(|b| b.to_string())))
            }
        }
    };
    Ok(config_page(&frame, "/config/mcm", "MCM Settings", body))
}
