//! Cross-CM correlation: the same file from three CMs and a domain from two make exactly
//! two campaigns, in the API and in the Campaigns view; a lone indicator makes none; an
//! incident page on the MCM names the other CMs; a campaign's link filters the table.

use super::*;

#[tokio::test]
async fn shared_indicators_make_campaigns_in_the_api_and_the_view() {
    let mcm = node("mcm-corr", 1).await;
    convert(&mcm).await;
    let mut cms = Vec::new();
    for (n, name) in ["cm-a", "cm-b", "cm-c"].iter().enumerate() {
        let cm = node(name, n as u8 + 2).await;
        assert!(register(&cm, &mcm).await.0);
        cms.push(cm);
    }
    let hash = "ef".repeat(32);
    let lone = "01".repeat(32);
    for (n, cm) in cms.iter().enumerate() {
        let mut e = event(&format!("10.80.{n}.1"), 100 + n as i64, 0.8);
        e.file_sha256 = Some(hash.clone());
        // The domain on the first two CMs only; the third's source is another.
        e.source_name = Some(if n < 2 {
            "http://drop.evil.example/x".into()
        } else {
            "http://elsewhere.example/".into()
        });
        e.source_ip = None;
        let mut other = event(&format!("10.81.{n}.1"), 200 + n as i64, 0.6);
        other.source_ip = None;
        other.source_name = Some(format!("sender{n}@mail{n}.example"));
        if n == 0 {
            other.file_sha256 = Some(lone.clone());
        }
        cm.admin.post_events(&batch(vec![e, other])).await.unwrap();
    }
    let campaigns = || async {
        let v: serde_json::Value = mcm.admin.get("/api/v1/campaigns?hours=72").await.unwrap();
        v.as_array().unwrap().clone()
    };
    // Every CM's incidents have synced once the file is shared by all three.
    let settled = || async {
        let found = campaigns().await;
        found.len() == 3
            && found
                .iter()
                .any(|c| c["kind"] == "file_sha256" && c["cms"].as_array().unwrap().len() == 3)
    };
    assert!(eventually(15, settled).await, "{:?}", campaigns().await);
    let found = campaigns().await;
    let by = |kind: &str, value: &str| {
        found
            .iter()
            .find(|c| c["kind"] == kind && c["value"] == value)
            .unwrap_or_else(|| panic!("no {kind} {value} in {found:?}"))
            .clone()
    };
    let file = by("file_sha256", &hash);
    let names: Vec<&str> = file["cms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cm-a", "cm-b", "cm-c"]);
    assert_eq!(file["incidents"], 3);
    let domain = by("domain", "drop.evil.example");
    assert_eq!(domain["cms"].as_array().unwrap().len(), 2);
    let url = by("url", "http://drop.evil.example/x");
    assert_eq!(url["cms"].as_array().unwrap().len(), 2);
    assert!(
        found.iter().all(|c| c["value"] != lone),
        "one CM is no campaign"
    );
    // A CM has no campaigns; a bad window is refused.
    assert!(
        cms[0]
            .admin
            .get::<serde_json::Value>("/api/v1/campaigns")
            .await
            .is_err()
    );
    assert!(
        mcm.admin
            .get::<serde_json::Value>("/api/v1/campaigns?hours=0")
            .await
            .is_err()
    );

    let Some(b) = browser().await else { return };
    b.login(&mcm, "admin", &mcm.admin_password).await;
    b.go(&mcm, "/incidents").await;
    b.submit("#campaigns-link").await;
    assert_eq!(b.text("h1").await, "Campaigns");
    assert_eq!(b.count("#campaigns tr.campaign").await, 3);
    let values = b.all_text("#campaigns td.value").await;
    assert!(
        values.contains(&hash) && values.contains(&"drop.evil.example".to_owned()),
        "{values:?}"
    );
    let rows = b
        .all_text("#campaigns tr.campaign[data-kind=file_sha256] td.cms")
        .await;
    assert_eq!(rows, ["cm-a, cm-b, cm-c"]);
    assert_eq!(
        b.all_text("header nav a").await,
        ["Incidents", "Config"],
        "still two tabs"
    );
    b.snap("mcm-campaigns.png").await;
    // The file's link: the table filtered to its three incidents.
    b.submit("#campaigns tr.campaign[data-kind=file_sha256] td.value a")
        .await;
    assert_eq!(b.count("#rows tr[data-incident]").await, 3);

    // An incident page names the other CMs.
    let a_id = cm_id_of(&mcm, "cm-a").await;
    let listed: serde_json::Value = mcm
        .admin
        .get(&format!("/api/v1/incidents?cm={a_id}&file={hash}"))
        .await
        .unwrap();
    let id = listed["items"][0]["incident_id"].as_i64().unwrap();
    b.go(&mcm, &format!("/incidents/{a_id}/{id}")).await;
    assert_eq!(b.text("#also-seen-cms").await, "cm-b, cm-c");
    b.inert().await;
}
