//! `BackupStore`: a snapshot is a whole, openable store; `peek` reads one without
//! opening it; `restore_postgres` refuses a database with tables the dump lacks.

use super::*;

pub async fn snapshots_copy_the_whole_store(store: Arc<dyn Store>) {
    let backend = store.backend();
    assert_eq!(
        store.schema_version().await.unwrap(),
        aerie_store::latest_schema(backend)
    );
    store
        .ingest(&[ev("10.0.0.1", 0, 0.9), ev("10.0.0.2", 0, 0.5)])
        .await
        .unwrap();
    store.set_setting("role", "mcm").await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot");
    store.snapshot_into(&path).await.unwrap();
    // Writes go on after the snapshot; the copy is as of its start.
    store.ingest(&[ev("10.0.0.3", 0, 0.9)]).await.unwrap();

    let copy_url = match backend {
        aerie_store::Backend::Sqlite => format!("sqlite:{}", path.display()),
        aerie_store::Backend::Postgres => {
            let url = testing::fresh_postgres_url().await.unwrap();
            assert_eq!(aerie_store::peek(&url, "role").await.unwrap(), None);
            aerie_store::restore_postgres(&url, &path).await.unwrap();
            url
        }
    };
    let peek = aerie_store::peek(&copy_url, "role").await.unwrap().unwrap();
    assert_eq!(peek.setting.as_deref(), Some("mcm"));
    assert_eq!(peek.schema, aerie_store::latest_schema(backend));
    let copy = aerie_store::SqlStore::open(&copy_url).await.unwrap();
    let page = copy.incidents(&IncidentQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 2);
    copy.close().await;

    if backend == aerie_store::Backend::Postgres {
        // A table the dump does not hold would survive the restore: refused, unchanged.
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&copy_url).await.unwrap();
        conn.execute("CREATE TABLE from_a_newer_schema (x int)")
            .await
            .unwrap();
        conn.close().await.unwrap();
        let err = aerie_store::restore_postgres(&copy_url, &path)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains("from_a_newer_schema")),
            "{err}"
        );
    } else {
        let missing = format!("sqlite:{}", dir.path().join("none.db").display());
        assert_eq!(aerie_store::peek(&missing, "role").await.unwrap(), None);
        assert!(!dir.path().join("none.db").exists(), "peek creates nothing");
    }
}
