//! Uploads (CM only): an analyst submits a file for analysis. It is stored once by its
//! SHA-256, an upload event opens an incident for it, and its analysis follows
//! ([`crate::ops::uploads`]).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Multipart, State},
    http::HeaderMap,
    response::Response,
};
use maud::html;

use super::{
    Session, UiError, flash,
    layout::{Frame, Tab},
};
use crate::{error::OpError, state::AppState};

pub use crate::ops::uploads::MAX_UPLOAD_BYTES;

async fn require_cm(state: &AppState) -> Result<(), UiError> {
    if state.appliance.is_mcm().await? {
        return Err(UiError(OpError::not_found(
            "Uploads (the MCM analyses no files)",
        )));
    }
    Ok(())
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    require_cm(&state).await?;
    let frame = Frame::new(&state, &session, &headers).await?;
    let body = html! {
        h1 { "Uploads" }
        p { "Submit a file for analysis (at most 32 MiB). It is kept by its SHA-256 and opens an upload incident you can follow in the Incidents tab." }
        form.card #upload-form method="post" action="/uploads" enctype="multipart/form-data" {
            (frame.csrf_field())
            label for="file" { "File" }
            input #file type="file" name="file" required;
            button.primary type="submit" { "Submit for analysis" }
        }
    };
    Ok(frame.render(Tab::Uploads, "Uploads", body))
}

/// What the upload form carried: its CSRF token and the file, if any.
pub struct UploadForm {
    pub csrf: String,
    /// The file's name as the browser gave it, and its content.
    pub file: Option<(String, axum::body::Bytes)>,
}

/// Reads the upload form's fields (others are ignored); the request body limit bounds
/// the file.
pub async fn read_form(mut multipart: Multipart) -> Result<UploadForm, OpError> {
    let bad = |m: &str| OpError::invalid("file", m);
    let (mut csrf, mut file) = (String::new(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(&format!("unreadable upload: {e}")))?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.map_err(|_| bad("unreadable form"))?,
            Some("file") => {
                let name = field.file_name().unwrap_or("unnamed").to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| OpError::too_large("uploads may be at most 32 MiB"))?;
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    Ok(UploadForm { csrf, file })
}

pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    multipart: Multipart,
) -> Result<Response, UiError> {
    require_cm(&state).await?;
    let can = crate::rights::Can::<crate::rights::SendEvents>::check(session.caller.clone())?;
    let UploadForm { csrf, file } = read_form(multipart).await.map_err(UiError)?;
    session.check_csrf(&csrf)?;
    let (name, bytes) =
        file.ok_or_else(|| UiError(OpError::invalid("file", "choose a file to upload")))?;
    if bytes.is_empty() {
        return Ok(flash::redirect(
            "/uploads",
            Err("The file is empty.".into()),
        ));
    }
    let done = crate::ops::uploads::submit(&state, &can, &name, &bytes, peer.ip()).await?;
    let (id, sha) = (done.incident_id, done.sha256);
    Ok(flash::redirect(
        &format!("/incidents/{id}"),
        Ok(format!(
            "File received: SHA-256 {sha}, {} bytes. It is being analysed.",
            bytes.len()
        )),
    ))
}
