//! `CorrelationStore`: campaigns follow the MCM's table through every sync batch — new
//! incidents, newer versions, removals, a resync's sweep — once the follower has read
//! the feed, and only indicators on two or more CMs make one. `FeedStore`: the MCM's
//! feed pages every written row once, in order, from a durable cursor.

use super::*;
use aerie_domain::correlation::IndicatorKind;

/// Incident `id` of a CM with this file and source name (version `v`).
fn incident(
    base: &aerie_domain::incident::Incident,
    id: i64,
    v: i64,
    file: Option<&str>,
    source: Option<&str>,
) -> aerie_domain::incident::Incident {
    let mut i = base.clone();
    i.id = IncidentId::new(id);
    i.version = v;
    i.change_seq = id * 10 + v;
    i.facts.file_sha256 = file.map(|f| aerie_domain::text::Sha256Hex::parse("f", f).unwrap());
    i.facts.source_name = source.map(|s| Text::from_trusted(s.into()));
    i.facts.source_ip = None;
    i
}

/// Runs the correlation's follower until it has read the whole feed (on PostgreSQL the
/// feed's horizon waits for every transaction in the cluster, other tests' too).
async fn catch_up(store: &dyn Store) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.correlation_behind().await.unwrap() > 0 {
        if store.correlate_next(2).await.unwrap() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the follower never caught up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

pub async fn campaigns_follow_the_table(store: Arc<dyn Store>) {
    let base = federation::cm_incidents(1).await.remove(0);
    let (hash, other) = ("ab".repeat(32), "cd".repeat(32));
    let mut cms = Vec::new();
    for n in 0..3 {
        cms.push(
            store
                .register_cm(
                    &federation::registration(&format!("c{n}"), &format!("k{n}")),
                    t0(),
                )
                .await
                .unwrap(),
        );
    }
    let apply = |cm: CmId,
                 upserts: Vec<aerie_domain::incident::Incident>,
                 removals: Vec<(IncidentId, i64)>| {
        let store = store.clone();
        async move {
            let batch = SyncBatch {
                high_seq: upserts.iter().map(|i| i.change_seq).max().unwrap_or(0),
                upserts,
                removals,
                ..Default::default()
            };
            store.apply_sync(cm, &batch, t0()).await.unwrap();
            catch_up(store.as_ref()).await;
        }
    };
    // The hash on all three CMs; a domain on two; another hash on one only.
    apply(
        cms[0].id,
        vec![
            incident(&base, 1, 1, Some(&hash), Some("http://evil.example/a")),
            incident(&base, 2, 1, Some(&other), None),
        ],
        vec![],
    )
    .await;
    apply(
        cms[1].id,
        vec![incident(&base, 1, 1, Some(&hash), Some("evil.example"))],
        vec![],
    )
    .await;
    apply(
        cms[2].id,
        vec![incident(&base, 7, 1, Some(&hash), None)],
        vec![],
    )
    .await;

    let since = t0() - TimeDelta::days(30);
    let found = store.campaigns(since, 100).await.unwrap();
    let summary: Vec<(IndicatorKind, String, usize, i64)> = found
        .iter()
        .map(|c| {
            (
                c.indicator.kind,
                c.indicator.value.clone(),
                c.cms.len(),
                c.incidents,
            )
        })
        .collect();
    assert_eq!(summary.len(), 2, "{summary:?}");
    assert!(summary.contains(&(IndicatorKind::FileSha256, hash.clone(), 3, 3)));
    assert!(summary.contains(&(IndicatorKind::Domain, "evil.example".into(), 2, 2)));

    let seen = store
        .also_seen(cms[0].id, IncidentId::new(1))
        .await
        .unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let of_hash = seen
        .iter()
        .find(|(i, _)| i.kind == IndicatorKind::FileSha256)
        .unwrap();
    assert_eq!(of_hash.1, vec![cms[1].id, cms[2].id]);
    assert!(
        store
            .also_seen(cms[0].id, IncidentId::new(2))
            .await
            .unwrap()
            .is_empty()
    );

    // A newer version without the domain, an older one (ignored), and a removal.
    apply(
        cms[1].id,
        vec![incident(&base, 1, 2, Some(&hash), None)],
        vec![],
    )
    .await;
    apply(
        cms[1].id,
        vec![incident(&base, 1, 1, Some(&hash), Some("evil.example"))],
        vec![],
    )
    .await;
    apply(cms[2].id, vec![], vec![(IncidentId::new(7), 1)]).await;
    let found = store.campaigns(since, 100).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].indicator.kind, IndicatorKind::FileSha256);
    assert_eq!(found[0].cms, vec![cms[0].id, cms[1].id]);

    // Turned off, the follower falls behind (a removal still drops its sightings at
    // once); turned on, it catches up.
    store.set_correlation(false);
    let batch = SyncBatch {
        high_seq: 200,
        upserts: vec![incident(&base, 20, 1, None, Some("late.example"))],
        ..Default::default()
    };
    store.apply_sync(cms[2].id, &batch, t0()).await.unwrap();
    let batch = SyncBatch {
        high_seq: 300,
        upserts: vec![incident(&base, 30, 1, None, Some("late.example"))],
        ..Default::default()
    };
    store.apply_sync(cms[0].id, &batch, t0()).await.unwrap();
    assert_eq!(store.correlate_next(100).await.unwrap(), 0);
    assert_eq!(store.correlation_behind().await.unwrap(), 2);
    assert_eq!(store.campaigns(since, 100).await.unwrap().len(), 1);
    store.set_correlation(true);
    catch_up(store.as_ref()).await;
    let found = store.campaigns(since, 100).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|c| c.indicator.value == "late.example"));
    apply(cms[0].id, vec![], vec![(IncidentId::new(30), 1)]).await;
    assert_eq!(store.campaigns(since, 100).await.unwrap().len(), 1);

    // A window after every incident finds nothing; dropping the federation clears it.
    assert!(
        store
            .campaigns(t0() + TimeDelta::days(400), 100)
            .await
            .unwrap()
            .is_empty()
    );
    store.drop_federation(t0()).await.unwrap();
    assert!(store.campaigns(since, 100).await.unwrap().is_empty());
}

pub async fn mcm_feed_pages_every_write_once(store: Arc<dyn Store>) {
    let base = federation::cm_incidents(1).await.remove(0);
    let cm = store
        .register_cm(&federation::registration("feed", "kf"), t0())
        .await
        .unwrap();
    let batch = |upserts: Vec<aerie_domain::incident::Incident>| SyncBatch {
        high_seq: upserts.iter().map(|i| i.change_seq).max().unwrap_or(0),
        upserts,
        ..Default::default()
    };
    let mut watch = store.watch_remote();
    let first: Vec<_> = (1..=5)
        .map(|id| incident(&base, id, 1, None, None))
        .collect();
    store.apply_sync(cm.id, &batch(first), t0()).await.unwrap();
    assert!(
        watch.has_changed().unwrap(),
        "a written batch wakes followers"
    );
    watch.borrow_and_update();
    // A newer version moves its row to the feed's end; an equal one writes nothing.
    store
        .apply_sync(cm.id, &batch(vec![incident(&base, 2, 2, None, None)]), t0())
        .await
        .unwrap();
    store
        .apply_sync(cm.id, &batch(vec![incident(&base, 3, 1, None, None)]), t0())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut at = store.cursor("test").await.unwrap().unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.remote_behind(at).await.unwrap() > 0 {
        let page = store.remote_changes(at, 2).await.unwrap();
        let Some((last, _)) = page.last() else {
            assert!(
                std::time::Instant::now() < deadline,
                "the feed never passed the horizon"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        assert!(*last > at);
        at = *last;
        store.set_cursor("test", at).await.unwrap();
        seen.extend(
            page.iter()
                .map(|(_, r)| (r.incident.id.get(), r.incident.version)),
        );
    }
    assert_eq!(seen, vec![(1, 1), (3, 1), (4, 1), (5, 1), (2, 2)]);
    assert_eq!(store.cursor("test").await.unwrap(), Some(at));
    assert_eq!(store.remote_behind(at).await.unwrap(), 0);
    assert_eq!(store.remote_behind(Default::default()).await.unwrap(), 5);
    store.drop_cursor("test").await.unwrap();
    assert_eq!(store.cursor("test").await.unwrap(), None);
}
