//! Artifacts, events' details, mitigations and feeds, the whitelist, comments, and the audit chain; writes of every kind at once.

use super::*;

/// Ingest, status changes, sync applies, settings and sessions from many tasks at once:
/// none may fail for the others (SQLite must not refuse a transaction's write).
pub(super) async fn writes_of_every_kind_run_concurrently(store: Arc<dyn Store>) {
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
pub(super) async fn artifacts_are_kept_once_per_content(store: Arc<dyn Store>) {
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
    assert_eq!(
        store.artifact_chunk(&sha, 0).await.unwrap(),
        Some(data.clone())
    );
    assert_eq!(store.artifact_chunk(&sha, 1).await.unwrap(), None);
    let other = Sha256Hex::parse("s", &"cd".repeat(32)).unwrap();
    assert_eq!(store.artifact_chunk(&other, 0).await.unwrap(), None);
    // A large artifact is kept in chunks that add up to it.
    let big: Vec<u8> = (0..aerie_store::ARTIFACT_CHUNK_BYTES * 2 + 5)
        .map(|i| (i % 251) as u8)
        .collect();
    let big_sha = Sha256Hex::parse("s", &"ef".repeat(32)).unwrap();
    store
        .put_artifact(&big_sha, ArtifactKind::Trace, &big, t0())
        .await
        .unwrap();
    let mut joined = Vec::new();
    let mut n = 0;
    while let Some(chunk) = store.artifact_chunk(&big_sha, n).await.unwrap() {
        assert!(chunk.len() <= aerie_store::ARTIFACT_CHUNK_BYTES);
        joined.extend(chunk);
        n += 1;
    }
    assert_eq!((n, joined == big), (3, true));
    let infos = store.artifact_infos(&[sha.clone(), other]).await.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].sha256, sha);
    assert_eq!(infos[0].size, data.len() as i64);
}
pub(super) async fn events_keep_behaviour_and_artifacts(store: Arc<dyn Store>) {
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
    assert!(
        store
            .incident_has_artifact(id, &e.artifacts[0])
            .await
            .unwrap()
    );
    let behaviour_sha = e.behaviour.files[0].sha256.clone().unwrap();
    assert!(
        !store
            .incident_has_artifact(id, &behaviour_sha)
            .await
            .unwrap(),
        "only the event's artifacts count"
    );
    let plain = store.ingest(&[ev("10.20.0.2", 0, 0.7)]).await.unwrap()[0].incident_id;
    assert!(
        store.events_of(plain).await.unwrap()[0]
            .event
            .behaviour
            .is_empty()
    );
    assert!(
        !store
            .incident_has_artifact(plain, &e.artifacts[0])
            .await
            .unwrap()
    );
}
pub(super) async fn mitigations_feed_and_revoke(store: Arc<dyn Store>) {
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
pub(super) async fn whitelist_reevaluates_and_marks_new_events(store: Arc<dyn Store>) {
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
pub(super) async fn comments_join_the_history(store: Arc<dyn Store>) {
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
pub(super) async fn audit_log_chains_without_gaps_under_concurrency(store: Arc<dyn Store>) {
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
