//! [`BackupStore`]: a consistent copy of the store while it serves, and the offline side
//! of a restore (what an unopened store holds; PostgreSQL's `pg_restore`).
//!
//! SQLite copies itself with `VACUUM INTO`: one read transaction, so the copy is a
//! snapshot and writers go on. PostgreSQL is copied by `pg_dump -Fc` (a snapshot too) and
//! put back by `pg_restore` in one transaction. Both are the server's own client tools,
//! run as child processes; a password in the URL travels in `PGPASSWORD`, never on a
//! command line that `ps` shows.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use async_trait::async_trait;
use sqlx::{AnyConnection, Connection, Row};

use super::{Backend, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, SqlStore};
use crate::{BackupStore, Result, StoreError};

#[async_trait]
impl BackupStore for SqlStore {
    async fn close_connections(&self) {
        self.close().await;
    }

    async fn snapshot_into(&self, path: &Path) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                let target = path.to_str().ok_or_else(|| {
                    StoreError::Config(format!("{} is not a UTF-8 path", path.display()))
                })?;
                sqlx::query("VACUUM INTO $1")
                    .bind(target.to_owned())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            Backend::Postgres => {
                let mut args = vec!["-Fc".into(), "--no-owner".into(), "-f".into()];
                args.push(path.as_os_str().to_owned());
                run_tool("pg_dump", args, &self.url).await
            }
        }
    }

    async fn schema_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

impl SqlStore {
    /// Closes every connection and waits until they are closed (SQLite then has folded
    /// its WAL into the database file): for a process that opened the store only to
    /// migrate it, before another opens it.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Backend {
    /// The backend of a `sqlite:…` or `postgres://…` URL.
    pub fn of_url(url: &str) -> Option<Backend> {
        Backend::of(url)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The database file of a `sqlite:PATH[?options]` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The newest schema this build's migrations make on `backend`.
pub fn latest_schema(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// What an existing store holds, read without creating or migrating it.
#[derive(Clone, Debug, PartialEq)]
pub struct Peek {
    /// The highest migration applied.
    pub schema: i64,
    /// The value of the setting asked for, if it is set.
    pub setting: Option<String>,
}

/// Looks into the store at `url` without opening it as [`SqlStore::open`] would: `None`
/// when there is none yet (no SQLite file, or a database without Aerie's tables).
pub async fn peek(url: &str, setting: &str) -> Result<Option<Peek>> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url).ok_or_else(|| {
        StoreError::Config("database URL must start with sqlite: or postgres://".to_owned())
    })?;
    let url = match backend {
        Backend::Sqlite => {
            match sqlite_path(url) {
                Some(path) if path.exists() => {}
                _ => return Ok(None),
            }
            // Read-write, never create: a read-only connection cannot open a WAL database
            // whose `-shm` is missing.
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rw")
        }
        Backend::Postgres => url.to_owned(),
    };
    let mut conn = AnyConnection::connect(&url).await?;
    let tables = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
        }
    };
    let found: i64 = sqlx::query_scalar(tables).fetch_one(&mut conn).await?;
    let peek = if found == 0 {
        None
    } else {
        let schema: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
                .fetch_one(&mut conn)
                .await?;
        // A store of the first migrations has the settings table too.
        let value = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(setting.to_owned())
            .fetch_optional(&mut conn)
            .await?
            .map(|row| row.try_get::<String, _>(0))
            .transpose()?;
        Some(Peek {
            schema,
            setting: value,
        })
    };
    conn.close().await?;
    Ok(peek)
}

/// Replaces the PostgreSQL database at `url` by the `pg_dump -Fc` archive `dump`, in one
/// transaction (`pg_restore --clean --if-exists --single-transaction`): on failure the
/// database is as it was. Refused, changing nothing, when the database holds tables the
/// archive lacks (a newer schema's): a restore would leave them behind.
pub async fn restore_postgres(url: &str, dump: &Path) -> Result<()> {
    sqlx::any::install_default_drivers();
    let listed = tool_output("pg_restore", vec!["-l".into(), dump.as_os_str().to_owned()]).await?;
    let in_dump = dump_tables(&listed);
    let mut conn = AnyConnection::connect(url).await?;
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    let extra: Vec<&str> = present
        .iter()
        .map(String::as_str)
        .filter(|t| !in_dump.contains(*t))
        .collect();
    if !extra.is_empty() {
        return Err(StoreError::Conflict(format!(
            "the database holds tables the backup does not ({}): restore into an empty \
             database (CREATE DATABASE …, then --database-url), or drop those tables first",
            extra.join(", ")
        )));
    }
    let mut args: Vec<std::ffi::OsString> = [
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--exit-on-error",
    ]
    .map(Into::into)
    .to_vec();
    args.push(dump.as_os_str().to_owned());
    run_tool("pg_restore", args, url).await
}

/// The tables of a `pg_restore -l` listing (`ID; OID OID TABLE schema name owner`).
fn dump_tables(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "TABLE")?;
            match words.get(at + 1..at + 3) {
                Some([schema, name]) if *schema != "DATA" => Some((*name).to_owned()),
                _ => None,
            }
        })
        .collect()
}

/// Runs a PostgreSQL client tool against `url` (given as `--dbname`).
async fn run_tool(
    program: &'static str,
    mut args: Vec<std::ffi::OsString>,
    url: &str,
) -> Result<()> {
    let (url, password) = split_password(url);
    args.insert(0, "--dbname".into());
    args.insert(1, url.into());
    let mut command = Command::new(program);
    command.args(args);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    spawn(program, command).await.map(drop)
}

/// Runs a PostgreSQL client tool that needs no database; returns its standard output.
async fn tool_output(program: &'static str, args: Vec<std::ffi::OsString>) -> Result<String> {
    let mut command = Command::new(program);
    command.args(args);
    spawn(program, command).await
}

async fn spawn(program: &'static str, mut command: Command) -> Result<String> {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| StoreError::Tool(format!("{program} did not finish: {e}")))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::Tool(format!(
                "{program} is not installed: install the PostgreSQL client tools of the \
                 server's major version or newer (Debian: postgresql-client)"
            )),
            _ => StoreError::Tool(format!("cannot run {program}: {e}")),
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let said = last[last.len().saturating_sub(3)..].join(" / ");
    Err(StoreError::Tool(format!(
        "{program} failed ({}): {said}",
        output.status
    )))
}

/// `postgres://user:secret@host/db` → (`postgres://user@host/db`, the decoded secret).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    match userinfo.split_once(':') {
        Some((user, secret)) => (
            format!("{scheme}://{user}@{host}{tail}"),
            Some(percent_decode(secret)),
        ),
        None => (url.to_owned(), None),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://aerie:s%40cret@db.example:5432/aerie?sslmode=require"),
            (
                "postgres://aerie@db.example:5432/aerie?sslmode=require".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1/test"),
            ("postgres://postgres@127.0.0.1/test".to_owned(), None)
        );
        assert_eq!(
            split_password("postgres://127.0.0.1/test"),
            ("postgres://127.0.0.1/test".to_owned(), None)
        );
    }

    #[test]
    fn listing_names_the_tables() {
        let listing = ";\n; Archive created at 2025-01-01\n;\n\
            215; 1259 16390 TABLE public incidents postgres\n\
            216; 1259 16391 SEQUENCE public incidents_id_seq postgres\n\
            3401; 0 16390 TABLE DATA public incidents postgres\n\
            217; 1259 16400 TABLE public _sqlx_migrations postgres\n";
        let tables = dump_tables(listing);
        assert_eq!(
            tables.into_iter().collect::<Vec<_>>(),
            ["_sqlx_migrations", "incidents"]
        );
    }

    #[test]
    fn sqlite_paths_of_urls() {
        assert_eq!(
            sqlite_path("sqlite:/data/aerie.db?mode=rwc"),
            Some(PathBuf::from("/data/aerie.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///data/aerie.db"),
            Some(PathBuf::from("/data/aerie.db"))
        );
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
