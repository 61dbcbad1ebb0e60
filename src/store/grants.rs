//! The `oauth_tokens` table, the stored grant: one `oauth_tokens` row per mailbox account, holding the
//! refresh token, the current access token and what went wrong last.
//!
//! A refresh reads the row with [`lock`] inside a write transaction and writes
//! the provider's answer with [`store_refresh`] in that same transaction. On
//! PostgreSQL the read is `SELECT … FOR UPDATE`, so when several instances
//! share the database one refreshes and the others wait for its commit and then
//! find a fresh token; SQLite's writer transaction (`BEGIN IMMEDIATE`) is
//! exclusive already. Committing before the new access token is handed out
//! means a rotated refresh token is never lost: the old one may already be void.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, with_pool, with_tx, Store, Tx};
use crate::secret::Secret;

/// One account's grant as stored. `Debug` never prints the tokens.
#[derive(Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub account: String,
    pub provider: String,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub refreshed_at: Option<i64>,
    pub updated_at: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

impl std::fmt::Debug for GrantRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantRow")
            .field("account", &self.account)
            .field("provider", &self.provider)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("refreshed_at", &self.refreshed_at)
            .field("updated_at", &self.updated_at)
            .field("last_error", &self.last_error)
            .field("last_error_at", &self.last_error_at)
            .finish()
    }
}

impl GrantRow {
    /// The stored access token and when it expires, if there is one.
    pub fn access(&self) -> Option<(Secret, DateTime<Utc>)> {
        match (&self.access_token, self.access_expires_at) {
            (Some(t), Some(at)) if !t.is_empty() => Some((Secret::new(t.clone()), from_ms(at))),
            _ => None,
        }
    }

    /// The stored refresh token, if there is one.
    pub fn refresh(&self) -> Option<Secret> {
        self.refresh_token
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|t| Secret::new(t.clone()))
    }
}

/// What a successful exchange (a refresh, or the first sign-in) stores.
#[derive(Debug, Clone)]
pub struct Issued {
    pub refresh_token: Secret,
    pub access_token: Secret,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

const COLS: &str = "account, provider, refresh_token, access_token, access_expires_at, refresh_expires_at, refreshed_at, updated_at, last_error, last_error_at";

/// Reads the account's row and locks it until the transaction ends (see the module docs).
pub async fn lock(tx: &mut Tx<'_>, account: &str) -> Result<Option<GrantRow>> {
    let row = match tx {
        Tx::Sqlite(t) => {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {COLS} FROM oauth_tokens WHERE account = $1"
            ));
            sqlx::query_as::<_, GrantRow>(sql)
                .bind(account)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Postgres(t) => {
            // The one statement that differs between the backends: SQLite has no
            // FOR UPDATE (and needs none: its write transaction is exclusive).
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {COLS} FROM oauth_tokens WHERE account = $1 FOR UPDATE"
            ));
            sqlx::query_as::<_, GrantRow>(sql)
                .bind(account)
                .fetch_optional(&mut **t)
                .await
        }
    };
    row.context("reading the OAuth grant")
}

/// Reads the account's row without locking (for `onit oauth status`).
pub async fn read(store: &Store, account: &str) -> Result<Option<GrantRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM oauth_tokens WHERE account = $1"
    ));
    with_pool!(store, p => sqlx::query_as::<_, GrantRow>(sql).bind(account).fetch_optional(p).await.context("reading the OAuth grant"))
}

/// Stores `refresh_token` for an account that has no grant yet; true when it did.
pub async fn seed(
    store: &Store,
    account: &str,
    provider: &str,
    refresh_token: &Secret,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let n = with_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO oauth_tokens (account, provider, refresh_token, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account) DO NOTHING")
        .bind(account).bind(provider).bind(refresh_token.expose()).bind(to_ms(now))
        .execute(&mut *c).await.map(|r| r.rows_affected()).context("seeding the OAuth grant"))?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Stores the tokens of a first sign-in (`onit oauth login`), replacing any grant.
pub async fn store_login(
    tx: &mut Tx<'_>,
    account: &str,
    provider: &str,
    issued: &Issued,
    now: DateTime<Utc>,
) -> Result<()> {
    with_tx!(tx, c => sqlx::query(
        "INSERT INTO oauth_tokens (account, provider, refresh_token, access_token, access_expires_at, refresh_expires_at, refreshed_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (account) DO UPDATE SET provider = excluded.provider, refresh_token = excluded.refresh_token, \
         access_token = excluded.access_token, access_expires_at = excluded.access_expires_at, \
         refresh_expires_at = excluded.refresh_expires_at, refreshed_at = excluded.refreshed_at, \
         updated_at = excluded.updated_at, last_error = NULL, last_error_at = NULL")
        .bind(account).bind(provider)
        .bind(issued.refresh_token.expose()).bind(issued.access_token.expose())
        .bind(to_ms(issued.access_expires_at)).bind(issued.refresh_expires_at.map(to_ms))
        .bind(to_ms(now))
        .execute(&mut *c).await.map(|_| ()).context("storing the OAuth grant"))?;
    Ok(())
}

/// Stores the result of a refresh (in the transaction that [`lock`]ed the row).
pub async fn store_refresh(
    tx: &mut Tx<'_>,
    account: &str,
    issued: &Issued,
    now: DateTime<Utc>,
) -> Result<()> {
    with_tx!(tx, c => sqlx::query(
        "UPDATE oauth_tokens SET refresh_token = $1, access_token = $2, access_expires_at = $3, \
         refresh_expires_at = $4, refreshed_at = $5, updated_at = $5, last_error = NULL, last_error_at = NULL \
         WHERE account = $6")
        .bind(issued.refresh_token.expose()).bind(issued.access_token.expose())
        .bind(to_ms(issued.access_expires_at)).bind(issued.refresh_expires_at.map(to_ms))
        .bind(to_ms(now)).bind(account)
        .execute(&mut *c).await.map(|_| ()).context("storing the refreshed OAuth grant"))?;
    Ok(())
}

/// Records a failed refresh.
pub async fn store_error(
    tx: &mut Tx<'_>,
    account: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    with_tx!(tx, c => sqlx::query(
        "UPDATE oauth_tokens SET last_error = $1, last_error_at = $2, updated_at = $2 WHERE account = $3")
        .bind(error).bind(to_ms(now)).bind(account)
        .execute(&mut *c).await.map(|_| ()).context("recording the OAuth error"))?;
    Ok(())
}
