//! The store conformance suite: every `Store` method, run on SQLite and on PostgreSQL.

use std::{collections::HashSet, sync::Arc};

use aerie_domain::{
    event::{Category, EventKind, NewEvent, Source, Stage},
    federation::{CmRegistration, ResyncStep, SyncBatch},
    ids::CmId,
    incident::IncidentId,
    query::{Cursor, IncidentFilter, IncidentQuery, IncidentSort},
    risk::Risk,
    status::Status,
    text::{CountryCode, Text},
    user::{Role, Username},
};
use aerie_store::prelude::*;
use aerie_store::{Store, StoreError, testing};
use chrono::{DateTime, TimeDelta, Utc};

mod accounts;
mod analysis;
mod backup;
mod correlation;
mod federation;
mod incidents;
mod investigation;
use accounts::*;
use analysis::*;
use backup::*;
use correlation::*;
use federation::*;
use incidents::*;
use investigation::*;

/// Runs each listed test on a fresh SQLite store and a fresh PostgreSQL store.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$name(aerie_store::testing::sqlite(dir.path()).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(store) = aerie_store::testing::postgres().await {
                        super::$name(store).await;
                    }
                }
            )+
        }
    };
}

conformance!(
    grouping_joins_within_window_and_splits_outside,
    complete_incidents_take_no_new_events,
    changes_bump_sequence_and_version,
    status_workflow_and_history,
    filters_match,
    paging_visits_every_row_once_in_order,
    users_sessions_and_keys,
    settings_round_trip,
    mcm_applies_sync_batches_idempotently,
    mcm_pages_and_deregistration,
    mcm_keeps_removals_against_older_batches,
    mcm_resync_epochs_replace_the_copy,
    cm_side_reads_for_the_sync_worker,
    writes_of_every_kind_run_concurrently,
    artifacts_are_kept_once_per_content,
    events_keep_behaviour_and_artifacts,
    mitigations_feed_and_revoke,
    whitelist_reevaluates_and_marks_new_events,
    comments_join_the_history,
    audit_log_chains_without_gaps_under_concurrency,
    counts_stop_at_the_cap,
    custom_roles_grant_their_permissions,
    sso_state_is_kept_once,
    snapshots_copy_the_whole_store,
    events_by_window_and_analyses,
    campaigns_follow_the_table,
    mcm_feed_pages_every_write_once,
);

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn text(s: &str) -> Text {
    Text::parse("t", s, Text::LONG).unwrap()
}

fn ev(ip: &str, secs: i64, severity: f64) -> NewEvent {
    NewEvent::sample(
        ip.parse().unwrap(),
        t0() + TimeDelta::seconds(secs),
        severity,
    )
}

/// Waits until the change feed has made `seq` readable. PostgreSQL's feed lags its
/// commits while any older transaction in the cluster runs (other tests' too).
async fn settled(store: &dyn Store, seq: i64) {
    let mut watch = store.watch_changes();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        watch.wait_for(|&last| last >= seq),
    )
    .await
    .expect("the change feed reaches a committed change")
    .expect("the store is open");
}
