//! A CM's web UI end to end: login, the Incidents table, an incident's page and its actions, uploads, Config.

use super::*;

#[tokio::test]
async fn cm_ui_end_to_end() {
    let s = start().await;
    let Some(b) = browser().await else { return };

    // 60 ordinary incidents (for paging and filters), one hostile, one with evidence.
    let events: Vec<_> = (0..60)
        .map(|i| {
            event(
                &format!("10.50.{}.{}", i / 200, i % 200 + 1),
                1000 + i,
                [0.3, 0.6, 0.9][i as usize % 3],
            )
        })
        .collect();
    s.admin.post_events(&batch(events)).await.unwrap();
    let mut hostile = event("10.51.0.1", 5000, 0.95);
    hostile.threat_name = XSS_THREAT.into();
    hostile.source_name = Some(XSS_SOURCE.into());
    hostile.endpoint_name = Some(XSS_HOST.into());
    let hostile_id = s
        .admin
        .post_events(&batch(vec![hostile]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    let shot = s
        .admin
        .upload_artifact(artifacts::screenshot(5), None)
        .await
        .unwrap();
    let mut evidence = event("10.52.0.1", 6000, 0.8);
    evidence.threat_name = "TROJAN_Evidence.UI".into();
    evidence.source_ip = Some("198.51.100.23".into());
    evidence.artifacts = vec![shot.sha256.clone()];
    evidence.behaviour = Some(BehaviourJson {
        processes: vec!["C:\\Users\\Public\\svch.exe -k netsvcs".into()],
        files: vec![FileJson {
            path: "C:\\Users\\Public\\svch.exe".into(),
            sha256: Some("ab".repeat(32)),
        }],
        cnc: vec!["203.0.113.80:443".into()],
        ..Default::default()
    });
    let evidence_id = s
        .admin
        .post_events(&batch(vec![evidence]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;

    // Not logged in: the login page; a wrong password says only that.
    b.go(&s, "/incidents").await;
    assert_eq!(b.path().await, "/login");
    b.login(&s, "admin", "not-the-password").await;
    assert_eq!(b.text("#login-error").await, "Wrong user name or password.");
    b.login(&s, "admin", &s.admin_password).await;
    if b.path().await != "/incidents" {
        panic!("login failed: {:?}", b.all_text("#login-error").await);
    }
    assert_eq!(b.text("#count").await, "62 incidents match");
    assert_eq!(b.count("#rows tr").await, 50);
    assert_eq!(
        b.all_text("header nav a").await,
        ["Incidents", "Config", "Uploads"]
    );

    // The hostile incident is inert text in the table.
    let threats = b.all_text("#rows td.threat a").await;
    assert!(threats.contains(&XSS_THREAT.to_owned()), "{threats:?}");
    assert!(
        b.all_text("#rows td.source")
            .await
            .contains(&XSS_SOURCE.to_owned())
    );
    b.inert().await;

    // Paging, then a filter.
    let first_page = b.all_text("#rows td.threat a").await;
    b.submit("#next-page").await;
    b.web
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#first-page"))
        .await
        .unwrap();
    assert_eq!(b.count("#rows tr").await, 12);
    let second_page = b.all_text("#rows tr").await;
    assert!(second_page.iter().all(|r| !first_page.contains(r)));
    b.submit("#first-page").await;
    b.choose("#f-risk", "critical").await;
    b.submit("#apply").await;
    let risks = b.all_text("#rows td .risk").await;
    assert!(
        !risks.is_empty() && risks.iter().all(|r| r.eq_ignore_ascii_case("critical")),
        "{risks:?}"
    );
    assert_eq!(b.text("#count").await, "22 incidents match");
    b.snap("cm-incidents.png").await;

    // The hostile incident's page.
    b.go(&s, &format!("/incidents/{hostile_id}")).await;
    assert_eq!(b.text("#title").await, XSS_THREAT);
    let summary = b.text("#summary").await;
    assert!(
        summary.contains(XSS_HOST) && summary.contains(XSS_SOURCE),
        "{summary}"
    );
    b.inert().await;

    // Evidence, a mitigation, a status change, a whitelist entry.
    b.go(&s, &format!("/incidents/{evidence_id}")).await;
    assert!(b.text("#events").await.contains("svch.exe -k netsvcs"));
    let width = b
        .web
        .execute(
            "const img = document.querySelector('#screenshots img'); return img.complete ? img.naturalWidth : -1;",
            vec![],
        )
        .await
        .unwrap();
    assert!(eventually(10, || async {
        b.web.execute("const i = document.querySelector('#screenshots img'); return i.complete && i.naturalWidth;", vec![]).await.unwrap() == json!(320)
    }).await, "the screenshot renders (first look: {width})");
    assert!(b.text("#downloads").await.contains("IVP for Linux/macOS"));
    let row = "//table[@id='mitigations']//tr[td[1]='block ip' and td[2]='198.51.100.23']";
    b.mark().await;
    b.web
        .find(Locator::XPath(&format!("{row}//button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.loaded("Apply").await;
    assert_eq!(
        b.text("#flash").await,
        "Mitigation applied; it is in the feed now."
    );
    let state = b
        .web
        .find(Locator::XPath(&format!("{row}/td[3]")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.starts_with("Active by admin"), "{state}");

    b.choose("#new-status", "acknowledged").await;
    b.fill("#status-comment", "Looking into it <b>now</b>")
        .await;
    b.submit("#status-form button").await;
    assert_eq!(b.text("#flash").await, "Status changed.");
    assert!(
        b.text("#summary")
            .await
            .to_lowercase()
            .contains("acknowledged")
    );
    assert!(
        b.text("#history")
            .await
            .contains("Looking into it <b>now</b>")
    );

    b.choose("#wl-indicator", "source_ip|198.51.100.23").await;
    b.fill("#wl-reason", "our scanner").await;
    b.submit("#whitelist-form button").await;
    assert_eq!(
        b.text("#flash").await,
        "Whitelisted; matching incidents are benign now."
    );
    assert!(
        b.text(".incident-title .risk")
            .await
            .eq_ignore_ascii_case("benign")
    );
    b.snap("cm-incident.png").await;

    // Uploads: a file submitted for analysis opens an upload incident.
    let sample_dir = tempfile::tempdir().unwrap();
    let sample = sample_dir.path().join("invoice<1>.exe");
    std::fs::write(&sample, b"MZ\x90\x00 not really a program").unwrap();
    b.go(&s, "/uploads").await;
    b.web
        .find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(sample.to_str().unwrap())
        .await
        .unwrap();
    b.submit("#upload-form button").await;
    assert!(
        b.text("#flash")
            .await
            .starts_with("File received: SHA-256 ")
    );
    assert_eq!(
        b.text("#title").await,
        "Submitted for analysis: invoice<1>.exe"
    );

    // Config: a custom role from permissions, then a user holding it.
    b.go(&s, "/config/roles").await;
    b.fill("#role-name", "night-shift").await;
    b.click("#new-role input[value=triage]").await;
    b.submit("#new-role button").await;
    assert_eq!(b.text("#flash").await, "Role night-shift created.");
    let row = b.text("#roles tr[data-role=night-shift]").await;
    assert_eq!(row.matches('✓').count(), 2, "view and triage: {row}");
    b.go(&s, "/config/users").await;
    b.fill("#new-user input[name=username]", "nina").await;
    b.fill("#new-user input[name=password]", "passw0rd-long")
        .await;
    b.choose("#new-user select[name=role]", "night-shift").await;
    b.submit("#new-user button").await;
    assert_eq!(
        b.text("#flash").await,
        "User nina created with the night-shift role."
    );

    // A new incident appears in the open table without a reload.
    b.go(&s, "/incidents").await;
    b.web
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#rows"))
        .await
        .unwrap();
    b.web
        .execute("window.__noReload = true;", vec![])
        .await
        .unwrap();
    let mut live = event("10.53.0.1", 80_000, 0.9);
    live.threat_name = "LIVE_Update.Arrives".into();
    s.admin.post_events(&batch(vec![live])).await.unwrap();
    b.web
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//td[contains(@class,'threat')]/a[text()='LIVE_Update.Arrives']",
        ))
        .await
        .expect("the new incident arrives live");
    assert_eq!(
        b.web
            .execute("return window.__noReload === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page was not reloaded"
    );

    // Logout ends the session.
    b.submit("#logout").await;
    assert_eq!(b.path().await, "/login");
    b.go(&s, "/incidents").await;
    assert_eq!(b.path().await, "/login");
}
