//! Ingest grouping, the incident list's filters, sorts and pages, and the status workflow.

use super::*;

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
