//! The store conformance suite: every `Store` method, run on SQLite and on PostgreSQL.

use std::{collections::HashSet, sync::Arc};

use aerie_domain::{
    event::{Category, EventKind, NewEvent, Source, Stage},
    federation::{CmRegistration, SyncBatch},
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
    mcm_pages_manifests_and_deregistration,
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

async fn grouping_joins_within_window_and_splits_outside(store: Arc<dyn Store>) {
    let mut exploit = ev("10.0.0.1", 200, 0.9);
    exploit.kind = EventKind::Exploit;
    exploit.threat_name = text("EXPLOIT_<script>");
    exploit.progression = [Stage::Exploit, Stage::Infection].into_iter().collect();
    exploit.source = Source {
        ip: Some("203.0.113.9".parse().unwrap()),
        name: Some(text("http://evil.example/a?b=1")),
        country: Some(CountryCode::parse("c", "ru").unwrap()),
    };
    let placed = store
        .ingest(&[
            ev("10.0.0.1", 0, 0.3),
            exploit,
            ev("10.0.0.1", 500, 0.1), // 300 s after the last activity (200 s): joins
            ev("10.0.0.1", 801, 0.1), // 301 s after 500 s: a new incident
            ev("10.0.0.2", 10, 0.0),  // another endpoint, benign
        ])
        .await
        .unwrap();
    let first = placed[0].incident_id;
    assert!(placed[0].opened);
    assert_eq!(placed[1].incident_id, first);
    assert_eq!(placed[2].incident_id, first);
    assert!(!placed[2].opened);
    assert_ne!(placed[3].incident_id, first);
    assert!(placed[3].opened);
    assert!(placed[4].opened);

    let incident = store.incident(first).await.unwrap().unwrap();
    let f = &incident.facts;
    assert_eq!(f.event_count, 3);
    assert_eq!(incident.risk(), Risk::Critical);
    assert_eq!(
        f.threat_name.as_str(),
        "EXPLOIT_<script>",
        "headline follows the worst event"
    );
    assert_eq!(f.source_country.unwrap().as_str(), "RU");
    assert_eq!(f.first_seen, t0());
    assert_eq!(f.last_activity, t0() + TimeDelta::seconds(500));
    let stages: Vec<Stage> = f.progression.stages().collect();
    assert_eq!(
        stages,
        vec![Stage::Exploit, Stage::Download, Stage::Infection]
    );
    assert_eq!(incident.status, Status::New);

    let events = store.events_of(first).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].event.kind, EventKind::Exploit);
    assert_eq!(
        events[1].event.source.name.as_ref().unwrap().as_str(),
        "http://evil.example/a?b=1"
    );
    let benign = store
        .incident(placed[4].incident_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(benign.risk(), Risk::Benign);
    assert!(
        store
            .incident(IncidentId::new(999_999))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .events_of(IncidentId::new(999_999))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn complete_incidents_take_no_new_events(store: Arc<dyn Store>) {
    let id = store.ingest(&[ev("10.0.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    store
        .change_status(id, Status::Complete, &text("closed"), &text("admin"), t0())
        .await
        .unwrap();
    let next = store.ingest(&[ev("10.0.0.1", 30, 0.5)]).await.unwrap()[0];
    assert!(next.opened);
    assert_ne!(next.incident_id, id);
}

async fn changes_bump_sequence_and_version(store: Arc<dyn Store>) {
    assert_eq!(store.last_change_seq().await.unwrap(), 0);
    let a = store.ingest(&[ev("10.0.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    let b = store.ingest(&[ev("10.0.0.2", 0, 0.5)]).await.unwrap()[0].incident_id;
    let a1 = store.incident(a).await.unwrap().unwrap();
    assert_eq!(a1.version, 1);
    store.ingest(&[ev("10.0.0.1", 10, 0.6)]).await.unwrap();
    let a2 = store.incident(a).await.unwrap().unwrap();
    assert_eq!(a2.version, 2);
    assert!(a2.change_seq > a1.change_seq);
    let moved = store
        .change_status(a, Status::Acknowledged, &text("seen"), &text("ann"), t0())
        .await
        .unwrap();
    assert_eq!(moved.version, 3);
    assert_eq!(store.incident(a).await.unwrap().unwrap(), moved);
    assert_eq!(store.last_change_seq().await.unwrap(), moved.change_seq);

    let all = store.changes_since(0, 100).await.unwrap();
    let ids: Vec<IncidentId> = all.iter().map(|i| i.id).collect();
    assert_eq!(
        ids,
        vec![b, a],
        "each incident once, in order of its latest change"
    );
    assert!(all.windows(2).all(|w| w[0].change_seq < w[1].change_seq));
    let after_b = store.changes_since(all[0].change_seq, 100).await.unwrap();
    assert_eq!(after_b.len(), 1);
    assert_eq!(store.changes_since(0, 1).await.unwrap().len(), 1);
}

async fn status_workflow_and_history(store: Arc<dyn Store>) {
    let id = store.ingest(&[ev("10.0.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    let steps = [
        (Status::Acknowledged, "looking"),
        (Status::InProgress, "cleaning"),
    ];
    for (to, comment) in steps {
        store
            .change_status(id, to, &text(comment), &text("ann"), t0())
            .await
            .unwrap();
    }
    let err = store
        .change_status(id, Status::New, &text("undo"), &text("ann"), t0())
        .await;
    assert!(
        matches!(err, Err(StoreError::Rule(ref e)) if e.field == "status"),
        "{err:?}"
    );
    let history = store.status_history(id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0].from, history[0].to),
        (Status::New, Status::Acknowledged)
    );
    assert_eq!(history[1].comment.as_str(), "cleaning");
    assert_eq!(history[1].actor.as_str(), "ann");
    let missing = store
        .change_status(
            IncidentId::new(424242),
            Status::Complete,
            &text("x"),
            &text("a"),
            t0(),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
}

async fn filters_match(store: Arc<dyn Store>) {
    let mut phish = ev("10.0.0.3", 0, 0.6);
    phish.category = Category::Phishing;
    phish.kind = EventKind::Phishing;
    phish.threat_name = text("PHISH_Invoice_100%_real");
    phish.endpoint.name = Some(text("finance-laptop"));
    phish.source = Source {
        ip: Some("198.51.100.7".parse().unwrap()),
        name: Some(text("billing@Evil.example")),
        country: None,
    };
    store
        .ingest(&[
            ev("10.0.0.1", 0, 0.9),
            ev("10.0.0.2", 1000, 0.2),
            phish,
            ev("10.0.0.4", 0, 0.0),
        ])
        .await
        .unwrap();
    let count = |filter: IncidentFilter| {
        let store = store.clone();
        async move {
            let q = IncidentQuery {
                filter,
                ..Default::default()
            };
            store.incidents(&q).await.unwrap().items.len()
        }
    };
    assert_eq!(count(IncidentFilter::default()).await, 4);
    assert_eq!(
        count(IncidentFilter {
            risks: vec![Risk::Critical, Risk::High],
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(IncidentFilter {
            risks: vec![Risk::Benign],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(IncidentFilter {
            categories: vec![Category::Phishing],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(IncidentFilter {
            statuses: vec![Status::New],
            ..Default::default()
        })
        .await,
        4
    );
    assert_eq!(
        count(IncidentFilter {
            statuses: vec![Status::Complete],
            ..Default::default()
        })
        .await,
        0
    );
    let endpoint = Some("10.0.0.2".parse().unwrap());
    assert_eq!(
        count(IncidentFilter {
            endpoint,
            ..Default::default()
        })
        .await,
        1
    );
    let by_source = |s: &str| IncidentFilter {
        source: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(count(by_source("198.51.100.7")).await, 1);
    assert_eq!(count(by_source("evil.EXAMPLE")).await, 1);
    assert_eq!(count(by_source("nowhere")).await, 0);
    let by_text = |s: &str| IncidentFilter {
        text: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        count(by_text("100%")).await,
        1,
        "% is literal, not a wildcard"
    );
    assert_eq!(count(by_text("_%")).await, 0);
    assert_eq!(count(by_text("FINANCE")).await, 1);
    assert_eq!(count(by_text("zemot")).await, 3);
    assert_eq!(count(by_text("10.0.0.4")).await, 1);
    let from = Some(t0() + TimeDelta::seconds(500));
    assert_eq!(
        count(IncidentFilter {
            from,
            ..Default::default()
        })
        .await,
        1
    );
    let to = Some(t0() + TimeDelta::seconds(500));
    assert_eq!(
        count(IncidentFilter {
            to,
            ..Default::default()
        })
        .await,
        3
    );
}

async fn paging_visits_every_row_once_in_order(store: Arc<dyn Store>) {
    // 37 incidents on 12 endpoints; several share a last-activity time to test ties.
    let events: Vec<NewEvent> = (0..37)
        .map(|i| {
            ev(
                &format!("10.0.{}.{}", i % 3, i % 12),
                (i / 12) * 1000 + (i % 4),
                (i % 5) as f64 / 4.0,
            )
        })
        .collect();
    store.ingest(&events).await.unwrap();
    for sort in [
        IncidentSort::Time,
        IncidentSort::Risk,
        IncidentSort::Endpoint,
    ] {
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let q = IncidentQuery {
                sort,
                limit: 5,
                after: after.clone(),
                ..Default::default()
            };
            let page = store.incidents(&q).await.unwrap();
            assert!(page.items.len() <= 5);
            seen.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ids: HashSet<i64> = seen.iter().map(|i| i.id.get()).collect();
        assert_eq!(ids.len(), seen.len(), "{sort}: no row twice");
        assert_eq!(ids.len(), 37, "{sort}: every row");
        let key = |i: &aerie_domain::incident::Incident| match sort {
            IncidentSort::Time => (
                0,
                -i.facts.last_activity.timestamp_millis(),
                -i.id.get(),
                String::new(),
            ),
            IncidentSort::Risk => (
                -i.risk().rank(),
                -i.facts.last_activity.timestamp_millis(),
                -i.id.get(),
                String::new(),
            ),
            IncidentSort::Endpoint => (
                0,
                0,
                i.id.get(),
                aerie_domain::query::endpoint_sort_key(i.facts.endpoint_ip),
            ),
        };
        let mut sorted = seen.clone();
        sorted.sort_by_key(|i| {
            let (a, b, c, d) = key(i);
            (a, b, d, c)
        });
        assert_eq!(
            seen.iter().map(|i| i.id).collect::<Vec<_>>(),
            sorted.iter().map(|i| i.id).collect::<Vec<_>>(),
            "{sort}: pages come in sort order"
        );
    }
}

async fn users_sessions_and_keys(store: Arc<dyn Store>) {
    let name = Username::parse("ann").unwrap();
    let user = store
        .create_user(&name, "$argon2id$hash", &Role::Analyst.name(), t0())
        .await
        .unwrap();
    assert_eq!(user.role, Role::Analyst.name());
    assert_eq!(user.permissions, Role::Analyst.permissions());
    assert!(matches!(
        store
            .create_user(&name, "x", &Role::Viewer.name(), t0())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (found, hash) = store.user_credentials(&name).await.unwrap().unwrap();
    assert_eq!((found.id, hash.as_str()), (user.id, "$argon2id$hash"));
    store
        .set_password_hash(user.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(
        store.user_credentials(&name).await.unwrap().unwrap().1,
        "$argon2id$new"
    );
    assert!(
        store
            .user_credentials(&Username::parse("bob").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let now = Utc::now();
    store
        .create_session("s1", user.id, now + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(
        store.session_user("s1", now).await.unwrap().unwrap().id,
        user.id
    );
    assert!(
        store
            .session_user("s1", now + TimeDelta::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    store.delete_session("s1").await.unwrap();
    assert!(store.session_user("s1", now).await.unwrap().is_none());

    let key = store
        .create_api_key(user.id, &text("siem"), "h1", "ak_1234", t0())
        .await
        .unwrap();
    assert_eq!(store.api_key_user("h1").await.unwrap().unwrap().id, user.id);
    let rotated = store
        .rotate_api_key(user.id, key.id, "h2", "ak_5678")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.prefix, "ak_5678");
    assert!(
        store.api_key_user("h1").await.unwrap().is_none(),
        "old secret dies on rotation"
    );
    assert!(store.api_key_user("h2").await.unwrap().is_some());
    assert!(
        store
            .rotate_api_key(
                aerie_domain::ids::UserId::new(user.id.get() + 1),
                key.id,
                "h3",
                "x"
            )
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .revoke_api_key(
                aerie_domain::ids::UserId::new(user.id.get() + 1),
                key.id,
                t0()
            )
            .await
            .unwrap(),
        "not theirs"
    );
    assert!(store.revoke_api_key(user.id, key.id, t0()).await.unwrap());
    assert!(
        !store.revoke_api_key(user.id, key.id, t0()).await.unwrap(),
        "already revoked"
    );
    assert!(store.api_key_user("h2").await.unwrap().is_none());
    assert!(
        store
            .rotate_api_key(user.id, key.id, "h4", "x")
            .await
            .unwrap()
            .is_none()
    );
    let keys = store.api_keys(user.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].revoked, Some(t0()));
}

async fn settings_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.setting("role").await.unwrap(), None);
    store.set_setting("role", "cm").await.unwrap();
    store.set_setting("role", "mcm").await.unwrap();
    assert_eq!(store.setting("role").await.unwrap().as_deref(), Some("mcm"));
    store.delete_setting("role").await.unwrap();
    store.delete_setting("never-set").await.unwrap();
    store.set_setting("mcm.a", "1").await.unwrap();
    store.set_setting("mcm.b", "2").await.unwrap();
    store.set_setting("mcmx", "3").await.unwrap();
    let got = store.settings_with_prefix("mcm.").await.unwrap();
    assert_eq!(
        got,
        vec![
            ("mcm.a".to_owned(), "1".to_owned()),
            ("mcm.b".to_owned(), "2".to_owned())
        ]
    );
    assert_eq!(store.setting("role").await.unwrap(), None);
}

/// Opening a migrated database again applies nothing twice and keeps the data.
async fn reopen_keeps_data(url: &str) {
    let first = aerie_store::SqlStore::open(url).await.unwrap();
    first.set_setting("k", "v").await.unwrap();
    let second = aerie_store::SqlStore::open(url).await.unwrap();
    assert_eq!(second.setting("k").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test]
async fn sqlite_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    reopen_keeps_data(&aerie_store::SqlStore::sqlite_url(dir.path())).await;
}

#[tokio::test]
async fn postgres_reopen_keeps_data() {
    if let Some(url) = testing::fresh_postgres_url().await {
        reopen_keeps_data(&url).await;
    }
}

fn registration(uid: &str, credential: &str) -> CmRegistration {
    CmRegistration {
        uid: uid.into(),
        name: format!("cm-{uid}"),
        url: "https://127.0.0.2:8443".into(),
        ip: "127.0.0.2".into(),
        version: "0.1.0".into(),
        fips: false,
        cert_fingerprint: "AA:BB".into(),
        credential_hash: credential.into(),
    }
}

/// Incidents as a CM would send them: ids 1..=n, version `v`, change_seq = id.
async fn cm_incidents(n: i64) -> Vec<aerie_domain::incident::Incident> {
    let dir = tempfile::tempdir().unwrap();
    let cm = testing::sqlite(dir.path()).await;
    let events: Vec<NewEvent> = (0..n)
        .map(|i| ev(&format!("10.7.0.{}", i + 1), i, 0.6))
        .collect();
    cm.ingest(&events).await.unwrap();
    cm.changes_since(0, 1000).await.unwrap()
}

async fn mcm_applies_sync_batches_idempotently(store: Arc<dyn Store>) {
    let cm = store
        .register_cm(&registration("u1", "cred1"), t0())
        .await
        .unwrap();
    assert_eq!(
        store.cm_by_credential("cred1").await.unwrap().unwrap().id,
        cm.id
    );
    assert!(store.cm_by_credential("nope").await.unwrap().is_none());
    let incidents = cm_incidents(5).await;
    let batch = SyncBatch {
        upserts: incidents.clone(),
        removals: vec![],
        high_seq: 5,
        backlog: 2,
    };
    store.apply_sync(cm.id, &batch, t0()).await.unwrap();
    store.apply_sync(cm.id, &batch, t0()).await.unwrap(); // re-sent: no effect
    let after = store.cm(cm.id).await.unwrap().unwrap();
    assert_eq!(
        (after.incident_count, after.acked_seq, after.backlog),
        (5, 5, 2)
    );
    assert_eq!(after.last_sync, Some(t0()));

    // An older version never overwrites a newer one; a newer one does.
    let mut newer = incidents[0].clone();
    newer.version = 9;
    newer.status = Status::Complete;
    let mut older = incidents[1].clone();
    older.version = 0;
    older.status = Status::Complete;
    let batch = SyncBatch {
        upserts: vec![newer, older],
        removals: vec![],
        high_seq: 3,
        backlog: 0,
    };
    store.apply_sync(cm.id, &batch, t0()).await.unwrap();
    let one = store
        .remote_incident(cm.id, incidents[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.incident.version, one.incident.status),
        (9, Status::Complete)
    );
    let two = store
        .remote_incident(cm.id, incidents[1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(two.incident.status, Status::New);
    assert_eq!(
        store.cm(cm.id).await.unwrap().unwrap().acked_seq,
        5,
        "the ack never goes back"
    );

    // Removals drop rows no newer than themselves.
    let batch = SyncBatch {
        upserts: vec![],
        removals: vec![
            (incidents[0].id, 5),
            (incidents[2].id, 1),
            (IncidentId::new(999), 1),
        ],
        high_seq: 6,
        backlog: 0,
    };
    store.apply_sync(cm.id, &batch, t0()).await.unwrap();
    assert!(
        store
            .remote_incident(cm.id, incidents[0].id)
            .await
            .unwrap()
            .is_some(),
        "v9 > v5"
    );
    assert!(
        store
            .remote_incident(cm.id, incidents[2].id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.cm(cm.id).await.unwrap().unwrap().incident_count, 4);

    let doubled = SyncBatch {
        upserts: vec![incidents[3].clone(), incidents[3].clone()],
        ..Default::default()
    };
    assert!(matches!(
        store.apply_sync(cm.id, &doubled, t0()).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn mcm_pages_manifests_and_deregistration(store: Arc<dyn Store>) {
    let a = store
        .register_cm(&registration("a", "ca"), t0())
        .await
        .unwrap();
    let b = store
        .register_cm(&registration("b", "cb"), t0())
        .await
        .unwrap();
    let incidents = cm_incidents(7).await;
    for cm in [&a, &b] {
        let batch = SyncBatch {
            upserts: incidents.clone(),
            removals: vec![],
            high_seq: 7,
            backlog: 0,
        };
        store.apply_sync(cm.id, &batch, t0()).await.unwrap();
    }
    let manifest = store.manifest(a.id, 0, 4).await.unwrap();
    assert_eq!(manifest.len(), 4);
    let rest = store
        .manifest(a.id, manifest[3].0.get(), 100)
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|(_, v)| *v == 1));

    let mut seen = Vec::new();
    let mut q = IncidentQuery {
        limit: 5,
        ..Default::default()
    };
    loop {
        let page = store.remote_incidents(&q, &[]).await.unwrap();
        seen.extend(page.items);
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 14, "both CMs' incidents, each once");
    let only_b = store
        .remote_incidents(&IncidentQuery::default(), &[b.id])
        .await
        .unwrap();
    assert_eq!(only_b.items.len(), 7);
    assert!(only_b.items.iter().all(|r| r.cm_id == b.id));

    // Re-registration keeps the CM's identity and replaces its credential.
    let again = store
        .register_cm(&registration("a", "ca2"), t0())
        .await
        .unwrap();
    assert_eq!(again.id, a.id);
    assert!(store.cm_by_credential("ca").await.unwrap().is_none());
    store.set_cm_proxy_token(a.id, "px_1").await.unwrap();
    assert_eq!(
        store
            .cm(a.id)
            .await
            .unwrap()
            .unwrap()
            .proxy_token
            .as_deref(),
        Some("px_1")
    );

    assert_eq!(store.drop_federation(t0()).await.unwrap(), 14);
    let cms = store.cms().await.unwrap();
    assert_eq!(cms.len(), 2, "CMs are never deleted");
    assert!(
        cms.iter()
            .all(|c| c.deregistered.is_some() && c.incident_count == 0 && c.proxy_token.is_none())
    );
    let old = store.cm_by_credential("ca2").await.unwrap().unwrap();
    assert!(
        old.deregistered.is_some(),
        "an old credential is recognised only to be refused"
    );
    let back = store
        .register_cm(&registration("a", "ca3"), t0())
        .await
        .unwrap();
    assert!(
        back.deregistered.is_none(),
        "registering again revives the CM"
    );
    assert!(
        store.cm_by_credential("ca2").await.unwrap().is_none(),
        "with a new credential"
    );
    assert!(
        store
            .remote_incidents(&IncidentQuery::default(), &[])
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn cm_side_reads_for_the_sync_worker(store: Arc<dyn Store>) {
    let mut watch = store.watch_changes();
    let before = *watch.borrow_and_update();
    let events: Vec<NewEvent> = (0..6)
        .map(|i| ev(&format!("10.8.0.{}", i + 1), i, 0.5))
        .collect();
    store.ingest(&events).await.unwrap();
    assert!(watch.has_changed().unwrap(), "ingest wakes watchers");
    assert_eq!(*watch.borrow_and_update(), before + 6);
    let first = store.incidents_after(IncidentId::new(0), 4).await.unwrap();
    assert_eq!(first.len(), 4);
    let rest = store.incidents_after(first[3].id, 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(store.pending_changes(0).await.unwrap(), 6);
    assert_eq!(store.pending_changes(before + 4).await.unwrap(), 2);
    store
        .change_status(
            first[0].id,
            Status::Acknowledged,
            &text("ok"),
            &text("a"),
            t0(),
        )
        .await
        .unwrap();
    assert!(watch.has_changed().unwrap(), "status changes wake watchers");
}

/// Ingest, status changes, sync applies, settings and sessions from many tasks at once:
/// none may fail for the others (SQLite must not refuse a transaction's write).
async fn writes_of_every_kind_run_concurrently(store: Arc<dyn Store>) {
    let user = store
        .create_user(
            &Username::parse("w").unwrap(),
            "h",
            &Role::Admin.name(),
            t0(),
        )
        .await
        .unwrap();
    let cm = store
        .register_cm(&registration("w", "cw"), t0())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => {
                    let events: Vec<NewEvent> = (0..20)
                        .map(|k| ev(&format!("10.9.{i}.{k}"), k, 0.5))
                        .collect();
                    store.ingest(&events).await.map(|_| ())
                }
                1 => store.set_setting(&format!("k{i}"), "v").await,
                2 => {
                    store
                        .create_session(&format!("s{i}"), user.id, Utc::now() + TimeDelta::hours(1))
                        .await
                }
                _ => {
                    let incident = store.changes_since(0, 1).await?.into_iter().next();
                    let batch = SyncBatch {
                        upserts: incident.into_iter().collect(),
                        high_seq: i,
                        ..Default::default()
                    };
                    store.apply_sync(cm.id, &batch, t0()).await.map(|_| ())
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        store
            .incidents(&IncidentQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .len(),
        200
    );
}

async fn artifacts_are_kept_once_per_content(store: Arc<dyn Store>) {
    use aerie_domain::{artifact::ArtifactKind, text::Sha256Hex};
    let sha = Sha256Hex::parse("s", &"ab".repeat(32)).unwrap();
    let data = b"\x89PNG fake but opaque to the store".to_vec();
    assert!(
        store
            .put_artifact(&sha, ArtifactKind::Screenshot, &data, t0())
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_artifact(&sha, ArtifactKind::Screenshot, &data, t0())
            .await
            .unwrap()
    );
    let (info, bytes) = store.artifact(&sha).await.unwrap().unwrap();
    assert_eq!(
        (info.kind, info.size, bytes),
        (ArtifactKind::Screenshot, data.len() as i64, data)
    );
    let other = Sha256Hex::parse("s", &"cd".repeat(32)).unwrap();
    assert!(store.artifact(&other).await.unwrap().is_none());
    let infos = store.artifact_infos(&[sha.clone(), other]).await.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].sha256, sha);
}

async fn events_keep_behaviour_and_artifacts(store: Arc<dyn Store>) {
    use aerie_domain::{event::FileWrite, text::Sha256Hex};
    let mut e = ev("10.20.0.1", 0, 0.7);
    e.behaviour.processes = vec![Text::parse("p", "cmd.exe /c \"<x>\"", 200).unwrap()];
    e.behaviour.files = vec![FileWrite {
        path: Text::parse("p", "C:\\x'.exe", 200).unwrap(),
        sha256: Some(Sha256Hex::parse("s", &"ef".repeat(32)).unwrap()),
    }];
    e.behaviour.cnc = vec![Text::parse("c", "198.51.100.1:443", 200).unwrap()];
    e.artifacts = vec![Sha256Hex::parse("s", &"ab".repeat(32)).unwrap()];
    let id = store.ingest(std::slice::from_ref(&e)).await.unwrap()[0].incident_id;
    let stored = store.events_of(id).await.unwrap();
    assert_eq!(stored[0].event.behaviour, e.behaviour);
    assert_eq!(stored[0].event.artifacts, e.artifacts);
    let plain = store.ingest(&[ev("10.20.0.2", 0, 0.7)]).await.unwrap()[0].incident_id;
    assert!(
        store.events_of(plain).await.unwrap()[0]
            .event
            .behaviour
            .is_empty()
    );
}

async fn mitigations_feed_and_revoke(store: Arc<dyn Store>) {
    use aerie_domain::mitigation::{MitigationKind, MitigationOption};
    let a = store.ingest(&[ev("10.21.0.1", 0, 0.7)]).await.unwrap()[0].incident_id;
    let b = store.ingest(&[ev("10.21.0.2", 0, 0.7)]).await.unwrap()[0].incident_id;
    let actor = Text::parse("a", "alice", 64).unwrap();
    let ip = |v: &str| MitigationOption {
        kind: MitigationKind::BlockIp,
        value: v.into(),
    };
    let m1 = store
        .apply_mitigation(a, &ip("203.0.113.9"), &actor, t0())
        .await
        .unwrap();
    let m2 = store
        .apply_mitigation(b, &ip("203.0.113.9"), &actor, t0())
        .await
        .unwrap();
    store
        .apply_mitigation(b, &ip("198.51.100.1"), &actor, t0())
        .await
        .unwrap();
    assert!(matches!(
        store
            .apply_mitigation(a, &ip("203.0.113.9"), &actor, t0())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.feed(MitigationKind::BlockIp).await.unwrap(),
        vec!["198.51.100.1", "203.0.113.9"],
        "distinct and sorted"
    );
    assert!(
        store
            .feed(MitigationKind::BlockDomain)
            .await
            .unwrap()
            .is_empty()
    );
    let revoked = store
        .revoke_mitigation(a, m1.id, &actor, t0())
        .await
        .unwrap();
    assert!(revoked.revoked.is_some());
    assert_eq!(
        store.feed(MitigationKind::BlockIp).await.unwrap().len(),
        2,
        "b still blocks it"
    );
    assert!(
        matches!(
            store.revoke_mitigation(a, m2.id, &actor, t0()).await,
            Err(StoreError::NotFound(_))
        ),
        "a mitigation of another incident"
    );
    store
        .revoke_mitigation(b, m2.id, &actor, t0())
        .await
        .unwrap();
    assert_eq!(
        store.feed(MitigationKind::BlockIp).await.unwrap(),
        vec!["198.51.100.1"]
    );
    assert!(matches!(
        store.revoke_mitigation(b, m2.id, &actor, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.mitigations_of(b).await.unwrap().len(), 2);
    let all = store.mitigations(false, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>().len(), 3);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let active = store.mitigations(true, None, 10).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].value, "198.51.100.1");
    let page = store.mitigations(false, Some(all[0].id), 1).await.unwrap();
    assert_eq!(page[0].id, all[1].id);
}

async fn whitelist_reevaluates_and_marks_new_events(store: Arc<dyn Store>) {
    use aerie_domain::whitelist::WhitelistKind;
    let mut bad = ev("10.22.0.1", 0, 0.9);
    bad.source.name = Some(Text::parse("s", "http://x.evil.example/a", 2048).unwrap());
    let hit = store.ingest(&[bad.clone()]).await.unwrap()[0].incident_id;
    let miss = store.ingest(&[ev("10.22.0.2", 0, 0.9)]).await.unwrap()[0].incident_id;
    let before = store.last_change_seq().await.unwrap();
    let reason = Text::parse("r", "ours", 100).unwrap();
    let actor = Text::parse("a", "alice", 64).unwrap();
    let (entry, benign) = store
        .add_whitelist(WhitelistKind::Domain, "evil.example", &reason, &actor, t0())
        .await
        .unwrap();
    assert_eq!(benign, vec![hit]);
    let now = store.incident(hit).await.unwrap().unwrap();
    assert_eq!(now.risk(), Risk::Benign);
    assert!(
        now.change_seq > before,
        "the change reaches the sync stream"
    );
    assert_eq!(
        store.incident(miss).await.unwrap().unwrap().risk(),
        Risk::Critical
    );
    assert!(matches!(
        store
            .add_whitelist(WhitelistKind::Domain, "evil.example", &reason, &actor, t0())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let mut later = bad.clone();
    later.endpoint.ip = "10.22.0.3".parse().unwrap();
    let p = store.ingest(&[later.clone()]).await.unwrap()[0];
    assert_eq!(
        store.incident(p.incident_id).await.unwrap().unwrap().risk(),
        Risk::Benign
    );
    assert_eq!(store.whitelist().await.unwrap().len(), 1);
    store
        .remove_whitelist(entry.id, &actor, t0())
        .await
        .unwrap();
    assert!(store.whitelist().await.unwrap().is_empty());
    later.endpoint.ip = "10.22.0.4".parse().unwrap();
    let p = store.ingest(&[later]).await.unwrap()[0];
    assert_eq!(
        store.incident(p.incident_id).await.unwrap().unwrap().risk(),
        Risk::Critical
    );
    assert!(matches!(
        store.remove_whitelist(entry.id, &actor, t0()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn comments_join_the_history(store: Arc<dyn Store>) {
    let id = store.ingest(&[ev("10.23.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    let actor = Text::parse("a", "bob", 64).unwrap();
    let c = store
        .add_comment(
            id,
            &Text::parse("c", "looked at it", 100).unwrap(),
            &actor,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!((c.from, c.to), (Status::New, Status::New));
    let history = store.status_history(id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].comment.as_str(), "looked at it");
    assert!(matches!(
        store
            .add_comment(IncidentId::new(999_999), &actor, &actor, t0())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn audit_log_chains_without_gaps_under_concurrency(store: Arc<dyn Store>) {
    use aerie_domain::audit::{AuditRecord, GENESIS, verify};
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let record = AuditRecord {
                at: t0(),
                actor: format!("user{i}"),
                action: "test.write".into(),
                target: format!("thing {i}"),
                detail: "<script>'\"".into(),
            };
            store.append_audit(&record).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let entries = store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(entries.len(), 40);
    assert_eq!(verify(&entries, 0, GENESIS).unwrap().0, 40);
    let tail = store.audit_entries(30, 5).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![31, 32, 33, 34, 35]
    );
}

async fn counts_stop_at_the_cap(store: Arc<dyn Store>) {
    let events: Vec<NewEvent> = (0..30)
        .map(|i| {
            ev(
                &format!("10.24.0.{}", i + 1),
                0,
                if i < 10 { 0.9 } else { 0.3 },
            )
        })
        .collect();
    store.ingest(&events).await.unwrap();
    let all = IncidentFilter::default();
    assert_eq!(store.count_incidents(&all, None, 100).await.unwrap(), 30);
    assert_eq!(
        store.count_incidents(&all, None, 20).await.unwrap(),
        21,
        "cap + 1: more than 20"
    );
    let critical = IncidentFilter {
        risks: vec![Risk::Critical],
        ..Default::default()
    };
    assert_eq!(
        store.count_incidents(&critical, None, 100).await.unwrap(),
        10
    );
    assert_eq!(
        store.count_incidents(&all, Some(&[]), 100).await.unwrap(),
        0,
        "the MCM table is empty"
    );
}

async fn custom_roles_grant_their_permissions(store: Arc<dyn Store>) {
    use aerie_domain::user::{Permission, Permissions, RoleName};
    let name = RoleName::parse("r", "triage-desk").unwrap();
    let perms = Permissions::of(&[Permission::View, Permission::Triage]);
    store.create_role(&name, perms, t0()).await.unwrap();
    assert!(matches!(
        store.create_role(&name, perms, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_role(&Role::Admin.name(), perms, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    let user = store
        .create_user(&Username::parse("tina").unwrap(), "h", &name, t0())
        .await
        .unwrap();
    assert_eq!(user.permissions, perms);
    let (again, _) = store
        .user_credentials(&Username::parse("tina").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(again.can(Permission::Triage) && !again.can(Permission::Mitigate));
    assert_eq!(store.custom_roles().await.unwrap().len(), 1);
    assert!(
        matches!(store.delete_role(&name).await, Err(StoreError::Conflict(_))),
        "held by tina"
    );
    store
        .update_user(user.id, Some(&Role::Viewer.name()), None)
        .await
        .unwrap();
    store.delete_role(&name).await.unwrap();
    assert!(store.custom_roles().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_role(&name).await,
        Err(StoreError::NotFound(_))
    ));
}
