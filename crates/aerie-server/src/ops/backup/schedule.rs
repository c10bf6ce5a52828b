//! Scheduled backups: the schedule (setting `backup.schedule`), when the next one is due,
//! running it with retention, and the record of the last run of each kind.

use super::*;

/// The setting holding the [`Schedule`] as JSON.
const SCHEDULE: &str = "backup.schedule";
/// The setting holding the [`LastRun`] as JSON.
const LAST_RUN: &str = "backup.last_run";
/// How often the scheduler looks whether a backup is due.
const TICK: Duration = Duration::from_secs(60);
/// A failed scheduled backup is tried again after this long (or its period, if shorter).
const RETRY: TimeDelta = TimeDelta::hours(1);

/// Scheduled backups (setting `backup.schedule`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub enabled: bool,
    /// Hours between backups, 1 to 8760.
    pub every_hours: u32,
    /// Scheduled backups kept, 1 to 1000; older ones are deleted.
    pub keep: u32,
    /// Where backups go: an absolute directory; `None` is `DATA/backups`.
    #[serde(default)]
    pub directory: Option<PathBuf>,
    /// When the schedule was saved: the first backup is due a period later.
    pub since: DateTime<Utc>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            enabled: false,
            every_hours: 24,
            keep: 7,
            directory: None,
            since: Utc::now(),
        }
    }
}

/// The last backup into the backup directory (the page's or the schedule's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub at: DateTime<Utc>,
    pub by: String,
    pub ok: bool,
    /// What it did, or why it failed.
    pub message: String,
    /// A scheduled run (retries follow its outcome).
    #[serde(default)]
    pub scheduled: bool,
}

pub async fn schedule(state: &AppState) -> Result<Schedule, OpError> {
    match state.store.setting(SCHEDULE).await? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| OpError::internal(format!("stored backup schedule unreadable: {e}"))),
        None => Ok(Schedule::default()),
    }
}

pub async fn last_run(state: &AppState) -> Result<Option<LastRun>, OpError> {
    Ok(state
        .store
        .setting(LAST_RUN)
        .await?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Whether the scheduled backups' passphrase file exists.
pub fn passphrase_stored(state: &AppState) -> bool {
    state.config.data_dir.join(PASSPHRASE_FILE).is_file()
}

/// The schedule form as typed: `directory` blank is the default, `passphrase` blank keeps
/// the stored one.
pub struct ScheduleForm {
    pub enabled: bool,
    pub every_hours: String,
    pub keep: String,
    pub directory: String,
    pub passphrase: String,
    pub confirm: String,
}

/// Saves the schedule (and a new passphrase into `DATA/backup-passphrase`, 0600).
#[tracing::instrument(skip_all, fields(by = by.name()), err(level = "warn"))]
pub async fn set_schedule(
    state: &AppState,
    by: Operator<'_>,
    form: ScheduleForm,
) -> Result<String, OpError> {
    let number = |field: &str, raw: &str, max: u32| -> Result<u32, OpError> {
        match raw.trim().parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(OpError::invalid(
                field,
                format!("{field} must be a whole number from 1 to {max}"),
            )),
        }
    };
    let every_hours = number("every_hours", &form.every_hours, 8760)?;
    let keep = number("keep", &form.keep, 1000)?;
    let directory = match form.directory.trim() {
        "" => None,
        d => {
            let dir = PathBuf::from(d);
            if !dir.is_absolute() {
                return Err(OpError::invalid(
                    "directory",
                    format!(
                        "{d} is a relative path: give an absolute directory, or leave it blank for DATA/backups"
                    ),
                ));
            }
            if !dir.is_dir() {
                return Err(OpError::invalid(
                    "directory",
                    format!("{d} is not a directory: create it first"),
                ));
            }
            Some(dir)
        }
    };
    let new_passphrase = if form.passphrase.is_empty() && form.confirm.is_empty() {
        None
    } else {
        if form.passphrase != form.confirm {
            return Err(OpError::invalid(
                "confirm",
                "the two passphrases differ: type the same one twice",
            ));
        }
        Some(Passphrase::parse("passphrase", &form.passphrase)?)
    };
    if form.enabled && new_passphrase.is_none() && !passphrase_stored(state) {
        return Err(OpError::invalid(
            "passphrase",
            "scheduled backups need a passphrase: enter one (twice)",
        ));
    }
    let old = schedule(state).await?;
    let new = Schedule {
        enabled: form.enabled,
        every_hours,
        keep,
        directory,
        since: if old.enabled && form.enabled && old.every_hours == every_hours {
            old.since
        } else {
            Utc::now()
        },
    };
    if let Some(p) = &new_passphrase {
        let path = state.config.data_dir.join(PASSPHRASE_FILE);
        let _ = fs::remove_file(&path);
        tls::write_private(&path, p.expose().as_bytes()).map_err(OpError::internal)?;
    }
    let json = serde_json::to_string(&new).map_err(OpError::internal)?;
    state.store.set_setting(SCHEDULE, &json).await?;
    let said = if new.enabled {
        format!(
            "Scheduled backups on: every {every_hours} h, the newest {keep} kept, in {}{}.",
            new.directory
                .clone()
                .unwrap_or_else(|| state.config.data_dir.join(DEFAULT_DIR))
                .display(),
            if new_passphrase.is_some() {
                "; new passphrase stored"
            } else {
                ""
            }
        )
    } else {
        "Scheduled backups off.".to_owned()
    };
    audit::record(
        state,
        by.name(),
        "system.backup.schedule",
        "appliance",
        format!(
            "enabled: {}, every {every_hours} h, keep {keep}{}",
            new.enabled,
            if new_passphrase.is_some() {
                ", passphrase changed"
            } else {
                ""
            }
        ),
    )
    .await?;
    Ok(said)
}

/// When the next scheduled backup is due, if the schedule is on.
pub fn next_due(schedule: &Schedule, last: Option<&LastRun>) -> Option<DateTime<Utc>> {
    if !schedule.enabled {
        return None;
    }
    let period = TimeDelta::hours(i64::from(schedule.every_hours));
    Some(
        match last.filter(|l| l.scheduled && l.at >= schedule.since) {
            Some(l) if l.ok => l.at + period,
            Some(l) => l.at + period.min(RETRY),
            None => schedule.since + period,
        },
    )
}

/// Runs the scheduled backup if it is due at `now`, then applies retention. `None` when
/// none was due.
pub async fn run_due(state: &AppState, now: DateTime<Utc>) -> Result<Option<BackupDone>, OpError> {
    let schedule = schedule(state).await?;
    let last = last_run(state).await?;
    match next_due(&schedule, last.as_ref()) {
        Some(due) if due <= now => {}
        _ => return Ok(None),
    }
    let result = async {
        let path = state.config.data_dir.join(PASSPHRASE_FILE);
        let text = fs::read_to_string(&path).map_err(|_| {
            OpError::invalid(
                "passphrase",
                format!(
                    "{} is missing: save the schedule with a passphrase",
                    path.display()
                ),
            )
        })?;
        let passphrase = Passphrase::parse("passphrase", text.trim_end_matches(['\r', '\n']))?;
        let dir = ensure_directory(state).await?;
        let out = new_name(state, &dir, true, now).await?;
        write(state, "schedule", &passphrase, &out).await
    }
    .await;
    note_scheduled(state, &result, now).await;
    let done = result?;
    prune(&directory(state).await?, schedule.keep as usize);
    Ok(Some(done))
}

/// Deletes the oldest scheduled backups of `dir` beyond `keep`.
fn prune(dir: &Path, keep: usize) {
    let mut scheduled: Vec<String> = list_in(dir)
        .into_iter()
        .filter(|f| f.scheduled)
        .map(|f| f.name)
        .collect();
    // Names carry their time: newest last.
    scheduled.sort();
    let excess = scheduled.len().saturating_sub(keep);
    for name in &scheduled[..excess] {
        match fs::remove_file(dir.join(name)) {
            Ok(()) => tracing::info!(name, "backup retention: deleted"),
            Err(e) => tracing::warn!(name, "backup retention: cannot delete: {e}"),
        }
    }
}

pub(super) async fn note_run(state: &AppState, by: &str, result: &Result<BackupDone, OpError>) {
    note(state, by, result, Utc::now(), false).await;
}

async fn note_scheduled(state: &AppState, result: &Result<BackupDone, OpError>, at: DateTime<Utc>) {
    if let Err(e) = result {
        tracing::warn!("scheduled backup failed: {e}");
    }
    note(state, "schedule", result, at, true).await;
}

async fn note(
    state: &AppState,
    by: &str,
    result: &Result<BackupDone, OpError>,
    at: DateTime<Utc>,
    scheduled: bool,
) {
    let run = LastRun {
        at,
        by: by.to_owned(),
        ok: result.is_ok(),
        message: match result {
            Ok(done) => done.said(),
            Err(e) => e.to_string(),
        },
        scheduled,
    };
    // A scheduled run's record also times the next one: keep the last scheduled record
    // when a manual backup happens in between.
    let json = serde_json::to_string(&run).expect("a run serialises");
    let name = if scheduled {
        LAST_RUN
    } else {
        "backup.last_manual"
    };
    if let Err(e) = state.store.set_setting(name, &json).await {
        tracing::warn!("cannot record the backup's outcome: {e}");
    }
}

/// The last backup from the page, if any.
pub async fn last_manual(state: &AppState) -> Result<Option<LastRun>, OpError> {
    Ok(state
        .store
        .setting("backup.last_manual")
        .await?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// The scheduler: looks every minute whether a backup is due; stops with `shutdown`. A
/// backup left half-written by a stop is removed at the next start.
pub async fn run_schedule(state: AppState, shutdown: CancellationToken) {
    if let Ok(dir) = directory(&state).await
        && let Ok(entries) = fs::read_dir(&dir)
    {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") && name.contains(SUFFIX) {
                tracing::info!(name, "removing a backup left half-written by a stop");
                let _ = fs::remove_file(e.path());
            }
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        if let Err(e) = run_due(&state, Utc::now()).await {
            tracing::debug!("scheduled backup: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::hours(h)
    }

    #[test]
    fn due_times_follow_the_period_and_retry_sooner_after_a_failure() {
        let mut s = Schedule {
            enabled: true,
            every_hours: 24,
            keep: 3,
            directory: None,
            since: at(0),
        };
        assert_eq!(next_due(&s, None), Some(at(24)));
        let run = |h, ok, scheduled| LastRun {
            at: at(h),
            by: "schedule".into(),
            ok,
            message: String::new(),
            scheduled,
        };
        assert_eq!(next_due(&s, Some(&run(24, true, true))), Some(at(48)));
        assert_eq!(next_due(&s, Some(&run(24, false, true))), Some(at(25)));
        // A run from before the schedule was saved does not count.
        s.since = at(30);
        assert_eq!(next_due(&s, Some(&run(24, true, true))), Some(at(54)));
        s.enabled = false;
        assert_eq!(next_due(&s, None), None);
    }

    #[test]
    fn only_plain_backup_names_are_served() {
        assert!(check_name("cm1-cm-20250101T000000Z.aerie-backup").is_ok());
        for bad in [
            "../x.aerie-backup",
            ".aerie-backup",
            "a/b.aerie-backup",
            "x.aerie-backup.tmp",
            "aerie.db",
            ".hidden.aerie-backup",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retention_deletes_the_oldest_scheduled_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "h-cm-20250101T000000Z-scheduled.aerie-backup",
            "h-cm-20250102T000000Z-scheduled.aerie-backup",
            "h-cm-20250103T000000Z-scheduled.aerie-backup",
            "h-cm-20240101T000000Z.aerie-backup",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        prune(dir.path(), 2);
        let mut left: Vec<String> = list_in(dir.path()).into_iter().map(|f| f.name).collect();
        left.sort();
        assert_eq!(
            left,
            [
                "h-cm-20240101T000000Z.aerie-backup",
                "h-cm-20250102T000000Z-scheduled.aerie-backup",
                "h-cm-20250103T000000Z-scheduled.aerie-backup",
            ]
        );
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
