//! The daemon end to end on PostgreSQL (fails in CI when PostgreSQL is unreachable).

mod common;

use aerie_proto::incidents::IncidentListParams;
use aerie_server::ConfigLayer;
use common::{batch, event, start_with};

#[tokio::test]
async fn daemon_runs_on_postgres() {
    let Some(url) = aerie_store::testing::fresh_postgres_url().await else {
        return;
    };
    let s = start_with(ConfigLayer {
        database_url: Some(url),
        ..Default::default()
    })
    .await;
    assert_eq!(
        s.running.state.store.backend(),
        aerie_store::Backend::Postgres
    );
    let placed = s
        .admin
        .post_events(&batch(vec![
            event("10.9.0.1", 36000, 0.8),
            event("10.9.0.1", 36060, 0.3),
        ]))
        .await
        .unwrap();
    let id = placed.placements[0].incident_id;
    assert_eq!(placed.placements[1].incident_id, id);
    s.admin
        .change_status(id, "in_progress", "on it")
        .await
        .unwrap();
    let page = s
        .admin
        .incidents(&IncidentListParams::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        (page.items[0].status.as_str(), page.items[0].event_count),
        ("in_progress", 2)
    );
}
