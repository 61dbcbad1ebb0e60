//! The `flood_openings` and `held_mail` tables (src/flood.rs), and the lists
//! of `onit mail`: held, automated and set-aside mail.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{to_ms, with_pool, with_tx, Store, Tx};

/// One message listed by `onit mail`.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ListedMail {
    /// The Message-ID (held and automated mail) or the number (set-aside mail): what `show`/`release` take.
    pub id: String,
    pub from_addr: Option<String>,
    pub subject: String,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub at: i64,
    /// Why it is listed: the flood that held it, the automated signal, the storing error.
    pub reason: String,
}

impl Tx<'_> {
    /// New tickets opened by `sender` (normalised) at or after `since`.
    pub async fn openings_by_sender(&mut self, sender: &str, since: DateTime<Utc>) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM flood_openings WHERE sender = $1 AND at >= $2")
            .bind(sender).bind(to_ms(since)).fetch_one(&mut *c).await.context("counting a sender's new tickets"))
    }

    /// New tickets opened from `domain` at or after `since`.
    pub async fn openings_by_domain(&mut self, domain: &str, since: DateTime<Utc>) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM flood_openings WHERE domain = $1 AND at >= $2")
            .bind(domain).bind(to_ms(since)).fetch_one(&mut *c).await.context("counting a domain's new tickets"))
    }

    /// Records that `sender` opened a new ticket at `at`.
    pub async fn record_opening(
        &mut self,
        sender: &str,
        domain: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO flood_openings (sender, domain, at) VALUES ($1, $2, $3)")
            .bind(sender).bind(domain).bind(to_ms(at)).execute(&mut *c).await.map(|r| r.rows_affected())
            .context("recording a new ticket's sender"))?;
        Ok(())
    }

    /// Holds a stored message.
    pub async fn hold_mail(
        &mut self,
        message_id: &str,
        sender: &str,
        domain: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO held_mail (message_id, sender, domain, reason, held_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(message_id).bind(sender).bind(domain).bind(reason).bind(to_ms(at))
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("holding a message"))?;
        Ok(())
    }

    /// True when `message_id` is held and not released.
    pub async fn is_held(&mut self, message_id: &str) -> Result<bool> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM held_mail WHERE message_id = $1 AND released_at IS NULL")
            .bind(message_id).fetch_one(&mut *c).await.map(|n| n > 0).context("checking a hold"))
    }

    /// True when `message_id` was held and released (it passes the flood check).
    pub async fn is_released(&mut self, message_id: &str) -> Result<bool> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM held_mail WHERE message_id = $1 AND released_at IS NOT NULL")
            .bind(message_id).fetch_one(&mut *c).await.map(|n| n > 0).context("checking a release"))
    }

    /// Marks held mail released and removes its stored copy, returning the raw
    /// bytes for ingest to take it again; None when it is not held (or already released).
    pub async fn release_held(
        &mut self,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>> {
        let n = with_tx!(self, c => sqlx::query("UPDATE held_mail SET released_at = $1 WHERE message_id = $2 AND released_at IS NULL")
            .bind(to_ms(now)).bind(message_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("releasing a message"))?;
        if n == 0 {
            return Ok(None);
        }
        let sql = sqlx::AssertSqlSafe(super::messages::raw_by_message_id(matches!(
            self,
            Tx::Sqlite(_)
        )));
        let raw: Option<Vec<u8>> = with_tx!(self, c => sqlx::query_scalar::<_, Option<Vec<u8>>>(sql)
            .bind(message_id).fetch_optional(&mut *c).await.map(Option::flatten).context("reading a held message"))?;
        let raw = raw.with_context(|| format!("held message {message_id} has no stored bytes"))?;
        with_tx!(self, c => sqlx::query("DELETE FROM messages WHERE message_id = $1 AND ticket_id IS NULL")
            .bind(message_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("removing a held message's copy"))?;
        Ok(Some(raw))
    }
}

impl Store {
    /// Held mail not yet released, oldest first.
    pub async fn held_mail(&self) -> Result<Vec<ListedMail>> {
        with_pool!(self, p => sqlx::query_as::<_, ListedMail>(
            "SELECT h.message_id AS id, m.from_addr, m.subject, h.held_at AS at, h.reason \
             FROM held_mail h JOIN messages m ON m.message_id = h.message_id \
             WHERE h.released_at IS NULL ORDER BY h.held_at, h.message_id")
            .fetch_all(p).await.context("listing held mail"))
    }

    /// Held mail at or after `since` (for the PM's digest), oldest first, at most `limit`.
    pub async fn held_since(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<ListedMail>> {
        with_pool!(self, p => sqlx::query_as::<_, ListedMail>(
            "SELECT h.message_id AS id, m.from_addr, m.subject, h.held_at AS at, h.reason \
             FROM held_mail h JOIN messages m ON m.message_id = h.message_id \
             WHERE h.released_at IS NULL AND h.held_at >= $1 ORDER BY h.held_at, h.message_id LIMIT $2")
            .bind(to_ms(since)).bind(limit).fetch_all(p).await.context("listing held mail"))
    }

    /// The newest 100 automated messages.
    pub async fn automated_mail(&self) -> Result<Vec<ListedMail>> {
        with_pool!(self, p => sqlx::query_as::<_, ListedMail>(
            "SELECT message_id AS id, from_addr, subject, arrived_at AS at, COALESCE(detail, '') AS reason \
             FROM messages WHERE class = 'automated' ORDER BY arrived_at DESC, message_id LIMIT 100")
            .fetch_all(p).await.context("listing automated mail"))
    }

    /// The newest 100 messages set aside (could not be stored).
    pub async fn set_aside_mail(&self) -> Result<Vec<ListedMail>> {
        with_pool!(self, p => sqlx::query_as::<_, ListedMail>(
            "SELECT CAST(id AS TEXT) AS id, CAST(NULL AS TEXT) AS from_addr, source AS subject, at, error AS reason \
             FROM ingest_failures ORDER BY at DESC, id DESC LIMIT 100")
            .fetch_all(p).await.context("listing set-aside mail"))
    }

    /// The raw bytes of a stored message, or of a set-aside one by its number.
    pub async fn raw_mail(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let sql = sqlx::AssertSqlSafe(super::messages::raw_by_message_id(matches!(
            self,
            Store::Sqlite { .. }
        )));
        let raw: Option<Option<Vec<u8>>> = with_pool!(self, p => sqlx::query_scalar::<_, Option<Vec<u8>>>(sql)
            .bind(id).fetch_optional(p).await.context("reading a message"))?;
        if let Some(raw) = raw.flatten() {
            return Ok(Some(raw));
        }
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        with_pool!(self, p => sqlx::query_scalar::<_, Vec<u8>>("SELECT raw FROM ingest_failures WHERE id = $1")
            .bind(n).fetch_optional(p).await.context("reading a set-aside message"))
    }
}
