//! The IMAP folders' sync state and the messages that could not be stored.

use super::{to_ms, with_pool, with_tx, Store, Tx};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::*;

/// Sync state of one IMAP folder.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FolderState {
    pub account: String,
    pub folder: String,
    pub uidvalidity: i64,
    pub next_uid: i64,
    #[serde(serialize_with = "ser_opt_ms")]
    pub last_sync_at: Option<i64>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "ser_opt_ms")]
    pub last_error_at: Option<i64>,
}

/// A message that could not be stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct IngestFailure {
    pub id: i64,
    pub source: String,
    #[serde(serialize_with = "ser_ms")]
    pub at: i64,
    pub error: String,
}

impl Tx<'_> {
    /// Records a message that could not be stored, keeping its bytes.
    pub async fn insert_ingest_failure(
        &mut self,
        source: &str,
        at: DateTime<Utc>,
        error: &str,
        raw: &[u8],
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO ingest_failures (source, at, error, raw) VALUES ($1, $2, $3, $4)")
            .bind(source).bind(to_ms(at)).bind(error).bind(raw)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording ingest failure"))?;
        Ok(())
    }
}

/// A set-aside message, whole (`onit mail reprocess N`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SetAside {
    pub id: i64,
    pub source: String,
    /// When it was set aside (its arrival was at or before).
    pub at: i64,
    pub raw: Vec<u8>,
}

impl Tx<'_> {
    /// A set-aside message by its number.
    pub async fn set_aside(&mut self, id: i64) -> Result<Option<SetAside>> {
        with_tx!(self, c => sqlx::query_as::<_, SetAside>("SELECT id, source, at, raw FROM ingest_failures WHERE id = $1")
            .bind(id).fetch_optional(&mut *c).await.context("reading a set-aside message"))
    }

    /// Removes a set-aside message once it is stored.
    pub async fn remove_set_aside(&mut self, id: i64) -> Result<()> {
        with_tx!(self, c => sqlx::query("DELETE FROM ingest_failures WHERE id = $1")
            .bind(id).execute(&mut *c).await.map(|r| r.rows_affected()).context("removing a set-aside message"))?;
        Ok(())
    }
}

impl Store {
    /// Messages that could not be stored, newest first.
    pub async fn ingest_failures(&self) -> Result<Vec<IngestFailure>> {
        with_pool!(self, p => sqlx::query_as::<_, IngestFailure>("SELECT id, source, at, error FROM ingest_failures ORDER BY at DESC, id DESC LIMIT 100")
            .fetch_all(p).await.context("listing ingest failures"))
    }
}

impl Tx<'_> {
    /// The stored sync state of a folder.
    pub async fn folder_state(
        &mut self,
        account: &str,
        folder: &str,
    ) -> Result<Option<FolderState>> {
        with_tx!(self, c => sqlx::query_as::<_, FolderState>("SELECT account, folder, uidvalidity, next_uid, last_sync_at, last_error, last_error_at FROM imap_folders WHERE account = $1 AND folder = $2")
            .bind(account).bind(folder).fetch_optional(&mut *c).await.context("loading folder state"))
    }

    /// Sets a folder's UIDVALIDITY and next UID (creating the row if needed).
    pub async fn set_folder_position(
        &mut self,
        account: &str,
        folder: &str,
        uidvalidity: i64,
        next_uid: i64,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query(
            "INSERT INTO imap_folders (account, folder, uidvalidity, next_uid) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, next_uid = excluded.next_uid")
            .bind(account).bind(folder).bind(uidvalidity).bind(next_uid)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("advancing folder"))?;
        Ok(())
    }

    /// Marks a folder synced at `at` (clearing its last error).
    pub async fn folder_synced(
        &mut self,
        account: &str,
        folder: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO imap_folders (account, folder, uidvalidity, next_uid, last_sync_at) VALUES ($2, $3, 0, 1, $1) \
             ON CONFLICT (account, folder) DO UPDATE SET last_sync_at = excluded.last_sync_at, last_error = NULL")
            .bind(to_ms(at)).bind(account).bind(folder)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("marking folder synced"))?;
        Ok(())
    }

    /// Records a folder's last error.
    pub async fn folder_error(
        &mut self,
        account: &str,
        folder: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO imap_folders (account, folder, uidvalidity, next_uid, last_error, last_error_at) VALUES ($3, $4, 0, 1, $1, $2) \
             ON CONFLICT (account, folder) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at")
            .bind(error).bind(to_ms(at)).bind(account).bind(folder)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording folder error"))?;
        Ok(())
    }
}

impl Store {
    /// Every IMAP folder's sync state.
    pub async fn folder_states(&self) -> Result<Vec<FolderState>> {
        with_pool!(self, p => sqlx::query_as::<_, FolderState>("SELECT account, folder, uidvalidity, next_uid, last_sync_at, last_error, last_error_at FROM imap_folders ORDER BY account, folder")
            .fetch_all(p).await.context("listing folders"))
    }
}
