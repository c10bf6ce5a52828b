//! The Config tab: the System Profiles pages in the seed's order, one module each;
//! Secondary CMs on the MCM, the MCM settings (read-only `show mcm`) on a CM. Pages join
//! the list as they land; there are no dead links.

pub(super) mod backup;
pub(super) mod certificates;
mod federation;
pub(super) mod gss;
pub(super) mod licensing;
mod password;
pub(super) mod radius;
mod roles;
pub(super) mod saml;
pub(super) mod syslog;
pub(super) mod system;
mod users;

pub(super) use federation::{cms, mcm};
pub(super) use password::{password, password_change};
pub(super) use roles::{roles, roles_action};
pub(super) use users::{users, users_action};

use axum::{extract::State, http::HeaderMap, response::Response};
use maud::{Markup, html};

use super::{
    Session, UiError,
    layout::{Frame, Tab},
};
use crate::state::AppState;

struct Entry {
    href: &'static str,
    title: &'static str,
    about: &'static str,
}

/// On which appliance a page exists.
#[derive(PartialEq)]
enum On {
    Both,
    Mcm,
    Cm,
}

/// The System Profiles pages, in the seed's order.
const ENTRIES: &[(On, Entry)] = &[
    (
        On::Both,
        Entry {
            href: "/config/password",
            title: "Password Reset",
            about: "Change your own password.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/roles",
            title: "Roles",
            about: "The seeded roles and custom roles built from permissions.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/users",
            title: "Users",
            about: "Create users, assign roles, disable, reset passwords, API keys.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/saml",
            title: "SAML Settings",
            about: "Single sign-on with your SAML identity provider, roles from its groups.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/radius",
            title: "RADIUS Settings",
            about: "Log users in with your RADIUS servers, their role from a reply attribute.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/system",
            title: "System Settings",
            about: "Host name, time zone, session lifetime, login banner, port, software updates.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/certificates",
            title: "Certificate Management",
            about: "The HTTPS certificate: show, renew, CSR, upload; the trust store.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/gss",
            title: "GSS Settings",
            about: "Signed software updates: source, check, apply under the license, roll back.",
        },
    ),
    (
        On::Mcm,
        Entry {
            href: "/config/cms",
            title: "Secondary CMs",
            about: "The CMs registered with this MCM and how their sync goes.",
        },
    ),
    (
        On::Cm,
        Entry {
            href: "/config/mcm",
            title: "MCM Settings",
            about: "The MCM this CM reports to (read-only; set it in the CLI).",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/licensing",
            title: "Licensing",
            about: "What is licensed here and until when; install a license.",
        },
    ),
    (
        On::Both,
        Entry {
            href: "/config/backup",
            title: "Backup/Restore",
            about: "Encrypted backups of this appliance: create, download, schedule; how to restore.",
        },
    ),
];

fn entries(mcm: bool) -> impl Iterator<Item = &'static Entry> {
    ENTRIES
        .iter()
        .filter(move |(on, _)| *on == On::Both || (*on == On::Mcm) == mcm)
        .map(|(_, e)| e)
}

/// An admin's form on a Config page: `act` runs with the caller's right to administer
/// (without it, the page says which permission is missing), and its outcome is flashed
/// on `page`. The caller checks the form's CSRF token first.
pub(super) async fn as_admin<Fut>(
    session: &Session,
    page: &str,
    act: impl FnOnce(crate::rights::Can<crate::rights::Administer>) -> Fut,
) -> Result<Response, UiError>
where
    Fut: std::future::Future<Output = Result<String, crate::error::OpError>>,
{
    let result = match crate::rights::Can::check(session.caller.clone()) {
        Ok(can) => act(can).await,
        Err(e) => Err(e),
    };
    Ok(super::flash::redirect(
        page,
        result.map_err(|e| e.to_string()),
    ))
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
