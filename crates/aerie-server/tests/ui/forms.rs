//! Forms: the session token and origin checks, login throttling, Config links, and what a viewer is shown.

use super::*;

#[tokio::test]
async fn forms_need_the_session_token_and_our_origin() {
    let s = start().await;
    let id = s
        .admin
        .post_events(&batch(vec![event("10.54.0.1", 100, 0.9)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let http = raw_client();
    let origin = s.url("");
    let login = |origin: String| {
        http.post(s.url("/login"))
            .header("origin", origin)
            .form(&[
                ("username", "admin"),
                ("password", s.admin_password.as_str()),
            ])
            .send()
    };
    let refused = login("https://evil.example".into()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&refused, "aerie_session").is_none());
    let ok = login(origin.clone()).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&ok, "aerie_session").expect("a session cookie");

    let page = http
        .get(s.url(&format!("/incidents/{id}")))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let comment = |token: String, origin: String, text: &'static str| {
        http.post(s.url(&format!("/incidents/{id}/comment")))
            .header("cookie", &session)
            .header("origin", origin)
            .form(&[("_csrf", token.as_str()), ("comment", text)])
            .send()
    };
    let forged = comment("0".repeat(64), origin.clone(), "forged")
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("did not come from Aerie")
    );
    let cross = comment(csrf.clone(), "https://evil.example".into(), "cross-site")
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let real = comment(csrf, origin, "from the page").await.unwrap();
    assert_eq!(real.status(), StatusCode::SEE_OTHER);
    let d: aerie_proto::incidents::IncidentDetail = s
        .admin
        .get(&format!("/api/v1/incidents/{id}"))
        .await
        .unwrap();
    let comments: Vec<&str> = d
        .status_history
        .iter()
        .map(|h| h.comment.as_str())
        .collect();
    assert_eq!(comments, ["from the page"]);
}
#[tokio::test]
async fn failed_logins_are_rate_limited_per_address() {
    let s = start().await;
    for _ in 0..10 {
        assert!(s.anon.login("admin", "wrong-password").await.is_err());
    }
    let resp = s
        .anon
        .http()
        .post(s.url("/api/v1/login"))
        .json(&json!({"username": "admin", "password": s.admin_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait: u64 = resp.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("too many failed logins")
    );
    let page = raw_client()
        .post(s.url("/login"))
        .header("origin", s.url(""))
        .form(&[
            ("username", "admin"),
            ("password", s.admin_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Too many failed logins")
    );
}
/// Every page the Config tab links to answers, on a CM and on the MCM: no dead links.
#[tokio::test]
async fn config_links_all_lead_somewhere() {
    let mcm = node("mcm-cfg", 1).await;
    convert(&mcm).await;
    let cm = node("cm-cfg", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let http = raw_client();
    for (s, only_here, not_here) in [
        (&cm, "/config/mcm", "/config/cms"),
        (&mcm, "/config/cms", "/config/mcm"),
    ] {
        let cookie = form_login(s, &http, "admin", &s.admin_password).await;
        let get = |path: String| {
            http.get(s.url(&path))
                .header("cookie", cookie.clone())
                .send()
        };
        let index = get("/config".into()).await.unwrap().text().await.unwrap();
        let links: Vec<String> = index
            .split("href=\"/config/")
            .skip(1)
            .map(|rest| format!("/config/{}", rest.split('"').next().unwrap()))
            .collect();
        assert!(
            links.contains(&only_here.to_owned()) && !links.contains(&not_here.to_owned()),
            "{links:?}"
        );
        for both in [
            "/config/saml",
            "/config/radius",
            "/config/system",
            "/config/certificates",
            "/config/gss",
            "/config/licensing",
            "/config/backup",
        ] {
            assert!(links.contains(&both.to_owned()), "{both} on both roles");
        }
        assert_eq!(
            links.len(),
            22,
            "the seed's eleven entries, each in the side list and the index: {links:?}"
        );
        for link in links {
            let resp = get(link.clone()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{link}");
        }
    }
    let cookie = form_login(&cm, &http, "admin", &cm.admin_password).await;
    let settings = http
        .get(cm.url("/config/mcm"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        settings.contains(&mcm.running.addr.to_string()) && settings.contains("admin"),
        "{settings}"
    );
}
/// A viewer sees the incident and its evidence but no action forms; the API refuses them
/// anyway (tested in investigation.rs).
#[tokio::test]
async fn a_viewer_gets_no_action_forms() {
    let s = start().await;
    let id = s
        .admin
        .post_events(&batch(vec![event("10.55.0.1", 100, 0.9)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let _: aerie_proto::investigation::UserOut = s
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": "vic", "password": "passw0rd-long", "role": "viewer"}),
        )
        .await
        .unwrap();
    let http = raw_client();
    let cookie = form_login(&s, &http, "vic", "passw0rd-long").await;
    let page = http
        .get(s.url(&format!("/incidents/{id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"summary\"") && page.contains("id=\"mitigations\""));
    for form in [
        "status-form",
        "comment-form",
        "whitelist-form",
        "/mitigate",
        "/revoke",
    ] {
        assert!(!page.contains(form), "a viewer sees {form}");
    }
}

#[tokio::test]
async fn invisible_characters_in_incident_text_are_shown() {
    let s = start().await;
    let mut e = event("10.66.0.1", 100, 0.9);
    e.threat_name = "invoice\u{202E}fdp.exe".into();
    let placed = s.admin.post_events(&batch(vec![e])).await.unwrap();
    let id = placed.placements[0].incident_id;
    let http = raw_client();
    let cookie = form_login(&s, &http, "admin", &s.admin_password).await;
    for page in ["/incidents".to_owned(), format!("/incidents/{id}")] {
        let html = http
            .get(s.url(&page))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"invoice<span class="invisible" title="An invisible character, shown">&lt;U+202E&gt;</span>fdp.exe"#),
            "{page} shows the override"
        );
        assert!(!html.contains('\u{202E}'), "{page} carries no raw override");
    }
    // Stored as sent: the API returns it verbatim.
    let detail: serde_json::Value = s
        .admin
        .get(&format!("/api/v1/incidents/{id}"))
        .await
        .unwrap();
    assert_eq!(detail["incident"]["threat_name"], "invoice\u{202E}fdp.exe");
}
