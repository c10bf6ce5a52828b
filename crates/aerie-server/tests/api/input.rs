//! Bad input gets a clear error, the OpenAPI document lists every route, hostile text comes back verbatim.

use super::*;

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
    validate_with_the_ecosystems_validator(&doc);
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

/// Runs `openapi-spec-validator` (PyPI; `.ci/run` installs it) over the document, as
/// client generators would read it.
fn validate_with_the_ecosystems_validator(doc: &serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let run = std::process::Command::new("openapi-spec-validator")
        .arg(&file)
        .output();
    match run {
        Ok(out) => assert!(
            out.status.success(),
            "openapi-spec-validator refused the document:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("openapi-spec-validator is missing ({e}): pip install openapi-spec-validator")
        }
        Err(e) => eprintln!("skipped: openapi-spec-validator is missing ({e})"),
    }
}
