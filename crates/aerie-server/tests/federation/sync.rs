//! Resync, removal and deregistration, the live proxy, and a CM that keeps working while the MCM is down.

use super::*;

#[tokio::test]
async fn resync_makes_the_copy_exact_whatever_the_versions() {
    let mcm = node("mcm-resync", 1).await;
    convert(&mcm).await;
    let cm = node("cm-resync", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let events: Vec<_> = (0..40)
        .map(|i| {
            event(
                &format!("10.4.0.{}", i + 1),
                100,
                if i % 10 == 0 { 0.0 } else { 0.6 },
            )
        })
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
    let cm_id = cm_id_of(&mcm, "cm-resync").await;
    assert!(eventually(5, || converged(&mcm, &cm, cm_id)).await);

    // Damage the MCM's copy: drop two rows, hold one at a newer version than the CM's
    // (as after the CM was restored from an older copy), add one the CM never had.
    let truth = cm_truth(&cm).await;
    let ids: Vec<i64> = truth.keys().copied().collect();
    let store = &mcm.running.state.store;
    let mut newer = store
        .remote_incident(
            aerie_domain::ids::CmId::new(cm_id),
            aerie_domain::incident::IncidentId::new(ids[2]),
        )
        .await
        .unwrap()
        .unwrap()
        .incident;
    let mut ghost = newer.clone();
    ghost.id = aerie_domain::incident::IncidentId::new(999_999);
    newer.version = 100;
    store
        .apply_sync(
            aerie_domain::ids::CmId::new(cm_id),
            &aerie_domain::federation::SyncBatch {
                upserts: vec![newer, ghost],
                removals: vec![
                    (aerie_domain::incident::IncidentId::new(ids[0]), 100),
                    (aerie_domain::incident::IncidentId::new(ids[1]), 100),
                ],
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_ne!(mcm_copy(&mcm, cm_id).await, truth);

    let (ok, out) = cli(&cm, &["cm", "set mcm resync"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("36 incidents sent, 1 removed from the MCM."),
        "{out}"
    );
    assert_eq!(
        mcm_copy(&mcm, cm_id).await,
        truth,
        "the copy is exact again"
    );
    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    assert_eq!(cms[0]["incident_count"], 36);
    // Later changes on the CM follow through the stream, in the new epoch.
    cm.admin
        .change_status(ids[2], "acknowledged", "after the resync")
        .await
        .unwrap();
    assert!(eventually(5, || converged(&mcm, &cm, cm_id)).await);
}
#[tokio::test]
async fn removes_and_deregistration() {
    let mcm = node("mcm-remove", 1).await;
    convert(&mcm).await;
    let a = node("cm-a", 2).await;
    let b = node("cm-b", 3).await;
    for cm in [&a, &b] {
        assert!(register(cm, &mcm).await.0);
        cm.admin
            .post_events(&batch(vec![event("10.5.0.1", 100, 0.8)]))
            .await
            .unwrap();
    }
    assert!(
        eventually(5, || async {
            all(&mcm.admin, IncidentListParams::default())
                .await
                .items
                .len()
                == 2
        })
        .await
    );

    // On a CM: forget the MCM, keep the incidents, stop syncing.
    let (ok, out) = cli(&a, &["cm", "set mcm remove"]).await;
    assert!(ok && out.contains("keeps its incidents"), "{out}");
    assert!(show_mcm(&a).await.contains("MCM is not configured"));
    assert_eq!(
        a.admin
            .incidents(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    a.admin
        .post_events(&batch(vec![event("10.5.0.9", 100, 0.8)]))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let a_id = cm_id_of(&mcm, "cm-a").await;
    assert_eq!(
        mcm_copy(&mcm, a_id).await.len(),
        1,
        "no more syncing from a removed CM"
    );

    // On the MCM: every incident goes, every CM is deregistered, it is a CM again.
    let credential = b
        .running
        .state
        .store
        .setting("mcm.credential")
        .await
        .unwrap()
        .unwrap();
    // On the MCM it asks first; with -c the word `confirm` answers.
    let (ok, out) = cli(&mcm, &["cm", "set mcm remove"]).await;
    assert!(!ok && out.contains("add the word 'confirm'"), "{out}");
    assert_eq!(
        mcm.anon.health().await.unwrap().role,
        "mcm",
        "nothing removed"
    );
    let cms = mcm.running.state.store.cms().await.unwrap();
    assert!(cms.iter().all(|c| c.deregistered.is_none()), "{cms:?}");
    let (ok, out) = cli(&mcm, &["cm", "set mcm remove confirm"]).await;
    assert!(
        ok && out.contains("2 incidents deleted, 2 CMs deregistered"),
        "{out}"
    );
    assert_eq!(mcm.anon.health().await.unwrap().role, "cm");
    assert!(
        mcm.running
            .state
            .store
            .remote_incidents(&Default::default(), &[])
            .await
            .unwrap()
            .items
            .is_empty()
    );
    b.admin
        .post_events(&batch(vec![event("10.5.0.2", 100, 0.8)]))
        .await
        .unwrap();
    assert!(
        eventually(10, || async { show_mcm(&b).await.contains("deregistered") }).await,
        "{}",
        show_mcm(&b).await
    );
    let old = Client::new(
        &mcm.url(""),
        aerie_client::Fingerprint::of(&mcm.running.cert_der),
    )
    .unwrap()
    .with_token(&credential);
    let refused = old
        .post::<_, serde_json::Value>(
            "/api/v1/federation/sync",
            &aerie_proto::federation::SyncRequest::default(),
        )
        .await;
    match refused {
        Err(e @ ClientError::Api { .. }) => assert_eq!(
            e.code(),
            Some(aerie_proto::federation::FederationCode::Deregistered)
        ),
        other => panic!("the old credential must not work: {other:?}"),
    }

    // Converting again with the same passphrase works (the revoked device key's hash is
    // issued anew), and re-running it on the MCM changes nothing.
    convert(&mcm).await;
    let (ok, out) = cli(
        &mcm,
        &["cm", &format!("set mcm ip ::1 passphrase {PASSPHRASE}")],
    )
    .await;
    assert!(
        ok && out.contains("already the MCM with this passphrase"),
        "{out}"
    );
    assert_eq!(
        mcm.running
            .state
            .store
            .setting("mcm.address")
            .await
            .unwrap()
            .as_deref(),
        Some("127.0.0.1"),
        "the stored address stays"
    );
    // B registers again and syncs.
    let (ok, out) = register(&b, &mcm).await;
    assert!(ok, "{out}");
}
#[tokio::test]
async fn live_proxy_acts_on_the_owning_cm_only() {
    let mcm = node("mcm-proxy", 1).await;
    convert(&mcm).await;
    let cm = node("cm-proxy", 2).await;
    let other = node("cm-other", 3).await;
    assert!(register(&cm, &mcm).await.0);
    assert!(register(&other, &mcm).await.0);
    let id = cm
        .admin
        .post_events(&batch(vec![event("10.6.0.1", 100, 0.9)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    other
        .admin
        .post_events(&batch(vec![event("10.6.0.1", 100, 0.9)]))
        .await
        .unwrap();
    let cm_id = cm_id_of(&mcm, "cm-proxy").await;
    assert!(eventually(5, || converged(&mcm, &cm, cm_id)).await);

    let detail: aerie_proto::incidents::IncidentDetail = mcm
        .admin
        .get(&format!("/api/v1/incidents/{cm_id}/{id}"))
        .await
        .unwrap();
    assert_eq!(detail.events.len(), 1, "details come live from the CM");
    assert_eq!(detail.incident.cm_name.as_deref(), Some("cm-proxy"));
    assert_eq!(detail.incident.cm_ip.as_deref(), Some("127.0.0.2"));

    let body = aerie_proto::incidents::StatusRequest {
        status: "in_progress".into(),
        comment: "from the MCM".into(),
    };
    let out: aerie_proto::incidents::IncidentOut = mcm
        .admin
        .post(&format!("/api/v1/incidents/{cm_id}/{id}/status"), &body)
        .await
        .unwrap();
    assert_eq!(out.status, "in_progress");
    let on_cm = cm.admin.incident(id).await.unwrap();
    assert_eq!(
        on_cm.status_history[0].by, "admin@mcm",
        "the CM records the acting MCM user"
    );
    let untouched = other.admin.incident(id).await.unwrap();
    assert_eq!(
        untouched.incident.status, "new",
        "applied only on the owning CM"
    );
    assert!(
        eventually(5, || converged(&mcm, &cm, cm_id)).await,
        "and the MCM row follows by sync"
    );

    // A viewer on the MCM may look but not act.
    let hash = aerie_server::secret::hash_password("viewer-pass");
    mcm.running
        .state
        .store
        .create_user(
            &aerie_domain::user::Username::parse("vic").unwrap(),
            &hash,
            &aerie_domain::user::Role::Viewer.name(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (viewer, _) = mcm.anon.login("vic", "viewer-pass").await.unwrap();
    let denied = viewer
        .post::<_, serde_json::Value>(&format!("/api/v1/incidents/{cm_id}/{id}/status"), &body)
        .await;
    assert_eq!(denied.unwrap_err().status(), Some(StatusCode::FORBIDDEN));

    // The CM accepts live actions from its registered MCM only.
    let forged = cm.anon.with_token("px_forged").incident(id).await;
    assert_eq!(forged.unwrap_err().status(), Some(StatusCode::UNAUTHORIZED));

    // A stopped CM: a clear 502 naming it, and the table row stays.
    cm.shutdown.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let err = mcm
        .admin
        .get::<serde_json::Value>(&format!("/api/v1/incidents/{cm_id}/{id}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert!(
        err.to_string()
            .contains("CM cm-proxy (127.0.0.2) is unreachable"),
        "{err}"
    );
    assert_eq!(mcm_copy(&mcm, cm_id).await.len(), 1);
}
#[tokio::test]
async fn a_cm_keeps_working_while_the_mcm_is_down_and_catches_up() {
    let mcm = node("mcm-down", 1).await;
    convert(&mcm).await;
    let cm = node("cm-down", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let cm_id = cm_id_of(&mcm, "cm-down").await;

    // The MCM stops; the CM takes events as usual and its backlog grows, visibly.
    let (addr, dir) = (mcm.running.addr, mcm.dir.path().to_owned());
    mcm.shutdown.cancel();
    assert!(
        eventually(15, || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await
    );
    let events: Vec<_> = (0..12)
        .map(|i| event(&format!("10.7.0.{}", i + 1), 100, 0.7))
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
    assert!(
        eventually(10, || async {
            let shown = show_mcm(&cm).await;
            shown.contains("MCM unreachable") && shown.contains("Backlog: 12 incident changes")
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );

    // It comes back on the same address with the same data: the CM catches up by itself.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let layer = aerie_server::ConfigLayer {
        listen: Some(addr.to_string()),
        ..Default::default()
    };
    let back = aerie_server::start_with_admin(
        aerie_server::Config::resolve(&dir, layer).unwrap(),
        shutdown.clone(),
        None,
    )
    .await
    .unwrap();
    let store = back.state.store.clone();
    assert!(
        eventually(40, || async {
            store
                .remote_incidents(&Default::default(), &[aerie_domain::ids::CmId::new(cm_id)])
                .await
                .unwrap()
                .items
                .len()
                == 12
        })
        .await
    );
    assert!(
        eventually(10, || async {
            show_mcm(&cm).await.contains("Backlog: 0 incident changes")
        })
        .await
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_renamed_cm_is_renamed_on_the_mcm_at_once() {
    let mcm = node("mcm-rename", 1).await;
    convert(&mcm).await;
    let cm = node("cm-paris", 2).await;
    let (ok, out) = register(&cm, &mcm).await;
    assert!(ok, "{out}");
    cm.admin
        .post_events(&batch(vec![event("10.8.0.1", 100, 0.9)]))
        .await
        .unwrap();
    assert!(
        eventually(5, || async {
            all(&mcm.admin, IncidentListParams::default())
                .await
                .items
                .len()
                == 1
        })
        .await
    );

    let (ok, out) = cli(&cm, &["set hostname cm-berlin"]).await;
    assert!(ok, "{out}");
    // Well within one heartbeat (10 s): the rename wakes the CM's worker.
    let renamed = eventually(3, || async {
        let cms = mcm.running.state.store.cms().await.unwrap();
        cms.len() == 1 && cms[0].name.as_str() == "cm-berlin"
    })
    .await;
    assert!(
        renamed,
        "{:?}",
        mcm.running.state.store.cms().await.unwrap()
    );
    let rows = all(&mcm.admin, IncidentListParams::default()).await.items;
    assert_eq!(rows[0].cm_name.as_deref(), Some("cm-berlin"));
}
