//! This daemon's Prometheus metrics, served at `GET /metrics` (text format) to an
//! admin's API key or session. Counters and histograms are recorded through the
//! `metrics` facade into a recorder of this daemon's own (several daemons may share a
//! process: the demo, the tests); levels that the store knows — incidents by risk and
//! status, each CM's sync state, the process's memory — are read at scrape time (the
//! store's census at most every [`CENSUS_EVERY`]). docs/operations.md lists every name.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use aerie_domain::risk::Risk;

use crate::{error::OpError, state::AppState};

/// How long a census of the incident table is reused.
pub const CENSUS_EVERY: Duration = Duration::from_secs(10);

/// Histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Names of what is recorded as it happens.
pub mod names {
    pub const INGEST_EVENTS: &str = "aerie_ingest_events_total";
    pub const INGEST_BATCHES: &str = "aerie_ingest_batches_total";
    pub const INGEST_SECONDS: &str = "aerie_ingest_duration_seconds";
    pub const INCIDENTS_OPENED: &str = "aerie_incidents_opened_total";
    pub const HTTP_REQUESTS: &str = "aerie_http_requests_total";
    pub const HTTP_SECONDS: &str = "aerie_http_request_duration_seconds";
    pub const LOGIN_FAILURES: &str = "aerie_login_failures_total";
    pub const SYNC_BATCHES: &str = "aerie_sync_batches_total";
    pub const SYNC_CHANGES: &str = "aerie_sync_changes_total";
    pub const SYNC_ERRORS: &str = "aerie_sync_errors_total";
    pub const PROXY_CALLS: &str = "aerie_proxy_calls_total";
}

/// One daemon's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    census: Mutex<Option<(Instant, String)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        Metrics {
            handle: recorder.handle(),
            recorder,
            census: Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Runs `record` (calls of the `metrics` macros) against this daemon's recorder.
    pub fn record(&self, record: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, record);
    }

    /// A live call to a CM (the MCM's proxy), by outcome.
    pub fn proxy_call(&self, cm: &str, ok: bool) {
        let (cm, outcome) = (cm.to_owned(), if ok { "ok" } else { "failed" });
        self.record(|| {
            metrics::counter!(names::PROXY_CALLS, "cm" => cm, "outcome" => outcome).increment(1);
        });
    }

    /// What was recorded, in the Prometheus text format.
    fn recorded(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// Counts a routed request and times it, by method, route pattern and status (unknown
/// paths are not routed, so they add no series).
pub async fn track(
    metrics: &Metrics,
    path: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = path.as_str().to_owned();
    let status = response.status().as_u16().to_string();
    metrics.record(|| {
        metrics::counter!(names::HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
            .increment(1);
        metrics::histogram!(names::HTTP_SECONDS, "method" => method, "route" => route)
            .record(seconds);
    });
    response
}

/// A label value as the text format writes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition: what was recorded, then the levels read now.
pub async fn render(state: &AppState) -> Result<String, OpError> {
    let on_mcm = state.appliance.is_mcm().await?;
    let mut out = state.metrics.recorded();
    out.push_str(&census(state, on_mcm).await?);
    out.push_str(&format!(
        "# HELP aerie_info This daemon's version and role.\n# TYPE aerie_info gauge\n\
         aerie_info{{version=\"{}\",role=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        if on_mcm { "mcm" } else { "cm" }
    ));
    if on_mcm {
        out.push_str(&cms(state).await?);
        out.push_str(&format!(
            "# HELP aerie_correlation_backlog Rows of the MCM's table the correlation has still to read.\n\
             # TYPE aerie_correlation_backlog gauge\naerie_correlation_backlog {}\n",
            state.store.correlation_behind().await?
        ));
    }
    if let Some(rss) = resident_bytes() {
        out.push_str(&format!(
            "# HELP aerie_process_resident_memory_bytes Resident memory of the process.\n\
             # TYPE aerie_process_resident_memory_bytes gauge\n\
             aerie_process_resident_memory_bytes {rss}\n"
        ));
    }
    Ok(out)
}

/// `aerie_incidents{risk,status}`, from a census at most [`CENSUS_EVERY`] old.
async fn census(state: &AppState, remote: bool) -> Result<String, OpError> {
    if let Some((at, text)) = state.metrics.census.lock().expect("census lock").as_ref()
        && at.elapsed() < CENSUS_EVERY
    {
        return Ok(text.clone());
    }
    let started = Instant::now();
    let rows = state.store.incident_census(remote).await?;
    let mut text = String::from(
        "# HELP aerie_incidents Incidents by risk and status (on the MCM, every CM's).\n\
         # TYPE aerie_incidents gauge\n",
    );
    for (rank, status, n) in rows {
        let risk = Risk::from_rank(rank).map_or("unknown", |r| r.as_str());
        text.push_str(&format!(
            "aerie_incidents{{risk=\"{risk}\",status=\"{}\"}} {n}\n",
            status.as_str()
        ));
    }
    text.push_str(&format!(
        "# HELP aerie_store_census_seconds How long the last incident census took.\n\
         # TYPE aerie_store_census_seconds gauge\naerie_store_census_seconds {}\n",
        started.elapsed().as_secs_f64()
    ));
    *state.metrics.census.lock().expect("census lock") = Some((Instant::now(), text.clone()));
    Ok(text)
}

/// Each CM's sync state, on the MCM.
async fn cms(state: &AppState) -> Result<String, OpError> {
    let now = chrono::Utc::now();
    let mut text = String::from(
        "# HELP aerie_cm_up Whether the CM is registered and not deregistered.\n# TYPE aerie_cm_up gauge\n\
         # HELP aerie_cm_backlog Incident changes the CM reported as not yet sent.\n# TYPE aerie_cm_backlog gauge\n\
         # HELP aerie_cm_incidents Incidents of the CM in the MCM's table.\n# TYPE aerie_cm_incidents gauge\n\
         # HELP aerie_cm_last_contact_age_seconds Seconds since the CM was last heard from.\n# TYPE aerie_cm_last_contact_age_seconds gauge\n\
         # HELP aerie_cm_last_sync_age_seconds Seconds since the CM's last applied batch.\n# TYPE aerie_cm_last_sync_age_seconds gauge\n",
    );
    for cm in state.store.cms().await? {
        let l = format!("cm=\"{}\",cm_id=\"{}\"", label(cm.name.as_str()), cm.id);
        let age = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
        };
        text.push_str(&format!(
            "aerie_cm_up{{{l}}} {}\n",
            i64::from(cm.deregistered.is_none())
        ));
        text.push_str(&format!("aerie_cm_backlog{{{l}}} {}\n", cm.backlog));
        text.push_str(&format!(
            "aerie_cm_incidents{{{l}}} {}\n",
            cm.incident_count
        ));
        if let Some(a) = age(cm.last_seen) {
            text.push_str(&format!("aerie_cm_last_contact_age_seconds{{{l}}} {a}\n"));
        }
        if let Some(a) = age(cm.last_sync) {
            text.push_str(&format!("aerie_cm_last_sync_age_seconds{{{l}}} {a}\n"));
        }
    }
    Ok(text)
}

/// The process's resident set, from `/proc/self/statm`.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
