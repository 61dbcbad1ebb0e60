//! What the policy loader reads: tickets, contacts and status changes as rows.

use super::{with_pool, Store};
use crate::ticket::{Priority, Status};
use anyhow::{Context, Result};

/// A ticket row as the policy loader reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyTicketRow {
    pub id: i64,
    pub number: i64,
    pub prefix: String,
    pub priority: Priority,
    pub opened_at: i64,
    pub pm: String,
    pub status: Status,
}

/// A contact row as the policy loader reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyContactRow {
    pub ticket_id: i64,
    pub contact_at: i64,
    pub message_id: String,
    pub contact_kind: Option<String>,
    pub to_addrs: String,
    pub cc_addrs: String,
    pub promise_at: Option<i64>,
    pub promise_text: Option<String>,
    pub dismissive: Option<String>,
}

/// A status change as the policy loader reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyStatusRow {
    pub ticket_id: i64,
    pub at: i64,
    /// The status after the change.
    pub status: Status,
}

impl Store {
    /// Tickets for policy evaluation: all of them, or only open ones.
    pub async fn policy_tickets(&self, open_only: bool) -> Result<Vec<PolicyTicketRow>> {
        let sql = if open_only {
            "SELECT id, number, prefix, priority, opened_at, pm, status FROM tickets WHERE status = 'open' ORDER BY id"
        } else {
            "SELECT id, number, prefix, priority, opened_at, pm, status FROM tickets ORDER BY id"
        };
        with_pool!(self, p => sqlx::query_as::<_, PolicyTicketRow>(sql).fetch_all(p).await.context("loading tickets for policy"))
    }

    /// Every contact (messages with a contact time), by ticket and time.
    pub async fn policy_contacts(&self, open_only: bool) -> Result<Vec<PolicyContactRow>> {
        let sql = if open_only {
            "SELECT m.ticket_id, m.contact_at, m.message_id, m.contact_kind, m.to_addrs, m.cc_addrs, m.promise_at, m.promise_text, m.dismissive \
             FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.contact_at IS NOT NULL AND t.status = 'open' ORDER BY m.ticket_id, m.contact_at, m.id"
        } else {
            "SELECT ticket_id, contact_at, message_id, contact_kind, to_addrs, cc_addrs, promise_at, promise_text, dismissive \
             FROM messages WHERE contact_at IS NOT NULL AND ticket_id IS NOT NULL ORDER BY ticket_id, contact_at, id"
        };
        with_pool!(self, p => sqlx::query_as::<_, PolicyContactRow>(sql).fetch_all(p).await.context("loading contacts for policy"))
    }

    /// Every status change (reopen, resolve, close), by ticket and time.
    pub async fn policy_status_changes(&self) -> Result<Vec<PolicyStatusRow>> {
        with_pool!(self, p => sqlx::query_as::<_, PolicyStatusRow>("SELECT ticket_id, at, status FROM events WHERE status IS NOT NULL ORDER BY ticket_id, at, id")
            .fetch_all(p).await.context("loading status changes"))
    }
}
