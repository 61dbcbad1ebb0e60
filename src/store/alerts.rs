//! The `alerts` table: one open row per incident (kind, subject), enforced by
//! a partial unique index.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, with_pool, with_tx, Store, Tx};

/// One alert, open or resolved.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub detail: String,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub opened_at: i64,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub last_seen_at: i64,
    #[serde(serialize_with = "crate::store::ser_opt_ms")]
    pub resolved_at: Option<i64>,
}

impl AlertRow {
    /// When the incident began.
    pub fn opened(&self) -> DateTime<Utc> {
        from_ms(self.opened_at)
    }
}

const COLS: &str = "id, kind, subject, detail, opened_at, last_seen_at, resolved_at";

impl Tx<'_> {
    /// Opens an incident of (kind, subject). `None` when one is already open:
    /// its detail and last-seen time are updated instead.
    pub async fn raise_alert(
        &mut self,
        kind: &str,
        subject: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let id: Option<i64> = with_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO alerts (kind, subject, detail, opened_at, last_seen_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (kind, subject) WHERE resolved_at IS NULL DO NOTHING RETURNING id")
            .bind(kind).bind(subject).bind(detail).bind(to_ms(now))
            .fetch_optional(&mut *c).await.context("opening alert"))?;
        if id.is_none() {
            with_tx!(self, c => sqlx::query(
                "UPDATE alerts SET detail = $1, last_seen_at = $2 WHERE kind = $3 AND subject = $4 AND resolved_at IS NULL")
                .bind(detail).bind(to_ms(now)).bind(kind).bind(subject)
                .execute(&mut *c).await.map(|r| r.rows_affected()).context("updating alert"))?;
        }
        Ok(id)
    }

    /// Closes the open incident of (kind, subject) when it was last seen before `quiet_since`.
    pub async fn resolve_alert_quiet(
        &mut self,
        kind: &str,
        subject: &str,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        with_tx!(self, c => sqlx::query(
            "UPDATE alerts SET resolved_at = $1 WHERE kind = $2 AND subject = $3 AND resolved_at IS NULL AND last_seen_at < $4")
            .bind(to_ms(now)).bind(kind).bind(subject).bind(to_ms(quiet_since))
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("ending a quiet alert"))
    }

    /// Closes the open incident of (kind, subject). Returns the rows closed (0 or 1).
    pub async fn resolve_alert(
        &mut self,
        kind: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        with_tx!(self, c => sqlx::query(
            "UPDATE alerts SET resolved_at = $1 WHERE kind = $2 AND subject = $3 AND resolved_at IS NULL")
            .bind(to_ms(now)).bind(kind).bind(subject)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("resolving alert"))
    }
}

impl Store {
    /// Alerts still open.
    pub async fn open_alerts(&self) -> Result<Vec<AlertRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM alerts WHERE resolved_at IS NULL ORDER BY opened_at, id"
        ));
        with_pool!(self, p => sqlx::query_as::<_, AlertRow>(sql).fetch_all(p).await.context("reading alerts"))
    }

    /// Alerts open at any time in `[since, until)`: open now, or resolved after `since`.
    pub async fn alerts_during(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<AlertRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM alerts WHERE opened_at < $2 AND (resolved_at IS NULL OR resolved_at >= $1) ORDER BY opened_at, id"
        ));
        with_pool!(self, p => sqlx::query_as::<_, AlertRow>(sql).bind(to_ms(since)).bind(to_ms(until)).fetch_all(p).await.context("reading alerts"))
    }
}
