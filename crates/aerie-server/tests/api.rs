//! The JSON API over real HTTPS against a real daemon and SQLite file.

mod common;

use aerie_client::ClientError;
use aerie_domain::user::{Role, Username};
use aerie_proto::{ErrorBody, incidents::IncidentListParams};
use common::{batch, event, start};
use reqwest::{StatusCode, header};

fn api_error(result: Result<impl std::fmt::Debug, ClientError>) -> (StatusCode, ErrorBody) {
    match result {
        Err(ClientError::Api { status, body }) => (status, body),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn health_needs_no_login_and_reports_role() {
    let s = start().await;
    let h = s.anon.health().await.unwrap();
    assert_eq!((h.status.as_str(), h.role.as_str()), ("ok", "cm"));
    let resp = s.anon.http().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(
        resp.headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}

#[tokio::test]
async fn login_logout_and_bad_logins() {
    let s = start().await;
    let (status, body) = api_error(s.anon.login("admin", "wrong-password").await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status2, body2) = api_error(s.anon.login("nobody", "wrong-password").await);
    assert_eq!(
        (status2, &body2.error),
        (status, &body.error),
        "unknown users look the same"
    );
    let (status, _) = api_error(s.anon.login("bad name!", "x").await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let resp = s
        .anon
        .http()
        .post(s.url("/api/v1/login"))
        .json(&serde_json::json!({"username": "admin", "password": s.admin_password}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attr in ["aerie_session=st_", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();

    // The cookie works, and cross-site use of it is refused.
    let list = |extra: Option<(&'static str, &'static str)>| {
        let mut req = s
            .anon
            .http()
            .post(s.url("/api/v1/api-keys"))
            .header(header::COOKIE, &session);
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req.json(&serde_json::json!({"name": "k"})).send()
    };
    assert_eq!(list(None).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        list(Some(("sec-fetch-site", "cross-site")))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        list(Some(("origin", "https://evil.example")))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );

    s.admin.logout().await.unwrap();
    let (status, _) = api_error(s.admin.api_keys().await);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");
    let (status, body) = api_error(s.anon.api_keys().await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.error.contains("log in"), "{}", body.error);
}

#[tokio::test]
async fn api_keys_create_rotate_revoke_and_raw_header() {
    let s = start().await;
    let created = s.admin.create_api_key("siem").await.unwrap();
    assert!(created.key.starts_with(&created.info.prefix));
    let by_key = s.anon.with_token(&created.key);
    assert_eq!(by_key.api_keys().await.unwrap().len(), 1);

    // The original product's clients send the bare key.
    let raw = s
        .anon
        .http()
        .get(s.url("/api/v1/incidents"))
        .header(header::AUTHORIZATION, &created.key)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);

    let rotated = s.admin.rotate_api_key(created.info.id).await.unwrap();
    assert_ne!(rotated.key, created.key);
    assert_eq!(
        api_error(by_key.api_keys().await).0,
        StatusCode::UNAUTHORIZED,
        "old secret dead"
    );
    let by_new = s.anon.with_token(&rotated.key);
    by_new.api_keys().await.unwrap();

    let revoked = s.admin.revoke_api_key(created.info.id).await.unwrap();
    assert!(revoked.revoked.is_some());
    assert_eq!(
        api_error(by_new.api_keys().await).0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_error(s.admin.revoke_api_key(created.info.id).await).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api_error(s.admin.rotate_api_key(9999).await).0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = api_error(s.admin.create_api_key("").await);
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );
    let resp = s
        .admin
        .http()
        .delete(s.url("/api/v1/api-keys/abc"))
        .bearer_auth(&rotated.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ingest_groups_by_endpoint_and_window() {
    let s = start().await;
    let placed = s
        .admin
        .post_events(&batch(vec![
            event("10.1.0.1", 36000, 0.4),
            event("10.1.0.1", 36000 + 300, 0.9), // exactly 5 minutes later: joins
            event("10.1.0.1", 36000 + 601, 0.5), // 5 min 1 s after the last: new incident
            event("10.1.0.2", 36000, 0.0),       // benign
        ]))
        .await
        .unwrap()
        .placements;
    assert_eq!(placed[0].incident_id, placed[1].incident_id);
    assert!(placed[0].opened && !placed[1].opened);
    assert_ne!(placed[2].incident_id, placed[0].incident_id);
    assert!(placed[2].opened && placed[3].opened);

    let detail = s.admin.incident(placed[0].incident_id).await.unwrap();
    assert_eq!(detail.incident.risk, "critical");
    assert_eq!(detail.incident.event_count, 2);
    assert_eq!(detail.events.len(), 2);
    assert_eq!(detail.incident.status, "new");
    let benign = s.admin.incident(placed[3].incident_id).await.unwrap();
    assert_eq!(benign.incident.risk, "benign");

    let (status, _) = api_error(s.admin.incident(424242).await);
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// One severity of each risk: benign, low, medium, high, critical.
const SEVERITIES: [f64; 5] = [0.0, 0.1, 0.3, 0.6, 0.9];

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let s = start().await;
    let events: Vec<_> = (0..25)
        .map(|i| {
            event(
                &format!("10.2.0.{}", i + 1),
                36000 + i * 10,
                SEVERITIES[i as usize % 5],
            )
        })
        .collect();
    s.admin.post_events(&batch(events)).await.unwrap();

    let critical = IncidentListParams {
        risk: Some("critical".into()),
        ..Default::default()
    };
    let page = s.admin.incidents(&critical).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.items.iter().all(|i| i.risk == "critical"));
    assert!(page.next.is_none());

    let by_endpoint = IncidentListParams {
        endpoint: Some("10.2.0.7".into()),
        ..Default::default()
    };
    assert_eq!(
        s.admin.incidents(&by_endpoint).await.unwrap().items.len(),
        1
    );
    let by_text = IncidentListParams {
        q: Some("zemot".into()),
        ..Default::default()
    };
    assert_eq!(s.admin.incidents(&by_text).await.unwrap().items.len(), 25);

    let mut seen = Vec::new();
    let mut params = IncidentListParams {
        sort: Some("risk".into()),
        limit: Some(7),
        ..Default::default()
    };
    loop {
        let page = s.admin.incidents(&params).await.unwrap();
        seen.extend(page.items);
        match page.next {
            Some(next) => params.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let ranks: Vec<i32> = seen
        .iter()
        .map(|i| {
            ["benign", "low", "medium", "high", "critical"]
                .iter()
                .position(|r| *r == i.risk)
                .unwrap() as i32
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "highest risk first: {ranks:?}"
    );
    let mut ids: Vec<i64> = seen.iter().map(|i| i.incident_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

#[tokio::test]
async fn status_changes_follow_the_workflow() {
    let s = start().await;
    let id = s
        .admin
        .post_events(&batch(vec![event("10.3.0.1", 36000, 0.6)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let moved = s
        .admin
        .change_status(id, "acknowledged", "looking into it")
        .await
        .unwrap();
    assert_eq!((moved.status.as_str(), moved.version), ("acknowledged", 2));
    s.admin
        .change_status(id, "complete", "reimaged the host")
        .await
        .unwrap();
    let (status, body) = api_error(s.admin.change_status(id, "new", "undo").await);
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::CONFLICT, Some("status"))
    );
    let (status, body) = api_error(s.admin.change_status(id, "done", "x").await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.error.contains("expected one of new, acknowledged"),
        "{}",
        body.error
    );
    let (status, body) = api_error(s.admin.change_status(id, "in_progress", "  ").await);
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("comment"))
    );
    let (status, _) = api_error(s.admin.change_status(999, "complete", "x").await);
    assert_eq!(status, StatusCode::NOT_FOUND);

    let detail = s.admin.incident(id).await.unwrap();
    let history: Vec<_> = detail
        .status_history
        .iter()
        .map(|h| (h.to.as_str(), h.by.as_str()))
        .collect();
    assert_eq!(
        history,
        vec![("acknowledged", "admin"), ("complete", "admin")]
    );
    assert_eq!(detail.status_history[1].comment, "reimaged the host");
}

#[tokio::test]
async fn viewers_read_but_cannot_ingest_or_triage() {
    let s = start().await;
    let hash = aerie_server::secret::hash_password("viewer-password");
    let name = Username::parse("vera").unwrap();
    s.running
        .state
        .store
        .create_user(&name, &hash, &Role::Viewer.name(), chrono::Utc::now())
        .await
        .unwrap();
    let (viewer, login) = s.anon.login("vera", "viewer-password").await.unwrap();
    assert_eq!(login.role, "viewer");
    viewer
        .incidents(&IncidentListParams::default())
        .await
        .unwrap();
    let (status, body) = api_error(
        viewer
            .post_events(&batch(vec![event("10.4.0.1", 36000, 0.5)]))
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.error.contains("analyst"), "{}", body.error);
    let id = s
        .admin
        .post_events(&batch(vec![event("10.4.0.1", 36000, 0.5)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    assert_eq!(
        api_error(viewer.change_status(id, "complete", "x").await).0,
        StatusCode::FORBIDDEN
    );
}

/// Sends `body` to `path` as the admin and returns the status and error body.
async fn raw_post(
    s: &common::TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, ErrorBody) {
    let key = s.admin.create_api_key("raw").await.unwrap().key;
    let resp = s
        .anon
        .http()
        .post(s.url(path))
        .bearer_auth(key)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// What is sent, the body, and the status, field and message part expected back.
type BadBody = (
    &'static str,
    Vec<u8>,
    StatusCode,
    Option<&'static str>,
    &'static str,
);

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let s = start().await;
    let json = "application/json";
    let good = serde_json::to_value(batch(vec![event("10.5.0.1", 36000, 0.5)])).unwrap();
    let with = |path: &str, value: serde_json::Value| {
        let mut body = good.clone();
        *body.pointer_mut(path).unwrap() = value;
        serde_json::to_vec(&body).unwrap()
    };

    let cases: Vec<BadBody> = vec![
        (
            "malformed",
            b"{\"events\": [".to_vec(),
            StatusCode::BAD_REQUEST,
            None,
            "malformed JSON",
        ),
        (
            "unknown field",
            br#"{"events": [], "evil": 1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            Some("evil"),
            "unknown field `evil`",
        ),
        (
            "empty batch",
            br#"{"events": []}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            Some("events"),
            "at least one",
        ),
        (
            "bad enum",
            with("/events/0/kind", "virus".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].kind"),
            "expected one of download",
        ),
        (
            "bad ip",
            with("/events/0/endpoint_ip", "10.0.0.300".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].endpoint_ip"),
            "not an IPv4 or IPv6",
        ),
        (
            "bad time",
            with("/events/0/time", "yesterday".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].time"),
            "RFC 3339",
        ),
        (
            "future time",
            with("/events/0/time", "2999-01-01T00:00:00Z".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].time"),
            "future",
        ),
        (
            "severity",
            with("/events/0/severity", 1.5.into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].severity"),
            "0.0 to 1.0",
        ),
        (
            "severity type",
            with("/events/0/severity", "high".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].severity"),
            "invalid type",
        ),
        (
            "sha",
            with("/events/0/file_sha256", "abc".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].file_sha256"),
            "64 hex",
        ),
        (
            "country",
            with("/events/0/source_country", "Russia".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].source_country"),
            "two-letter",
        ),
        (
            "control chars",
            with("/events/0/threat_name", "a\u{0}b".into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].threat_name"),
            "control",
        ),
        (
            "long name",
            with("/events/0/threat_name", "x".repeat(300).into()),
            StatusCode::BAD_REQUEST,
            Some("events[0].threat_name"),
            "at most 256",
        ),
    ];
    for (what, body, status, field, needle) in cases {
        let (got, err) = raw_post(&s, "/api/v1/events", json, body).await;
        assert_eq!(got, status, "{what}: {err:?}");
        assert_eq!(err.field.as_deref(), field, "{what}: {err:?}");
        assert!(
            err.error.contains(needle),
            "{what}: {:?} lacks {needle:?}",
            err.error
        );
    }

    let too_many = batch((0..1001).map(|i| event("10.5.0.2", i, 0.5)).collect());
    let (status, err) = raw_post(
        &s,
        "/api/v1/events",
        json,
        serde_json::to_vec(&too_many).unwrap(),
    )
    .await;
    assert_eq!(
        (status, err.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("events"))
    );
    assert!(err.error.contains("at most 1000"));

    let huge = vec![b' '; 3 * 1024 * 1024];
    let (status, err) = raw_post(&s, "/api/v1/events", json, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(err.error.contains("too large"), "{}", err.error);

    let (status, err) = raw_post(
        &s,
        "/api/v1/events",
        "text/plain",
        good.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(err.error.contains("application/json"));

    // Nothing of the rejected batches was stored.
    assert!(
        s.admin
            .incidents(&IncidentListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let key = s.admin.create_api_key("q").await.unwrap().key;
    let get = |path: &str| s.anon.http().get(s.url(path)).bearer_auth(&key).send();
    for (path, status, needle) in [
        (
            "/api/v1/incidents?risk=extreme",
            StatusCode::BAD_REQUEST,
            "expected one of benign",
        ),
        (
            "/api/v1/incidents?limit=0",
            StatusCode::BAD_REQUEST,
            "from 1 to 500",
        ),
        (
            "/api/v1/incidents?limit=many",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "/api/v1/incidents?sort=name",
            StatusCode::BAD_REQUEST,
            "expected one of time",
        ),
        (
            "/api/v1/incidents?after=garbage",
            StatusCode::BAD_REQUEST,
            "cursor",
        ),
        (
            "/api/v1/incidents?sort=risk&after=t.1.2",
            StatusCode::BAD_REQUEST,
            "sort=time",
        ),
        (
            "/api/v1/incidents?endpoint=host",
            StatusCode::BAD_REQUEST,
            "IPv4 or IPv6",
        ),
        (
            "/api/v1/incidents?from=monday",
            StatusCode::BAD_REQUEST,
            "RFC 3339",
        ),
        (
            "/api/v1/incidents?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "after from",
        ),
        (
            "/api/v1/incidents?colour=red",
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            "/api/v1/incidents/abc",
            StatusCode::BAD_REQUEST,
            "positive integer",
        ),
        (
            "/api/v1/incidents/-4",
            StatusCode::BAD_REQUEST,
            "positive integer",
        ),
        ("/api/v1/nothing", StatusCode::NOT_FOUND, "no such endpoint"),
    ] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert!(
            err.error.contains(needle),
            "{path}: {:?} lacks {needle:?}",
            err.error
        );
    }
    let resp = s
        .anon
        .http()
        .put(s.url("/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let err: ErrorBody = resp.json().await.unwrap();
    assert!(err.error.contains("method"));
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let s = start().await;
    let doc: serde_json::Value = s
        .anon
        .http()
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/api/v1/login",
        "/api/v1/logout",
        "/api/v1/api-keys",
        "/api/v1/api-keys/{id}/rotate",
        "/api/v1/api-keys/{id}",
        "/api/v1/events",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/status",
        "/api/v1/incidents/{id}/comments",
        "/api/v1/artifacts",
        "/api/v1/incidents/{id}/artifacts/{sha256}",
        "/api/v1/incidents/{id}/ivp/{platform}",
        "/api/v1/mitigations",
        "/api/v1/incidents/{id}/mitigations",
        "/api/v1/incidents/{id}/mitigations/{mitigation}",
        "/api/v1/incidents/{id}/whitelist",
        "/api/v1/whitelist",
        "/api/v1/whitelist/{id}",
        "/api/v1/feeds/credential",
        "/feeds/{file}",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/users/{id}/api-keys",
        "/api/v1/password",
        "/api/v1/roles",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/incidents/{cm}/{id}/{action}",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    assert!(doc["components"]["schemas"]["EventIn"].is_object());
}

#[tokio::test]
async fn hostile_text_is_stored_and_returned_verbatim_as_json() {
    let s = start().await;
    let mut e = event("10.6.0.1", 36000, 0.9);
    e.threat_name = "<script>alert(1)</script>".into();
    e.source_name = Some("\"><img src=x onerror=alert(1)>".into());
    e.endpoint_name = Some("=cmd|' /C calc'!A0".into());
    let id = s
        .admin
        .post_events(&batch(vec![e]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let resp = s
        .admin
        .http()
        .get(s.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(s.admin.create_api_key("h").await.unwrap().key)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let detail: aerie_proto::incidents::IncidentDetail = resp.json().await.unwrap();
    assert_eq!(detail.incident.threat_name, "<script>alert(1)</script>");
    assert_eq!(
        detail.incident.endpoint_name.as_deref(),
        Some("=cmd|' /C calc'!A0")
    );
}
