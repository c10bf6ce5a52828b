//! Config › Backup/Restore: create an encrypted backup into the backup directory, list,
//! download and delete backups, schedule them with retention; restoring is offline
//! (`aerie restore`), and the page says how.

use axum::{
    Form,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use maud::{Markup, html};

use aerie_domain::passphrase::Passphrase;

use super::config_page;
use crate::ops::backup::{self, LastRun, PASSPHRASE_FILE, ScheduleForm, human_size};
use crate::rights::{Administer, Can, Operator};
use crate::ui::{Session, UiError, layout::Frame};
use crate::{error::OpError, state::AppState};

const PAGE: &str = "/config/backup";

fn last(frame: &Frame, id: &str, what: &str, run: &Option<LastRun>) -> Markup {
    html! {
        @if let Some(r) = run {
            p id=(id) class=(if r.ok { "muted" } else { "error" }) {
                (what) " " (frame.clock.time(&r.at.to_rfc3339())) " by " (r.by) ": " (r.message)
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let dir = backup::directory(&state).await?;
    let files = backup::list(&state).await?;
    let busy = backup::in_progress(&state).await?;
    let schedule = backup::schedule(&state).await?;
    let scheduled = backup::last_run(&state).await?;
    let manual = backup::last_manual(&state).await?;
    let due = backup::next_due(&schedule, scheduled.as_ref());
    let stored = backup::passphrase_stored(&state);
    let data_dir = state.config.data_dir.display().to_string();
    let action =
        |name: &str| html! { (frame.csrf_field()) input type="hidden" name="action" value=(name); };
    let body = html! {
        p {
            "A backup is one encrypted file holding this appliance's whole store (incidents, "
            "users, roles, the audit log, artifacts, settings), its TLS certificate and key, "
            "and its " code { "aerie.toml" } ". It is encrypted with the passphrase you give "
            "(AES-256-GCM under a key derived from it): without the passphrase nobody can read "
            "it, or restore it — keep the passphrase apart from the backups."
        }
        section.card #create {
            h2 { "Create a backup" }
            form #create-form method="post" action=(PAGE) {
                (action("create"))
                label for="passphrase" { "Passphrase (8 to 128 characters)" }
                input #passphrase type="password" name="passphrase" autocomplete="new-password" required;
                label for="confirm" { "Passphrase again" }
                input #confirm type="password" name="confirm" autocomplete="new-password" required;
                button.primary type="submit" { "Create backup" }
            }
            (last(&frame, "last-manual", "Last backup from this page:", &manual))
        }
        section.card #backups {
            h2 { "Backups in " code { (dir.display()) } }
            @if busy { p #in-progress { strong { "A backup is being written; reload the page to see it listed." } } }
            table.compact #backup-list {
                thead { tr { th { "File" } th { "Size" } th { "Written" } th {} th {} } }
                tbody {
                    @for f in &files {
                        tr.backup data-name=(f.name) {
                            td.name { (f.name) @if f.scheduled { " " span.muted { "(scheduled)" } } }
                            td.size { (human_size(f.size)) }
                            td.time { (frame.clock.time(&f.modified.to_rfc3339())) }
                            td { a.download href=(format!("{PAGE}/download/{}", f.name)) download { "Download" } }
                            td {
                                form.inline method="post" action=(PAGE) {
                                    (action("delete"))
                                    input type="hidden" name="name" value=(f.name);
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                    @if files.is_empty() { tr { td.empty colspan="5" { "No backup yet." } } }
                }
            }
        }
        section.card #schedule {
            h2 { "Scheduled backups" }
            p {
                "Scheduled backups need their passphrase when they run, so it is kept in "
                code { (data_dir) "/" (PASSPHRASE_FILE) } " (mode 0600: only the daemon's user "
                "can read it). Anyone who can read that file and a backup can read the backup: "
                "copy backups off this machine, and protect the data dir. The newest scheduled "
                "backups are kept, older scheduled ones deleted; backups made here or with "
                code { "set system backup" } " are never deleted by the schedule."
            }
            form #schedule-form method="post" action=(PAGE) {
                (action("schedule"))
                label {
                    input #enabled type="checkbox" name="enabled" value="1" checked[schedule.enabled];
                    " Back up on a schedule"
                }
                label for="every_hours" { "Every (hours)" }
                input #every_hours name="every_hours" inputmode="numeric" value=(schedule.every_hours);
                label for="keep" { "Keep the newest (scheduled backups)" }
                input #keep name="keep" inputmode="numeric" value=(schedule.keep);
                label for="directory" { "Directory (absolute; blank: " code { (data_dir) "/backups" } ")" }
                input #directory name="directory"
                    value=(schedule.directory.as_ref().map(|d| d.display().to_string()).unwrap_or_default());
                label for="schedule_passphrase" {
                    "Passphrase for scheduled backups"
                    @if stored { " (one is stored; blank keeps it)" }
                }
                input #schedule_passphrase type="password" name="passphrase" autocomplete="new-password";
                label for="schedule_confirm" { "Passphrase again" }
                input #schedule_confirm type="password" name="confirm" autocomplete="new-password";
                button.primary type="submit" { "Save schedule" }
            }
            @if let Some(due) = due {
                p.muted #next-due { "Next scheduled backup: " (frame.clock.time(&due.to_rfc3339())) }
            }
            (last(&frame, "last-scheduled", "Last scheduled backup:", &scheduled))
        }
        section.card #restore {
            h2 { "Restore" }
            p {
                "Restoring replaces this appliance's data, so it runs with the daemon stopped, "
                "on the appliance's console:"
            }
            pre { "systemctl stop aerie\naerie restore --data-dir " (data_dir) " --from FILE.aerie-backup\nsystemctl start aerie" }
            p {
                "It asks for the passphrase (or reads " code { "AERIE_BACKUP_PASSPHRASE" } "), "
                "checks the whole file before it changes anything, and refuses a backup of the "
                "other role (CM or MCM) or of a newer Aerie unless given " code { "--force" } ". "
                "A restored MCM's CMs resync with it by themselves."
            }
        }
    };
    Ok(config_page(&frame, PAGE, "Backup/Restore", body))
}

#[derive(serde::Deserialize)]
pub struct Submitted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    action: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    every_hours: String,
    #[serde(default)]
    keep: String,
    #[serde(default)]
    directory: String,
}

pub async fn action(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<Submitted>,
) -> Result<Response, UiError> {
    session.check_csrf(&f.csrf)?;
    super::as_admin(&session, PAGE, |can| async move {
        let by = Operator::Admin(&can);
        match f.action.as_str() {
            "create" => {
                if f.passphrase != f.confirm {
                    return Err(OpError::invalid(
                        "confirm",
                        "the two passphrases differ: type the same one twice",
                    ));
                }
                let passphrase = Passphrase::parse("passphrase", &f.passphrase)?;
                backup::start_in_directory(&state, by, passphrase).await
            }
            "delete" => backup::delete(&state, by, &f.name).await,
            "schedule" => {
                let form = ScheduleForm {
                    enabled: f.enabled.is_some(),
                    every_hours: f.every_hours,
                    keep: f.keep,
                    directory: f.directory,
                    passphrase: f.passphrase,
                    confirm: f.confirm,
                };
                backup::set_schedule(&state, by, form).await
            }
            other => Err(OpError::malformed(format!("unknown action {other:?}"))),
        }
    })
    .await
}

/// `GET /config/backup/download/{name}`: the file, streamed, as an attachment.
pub async fn download(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    Can::<Administer>::check(session.caller.clone())?;
    let path = backup::path_of(&state, &name).await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| OpError::internal(format!("open {}: {e}", path.display())))?;
    let size = file.metadata().await.map(|m| m.len()).ok();
    let stream = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(size) = size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    // The name passed `check_name`: ASCII letters, digits, `-`, `_`, `.` only.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
