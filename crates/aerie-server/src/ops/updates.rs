//! GSS Settings and software updates: the update source (a local directory, or an HTTPS
//! repository pinned to its certificate), "check now", and applying a signed bundle —
//! verify, stage the new binary next to the old one, audit, and restart into it — with
//! a rollback to the previous one. Applying needs a valid license for this device type.
//!
//! On disk: `DATA/updates/<version>/` holds each staged bundle; `DATA/updates/current`
//! and `previous` are symlinks to them. `aerie serve` starts the `current` binary when it
//! is newer than itself ([`staged_binary`]).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use aerie_license::{BundleEntry, BundleKind, Index, Version};

use crate::rights::Operator;
use crate::{audit, error::OpError, state::AppState};

const SETTING: &str = "gss.settings";
/// Set in the environment of a binary started by [`staged_binary`]'s caller, so that it
/// does not start another.
pub const STARTED_FROM_UPDATE: &str = "AERIE_STARTED_FROM_UPDATE";

/// Where updates come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Source {
    #[default]
    None,
    /// A directory holding `index` and the bundles (e.g. a mounted medium).
    Directory { path: PathBuf },
    /// `URL/index` and `URL/<bundle>`, trusted only with this certificate.
    Https { url: String, fingerprint: String },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GssSettings {
    pub source: Source,
    /// The last check: when, and what it found or why it failed.
    pub last_check: Option<(DateTime<Utc>, String)>,
}

/// The running version of this binary.
pub fn running_version() -> Version {
    env!("CARGO_PKG_VERSION")
        .parse()
        .expect("the package version is X.Y.Z")
}

pub async fn settings(state: &AppState) -> Result<GssSettings, OpError> {
    match state.store.setting(SETTING).await? {
        Some(json) => serde_json::from_str(&json).map_err(OpError::internal),
        None => Ok(GssSettings::default()),
    }
}

async fn save(state: &AppState, s: &GssSettings) -> Result<(), OpError> {
    let json = serde_json::to_string(s).map_err(OpError::internal)?;
    Ok(state.store.set_setting(SETTING, &json).await?)
}

/// Sets the update source from the page's fields: `directory` (an absolute path), or
/// `https` with its URL and the repository certificate's SHA-256 fingerprint.
pub async fn set_source(
    state: &AppState,
    by: Operator<'_>,
    kind: &str,
    location: &str,
    fingerprint: &str,
) -> Result<String, OpError> {
    let location = location.trim();
    let source = match kind {
        "none" => Source::None,
        "directory" => {
            let path = PathBuf::from(location);
            if !path.is_absolute() {
                return Err(OpError::invalid(
                    "location",
                    format!("{location:?} is not an absolute directory path"),
                ));
            }
            Source::Directory { path }
        }
        "https" => {
            if !location.starts_with("https://") {
                return Err(OpError::invalid(
                    "location",
                    format!("{location:?} is not an https:// URL"),
                ));
            }
            let fp: aerie_client::Fingerprint = fingerprint.trim().parse().map_err(|_| {
                OpError::invalid(
                    "fingerprint",
                    "the repository's certificate fingerprint is 64 hex digits (SHA-256), ':' allowed",
                )
            })?;
            Source::Https {
                url: location.trim_end_matches('/').to_owned(),
                fingerprint: fp.to_string(),
            }
        }
        other => {
            return Err(OpError::invalid(
                "kind",
                format!("{other:?}: expected none, directory or https"),
            ));
        }
    };
    let mut s = settings(state).await?;
    s.source = source.clone();
    save(state, &s).await?;
    let said = match &source {
        Source::None => "no update source".to_owned(),
        Source::Directory { path } => format!("directory {}", path.display()),
        Source::Https { url, fingerprint } => format!("{url} pinned to {fingerprint}"),
    };
    audit::record(state, by.name(), "gss.source", "updates", &said).await?;
    Ok(format!("Update source: {said}."))
}

/// Reads one file of the source.
async fn fetch(source: &Source, name: &str) -> Result<Vec<u8>, OpError> {
    let unreachable =
        |e: String| OpError::conflict(format!("the update source cannot be read: {e}"));
    match source {
        Source::None => Err(OpError::conflict("no update source is set (GSS Settings)")),
        Source::Directory { path } => tokio::fs::read(path.join(name))
            .await
            .map_err(|e| unreachable(format!("{}: {e}", path.join(name).display()))),
        Source::Https { url, fingerprint } => {
            let pin = fingerprint.parse().map_err(OpError::internal)?;
            let client =
                aerie_client::Client::new(url, pin).map_err(|e| unreachable(e.to_string()))?;
            let resp = client
                .request(reqwest::Method::GET, &format!("/{name}"))
                .send()
                .await
                .map_err(|e| unreachable(format!("{url}/{name}: {e}")))?;
            if !resp.status().is_success() {
                return Err(unreachable(format!("{url}/{name}: HTTP {}", resp.status())));
            }
            Ok(resp
                .bytes()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_vec())
        }
    }
}

/// The verified index of the source.
async fn index(state: &AppState, source: &Source) -> Result<Index, OpError> {
    let text = fetch(source, "index").await?;
    let text =
        String::from_utf8(text).map_err(|_| OpError::conflict("the update index is not text"))?;
    aerie_license::check_index(&text, &super::licensing::trusted(state), Utc::now())
        .map_err(|e| OpError::conflict(format!("the update index is refused: {e}")))
}

/// What a check found.
pub struct Available {
    pub current: Version,
    pub offered: Option<BundleEntry>,
}

/// "Check now": the newest applicable software bundle, recorded as the last check.
pub async fn check(state: &AppState) -> Result<Available, OpError> {
    let mut s = settings(state).await?;
    let device = super::licensing::this_appliance(state).await?.device;
    let current = running_version();
    let found = index(state, &s.source).await.map(|index| {
        aerie_license::newest_for(&index, &current, device, BundleKind::Software).cloned()
    });
    s.last_check = Some((
        Utc::now(),
        match &found {
            Ok(Some(b)) => format!("version {} available", b.version),
            Ok(None) => format!("up to date ({current})"),
            Err(e) => format!("failed: {e}"),
        },
    ));
    save(state, &s).await?;
    Ok(Available {
        current,
        offered: found?,
    })
}

fn updates_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("updates")
}

/// Applies the newest software bundle: needs a license, verifies the bundle against the
/// signed index (never a downgrade), stages it, points `current` at it (keeping the
/// previous one for rollback), audits, and asks the daemon to restart into it.
pub async fn apply(state: &AppState, by: Operator<'_>) -> Result<String, OpError> {
    let license = super::licensing::for_updates(state).await?;
    let available = check(state).await?;
    let Some(entry) = available.offered else {
        return Err(OpError::conflict(format!(
            "no newer version is offered: {} is the newest for this appliance",
            available.current
        )));
    };
    let source = settings(state).await?.source;
    let bytes = fetch(&source, &entry.file).await?;
    let dir = updates_dir(state);
    let staged = dir.join(entry.version.to_string());
    let entry_for_task = entry.clone();
    let task_dir = dir.clone();
    let staged_for_task = staged.clone();
    tokio::task::spawn_blocking(move || -> Result<(), OpError> {
        std::fs::create_dir_all(&task_dir).map_err(OpError::internal)?;
        let download = task_dir.join(format!(".download-{}", entry_for_task.file));
        std::fs::write(&download, &bytes).map_err(OpError::internal)?;
        let checked = aerie_license::check_bundle_file(&entry_for_task, &download);
        let unpacked = checked.and_then(|()| {
            let _ = std::fs::remove_dir_all(&staged_for_task);
            aerie_license::unpack_bundle(&entry_for_task, &download, &staged_for_task)
        });
        let _ = std::fs::remove_file(&download);
        let manifest =
            unpacked.map_err(|e| OpError::conflict(format!("the update is refused: {e}")))?;
        if !manifest
            .files
            .iter()
            .any(|f| f.path == aerie_license::update::SOFTWARE_BINARY)
        {
            let _ = std::fs::remove_dir_all(&staged_for_task);
            return Err(OpError::conflict(
                "the update is refused: the bundle holds no bin/aerie",
            ));
        }
        point(&task_dir, &staged_for_task)
    })
    .await
    .map_err(OpError::internal)??;
    audit::record(
        state,
        by.name(),
        "update.apply",
        "updates",
        format!(
            "{} → {} (license {}); staged at {}, restarting into it",
            available.current,
            entry.version,
            license.id,
            staged.display()
        ),
    )
    .await?;
    tracing::warn!(from = %available.current, to = %entry.version, "update staged: restarting into it");
    state.restart.request();
    Ok(format!(
        "Version {} verified and staged; the appliance restarts into it now (the previous \
         version is kept: roll back with set system rollback).",
        entry.version
    ))
}

/// Points `current` at `staged`, and `previous` at what `current` was.
fn point(dir: &Path, staged: &Path) -> Result<(), OpError> {
    let current = dir.join("current");
    if let Ok(old) = std::fs::read_link(&current)
        && old != staged
    {
        replace_link(dir, "previous", &old)?;
    }
    replace_link(dir, "current", staged)
}

fn replace_link(dir: &Path, name: &str, target: &Path) -> Result<(), OpError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(OpError::internal)?;
    std::fs::rename(&tmp, dir.join(name)).map_err(OpError::internal)
}

/// `set system rollback`: back to the previous staged version, or to the installed
/// binary when there is none; the daemon restarts.
pub async fn rollback(state: &AppState, by: Operator<'_>) -> Result<String, OpError> {
    let dir = updates_dir(state);
    let current = std::fs::read_link(dir.join("current")).ok();
    let Some(current) = current else {
        return Err(OpError::conflict(
            "nothing to roll back: no update is applied (the installed binary runs)",
        ));
    };
    let said = match std::fs::read_link(dir.join("previous")) {
        Ok(previous) => {
            replace_link(&dir, "current", &previous)?;
            let _ = std::fs::remove_file(dir.join("previous"));
            format!("{} → {}", name(&current), name(&previous))
        }
        Err(_) => {
            std::fs::remove_file(dir.join("current")).map_err(OpError::internal)?;
            format!(
                "{} → the installed binary ({})",
                name(&current),
                running_version()
            )
        }
    };
    audit::record(state, by.name(), "update.rollback", "updates", &said).await?;
    state.restart.request();
    Ok(format!("Rolled back: {said}; the appliance restarts."))
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The staged version `current` points at, if any.
pub fn staged_version(data_dir: &Path) -> Option<Version> {
    let target = std::fs::read_link(data_dir.join("updates").join("current")).ok()?;
    name(&target).parse().ok()
}

/// The binary `current` points at, if an update is applied.
pub fn current_binary(data_dir: &Path) -> Option<PathBuf> {
    staged_version(data_dir)?;
    let bin = data_dir
        .join("updates")
        .join("current")
        .join(aerie_license::update::SOFTWARE_BINARY);
    bin.is_file().then_some(bin)
}

/// At start: the binary to run instead of this one — the staged `current` when it is
/// newer than this binary, unless this process was itself started from an update.
pub fn staged_binary(data_dir: &Path) -> Option<PathBuf> {
    if std::env::var_os(STARTED_FROM_UPDATE).is_some() {
        return None;
    }
    let bin = current_binary(data_dir)?;
    (staged_version(data_dir)? > running_version()).then_some(bin)
}

/// A request to restart the daemon (after an update or a rollback), which `aerie serve`
/// waits for.
#[derive(Default)]
pub struct Restart {
    requested: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Restart {
    pub fn request(&self) {
        self.requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Returns once a restart is requested.
    pub async fn requested(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

/// Runs due automatic updates: on every :00 and :30, when Software Updates is on.
pub async fn run_window(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        let now = Utc::now();
        let into = (now.timestamp() % 1800) as u64;
        let wait = std::time::Duration::from_secs(1800 - into);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let on = super::settings::system(&state)
            .await
            .map(|s| s.software_updates)
            .unwrap_or(false);
        if !on {
            continue;
        }
        match apply(&state, Operator::Scheduled).await {
            Ok(said) => tracing::warn!("automatic update: {said}"),
            Err(e) => tracing::info!("automatic update not applied: {e}"),
        }
    }
}
