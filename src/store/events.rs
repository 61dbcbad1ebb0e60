//! The `events` table: each ticket's timeline.

use super::{to_ms, with_pool, with_tx, Store, Tx};
use crate::ticket::{EventKind, Status};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::*;

/// An event to append to a ticket's timeline.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub ticket_id: i64,
    pub at: DateTime<Utc>,
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub detail: &'a str,
    /// The ticket's status after the event, for an event that changes it.
    pub status: Option<Status>,
}

/// An event on a ticket's timeline.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct EventRow {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub ticket_id: i64,
    #[serde(serialize_with = "ser_ms")]
    pub at: i64,
    pub kind: EventKind,
    pub actor: Option<String>,
    pub message_id: Option<String>,
    pub detail: String,
    /// The ticket's status after the event, when the event changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// How sure onit is of the sender of the event's message (`pass`, `fail`, `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::trust::Verdict>,
    /// What the verdict rests on (`dmarc=pass (mx.jac.example)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_how: Option<String>,
}

impl Tx<'_> {
    /// Appends an event, with the status it leaves the ticket in when it changes it.
    pub async fn append_event(&mut self, e: &NewEvent<'_>) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO events (ticket_id, at, kind, actor, message_id, detail, status) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(e.ticket_id).bind(to_ms(e.at)).bind(e.kind).bind(e.actor).bind(e.message_id).bind(e.detail).bind(e.status.map(Status::as_str))
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("inserting event"))?;
        Ok(())
    }

    /// Appends several events in one statement (a new ticket's opening and
    /// proposed priority: one round trip to the database instead of two).
    pub async fn append_events(&mut self, es: &[NewEvent<'_>]) -> Result<()> {
        if es.is_empty() {
            return Ok(());
        }
        let rows: Vec<String> = (0..es.len())
            .map(|i| {
                let b = i * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO events (ticket_id, at, kind, actor, message_id, detail, status) VALUES {}",
            rows.join(", ")
        );
        with_tx!(self, c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for e in es {
                q = q.bind(e.ticket_id).bind(to_ms(e.at)).bind(e.kind).bind(e.actor).bind(e.message_id).bind(e.detail).bind(e.status.map(Status::as_str));
            }
            q.execute(&mut *c).await.map(|r| r.rows_affected()).context("inserting events")
        })?;
        Ok(())
    }

    /// A ticket's events in order, as this transaction sees them.
    pub async fn ticket_events(&mut self, ticket_id: i64) -> Result<Vec<EventRow>> {
        with_tx!(self, c => sqlx::query_as::<_, EventRow>("SELECT e.id, e.ticket_id, e.at, e.kind, e.actor, e.message_id, e.detail, e.status, m.auth, m.auth_how FROM events e LEFT JOIN messages m ON m.message_id = e.message_id WHERE e.ticket_id = $1 ORDER BY e.at, e.id")
            .bind(ticket_id).fetch_all(&mut *c).await.context("loading events"))
    }
}

impl Store {
    /// A ticket's events in order.
    pub async fn events(&self, ticket_id: i64) -> Result<Vec<EventRow>> {
        with_pool!(self, p => sqlx::query_as::<_, EventRow>("SELECT e.id, e.ticket_id, e.at, e.kind, e.actor, e.message_id, e.detail, e.status, m.auth, m.auth_how FROM events e LEFT JOIN messages m ON m.message_id = e.message_id WHERE e.ticket_id = $1 ORDER BY e.at, e.id")
            .bind(ticket_id).fetch_all(p).await.context("loading events"))
    }
}

impl Tx<'_> {
    /// Appends an event to a ticket's timeline.
    pub async fn insert_event(
        &mut self,
        ticket_id: i64,
        at: DateTime<Utc>,
        kind: &str,
        actor: Option<&str>,
        message_id: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        self.append_event(&NewEvent {
            ticket_id,
            at,
            kind,
            actor,
            message_id,
            detail,
            status: None,
        })
        .await
    }
}
