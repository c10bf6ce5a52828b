//! `AnalysisStore`: events by id and by time window (keyset, no row twice), the most
//! severe sensor event of a file, and a submission's life from pending to judged.

use super::*;
use aerie_domain::analysis::{Analysis, Verdict};
use aerie_domain::event::EventKind;

pub async fn events_by_window_and_analyses(store: Arc<dyn Store>) {
    let sha = aerie_domain::text::Sha256Hex::parse("s", &"cd".repeat(32)).unwrap();
    let mut caught = ev("10.7.0.1", 10, 0.4);
    caught.file_sha256 = Some(sha.clone());
    let mut worse = ev("10.7.0.2", 20, 0.9);
    worse.file_sha256 = Some(sha.clone());
    let mut upload = ev("10.7.0.3", 30, 0.0);
    upload.kind = EventKind::Upload;
    upload.file_sha256 = Some(sha.clone());
    let mut events = vec![caught, worse, upload];
    events.extend((0..7).map(|k| ev(&format!("10.7.1.{k}"), 40 + k, 0.5)));
    store.ingest(&events).await.unwrap();

    // The window visits every event once, oldest first, across pages.
    let (from, to) = (
        t0().timestamp_millis(),
        (t0() + TimeDelta::hours(1)).timestamp_millis(),
    );
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.events_between(from, to, after, 3).await.unwrap();
        seen.extend(page.iter().map(|e| (e.event.time, e.id)));
        if page.len() < 3 {
            break;
        }
        after = page.last().map(|e| (e.event.time.timestamp_millis(), e.id));
    }
    assert_eq!(seen.len(), 10);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no row twice"
    );
    let narrow = store
        .events_between(from + 20_000, from + 30_000, None, 100)
        .await
        .unwrap();
    assert_eq!(narrow.len(), 1, "from is inclusive, to exclusive");
    assert_eq!(narrow[0].event.severity.value(), 0.9);

    let one = store.event(narrow[0].id).await.unwrap().unwrap();
    assert_eq!(one, narrow[0]);
    assert_eq!(store.event(i64::MAX).await.unwrap(), None);

    // Hash reputation: the worst sensor event of the file, never an upload.
    let known = store.known_file(&sha).await.unwrap().unwrap();
    assert_eq!(known.severity.value(), 0.9);
    assert_eq!(known.incident_id, narrow[0].incident_id);
    let other = aerie_domain::text::Sha256Hex::parse("s", &"ef".repeat(32)).unwrap();
    assert_eq!(store.known_file(&other).await.unwrap(), None);

    // A submission, pending then judged; found by event id and by MD5 (the latest).
    let upload_event = store
        .events_between(from + 30_000, from + 31_000, None, 1)
        .await
        .unwrap()
        .remove(0);
    let pending = Analysis {
        event_id: upload_event.id,
        sha256: sha.clone(),
        md5: "0123456789abcdef0123456789abcdef".into(),
        file_name: Text::from_trusted("a.exe".into()),
        size: 42,
        submitted: t0(),
        verdict: None,
    };
    store.put_analysis(&pending).await.unwrap();
    assert_eq!(
        store.analysis(upload_event.id).await.unwrap(),
        Some(pending.clone())
    );
    assert!(
        store.put_analysis(&pending).await.is_err(),
        "one submission per event"
    );
    let verdict = Verdict::judge(Some(&known), false, t0() + TimeDelta::seconds(1));
    store
        .finish_analysis(upload_event.id, &verdict)
        .await
        .unwrap();
    let judged = store.analysis_by_md5(&pending.md5).await.unwrap().unwrap();
    assert_eq!(judged.verdict, Some(verdict));
    assert_eq!(store.analysis_by_md5(&"f".repeat(32)).await.unwrap(), None);
}
