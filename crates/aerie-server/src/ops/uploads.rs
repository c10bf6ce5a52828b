//! Files submitted for analysis (the Uploads page and the original API's `file_submit`):
//! kept once by SHA-256, an upload event opens an incident for it, and the analysis
//! ([`aerie_domain::analysis`]) gives its verdict from what this CM knows of the content.
//! The verdict is stored with the submission; the submission answers at once and the
//! analysis follows on its own task (an analysis cut short by a restart is done again
//! when it is next asked for).

use std::net::IpAddr;

use chrono::{TimeDelta, Utc};
use md5::{Digest, Md5};

use aerie_domain::{
    analysis::{Analysis, Verdict},
    artifact::ArtifactKind,
    event::{Category, CollectorType, Endpoint, EventKind, NewEvent, Source, Stage},
    incident::IncidentId,
    risk::Severity,
    text::{Sha256Hex, Text},
};

use crate::rights::{Can, SendEvents, View};
use crate::{audit, error::OpError, state::AppState};

/// The largest file accepted for analysis.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// An analysis still pending after this long was cut short (by a restart): it is run
/// again when asked for.
const STALE: TimeDelta = TimeDelta::seconds(30);

/// Serializes submissions on this front end: each finds its own upload event.
static SUBMITTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A submission accepted.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub incident_id: IncidentId,
    pub event_id: i64,
    pub sha256: Sha256Hex,
    pub size: usize,
}

/// Lowercase hex MD5 of `bytes` (integrations look files up by it).
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Submits a file for analysis on this CM, from the client at `from`.
#[tracing::instrument(skip_all, fields(size = bytes.len()), err(level = "info"))]
pub async fn submit(
    state: &AppState,
    can: &Can<SendEvents>,
    file_name: &str,
    bytes: &[u8],
    from: IpAddr,
) -> Result<Submitted, OpError> {
    state
        .appliance
        .on_cm("the MCM analyses no files: submit them to a CM")
        .await?;
    if bytes.is_empty() {
        return Err(OpError::invalid("file", "the file is empty"));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(OpError::too_large(format!(
            "files for analysis may be at most {} MiB",
            MAX_UPLOAD_BYTES >> 20
        )));
    }
    // The name is the submitter's: bounded and stripped of control characters, as all text.
    let shown: String = file_name
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let shown = if shown.trim().is_empty() {
        "unnamed".to_owned()
    } else {
        shown
    };
    let sha = crate::artifacts::digest(bytes);
    let now = Utc::now();
    state
        .store
        .put_artifact(&sha, ArtifactKind::Sample, bytes, now)
        .await?;
    let threat = Text::parse(
        "file",
        &format!("Submitted for analysis: {shown}"),
        Text::SHORT,
    )?;
    let event = NewEvent {
        kind: EventKind::Upload,
        time: now,
        severity: Severity::BENIGN,
        category: Category::Other,
        threat_name: threat,
        endpoint: Endpoint {
            ip: from,
            name: None,
            os: None,
            user: Some(Text::from_trusted(can.user().username.as_str().to_owned())),
        },
        source: Source::default(),
        progression: [Stage::FileSubmission].into_iter().collect(),
        collector_id: Some(Text::from_trusted("uploads".into())),
        collector_type: CollectorType::Upload,
        file_sha256: Some(sha.clone()),
        behaviour: Default::default(),
        artifacts: vec![sha.clone()],
    };
    let analysis = {
        let _one_at_a_time = SUBMITTING.lock().await;
        let placed = state.store.ingest(&[event]).await?;
        let incident_id = placed[0].incident_id;
        let event_id = own_event(state, incident_id, &sha).await?;
        let analysis = Analysis {
            event_id,
            sha256: sha.clone(),
            md5: md5_hex(bytes),
            file_name: Text::from_trusted(shown),
            size: bytes.len() as i64,
            submitted: now,
            verdict: None,
        };
        state.store.put_analysis(&analysis).await?;
        (incident_id, analysis)
    };
    let (incident_id, analysis) = analysis;
    audit::by(
        state,
        can.caller(),
        "upload.submit",
        format!("incident {incident_id}"),
        format!("{sha} ({} bytes)", bytes.len()),
    )
    .await?;
    let event_id = analysis.event_id;
    let task_state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = analyse(&task_state, &analysis).await {
            tracing::warn!(event_id = analysis.event_id, "analysis failed: {e}");
        }
    });
    Ok(Submitted {
        incident_id,
        event_id,
        sha256: sha,
        size: bytes.len(),
    })
}

/// The upload event just ingested into `incident`: the newest upload of this file there
/// that has no submission yet.
async fn own_event(
    state: &AppState,
    incident: IncidentId,
    sha: &Sha256Hex,
) -> Result<i64, OpError> {
    let page = state.store.events_page(incident, None, 100).await?;
    for e in page {
        if e.event.kind == EventKind::Upload
            && e.event.file_sha256.as_ref() == Some(sha)
            && state.store.analysis(e.id).await?.is_none()
        {
            return Ok(e.id);
        }
    }
    Err(OpError::internal(format!(
        "the upload event of {sha} is not in incident {incident}"
    )))
}

/// Judges a submission and stores the verdict.
async fn analyse(state: &AppState, analysis: &Analysis) -> Result<Verdict, OpError> {
    let known = state.store.known_file(&analysis.sha256).await?;
    let event = state.store.event(analysis.event_id).await?;
    let whitelisted = match &event {
        Some(e) => state
            .store
            .whitelist()
            .await?
            .iter()
            .any(|w| w.matches(&e.event)),
        None => false,
    };
    let verdict = Verdict::judge(known.as_ref(), whitelisted, Utc::now());
    state
        .store
        .finish_analysis(analysis.event_id, &verdict)
        .await?;
    tracing::info!(
        event_id = analysis.event_id,
        malicious = verdict.malicious(),
        "analysis done"
    );
    Ok(verdict)
}

/// The submission of upload event `event_id`, its verdict included once done.
pub async fn analysis(
    state: &AppState,
    _can: &Can<View>,
    event_id: i64,
) -> Result<Option<Analysis>, OpError> {
    let found = state.store.analysis(event_id).await?;
    resume(state, found).await
}

/// The latest submission of a file with this MD5.
pub async fn analysis_by_md5(
    state: &AppState,
    _can: &Can<View>,
    md5: &str,
) -> Result<Option<Analysis>, OpError> {
    let found = state.store.analysis_by_md5(md5).await?;
    resume(state, found).await
}

/// Runs an analysis a restart cut short.
async fn resume(state: &AppState, found: Option<Analysis>) -> Result<Option<Analysis>, OpError> {
    match found {
        Some(mut a) if a.verdict.is_none() && Utc::now() - a.submitted > STALE => {
            a.verdict = Some(analyse(state, &a).await?);
            Ok(Some(a))
        }
        other => Ok(other),
    }
}
