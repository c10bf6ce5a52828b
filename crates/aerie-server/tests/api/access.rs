//! Health, login and logout, API keys, and what a viewer may not do.

use super::*;

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

#[tokio::test]
async fn a_new_password_ends_the_users_other_sessions() {
    let s = start().await;
    let user: serde_json::Value = s
        .admin
        .post(
            "/api/v1/users",
            &serde_json::json!({"username": "pat", "password": "first-password", "role": "analyst"}),
        )
        .await
        .unwrap();
    let (here, _) = s.anon.login("pat", "first-password").await.unwrap();
    let (elsewhere, _) = s.anon.login("pat", "first-password").await.unwrap();
    let key = here.create_api_key("script").await.unwrap();
    let by_key = s.anon.with_token(&key.key);

    // Changing one's own password keeps the session it came from and ends the others.
    let _: serde_json::Value = here
        .post(
            "/api/v1/password",
            &serde_json::json!({"current_password": "first-password", "new_password": "second-password"}),
        )
        .await
        .unwrap();
    assert!(here.api_keys().await.is_ok(), "the changing session stays");
    let (status, _) = api_error(elsewhere.api_keys().await);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the other session ended");
    assert!(by_key.api_keys().await.is_ok(), "API keys stay");

    // An admin's reset ends every session of the user; keys stay.
    let id = user["id"].as_i64().unwrap();
    let _: serde_json::Value = s
        .admin
        .send(
            s.admin
                .request(reqwest::Method::PATCH, &format!("/api/v1/users/{id}"))
                .json(&serde_json::json!({"password": "third-password"})),
        )
        .await
        .unwrap();
    let (status, _) = api_error(here.api_keys().await);
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a reset ends every session"
    );
    assert!(
        by_key.api_keys().await.is_ok(),
        "API keys stay after a reset"
    );
    assert!(s.anon.login("pat", "third-password").await.is_ok());
}

#[tokio::test]
async fn login_guesses_are_counted_when_they_start_and_per_account() {
    let s = start().await;
    // A hundred wrong logins at once: ten are weighed, the rest wait.
    let guesses = (0..100).map(|_| s.anon.login("admin", "wrong-password"));
    let answers = futures::future::join_all(guesses).await;
    let weighed = answers
        .iter()
        .filter(|a| matches!(a, Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED)))
        .count();
    assert_eq!(weighed, 10, "only the limit's worth is evaluated");

    // On a fresh daemon: another account's good login buys the first no more guesses.
    let other = start().await;
    let _: serde_json::Value = other
        .admin
        .post(
            "/api/v1/users",
            &serde_json::json!({"username": "vic", "password": "viewer-password", "role": "viewer"}),
        )
        .await
        .unwrap();
    for _ in 0..9 {
        assert!(other.anon.login("admin", "wrong-password").await.is_err());
    }
    other.anon.login("vic", "viewer-password").await.unwrap();
    let (status, _) = api_error(other.anon.login("admin", "wrong-password").await);
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the tenth guess is weighed"
    );
    let (status, body) = api_error(other.anon.login("admin", "wrong-password").await);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{}", body.error);
}
