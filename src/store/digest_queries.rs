//! The queries the PM digests read (one SQL text each, shared by both backends).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{
    fetch_by_ids, id_params, to_ms, with_pool, ListedTicket, PolicyContactRow, PolicyTicketRow,
    Store,
};

/// A period ticket as a digest reads it: what the rules read, what the digest
/// lists, and its thread's last message (the reply link's `In-Reply-To`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DigestTicketRow {
    #[sqlx(flatten)]
    pub policy: PolicyTicketRow,
    pub subject: String,
    pub reporter: String,
    pub project: String,
    /// The Message-ID of the last message of its thread that the client saw
    /// (theirs, our contacts, our own mail; not internal notes), as it stood at
    /// the digest's instant.
    pub last_message_id: Option<String>,
    /// Its contacts in time order, as one JSON array of arrays, each with
    /// [`PolicyContactRow`]'s columns after `ticket_id`, in order (read by
    /// [`DigestTicketRow::contacts`]).
    contacts: String,
}

impl DigestTicketRow {
    /// The ticket's contacts, in time order.
    pub fn contacts(&self) -> Result<Vec<PolicyContactRow>> {
        let mut contacts: Vec<PolicyContactRow> = serde_json::from_str(&self.contacts)
            .with_context(|| format!("reading the contacts of ticket {}", self.policy.id))?;
        for c in &mut contacts {
            c.ticket_id = self.policy.id;
        }
        Ok(contacts)
    }

    /// The row as the rules read it, as the digest lists it, and the last
    /// message's Message-ID.
    pub fn split(self) -> (PolicyTicketRow, ListedTicket, Option<String>) {
        let listed = ListedTicket {
            id: self.policy.id,
            number: self.policy.number,
            prefix: self.policy.prefix.clone(),
            subject: self.subject,
            reporter: self.reporter,
            project: self.project,
        };
        (self.policy, listed, self.last_message_id)
    }
}

/// An event a PM digest lists (a bounce of our mail, an ignored command), with its ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DigestEventRow {
    pub at: i64,
    pub kind: crate::ticket::EventKind,
    pub actor: Option<String>,
    pub detail: String,
    pub prefix: String,
    pub number: i64,
    pub pm: String,
    pub subject: String,
}

/// Team mail to a client that matches no ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnthreadedRow {
    pub message_id: String,
    pub class: String,
    pub from_addr: Option<String>,
    pub to_addrs: String,
    pub cc_addrs: String,
    pub subject: String,
    pub effective_at: i64,
}

impl Store {
    /// The client tickets `ids` (a digest's period: [`Store::period_ticket_ids`])
    /// with their contacts and each thread's last message at `until`, by id
    /// within each [`IDS_PER_STATEMENT`](super::IDS_PER_STATEMENT) chunk. One
    /// row per ticket where there were four reads (the rules' rows, their
    /// contacts, the listed rows, the last messages): at 10,000 open tickets,
    /// each row read from SQLite cost more in being copied and handed between
    /// threads by sqlx than in being found (issue 17), so a ticket's contacts
    /// come as one JSON array (`json_group_array`, PostgreSQL's `json_agg`:
    /// the only text that differs between the two). The last message is a
    /// look-up per ticket, backwards through `messages_ticket`.
    pub async fn digest_tickets(
        &self,
        ids: &[i64],
        until: DateTime<Utc>,
    ) -> Result<Vec<DigestTicketRow>> {
        const CELLS: &str = "m.contact_at, m.message_id, m.contact_kind, m.to_addrs, m.cc_addrs, m.promise_at, m.promise_text, m.dismissive";
        let contacts = if self.is_sqlite() {
            format!("json_group_array(json_array({CELLS}) ORDER BY m.contact_at, m.id)")
        } else {
            format!("COALESCE(json_agg(json_build_array({CELLS}) ORDER BY m.contact_at, m.id), '[]'::json)::text")
        };
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT t.id, t.number, t.prefix, t.priority, t.opened_at, t.pm, t.status, t.subject, t.reporter, t.project, \
                 (SELECT {contacts} FROM messages m WHERE m.ticket_id = t.id AND m.contact_at IS NOT NULL) AS contacts, \
                 (SELECT m.message_id FROM messages m WHERE m.ticket_id = t.id AND m.effective_at <= $1 \
                  AND m.class IN ('client', 'contact', 'acknowledgment', 'own') \
                  ORDER BY m.effective_at DESC, m.id DESC LIMIT 1) AS last_message_id \
                 FROM tickets t WHERE t.id IN ({}) AND t.alert_key IS NULL ORDER BY t.id",
                id_params(2, chunk.len())
            ));
            rows.extend(fetch_by_ids!(
                self,
                DigestTicketRow,
                sql,
                [to_ms(until)],
                chunk,
                "loading the period's tickets"
            )?);
        }
        Ok(rows)
    }

    /// Events of kind `delivery_failure`, `command_ignored`, `impersonation`, `ack_held` or `additional_issue` with `after < at <= until`, in time order.
    pub async fn digest_events(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<DigestEventRow>> {
        with_pool!(self, p => sqlx::query_as::<_, DigestEventRow>(
            "SELECT e.at, e.kind, e.actor, e.detail, t.prefix, t.number, t.pm, t.subject FROM events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE e.kind IN ('delivery_failure', 'command_ignored', 'impersonation', 'ack_held', 'additional_issue', 'frustration') AND e.at > $1 AND e.at <= $2 ORDER BY e.at, e.id")
            .bind(to_ms(after)).bind(to_ms(until)).fetch_all(p).await.context("loading digest events"))
    }

    /// Messages on no ticket that need a person (team mail to a client, mail forged in a
    /// team member's name) with `after < effective_at <= until`, in time order.
    pub async fn unthreaded_team_mail(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<UnthreadedRow>> {
        with_pool!(self, p => sqlx::query_as::<_, UnthreadedRow>(
            "SELECT message_id, class, from_addr, to_addrs, cc_addrs, subject, effective_at FROM messages \
             WHERE class IN ('contact', 'impersonation') AND ticket_id IS NULL AND effective_at > $1 AND effective_at <= $2 ORDER BY effective_at, id")
            .bind(to_ms(after)).bind(to_ms(until)).fetch_all(p).await.context("loading unthreaded team mail"))
    }

    /// The PMs of tickets opened by `opened_by` that are not closed, or were closed after `closed_after`.
    pub async fn digest_pms(
        &self,
        opened_by: DateTime<Utc>,
        closed_after: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        with_pool!(self, p => sqlx::query_scalar::<_, String>(
            "SELECT pm FROM tickets WHERE status IN ('open', 'resolved') AND opened_at <= $1 \
             UNION SELECT pm FROM tickets WHERE closed_at > $2 AND opened_at <= $1 ORDER BY pm")
            .bind(to_ms(opened_by)).bind(to_ms(closed_after)).fetch_all(p).await.context("listing PMs"))
    }

    /// The dedupe keys of outbox items of `kind` queued at or after `since`.
    pub async fn outbox_keys_since(
        &self,
        kind: crate::ticket::OutboxKind,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        with_pool!(self, p => sqlx::query_scalar::<_, String>(
            "SELECT dedupe_key FROM outbox WHERE kind = $1 AND created_at >= $2 ORDER BY id")
            .bind(kind.as_str()).bind(to_ms(since)).fetch_all(p).await.context("listing outbox keys"))
    }
}
