//! Ingest grouping, versions and sequence numbers, the status workflow, filters, paging and counts.

use super::*;

pub(super) async fn grouping_joins_within_window_and_splits_outside(store: Arc<dyn Store>) {
    let mut exploit = ev("10.0.0.1", 200, 0.9);
    exploit.kind = EventKind::Exploit;
    exploit.threat_name = text("EXPLOIT_<script>");
    exploit.progression = [Stage::Exploit, Stage::Infection].into_iter().collect();
    exploit.source = Source {
        ip: Some("203.0.113.9".parse().unwrap()),
        name: Some(text("http://evil.example/a?b=1")),
        country: Some(CountryCode::parse("c", "ru").unwrap()),
    };
    let placed = store
        .ingest(&[
            ev("10.0.0.1", 0, 0.3),
            exploit,
            ev("10.0.0.1", 500, 0.1), // 300 s after the last activity (200 s): joins
            ev("10.0.0.1", 801, 0.1), // 301 s after 500 s: a new incident
            ev("10.0.0.2", 10, 0.0),  // another endpoint, benign
        ])
        .await
        .unwrap();
    let first = placed[0].incident_id;
    assert!(placed[0].opened);
    assert_eq!(placed[1].incident_id, first);
    assert_eq!(placed[2].incident_id, first);
    assert!(!placed[2].opened);
    assert_ne!(placed[3].incident_id, first);
    assert!(placed[3].opened);
    assert!(placed[4].opened);

    let incident = store.incident(first).await.unwrap().unwrap();
    let f = &incident.facts;
    assert_eq!(f.event_count, 3);
    assert_eq!(incident.risk(), Risk::Critical);
    assert_eq!(
        f.threat_name.as_str(),
        "EXPLOIT_<script>",
        "headline follows the worst event"
    );
    assert_eq!(f.source_country.unwrap().as_str(), "RU");
    assert_eq!(f.first_seen, t0());
    assert_eq!(f.last_activity, t0() + TimeDelta::seconds(500));
    let stages: Vec<Stage> = f.progression.stages().collect();
    assert_eq!(
        stages,
        vec![Stage::Exploit, Stage::Download, Stage::Infection]
    );
    assert_eq!(incident.status, Status::New);

    let events = store.events_of(first).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].event.kind, EventKind::Exploit);
    assert_eq!(
        events[1].event.source.name.as_ref().unwrap().as_str(),
        "http://evil.example/a?b=1"
    );
    let benign = store
        .incident(placed[4].incident_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(benign.risk(), Risk::Benign);
    assert!(
        store
            .incident(IncidentId::new(999_999))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .events_of(IncidentId::new(999_999))
            .await
            .unwrap()
            .is_empty()
    );
}
pub(super) async fn complete_incidents_take_no_new_events(store: Arc<dyn Store>) {
    let id = store.ingest(&[ev("10.0.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    store
        .change_status(id, Status::Complete, &text("closed"), &text("admin"), t0())
        .await
        .unwrap();
    let next = store.ingest(&[ev("10.0.0.1", 30, 0.5)]).await.unwrap()[0];
    assert!(next.opened);
    assert_ne!(next.incident_id, id);
}
pub(super) async fn changes_bump_sequence_and_version(store: Arc<dyn Store>) {
    assert_eq!(store.last_change_seq().await.unwrap(), 0);
    let a = store.ingest(&[ev("10.0.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    let b = store.ingest(&[ev("10.0.0.2", 0, 0.5)]).await.unwrap()[0].incident_id;
    let a1 = store.incident(a).await.unwrap().unwrap();
    assert_eq!(a1.version, 1);
    store.ingest(&[ev("10.0.0.1", 10, 0.6)]).await.unwrap();
    let a2 = store.incident(a).await.unwrap().unwrap();
    assert_eq!(a2.version, 2);
    assert!(a2.change_seq > a1.change_seq);
    let moved = store
        .change_status(a, Status::Acknowledged, &text("seen"), &text("ann"), t0())
        .await
        .unwrap();
    assert_eq!(moved.version, 3);
    assert_eq!(store.incident(a).await.unwrap().unwrap(), moved);
    settled(&*store, moved.change_seq).await;
    assert_eq!(store.last_change_seq().await.unwrap(), moved.change_seq);

    let all = store.changes_since(0, 100).await.unwrap();
    let ids: Vec<IncidentId> = all.iter().map(|i| i.id).collect();
    assert_eq!(
        ids,
        vec![b, a],
        "each incident once, in order of its latest change"
    );
    assert!(all.windows(2).all(|w| w[0].change_seq < w[1].change_seq));
    let after_b = store.changes_since(all[0].change_seq, 100).await.unwrap();
    assert_eq!(after_b.len(), 1);
    assert_eq!(store.changes_since(0, 1).await.unwrap().len(), 1);
}
pub(super) async fn status_workflow_and_history(store: Arc<dyn Store>) {
    let id = store.ingest(&[ev("10.0.0.1", 0, 0.5)]).await.unwrap()[0].incident_id;
    let steps = [
        (Status::Acknowledged, "looking"),
        (Status::InProgress, "cleaning"),
    ];
    for (to, comment) in steps {
        store
            .change_status(id, to, &text(comment), &text("ann"), t0())
            .await
            .unwrap();
    }
    let err = store
        .change_status(id, Status::New, &text("undo"), &text("ann"), t0())
        .await;
    assert!(
        matches!(err, Err(StoreError::Rule(ref e)) if e.field == "status"),
        "{err:?}"
    );
    let history = store.status_history(id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0].from, history[0].to),
        (Status::New, Status::Acknowledged)
    );
    assert_eq!(history[1].comment.as_str(), "cleaning");
    assert_eq!(history[1].actor.as_str(), "ann");
    let missing = store
        .change_status(
            IncidentId::new(424242),
            Status::Complete,
            &text("x"),
            &text("a"),
            t0(),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
}
pub(super) async fn filters_match(store: Arc<dyn Store>) {
    let mut phish = ev("10.0.0.3", 0, 0.6);
    phish.category = Category::Phishing;
    phish.kind = EventKind::Phishing;
    phish.threat_name = text("PHISH_Invoice_100%_real");
    phish.endpoint.name = Some(text("finance-laptop"));
    phish.source = Source {
        ip: Some("198.51.100.7".parse().unwrap()),
        name: Some(text("billing@Evil.example")),
        country: None,
    };
    store
        .ingest(&[
            ev("10.0.0.1", 0, 0.9),
            ev("10.0.0.2", 1000, 0.2),
            phish,
            ev("10.0.0.4", 0, 0.0),
        ])
        .await
        .unwrap();
    let count = |filter: IncidentFilter| {
        let store = store.clone();
        async move {
            let q = IncidentQuery {
                filter,
                ..Default::default()
            };
            store.incidents(&q).await.unwrap().items.len()
        }
    };
    assert_eq!(count(IncidentFilter::default()).await, 4);
    assert_eq!(
        count(IncidentFilter {
            risks: vec![Risk::Critical, Risk::High],
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(IncidentFilter {
            risks: vec![Risk::Benign],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(IncidentFilter {
            categories: vec![Category::Phishing],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(IncidentFilter {
            statuses: vec![Status::New],
            ..Default::default()
        })
        .await,
        4
    );
    assert_eq!(
        count(IncidentFilter {
            statuses: vec![Status::Complete],
            ..Default::default()
        })
        .await,
        0
    );
    let endpoint = Some("10.0.0.2".parse().unwrap());
    assert_eq!(
        count(IncidentFilter {
            endpoint,
            ..Default::default()
        })
        .await,
        1
    );
    let by_source = |s: &str| IncidentFilter {
        source: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(count(by_source("198.51.100.7")).await, 1);
    assert_eq!(count(by_source("evil.EXAMPLE")).await, 1);
    assert_eq!(count(by_source("nowhere")).await, 0);
    let by_text = |s: &str| IncidentFilter {
        text: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        count(by_text("100%")).await,
        1,
        "% is literal, not a wildcard"
    );
    assert_eq!(count(by_text("_%")).await, 0);
    assert_eq!(count(by_text("FINANCE")).await, 1);
    assert_eq!(count(by_text("zemot")).await, 3);
    assert_eq!(count(by_text("10.0.0.4")).await, 1);
    let from = Some(t0() + TimeDelta::seconds(500));
    assert_eq!(
        count(IncidentFilter {
            from,
            ..Default::default()
        })
        .await,
        1
    );
    let to = Some(t0() + TimeDelta::seconds(500));
    assert_eq!(
        count(IncidentFilter {
            to,
            ..Default::default()
        })
        .await,
        3
    );
}
pub(super) async fn paging_visits_every_row_once_in_order(store: Arc<dyn Store>) {
    // 37 incidents on 12 endpoints; several share a last-activity time to test ties.
    let events: Vec<NewEvent> = (0..37)
        .map(|i| {
            ev(
                &format!("10.0.{}.{}", i % 3, i % 12),
                (i / 12) * 1000 + (i % 4),
                (i % 5) as f64 / 4.0,
            )
        })
        .collect();
    store.ingest(&events).await.unwrap();
    for sort in [
        IncidentSort::Time,
        IncidentSort::Risk,
        IncidentSort::Endpoint,
    ] {
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let q = IncidentQuery {
                sort,
                limit: 5,
                after: after.clone(),
                ..Default::default()
            };
            let page = store.incidents(&q).await.unwrap();
            assert!(page.items.len() <= 5);
            seen.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ids: HashSet<i64> = seen.iter().map(|i| i.id.get()).collect();
        assert_eq!(ids.len(), seen.len(), "{sort}: no row twice");
        assert_eq!(ids.len(), 37, "{sort}: every row");
        let key = |i: &aerie_domain::incident::Incident| match sort {
            IncidentSort::Time => (
                0,
                -i.facts.last_activity.timestamp_millis(),
                -i.id.get(),
                String::new(),
            ),
            IncidentSort::Risk => (
                -i.risk().rank(),
                -i.facts.last_activity.timestamp_millis(),
                -i.id.get(),
                String::new(),
            ),
            IncidentSort::Endpoint => (
                0,
                0,
                i.id.get(),
                aerie_domain::query::endpoint_sort_key(i.facts.endpoint_ip),
            ),
        };
        let mut sorted = seen.clone();
        sorted.sort_by_key(|i| {
            let (a, b, c, d) = key(i);
            (a, b, d, c)
        });
        assert_eq!(
            seen.iter().map(|i| i.id).collect::<Vec<_>>(),
            sorted.iter().map(|i| i.id).collect::<Vec<_>>(),
            "{sort}: pages come in sort order"
        );
    }
}
pub(super) async fn counts_stop_at_the_cap(store: Arc<dyn Store>) {
    let events: Vec<NewEvent> = (0..30)
        .map(|i| {
            ev(
                &format!("10.24.0.{}", i + 1),
                0,
                if i < 10 { 0.9 } else { 0.3 },
            )
        })
        .collect();
    store.ingest(&events).await.unwrap();
    let all = IncidentFilter::default();
    assert_eq!(store.count_incidents(&all, None, 100).await.unwrap(), 30);
    assert_eq!(
        store.count_incidents(&all, None, 20).await.unwrap(),
        21,
        "cap + 1: more than 20"
    );
    let critical = IncidentFilter {
        risks: vec![Risk::Critical],
        ..Default::default()
    };
    assert_eq!(
        store.count_incidents(&critical, None, 100).await.unwrap(),
        10
    );
    assert_eq!(
        store.count_incidents(&all, Some(&[]), 100).await.unwrap(),
        0,
        "the MCM table is empty"
    );
}
