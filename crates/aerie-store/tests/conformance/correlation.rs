//! `CorrelationStore`: campaigns follow the MCM's table through every sync batch — new
//! incidents, newer versions, removals, a resync's sweep — and only indicators on two
//! or more CMs make one.

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
