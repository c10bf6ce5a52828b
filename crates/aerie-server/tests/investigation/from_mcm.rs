//! Every action taken on the MCM lands on the CM that owns the incident, and only there.

use super::*;

#[tokio::test]
async fn every_action_from_the_mcm_is_applied_on_the_owning_cm_only() {
    let mcm = node("mcm-inv", 1).await;
    convert(&mcm).await;
    let cm = node("cm-inv", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let cm_id = cm_id_of(&mcm, "cm-inv").await;

    let png = artifacts::screenshot(1);
    let shot: ArtifactOut = cm
        .admin
        .upload_artifact(png.clone(), Some("screenshot"))
        .await
        .unwrap();
    let mut e = event("10.6.0.1", 100, 0.9);
    e.threat_name = "<script>alert(1)</script>".into();
    e.artifacts = vec![shot.sha256.clone()];
    e.behaviour = Some(BehaviourJson {
        files: vec![FileJson {
            path: "/tmp/$(reboot)".into(),
            sha256: None,
        }],
        ..Default::default()
    });
    let id = ingest(&cm.admin, e).await;
    let on_mcm = |mcm: &TestServer| {
        let admin = mcm.admin.clone();
        async move {
            admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .any(|i: &IncidentOut| i.incident_id == id)
        }
    };
    assert!(eventually(10, || on_mcm(&mcm)).await);
    let base = format!("/api/v1/incidents/{cm_id}/{id}");

    let d = detail(&mcm.admin, &base).await;
    assert_eq!(d.incident.cm_name.as_deref(), Some("cm-inv"));
    assert_eq!(d.incident.threat_name, "<script>alert(1)</script>");
    assert_eq!(d.artifacts.len(), 1);
    let (headers, bytes) = mcm
        .admin
        .download(&format!("{base}/artifacts/{}", shot.sha256))
        .await
        .unwrap();
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(bytes, png, "streamed through the MCM unchanged");
    let (_, via_mcm) = mcm
        .admin
        .download(&format!("{base}/ivp/posix"))
        .await
        .unwrap();
    let (_, direct) = cm
        .admin
        .download(&format!("/api/v1/incidents/{id}/ivp/posix"))
        .await
        .unwrap();
    assert_eq!(via_mcm, direct);
    assert!(
        String::from_utf8(via_mcm)
            .unwrap()
            .contains("check_file '/tmp/$(reboot)' ''")
    );

    // Roles are checked on the MCM first; the CM never hears of a refused action.
    let viewer = user(&mcm, "mona", "viewer").await;
    let (status, body) = api_error(
        viewer
            .post::<_, MitigationOut>(
                &format!("{base}/mitigations"),
                &json!({"kind": "block_ip", "value": "203.0.113.5"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.error.contains("analyst"), "{}", body.error);
    let analyst = user(&mcm, "ana", "analyst").await;
    let m: MitigationOut = analyst
        .post(
            &format!("{base}/mitigations"),
            &json!({"kind": "block_ip", "value": "203.0.113.5"}),
        )
        .await
        .unwrap();
    assert_eq!(m.by, "ana@mcm");
    let cred: FeedCredential = cm
        .admin
        .post("/api/v1/feeds/credential", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        feed(&cm, &cred.credential, "ip.txt").await.1,
        "203.0.113.5\n"
    );
    let (status, body) = api_error(
        analyst
            .post::<_, MitigationOut>(
                &format!("{base}/mitigations"),
                &json!({"kind": "block_ip", "value": "203.0.113.5'; DROP TABLE incidents; --"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    assert!(body.error.starts_with("CM cm-inv: "), "{}", body.error);
    let _: IncidentOut = analyst
        .post(
            &format!("{base}/status"),
            &json!({"status": "acknowledged", "comment": "on it"}),
        )
        .await
        .unwrap();
    let _: StatusChangeOut = analyst
        .post(
            &format!("{base}/comments"),
            &json!({"comment": "user called back"}),
        )
        .await
        .unwrap();
    let d = detail(&cm.admin, &format!("/api/v1/incidents/{id}")).await;
    let by: Vec<&str> = d.status_history.iter().map(|h| h.by.as_str()).collect();
    assert_eq!(by, ["ana@mcm", "ana@mcm"]);
    // Only incident actions go through: no way out of the incident's path.
    let (status, body) = api_error(
        mcm.admin
            .get::<Vec<UserOut>>(&format!("{base}/..%2f..%2fusers"))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body.error);

    // The CM's audit log names the MCM user; the MCM's records the forwarding.
    let cm_log: AuditList = cm.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    let acts: Vec<(&str, &str)> = cm_log
        .items
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for want in [
        ("ana@mcm", "mitigation.apply"),
        ("ana@mcm", "incident.status"),
        ("ana@mcm", "incident.comment"),
    ] {
        assert!(acts.contains(&want), "{want:?} not in {acts:?}");
    }
    assert!(!acts.iter().any(|(a, _)| *a == "mona@mcm"), "{acts:?}");
    let mcm_log: AuditList = mcm.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    assert!(mcm_log.items.iter().any(|e| e.actor == "ana"
        && e.action == "cm.incident_action"
        && e.target == format!("CM cm-inv incident {id}")));

    // Whitelisting from the MCM makes the incident benign on its CM; it leaves the MCM.
    let r: WhitelistResult = analyst
        .post(
            &format!("{base}/whitelist"),
            &json!({"kind": "source_ip", "value": "203.0.113.5", "reason": "our pentest box"}),
        )
        .await
        .unwrap();
    assert_eq!(r.benign_incidents, vec![id]);
    assert_eq!(r.entry.by, "ana@mcm");
    assert!(
        eventually(10, || async { !on_mcm(&mcm).await }).await,
        "a benign incident leaves the MCM"
    );

    // A stopped CM: the action fails at once, naming it; nothing is queued.
    let mut fresh = event("10.6.0.2", 100, 0.9);
    fresh.source_ip = Some("198.51.100.9".into()); // 203.0.113.5 is whitelisted now
    let id2 = ingest(&cm.admin, fresh).await;
    assert!(
        eventually(10, || async {
            mcm.admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .any(|i| i.incident_id == id2)
        })
        .await
    );
    let addr = cm.running.addr;
    cm.shutdown.cancel();
    assert!(
        eventually(15, || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await
    );
    let (status, body) = api_error(
        analyst
            .post::<_, MitigationOut>(
                &format!("/api/v1/incidents/{cm_id}/{id2}/mitigations"),
                &json!({"kind": "block_ip", "value": "203.0.113.5"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.error.contains("cm-inv") && body.error.contains("unreachable"),
        "{}",
        body.error
    );
    let (status, _) = api_error(
        mcm.admin
            .download(&format!("/api/v1/incidents/{cm_id}/{id2}/ivp/posix"))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}
