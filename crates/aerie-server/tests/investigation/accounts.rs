//! Comments, users, custom roles and the tamper-evident audit log.

use super::*;

#[tokio::test]
async fn comments_users_and_a_tamper_evident_audit_log() {
    let s = start().await;
    let id = ingest(&s.admin, event("10.5.0.1", 100, 0.8)).await;
    let c: StatusChangeOut = s
        .admin
        .post(
            &format!("/api/v1/incidents/{id}/comments"),
            &json!({"comment": "called the user <b>now</b>"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (c.from.as_str(), c.to.as_str(), c.by.as_str()),
        ("new", "new", "admin")
    );
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(d.status_history[0].comment, "called the user <b>now</b>");

    // Users: admins only; the last admin stays.
    let alice = user(&s, "alice", "analyst").await;
    let (status, _) = api_error(alice.get::<Vec<UserOut>>("/api/v1/users").await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "alice", "password": "passw0rd-long", "role": "viewer"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "bob", "password": "short", "role": "viewer"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "bob", "password": "passw0rd-long", "role": "root"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );
    let users: Vec<UserOut> = s.admin.get("/api/v1/users").await.unwrap();
    let alice_id = users.iter().find(|u| u.username == "alice").unwrap().id;
    let admin_id = users.iter().find(|u| u.username == "admin").unwrap().id;
    let patch = |id: i64, body: serde_json::Value| {
        s.admin.send::<UserOut>(
            s.admin
                .request(Method::PATCH, &format!("/api/v1/users/{id}"))
                .json(&body),
        )
    };
    let (status, body) = api_error(patch(admin_id, json!({"role": "viewer"})).await);
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body.error.contains("last enabled user who may administer"),
        "{}",
        body.error
    );
    assert_eq!(
        patch(alice_id, json!({"role": "viewer"}))
            .await
            .unwrap()
            .role,
        "viewer"
    );
    let (status, _) = api_error(
        alice
            .post::<_, StatusChangeOut>(
                &format!("/api/v1/incidents/{id}/comments"),
                &json!({"comment": "x"}),
            )
            .await,
    );
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the new role applies at once"
    );
    assert!(
        patch(alice_id, json!({"disabled": true}))
            .await
            .unwrap()
            .disabled
    );
    let (status, _) = api_error(
        alice
            .get::<IncidentDetail>(&format!("/api/v1/incidents/{id}"))
            .await,
    );
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "disabling ends the sessions"
    );
    patch(
        alice_id,
        json!({"disabled": false, "password": "another-passw0rd"}),
    )
    .await
    .unwrap();
    let alice = s.anon.login("alice", "another-passw0rd").await.unwrap().0;
    let (status, body) = api_error(
        alice
            .post::<_, UserOut>(
                "/api/v1/password",
                &json!({"current_password": "wrong", "new_password": "third-passw0rd"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("current_password"))
    );
    let _: UserOut = alice
        .post(
            "/api/v1/password",
            &json!({"current_password": "another-passw0rd", "new_password": "third-passw0rd"}),
        )
        .await
        .unwrap();
    s.anon.login("alice", "third-passw0rd").await.unwrap();

    // The audit log holds every change, chained.
    let (status, _) = api_error(alice.get::<AuditList>("/api/v1/audit").await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let log: AuditList = s.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    let actions: Vec<(&str, &str)> = log
        .items
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for want in [
        ("admin", "login"),
        ("admin", "incident.comment"),
        ("admin", "user.create"),
        ("admin", "user.update"),
        ("alice", "login"),
        ("alice", "user.password"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
    for pair in log.items.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let v: AuditVerification = s.admin.get("/api/v1/audit/verify").await.unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries, log.items.len() as i64);

    // Someone edits the database file behind the daemon's back.
    let url = format!("sqlite:{}", s.dir.path().join("aerie.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    let v: AuditVerification = s.admin.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!((v.intact, v.broken_at), (false, Some(3)), "{v:?}");
    assert!(v.reason.unwrap().contains("do not match its hash"));
}
#[tokio::test]
async fn custom_roles_grant_exactly_their_permissions() {
    use aerie_proto::investigation::RoleOut;
    let s = start().await;
    let id = ingest(&s.admin, event("10.8.0.1", 100, 0.9)).await;
    let role: RoleOut = s
        .admin
        .post(
            "/api/v1/roles",
            &json!({"name": "triage-desk", "permissions": ["view", "triage"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (role.seeded, role.permissions.clone()),
        (false, vec!["view".to_owned(), "triage".to_owned()])
    );
    for (body, field) in [
        (
            json!({"name": "x", "permissions": ["view", "fly"]}),
            "permissions",
        ),
        (
            json!({"name": "no-view", "permissions": ["triage"]}),
            "permissions",
        ),
        (json!({"name": "Bad Name", "permissions": ["view"]}), "name"),
    ] {
        let (status, e) = api_error(s.admin.post::<_, RoleOut>("/api/v1/roles", &body).await);
        assert_eq!(
            (status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, _) = api_error(
        s.admin
            .post::<_, RoleOut>(
                "/api/v1/roles",
                &json!({"name": "admin", "permissions": ["view"]}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let roles: Vec<RoleOut> = s.admin.get("/api/v1/roles").await.unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["viewer", "analyst", "admin", "triage-desk"]);

    let tess = user(&s, "tess", "triage-desk").await;
    let _: IncidentOut = tess
        .post(
            &format!("/api/v1/incidents/{id}/status"),
            &json!({"status": "acknowledged", "comment": "mine"}),
        )
        .await
        .unwrap();
    let (status, body) = api_error(
        tess.post::<_, MitigationOut>(
            &format!("/api/v1/incidents/{id}/mitigations"),
            &json!({"kind": "block_ip", "value": "203.0.113.5"}),
        )
        .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.error.contains("the mitigate permission") && body.error.contains("triage-desk"),
        "{}",
        body.error
    );
    let (status, _) = api_error(
        tess.post::<_, WhitelistResult>(
            "/api/v1/whitelist",
            &json!({"kind": "source_ip", "value": "203.0.113.5", "reason": "x"}),
        )
        .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_error(
        tess.post_events(&batch(vec![event("10.8.0.2", 100, 0.5)]))
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "no send_events");
    let (status, body) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "x", "password": "passw0rd-long", "role": "ghost"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );

    let (status, _) = api_error(
        s.admin
            .send::<serde_json::Value>(s.admin.request(Method::DELETE, "/api/v1/roles/triage-desk"))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT, "tess holds it");
    let (status, _) = api_error(
        s.admin
            .send::<serde_json::Value>(s.admin.request(Method::DELETE, "/api/v1/roles/admin"))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT, "seeded roles stay");
}
