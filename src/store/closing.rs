//! Closing facts (cause, impact, resolution, prevention) and the stored incident reports.

use super::{to_ms, with_pool, with_tx, Store, Tx};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

/// A ticket's closing facts (POLICY "Closing"): NULL until a person records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ClosingFacts {
    pub cause: Option<String>,
    pub impact: Option<String>,
    pub resolution: Option<String>,
    pub prevention: Option<String>,
}

/// One closing fact: the column it is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosingField {
    Cause,
    Impact,
    Resolution,
    Prevention,
}

impl ClosingField {
    /// The column and command name (`cause`, `impact`, `resolution`, `prevention`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClosingField::Cause => "cause",
            ClosingField::Impact => "impact",
            ClosingField::Resolution => "resolution",
            ClosingField::Prevention => "prevention",
        }
    }
}

impl ClosingFacts {
    /// The recorded value of one fact (blank counts as not recorded).
    pub fn get(&self, f: ClosingField) -> Option<&str> {
        match f {
            ClosingField::Cause => self.cause.as_deref(),
            ClosingField::Impact => self.impact.as_deref(),
            ClosingField::Resolution => self.resolution.as_deref(),
            ClosingField::Prevention => self.prevention.as_deref(),
        }
        .filter(|s| !s.trim().is_empty())
    }

    /// Sets one fact (as just recorded in the same transaction).
    pub fn set(&mut self, f: ClosingField, text: String) {
        let slot = match f {
            ClosingField::Cause => &mut self.cause,
            ClosingField::Impact => &mut self.impact,
            ClosingField::Resolution => &mut self.resolution,
            ClosingField::Prevention => &mut self.prevention,
        };
        *slot = Some(text);
    }
}

/// A stored incident response report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: i64,
    pub ticket_id: i64,
    pub created_at: i64,
    pub markdown: String,
    pub html: String,
    pub message_id: Option<String>,
}

/// A report to store.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub ticket_id: i64,
    pub created_at: DateTime<Utc>,
    pub markdown: &'a str,
    pub html: &'a str,
    /// The report mail's Message-ID, when it was queued.
    pub message_id: Option<&'a str>,
}

impl Tx<'_> {
    /// A ticket's closing facts (all NULL for an unknown ticket).
    pub async fn closing_facts(&mut self, ticket_id: i64) -> Result<ClosingFacts> {
        let row = with_tx!(self, c => sqlx::query_as::<_, ClosingFacts>("SELECT cause, impact, resolution, prevention FROM tickets WHERE id = $1")
            .bind(ticket_id).fetch_optional(&mut *c).await.context("loading closing facts"))?;
        Ok(row.unwrap_or_default())
    }

    /// Records one closing fact (replacing an earlier value).
    pub async fn set_closing_fact(
        &mut self,
        ticket_id: i64,
        field: ClosingField,
        text: &str,
    ) -> Result<()> {
        let sql = match field {
            ClosingField::Cause => "UPDATE tickets SET cause = $1 WHERE id = $2",
            ClosingField::Impact => "UPDATE tickets SET impact = $1 WHERE id = $2",
            ClosingField::Resolution => "UPDATE tickets SET resolution = $1 WHERE id = $2",
            ClosingField::Prevention => "UPDATE tickets SET prevention = $1 WHERE id = $2",
        };
        with_tx!(self, c => sqlx::query(sql).bind(text).bind(ticket_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording closing fact"))?;
        Ok(())
    }

    /// Stores an incident response report; returns its id.
    pub async fn insert_report(&mut self, r: &NewReport<'_>) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("INSERT INTO reports (ticket_id, created_at, markdown, html, message_id) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(r.ticket_id).bind(to_ms(r.created_at)).bind(r.markdown).bind(r.html).bind(r.message_id)
            .fetch_one(&mut *c).await.context("storing report"))
    }
}

impl Store {
    /// A ticket's closing facts (all NULL for an unknown ticket).
    pub async fn closing_facts(&self, ticket_id: i64) -> Result<ClosingFacts> {
        let row = with_pool!(self, p => sqlx::query_as::<_, ClosingFacts>("SELECT cause, impact, resolution, prevention FROM tickets WHERE id = $1")
            .bind(ticket_id).fetch_optional(p).await.context("loading closing facts"))?;
        Ok(row.unwrap_or_default())
    }

    /// The newest incident response report of a ticket.
    pub async fn latest_report(&self, ticket_id: i64) -> Result<Option<ReportRow>> {
        with_pool!(self, p => sqlx::query_as::<_, ReportRow>("SELECT id, ticket_id, created_at, markdown, html, message_id FROM reports WHERE ticket_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(ticket_id).fetch_optional(p).await.context("loading report"))
    }
}
