//! The MCM's web UI: every CM in one table, and a page that says when the owning CM is down.

use super::*;

#[tokio::test]
async fn mcm_ui_shows_every_cm_and_says_when_one_is_down() {
    let mcm = node("mcm-ui", 1).await;
    convert(&mcm).await;
    let east = node("cm-east", 2).await;
    let west = node("cm-west", 3).await;
    assert!(register(&east, &mcm).await.0);
    assert!(register(&west, &mcm).await.0);
    let Some(b) = browser().await else { return };
    for (cm, base) in [(&east, 60), (&west, 70)] {
        let events: Vec<_> = (0..3)
            .map(|i| event(&format!("10.{base}.0.{}", i + 1), 100 + i, 0.8))
            .collect();
        cm.admin.post_events(&batch(events)).await.unwrap();
    }
    let mut hostile = event("10.61.0.9", 400, 0.9);
    hostile.threat_name = XSS_THREAT.into();
    hostile.endpoint_name = Some(XSS_HOST.into());
    hostile.source_name = Some(XSS_SOURCE.into());
    east.admin.post_events(&batch(vec![hostile])).await.unwrap();
    assert!(
        eventually(15, || async {
            mcm.admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .len()
                == 7
        })
        .await
    );
    let west_id = cm_id_of(&mcm, "cm-west").await;

    b.login(&mcm, "admin", &mcm.admin_password).await;
    assert_eq!(
        b.all_text("header nav a").await,
        ["Incidents", "Config"],
        "the MCM has two tabs"
    );
    assert_eq!(b.text("#refresh").await, "Refresh");
    assert_eq!(b.text("#logout").await, "Logout");
    assert_eq!(b.text("#incidents thead th").await, "CM Name");
    let names = b.all_text("#rows td.cm").await;
    assert!(
        names.contains(&"cm-east".to_owned()) && names.contains(&"cm-west".to_owned()),
        "{names:?}"
    );
    assert!(
        b.all_text("#rows td.threat a")
            .await
            .contains(&XSS_THREAT.to_owned())
    );
    b.inert().await;
    b.snap("mcm-incidents.png").await;

    // An incident of cm-east, live from its CM.
    b.mark().await;
    b.web.find(Locator::XPath("//tr[td[@class='cm']='cm-east']/td[contains(@class,'threat')]/a[text()='TROJAN_Zemot.CY']")).await.unwrap().click().await.unwrap();
    b.loaded("the incident link").await;
    let summary = b.text("#summary").await;
    assert!(
        summary.contains("cm-east") && summary.contains("127.0.0.2"),
        "{summary}"
    );
    assert!(b.text("#events").await.contains("TROJAN_Zemot.CY"));
    b.snap("mcm-incident.png").await;

    b.submit("header nav a[href='/config']").await;
    b.submit("nav.side a[href='/config/cms']").await;
    let cms = b.text("#cms").await;
    assert!(
        cms.contains("cm-east") && cms.contains("cm-west") && cms.contains("online"),
        "{cms}"
    );
    assert_eq!(b.count("#cms button, #cms form").await, 0, "no delete");
    b.snap("mcm-secondary-cms.png").await;

    // cm-west stops: its incident page says so plainly and keeps the Summary.
    let west_incident = mcm
        .admin
        .incidents(&aerie_proto::incidents::IncidentListParams {
            cm: Some(west_id.to_string()),
            ..Default::default()
        })
        .await
        .unwrap()
        .items[0]
        .incident_id;
    let addr = west.running.addr;
    west.shutdown.cancel();
    assert!(
        eventually(15, || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await
    );
    b.go(&mcm, &format!("/incidents/{west_id}/{west_incident}"))
        .await;
    let notice = b.text("#unreachable").await;
    assert!(
        notice.contains("CM cm-west (127.0.0.3) is unreachable"),
        "{notice}"
    );
    assert!(b.text("#summary").await.contains("cm-west"));

    b.go(&mcm, "/uploads").await;
    assert!(
        b.text("main").await.contains("404"),
        "no Uploads on the MCM"
    );
}
