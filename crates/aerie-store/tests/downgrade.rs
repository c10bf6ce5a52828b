//! A store that a newer Aerie migrated is refused at open, saying what to do, and left
//! as it was; on SQLite and on PostgreSQL.

use aerie_store::{SqlStore, StoreError, latest_schema, testing};
use sqlx::Connection;

/// Marks the store at `url` as migrated by a future version, then opens it.
async fn reopen_after_a_newer_version(url: &str, backend: aerie_store::Backend) {
    let store = SqlStore::open(url).await.unwrap();
    store.close().await;
    let future = latest_schema(backend) + 1;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let checksum = match backend {
        aerie_store::Backend::Sqlite => "x'00'",
        aerie_store::Backend::Postgres => "'\\x00'::bytea",
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({future}, 'from the future', true, {checksum}, 0)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let refused = SqlStore::open(url)
        .await
        .err()
        .expect("a newer store is refused");
    let StoreError::Config(message) = &refused else {
        panic!("not a configuration error: {refused:?}")
    };
    assert!(
        message.contains(&format!("schema {future}"))
            && message.contains("newer version of Aerie")
            && message.contains("restore a backup"),
        "{message}"
    );
    // Nothing was changed: the mark is still there, and refused again.
    assert!(SqlStore::open(url).await.is_err());
}

#[tokio::test]
async fn a_sqlite_store_of_a_newer_version_is_refused() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    reopen_after_a_newer_version(
        &SqlStore::sqlite_url(dir.path()),
        aerie_store::Backend::Sqlite,
    )
    .await;
}

#[tokio::test]
async fn a_postgres_store_of_a_newer_version_is_refused() {
    sqlx::any::install_default_drivers();
    let Some(url) = testing::fresh_postgres_url().await else {
        return;
    };
    reopen_after_a_newer_version(&url, aerie_store::Backend::Postgres).await;
}
