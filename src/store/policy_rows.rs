//! What the policy loader reads: tickets, contacts and status changes as rows.

use super::{fetch_by_ids, id_params, with_pool, with_tx, Store, Tx, IDS_PER_STATEMENT};
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

/// A contact row as the policy loader reads it. Also read from a JSON array of
/// its columns after `ticket_id`, in order (`Store::digest_period`).
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct PolicyContactRow {
    #[serde(skip_deserializing)]
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

/// The tickets a report for the period from `$1` reads: those not closed now, and
/// those with a contact or a status change at or after `$1` (a ticket closed
/// before the period and silent since cannot break a rule in it). Each part is an
/// index look-up (`tickets_status`: hence `IN` rather than `<> 'closed'`, which no
/// index serves; `messages_contact_at`, `events_status_at`).
///
/// Read once, as ids ([`Store::period_ticket_ids`]); the rows of those tickets are
/// then read [`IDS_PER_STATEMENT`](super::IDS_PER_STATEMENT) ids at a time. As a subquery (`ticket_id IN (…
/// UNION …)`) PostgreSQL planned a hash join over every message, ~2 s at
/// 1,000,000 tickets for what the id look-ups read in a few milliseconds.
/// SQLite plans it as a list built once and looked up by id, so the digest's
/// read there ([`Store::digest_period`]) keeps it a subquery.
pub(super) const PERIOD_TICKETS: &str =
    "SELECT id FROM tickets WHERE status IN ('open', 'resolved') \
     UNION SELECT ticket_id FROM messages WHERE contact_at >= $1 AND ticket_id IS NOT NULL \
     UNION SELECT ticket_id FROM events WHERE status IS NOT NULL AND at >= $1";

/// The tickets the policy's rules read: client work. A monitoring alert's ticket
/// (crate::monitoring) is internal, and no client-contact rule applies to it.
const CLIENT_WORK: &str = "alert_key IS NULL";

const POLICY_TICKET_COLS: &str = "id, number, prefix, priority, opened_at, pm, status";
const POLICY_CONTACT_COLS: &str = "ticket_id, contact_at, message_id, contact_kind, to_addrs, cc_addrs, promise_at, promise_text, dismissive";

impl Tx<'_> {
    /// One ticket's policy rows: the ticket, its contacts and its status changes
    /// (what `ticket::lifecycle` evaluates after a change).
    pub async fn policy_rows_of(
        &mut self,
        ticket_id: i64,
    ) -> Result<Option<(PolicyTicketRow, Vec<PolicyContactRow>, Vec<PolicyStatusRow>)>> {
        let t = sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_TICKET_COLS} FROM tickets WHERE id = $1 AND {CLIENT_WORK}"
        ));
        let Some(ticket) = with_tx!(self, c => sqlx::query_as::<_, PolicyTicketRow>(t).bind(ticket_id)
            .fetch_optional(&mut *c).await.context("loading a ticket for policy"))?
        else {
            return Ok(None);
        };
        let cs = sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_CONTACT_COLS} FROM messages WHERE ticket_id = $1 AND contact_at IS NOT NULL ORDER BY contact_at, id"
        ));
        let contacts = with_tx!(self, c => sqlx::query_as::<_, PolicyContactRow>(cs).bind(ticket_id)
            .fetch_all(&mut *c).await.context("loading a ticket's contacts"))?;
        let changes = with_tx!(self, c => sqlx::query_as::<_, PolicyStatusRow>(
            "SELECT ticket_id, at, status FROM events WHERE ticket_id = $1 AND status IS NOT NULL ORDER BY at, id")
            .bind(ticket_id).fetch_all(&mut *c).await.context("loading a ticket's status changes"))?;
        Ok(Some((ticket, contacts, changes)))
    }
}

impl Store {
    /// The open tickets whose stored due time is at or before `until` (or
    /// unknown), soonest first, with what they store (due time, rule): through the
    /// partial index `tickets_open_due`.
    pub async fn open_due_by(
        &self,
        until: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Option<i64>, Option<String>)>> {
        // Two ranges of the index, not one condition with an OR: with
        // `next_due_at <= $1 OR next_due_at IS NULL` neither database could
        // bound the index, and every pass (each 30 s) read every open ticket
        // to keep the few due (PostgreSQL at 1 M tickets: 10,055 rows read
        // and dropped, 4.3 ms). SQLite, with no statistics, would take the
        // index on status alone: it is told which index to use.
        // The limit in the text, not bound (see `outbox::kind_literal`).
        let sql = if self.is_sqlite() {
            sqlx::AssertSqlSafe(format!(
            "SELECT id, next_due_at, next_due_rule FROM tickets INDEXED BY tickets_open_due WHERE status = 'open' AND next_due_at <= $1 AND alert_key IS NULL \
             UNION ALL SELECT id, next_due_at, next_due_rule FROM tickets INDEXED BY tickets_open_due WHERE status = 'open' AND next_due_at IS NULL AND alert_key IS NULL \
             ORDER BY next_due_at, id LIMIT {limit}"
            ))
        } else {
            sqlx::AssertSqlSafe(format!(
            "SELECT id, next_due_at, next_due_rule FROM tickets WHERE status = 'open' AND next_due_at <= $1 AND alert_key IS NULL \
             UNION ALL SELECT id, next_due_at, next_due_rule FROM tickets WHERE status = 'open' AND next_due_at IS NULL AND alert_key IS NULL \
             ORDER BY next_due_at, id LIMIT {limit}"
            ))
        };
        with_pool!(self, p => sqlx::query_as::<_, (i64, Option<i64>, Option<String>)>(sql)
            .bind(until).fetch_all(p).await.context("listing tickets due"))
    }

    /// The ids of the tickets a report from `since` reads ([`PERIOD_TICKETS`]), ascending.
    pub async fn period_ticket_ids(&self, since: i64) -> Result<Vec<i64>> {
        // Sorted here: with `ORDER BY` SQLite merged the three parts in id order,
        // scanning every ticket, message and event (2 s at 1,000,000 tickets
        // instead of 14 ms).
        let mut ids = with_pool!(self, p => sqlx::query_scalar::<_, i64>(PERIOD_TICKETS).bind(since)
            .fetch_all(p).await.context("listing the period's tickets"))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The policy rows of the tickets a report from `since` reads ([`PERIOD_TICKETS`]),
    /// each ticket with its whole history (the rules need what came before the period),
    /// in ticket order.
    pub async fn policy_rows_since(
        &self,
        since: i64,
    ) -> Result<(
        Vec<PolicyTicketRow>,
        Vec<PolicyContactRow>,
        Vec<PolicyStatusRow>,
    )> {
        let ids = self.period_ticket_ids(since).await?;
        self.policy_rows_of_ids(&ids).await
    }

    /// The policy rows of the tickets `ids` (client work only), each with its
    /// whole history, read [`IDS_PER_STATEMENT`](super::IDS_PER_STATEMENT) tickets at a time: tickets in the
    /// order of `ids` chunk by chunk, by id within a chunk; contacts and status
    /// changes by ticket and time within a chunk.
    pub async fn policy_rows_of_ids(
        &self,
        ids: &[i64],
    ) -> Result<(
        Vec<PolicyTicketRow>,
        Vec<PolicyContactRow>,
        Vec<PolicyStatusRow>,
    )> {
        let mut tickets = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let t = sqlx::AssertSqlSafe(format!(
                "SELECT {POLICY_TICKET_COLS} FROM tickets WHERE id IN ({}) AND {CLIENT_WORK} ORDER BY id",
                id_params(1, chunk.len())
            ));
            tickets.extend(fetch_by_ids!(
                self,
                PolicyTicketRow,
                t,
                [],
                chunk,
                "loading tickets for policy"
            )?);
        }
        let (contacts, changes) = self.history_rows_of_ids(ids).await?;
        Ok((tickets, contacts, changes))
    }

    /// The contacts and status changes of the tickets `ids`, each ticket's whole
    /// history, by ticket and time within each
    /// [`IDS_PER_STATEMENT`](super::IDS_PER_STATEMENT) chunk (rows of tickets
    /// that are not client work are left out by the history builder, which has
    /// no ticket row for them).
    pub async fn history_rows_of_ids(
        &self,
        ids: &[i64],
    ) -> Result<(Vec<PolicyContactRow>, Vec<PolicyStatusRow>)> {
        let mut contacts = Vec::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let cs = sqlx::AssertSqlSafe(format!(
                "SELECT {POLICY_CONTACT_COLS} FROM messages WHERE ticket_id IN ({}) AND contact_at IS NOT NULL ORDER BY ticket_id, contact_at, id",
                id_params(1, chunk.len())
            ));
            contacts.extend(fetch_by_ids!(
                self,
                PolicyContactRow,
                cs,
                [],
                chunk,
                "loading tickets' contacts"
            )?);
        }
        Ok((contacts, self.status_rows_of_ids(ids).await?))
    }

    /// The status changes of the tickets `ids`, by ticket and time within each
    /// [`IDS_PER_STATEMENT`](super::IDS_PER_STATEMENT) chunk.
    pub async fn status_rows_of_ids(&self, ids: &[i64]) -> Result<Vec<PolicyStatusRow>> {
        let mut changes = Vec::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let ss = sqlx::AssertSqlSafe(format!(
                "SELECT ticket_id, at, status FROM events WHERE ticket_id IN ({}) AND status IS NOT NULL ORDER BY ticket_id, at, id",
                id_params(1, chunk.len())
            ));
            changes.extend(fetch_by_ids!(
                self,
                PolicyStatusRow,
                ss,
                [],
                chunk,
                "loading tickets' status changes"
            )?);
        }
        Ok(changes)
    }

    /// The policy rows of the next `count` tickets (client work) after ticket id
    /// `after`, each with its whole history, in ticket order: a whole-history
    /// report reads the tickets part by part (`compliance::each_part`). Three
    /// range reads, each through an index that starts with the ticket id.
    pub async fn policy_rows_after(
        &self,
        after: i64,
        count: u32,
    ) -> Result<(
        Vec<PolicyTicketRow>,
        Vec<PolicyContactRow>,
        Vec<PolicyStatusRow>,
    )> {
        // The count in the text, not bound (see `outbox::kind_literal`).
        let t = sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_TICKET_COLS} FROM tickets WHERE id > $1 AND {CLIENT_WORK} ORDER BY id LIMIT {count}"
        ));
        let tickets = with_pool!(self, p => sqlx::query_as::<_, PolicyTicketRow>(t)
            .bind(after).fetch_all(p).await.context("loading tickets for policy"))?;
        let Some(last) = tickets.last().map(|t| t.id) else {
            return Ok((tickets, Vec::new(), Vec::new()));
        };
        let cs = sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_CONTACT_COLS} FROM messages WHERE ticket_id > $1 AND ticket_id <= $2 AND contact_at IS NOT NULL ORDER BY ticket_id, contact_at, id"
        ));
        let contacts = with_pool!(self, p => sqlx::query_as::<_, PolicyContactRow>(cs)
            .bind(after).bind(last).fetch_all(p).await.context("loading tickets' contacts"))?;
        let changes = with_pool!(self, p => sqlx::query_as::<_, PolicyStatusRow>(
            "SELECT ticket_id, at, status FROM events WHERE ticket_id > $1 AND ticket_id <= $2 AND status IS NOT NULL ORDER BY ticket_id, at, id")
            .bind(after).bind(last).fetch_all(p).await.context("loading tickets' status changes"))?;
        Ok((tickets, contacts, changes))
    }

    /// Tickets for policy evaluation: all of them, or only open ones.
    pub async fn policy_tickets(&self, open_only: bool) -> Result<Vec<PolicyTicketRow>> {
        let sql = if open_only {
            "SELECT id, number, prefix, priority, opened_at, pm, status FROM tickets WHERE status = 'open' AND alert_key IS NULL ORDER BY id"
        } else {
            "SELECT id, number, prefix, priority, opened_at, pm, status FROM tickets WHERE alert_key IS NULL ORDER BY id"
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
