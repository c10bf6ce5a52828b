//! The MCM's copy of its CMs and the CM's side of the sync.

use super::*;

pub(super) fn registration(uid: &str, credential: &str) -> CmRegistration {
    CmRegistration {
        uid: uid.into(),
        name: aerie_domain::net::HostName::parse("name", &format!("cm-{uid}")).unwrap(),
        url: "https://127.0.0.2:8443".into(),
        ip: "127.0.0.2".parse().unwrap(),
        version: "0.1.0".into(),
        fips: false,
        cert_fingerprint: aerie_domain::net::CertFingerprint::parse("f", &["AA"; 32].join(":"))
            .unwrap(),
        credential_hash: credential.into(),
    }
}
/// Incidents as a CM would send them: ids 1..=n, version `v`, change_seq = id.
pub(super) async fn cm_incidents(n: i64) -> Vec<aerie_domain::incident::Incident> {
    let dir = tempfile::tempdir().unwrap();
    let cm = testing::sqlite(dir.path()).await;
    let events: Vec<NewEvent> = (0..n)
        .map(|i| ev(&format!("10.7.0.{}", i + 1), i, 0.6))
        .collect();
    cm.ingest(&events).await.unwrap();
    cm.changes_since(0, 1000).await.unwrap()
}
pub(super) async fn mcm_applies_sync_batches_idempotently(store: Arc<dyn Store>) {
    let cm = store
        .register_cm(&registration("u1", "cred1"), t0())
        .await
        .unwrap();
    assert_eq!(
        store.cm_by_credential("cred1").await.unwrap().unwrap().id,
        cm.id
    );
    assert!(store.cm_by_credential("nope").await.unwrap().is_none());
    let renamed = aerie_domain::net::HostName::parse("name", "cm-berlin").unwrap();
    store.rename_cm(cm.id, &renamed).await.unwrap();
    assert_eq!(store.cm(cm.id).await.unwrap().unwrap().name, renamed);
    let incidents = cm_incidents(5).await;
    let batch = SyncBatch {
        upserts: incidents.clone(),
        removals: vec![],
        high_seq: 5,
        backlog: 2,
        ..Default::default()
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
        ..Default::default()
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
        ..Default::default()
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
/// The MCM's copy of one CM as (incident id, version).
async fn copy_of(store: &Arc<dyn Store>, cm: CmId) -> Vec<(i64, i64)> {
    let page = store
        .remote_incidents(&IncidentQuery::default(), &[cm])
        .await
        .unwrap();
    let mut rows: Vec<(i64, i64)> = page
        .items
        .iter()
        .map(|r| (r.incident.id.get(), r.incident.version))
        .collect();
    rows.sort();
    rows
}

pub(super) async fn mcm_keeps_removals_against_older_batches(store: Arc<dyn Store>) {
    let cm = store
        .register_cm(&registration("floor", "cfloor"), t0())
        .await
        .unwrap();
    let incidents = cm_incidents(3).await;
    let at = |version: i64| {
        let mut i = incidents[0].clone();
        i.version = version;
        i
    };
    let apply = |batch: SyncBatch| {
        let store = store.clone();
        async move { store.apply_sync(cm.id, &batch, t0()).await.unwrap() }
    };
    apply(SyncBatch {
        upserts: incidents.clone(),
        high_seq: 3,
        ..Default::default()
    })
    .await;
    // Applied out of order: the removal at v3 first, then an older batch with v2.
    apply(SyncBatch {
        removals: vec![(incidents[0].id, 3)],
        high_seq: 5,
        ..Default::default()
    })
    .await;
    apply(SyncBatch {
        upserts: vec![at(2)],
        high_seq: 4,
        ..Default::default()
    })
    .await;
    assert_eq!(
        copy_of(&store, cm.id).await,
        [(2, 1), (3, 1)],
        "an older upsert does not bring a removed incident back"
    );
    // A version after the removal does (the incident turned non-benign again).
    apply(SyncBatch {
        upserts: vec![at(4)],
        high_seq: 6,
        ..Default::default()
    })
    .await;
    assert_eq!(copy_of(&store, cm.id).await, [(1, 4), (2, 1), (3, 1)]);
    assert_eq!(store.cm(cm.id).await.unwrap().unwrap().incident_count, 3);
}

pub(super) async fn mcm_resync_epochs_replace_the_copy(store: Arc<dyn Store>) {
    let cm = store
        .register_cm(&registration("epoch", "cepoch"), t0())
        .await
        .unwrap();
    let incidents = cm_incidents(4).await;
    let apply = |batch: SyncBatch| {
        let store = store.clone();
        async move { store.apply_sync(cm.id, &batch, t0()).await.unwrap() }
    };
    // The MCM holds v9 of incident 2 and a removal floor for incident 4.
    let mut newer = incidents[1].clone();
    newer.version = 9;
    apply(SyncBatch {
        upserts: vec![incidents[0].clone(), newer, incidents[2].clone()],
        removals: vec![(incidents[3].id, 7)],
        high_seq: 40,
        ..Default::default()
    })
    .await;

    // A CM in the old epoch that starts beyond the ack, or in an epoch not yet opened,
    // gets nothing applied and learns the MCM's epoch.
    let refused = |epoch, after_seq, resync| SyncBatch {
        upserts: vec![incidents[0].clone()],
        epoch,
        after_seq,
        resync,
        high_seq: 50,
        ..Default::default()
    };
    let out = apply(refused(0, Some(41), None)).await;
    assert_eq!((out.applied, out.epoch, out.acked_seq), (false, 0, 40));
    let out = apply(refused(1, None, Some(ResyncStep::Part))).await;
    assert!(!out.applied, "a resync part cannot open an epoch");

    // A resync in epoch 1: its start opens the epoch, versions from before do not
    // count, and its end drops what it did not send.
    let out = apply(SyncBatch {
        epoch: 1,
        resync: Some(ResyncStep::Start),
        ..Default::default()
    })
    .await;
    assert_eq!((out.applied, out.epoch, out.acked_seq), (true, 1, 0));
    apply(SyncBatch {
        upserts: vec![incidents[1].clone(), incidents[3].clone()],
        epoch: 1,
        resync: Some(ResyncStep::Part),
        ..Default::default()
    })
    .await;
    let out = apply(SyncBatch {
        epoch: 1,
        resync: Some(ResyncStep::End),
        high_seq: 4,
        ..Default::default()
    })
    .await;
    assert_eq!((out.applied, out.acked_seq, out.swept), (true, 4, 2));
    assert_eq!(
        copy_of(&store, cm.id).await,
        [(2, 1), (4, 1)],
        "exactly what the resync sent, at the CM's versions"
    );
    let after = store.cm(cm.id).await.unwrap().unwrap();
    assert_eq!((after.epoch, after.incident_count), (1, 2));

    // The old epoch is refused from now on; the new one goes on from its ack.
    let out = apply(refused(0, Some(4), None)).await;
    assert!(!out.applied);
    let mut changed = incidents[1].clone();
    changed.version = 2;
    let out = apply(SyncBatch {
        upserts: vec![changed],
        epoch: 1,
        after_seq: Some(4),
        high_seq: 5,
        ..Default::default()
    })
    .await;
    assert_eq!((out.applied, out.acked_seq), (true, 5));
    assert_eq!(copy_of(&store, cm.id).await, [(2, 2), (4, 1)]);
}

pub(super) async fn mcm_pages_and_deregistration(store: Arc<dyn Store>) {
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
            ..Default::default()
        };
        store.apply_sync(cm.id, &batch, t0()).await.unwrap();
    }
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
pub(super) async fn cm_side_reads_for_the_sync_worker(store: Arc<dyn Store>) {
    let mut watch = store.watch_changes();
    let before = *watch.borrow_and_update();
    let events: Vec<NewEvent> = (0..6)
        .map(|i| ev(&format!("10.8.0.{}", i + 1), i, 0.5))
        .collect();
    store.ingest(&events).await.unwrap();
    let first = store.incidents_after(IncidentId::new(0), 4).await.unwrap();
    assert_eq!(first.len(), 4);
    let rest = store.incidents_after(first[3].id, 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    let last = rest[1].change_seq;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        watch.wait_for(|&seq| seq == last),
    )
    .await
    .expect("ingest wakes watchers, with its last change")
    .unwrap();
    assert!(last > before);
    assert_eq!(store.pending_changes(before).await.unwrap(), 6);
    assert_eq!(store.pending_changes(first[3].change_seq).await.unwrap(), 2);
    watch.borrow_and_update();
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
    tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed())
        .await
        .expect("status changes wake watchers")
        .unwrap();
}
