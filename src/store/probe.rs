//! Looking at a database without changing it, for `onit doctor`: does it
//! exist, which of this build's migrations are missing, can it be written.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result};
use sqlx::migrate::MigrateDatabase;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Postgres;

use super::{redact, Store, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

/// The file of a `sqlite:` URL (None for an in-memory database or another URL).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let opts = SqliteConnectOptions::from_str(url).ok()?;
    let p = opts.get_filename();
    (!p.as_os_str().is_empty() && p.to_str() != Some(":memory:")).then(|| p.to_path_buf())
}

/// True when the database exists (a SQLite file, or a PostgreSQL database); creates nothing.
pub async fn exists(url: &str) -> Result<bool> {
    if let Some(p) = sqlite_path(url) {
        return Ok(p.is_file());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Postgres::database_exists(url)
            .await
            .with_context(|| format!("connecting to {}", redact(url)));
    }
    anyhow::bail!("database.url must start with sqlite:// or postgres://")
}

impl Store {
    /// Opens a database that exists (and applies migrations), never creating
    /// one: for every command but `run`, `migrate`, `import` and `backup`. The
    /// error names the resolved path.
    pub async fn open_existing(url: &str, max_connections: u32) -> Result<Store> {
        if !exists(url).await? {
            let what = match sqlite_path(url) {
                Some(p) => format!("no database file {}", p.display()),
                None => format!("no database {}", redact(url)),
            };
            anyhow::bail!(
                "{what} (database.url): `onit run`, `onit migrate` or `onit import` creates it; a relative path is read from the configuration file's folder"
            );
        }
        Store::open(url, max_connections).await
    }

    /// This build's migrations that the database has not applied, as `version description`.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success";
        let (applied, migrator): (Vec<i64>, _) = match self {
            Store::Sqlite { reader, .. } => (
                sqlx::query_scalar(SQL)
                    .fetch_all(reader)
                    .await
                    .unwrap_or_default(),
                &SQLITE_MIGRATIONS,
            ),
            Store::Postgres(pool) => (
                sqlx::query_scalar(SQL)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default(),
                &POSTGRES_MIGRATIONS,
            ),
        };
        Ok(migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration() || !m.migration_type.is_down_migration())
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect())
    }

    /// Takes the write lock and lets it go again (a transaction rolled back):
    /// writes nothing. PostgreSQL: also refuses a read-only server (a standby).
    pub async fn write_probe(&self) -> Result<()> {
        match self.begin().await? {
            super::Tx::Sqlite(t) => t.rollback().await.context("rollback")?,
            super::Tx::Postgres(mut t) => {
                let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
                    .fetch_one(&mut *t)
                    .await
                    .context("asking PostgreSQL whether it accepts writes")?;
                t.rollback().await.context("rollback")?;
                anyhow::ensure!(
                    read_only == "off",
                    "the PostgreSQL server is read-only (a standby?)"
                );
            }
        }
        Ok(())
    }
}
