//! Mitigations in the feeds, and the whitelist turning incidents benign.

use super::*;

#[tokio::test]
async fn mitigations_appear_in_feeds_and_leave_them_when_revoked() {
    let s = start().await;
    let cred: FeedCredential = s
        .admin
        .post("/api/v1/feeds/credential", &json!({}))
        .await
        .unwrap();
    assert_eq!(cred.feeds.len(), 5);
    let mut e = event("10.3.0.1", 100, 0.9);
    e.file_sha256 = Some("cd".repeat(32));
    e.behaviour = Some(BehaviourJson {
        cnc: vec!["c2.example.net:8443".into()],
        ..Default::default()
    });
    let id = ingest(&s.admin, e).await;
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    let options: Vec<(&str, &str)> = d
        .mitigation_options
        .iter()
        .map(|o| (o.kind.as_str(), o.value.as_str()))
        .collect();
    for want in [
        ("block_ip", "203.0.113.5"),
        ("block_domain", "evil.example"),
        ("block_domain", "c2.example.net"),
        ("block_url", "http://evil.example/x"),
        ("block_hash", &"cd".repeat(32)[..]),
        ("quarantine_endpoint", "10.3.0.1"),
    ] {
        assert!(options.contains(&want), "{want:?} not in {options:?}");
    }
    assert_eq!(
        feed(&s, &cred.credential, "ip.txt").await,
        (StatusCode::OK, String::new())
    );

    let path = format!("/api/v1/incidents/{id}/mitigations");
    let ip: MitigationOut = s
        .admin
        .post(&path, &json!({"kind": "block_ip", "value": "203.0.113.5"}))
        .await
        .unwrap();
    assert_eq!((ip.feed.as_str(), ip.by.as_str()), ("ip", "admin"));
    let _: MitigationOut = s
        .admin
        .post(
            &path,
            &json!({"kind": "block_domain", "value": "EVIL.example."}),
        )
        .await
        .unwrap();
    let _: MitigationOut = s
        .admin
        .post(
            &path,
            &json!({"kind": "quarantine_endpoint", "value": "10.3.0.1"}),
        )
        .await
        .unwrap();
    assert_eq!(
        feed(&s, &cred.credential, "ip.txt").await.1,
        "203.0.113.5\n"
    );
    assert_eq!(
        feed(&s, &cred.credential, "domain.txt").await.1,
        "evil.example\n"
    );
    assert_eq!(
        feed(&s, &cred.credential, "quarantine.txt").await.1,
        "10.3.0.1\n"
    );
    // HTTP Basic, as many firewalls fetch external lists.
    let basic = s
        .anon
        .http()
        .get(s.url("/feeds/ip.txt"))
        .basic_auth("paloalto", Some(&cred.credential))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    assert_eq!(
        basic.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(basic.text().await.unwrap(), "203.0.113.5\n");

    let (status, _) = api_error(
        s.admin
            .post::<_, MitigationOut>(&path, &json!({"kind": "block_ip", "value": "203.0.113.5"}))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api_error(
        s.admin
            .post::<_, MitigationOut>(&path, &json!({"kind": "block_ip", "value": "198.51.100.1"}))
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    assert!(
        body.error.contains("its block_ip options are: 203.0.113.5"),
        "{}",
        body.error
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, MitigationOut>(&path, &json!({"kind": "nuke", "value": "x"}))
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );

    assert_eq!(
        feed(&s, "fd_wrong", "ip.txt").await.0,
        StatusCode::UNAUTHORIZED
    );
    let anon = s
        .anon
        .http()
        .get(s.url("/feeds/ip.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert!(anon.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(
        feed(&s, &cred.credential, "passwords.txt").await.0,
        StatusCode::NOT_FOUND
    );

    // A viewer sees, and cannot act.
    let viewer = user(&s, "vera", "viewer").await;
    let seen = detail(&viewer, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(seen.mitigations.len(), 3);
    let (status, body) = api_error(
        viewer
            .post::<_, MitigationOut>(
                &path,
                &json!({"kind": "block_hash", "value": "cd".repeat(32)}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.error.contains("analyst"), "{}", body.error);
    let (status, _) = api_error(
        viewer
            .post::<_, FeedCredential>("/api/v1/feeds/credential", &json!({}))
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);

    let revoked: MitigationOut = s
        .admin
        .send(
            s.admin
                .request(Method::DELETE, &format!("{path}/{}", ip.id)),
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("admin"));
    assert_eq!(feed(&s, &cred.credential, "ip.txt").await.1, "");
    assert_eq!(
        feed(&s, &cred.credential, "domain.txt").await.1,
        "evil.example\n"
    );
    let (status, _) = api_error(
        s.admin
            .send::<MitigationOut>(
                s.admin
                    .request(Method::DELETE, &format!("{path}/{}", ip.id)),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    let ip_option = d
        .mitigation_options
        .iter()
        .find(|o| o.kind == "block_ip")
        .unwrap();
    assert_eq!(ip_option.active, None, "revoked: the option is open again");

    // The list of every mitigation: newest first, revoked ones marked, paged.
    let all: Vec<MitigationOut> = s.admin.get("/api/v1/mitigations").await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].id, ip.id);
    assert!(all[2].revoked_at.is_some());
    let active: Vec<MitigationOut> = s
        .admin
        .get("/api/v1/mitigations?active=true")
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
        ["quarantine_endpoint", "block_domain"]
    );
    let older: Vec<MitigationOut> = s
        .admin
        .get(&format!("/api/v1/mitigations?limit=1&before={}", all[1].id))
        .await
        .unwrap();
    assert_eq!(older.iter().map(|m| m.id).collect::<Vec<_>>(), [ip.id]);
    let (status, body) = api_error(
        s.admin
            .get::<Vec<MitigationOut>>("/api/v1/mitigations?limit=0")
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );

    // A new credential shuts the old one out.
    let fresh: FeedCredential = s
        .admin
        .post("/api/v1/feeds/credential", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        feed(&s, &cred.credential, "domain.txt").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        feed(&s, &fresh.credential, "domain.txt").await.1,
        "evil.example\n"
    );
}
#[tokio::test]
async fn whitelist_turns_matching_incidents_benign_now_and_later() {
    let s = start().await;
    let hit = ingest(&s.admin, event("10.4.0.1", 100, 0.8)).await;
    let mut other = event("10.4.0.2", 100, 0.8);
    other.source_name = Some("http://fine.example/y".into());
    other.source_ip = Some("198.51.100.4".into());
    let miss = ingest(&s.admin, other).await;

    let r: WhitelistResult = s
        .admin
        .post(
            "/api/v1/whitelist",
            &json!({"kind": "domain", "value": "Evil.Example", "reason": "sinkholed by our ISP"}),
        )
        .await
        .unwrap();
    assert_eq!(r.benign_incidents, vec![hit]);
    assert_eq!(r.entry.value, "evil.example");
    let d = detail(&s.admin, &format!("/api/v1/incidents/{hit}")).await;
    assert_eq!(d.incident.risk, "benign");
    assert_eq!(
        d.events[0].severity, 0.8,
        "the sensor's score is kept on the event"
    );
    let last = d.status_history.last().unwrap();
    assert_eq!(
        last.comment,
        "whitelisted (domain evil.example): sinkholed by our ISP"
    );
    assert_eq!(
        detail(&s.admin, &format!("/api/v1/incidents/{miss}"))
            .await
            .incident
            .risk,
        "critical"
    );

    let mut later = event("10.4.0.3", 200, 0.9);
    later.source_name = Some("http://cdn.evil.example/z".into());
    let later = ingest(&s.admin, later).await;
    assert_eq!(
        detail(&s.admin, &format!("/api/v1/incidents/{later}"))
            .await
            .incident
            .risk,
        "benign"
    );

    let (status, _) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "domain", "value": "evil.example", "reason": "again"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "domain", "value": "<script>", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "everything", "value": "x", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "source_ip", "value": "198.51.100.4", "reason": " "}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("reason"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                &format!("/api/v1/incidents/{miss}/whitelist"),
                &json!({"kind": "source_ip", "value": "203.0.113.5", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    assert!(body.error.contains("matches no event"), "{}", body.error);
    let viewer = user(&s, "vic", "viewer").await;
    let (status, _) = api_error(
        viewer
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "source_ip", "value": "198.51.100.4", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);

    let _: serde_json::Value = s
        .admin
        .send(
            s.admin
                .request(Method::DELETE, &format!("/api/v1/whitelist/{}", r.entry.id)),
        )
        .await
        .unwrap();
    let list: Vec<serde_json::Value> = s.admin.get("/api/v1/whitelist").await.unwrap();
    assert!(list.is_empty());
    let mut after = event("10.4.0.4", 300, 0.9);
    after.source_name = Some("http://evil.example/again".into());
    let after = ingest(&s.admin, after).await;
    assert_eq!(
        detail(&s.admin, &format!("/api/v1/incidents/{after}"))
            .await
            .incident
            .risk,
        "critical"
    );
}
