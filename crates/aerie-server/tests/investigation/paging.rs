//! An incident's events come a page at a time, on the CM and through the MCM.

use super::*;

#[tokio::test]
async fn an_incidents_events_are_paged_newest_first() {
    let mcm = node("mcm-pages", 1).await;
    convert(&mcm).await;
    let cm = node("cm-pages", 2).await;
    let (ok, out) = register(&cm, &mcm).await;
    assert!(ok, "{out}");
    // One noisy endpoint: 250 events within the grouping window make one incident.
    let events: Vec<_> = (0..250).map(|i| event("10.44.0.1", 60 + i, 0.9)).collect();
    let placed = cm.admin.post_events(&batch(events)).await.unwrap();
    let id = placed.placements[0].incident_id;
    assert!(placed.placements.iter().all(|p| p.incident_id == id));

    let page = |query: String| {
        let admin = cm.admin.clone();
        async move {
            let d: serde_json::Value = admin
                .get(&format!("/api/v1/incidents/{id}{query}"))
                .await
                .unwrap();
            d
        }
    };
    let first = page(String::new()).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 100);
    assert_eq!(first["events_total"], 250);
    let times: Vec<&str> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let mut seen: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    let mut next = first["events_next"].as_str().map(str::to_owned);
    for e in first["events"].as_array().unwrap() {
        seen.insert(e["event_id"].as_i64().unwrap());
    }
    while let Some(cursor) = next {
        let p = page(format!("?events_before={cursor}")).await;
        for e in p["events"].as_array().unwrap() {
            assert!(
                seen.insert(e["event_id"].as_i64().unwrap()),
                "no event twice"
            );
        }
        next = p["events_next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 250, "every event once");

    // Bad page parameters are refused, naming the field.
    for (query, field) in [
        ("?events_limit=0", "events_limit"),
        ("?events_limit=501", "events_limit"),
        ("?events_before=x", "events_before"),
    ] {
        let err = cm
            .admin
            .get::<serde_json::Value>(&format!("/api/v1/incidents/{id}{query}"))
            .await
            .unwrap_err();
        match err {
            ClientError::Api { status, body } => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
                assert_eq!(body.field.as_deref(), Some(field), "{query}");
            }
            other => panic!("{query}: {other:?}"),
        }
    }

    // Through the MCM: the same pages, live from the CM.
    assert!(
        eventually(5, || async {
            mcm.running.state.store.cms().await.unwrap()[0].incident_count == 1
        })
        .await
    );
    let cm_id = cm_id_of(&mcm, "cm-pages").await;
    let remote: serde_json::Value = mcm
        .admin
        .get(&format!("/api/v1/incidents/{cm_id}/{id}?events_limit=30"))
        .await
        .unwrap();
    assert_eq!(remote["events"].as_array().unwrap().len(), 30);
    assert_eq!(remote["events_total"], 250);
    assert!(remote["events_next"].is_string());
}

#[tokio::test]
async fn indicators_come_from_every_event_not_only_the_newest() {
    let s = start().await;
    // 1,200 events of one endpoint, each from another source address: more than one
    // scan page, and more options than a detail lists.
    let mut id = None;
    for chunk in (0..1200).collect::<Vec<u32>>().chunks(600) {
        let events: Vec<_> = chunk
            .iter()
            .map(|i| {
                let mut e = event("10.45.0.1", 60 + i64::from(*i) / 10, 0.9);
                e.source_ip = Some(format!("198.51.{}.{}", i / 200, i % 200 + 1));
                e
            })
            .collect();
        let placed = s.admin.post_events(&batch(events)).await.unwrap();
        id = Some(placed.placements[0].incident_id);
    }
    let id = id.unwrap();
    let detail: serde_json::Value = s
        .admin
        .get(&format!("/api/v1/incidents/{id}"))
        .await
        .unwrap();
    assert_eq!(detail["events_total"], 1200);
    assert_eq!(detail["mitigation_options"].as_array().unwrap().len(), 500);
    assert_eq!(detail["more_indicators"], true);
    // The oldest event's address is on the last scan page (newest first): still an
    // indicator of the incident.
    let path = format!("/api/v1/incidents/{id}/mitigations");
    let applied: serde_json::Value = s
        .admin
        .post(&path, &json!({"kind": "block_ip", "value": "198.51.0.1"}))
        .await
        .unwrap();
    assert_eq!(applied["value"], "198.51.0.1");
    let refused = s
        .admin
        .post::<_, serde_json::Value>(&path, &json!({"kind": "block_ip", "value": "192.0.2.1"}))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Api { status, .. } if status == StatusCode::BAD_REQUEST)
    );
    let whitelisted = s
        .admin
        .post::<_, serde_json::Value>(
            &format!("/api/v1/incidents/{id}/whitelist"),
            &json!({"kind": "source_ip", "value": "198.51.0.2", "reason": "a scanner of ours"}),
        )
        .await;
    assert!(whitelisted.is_ok(), "{whitelisted:?}");
}
