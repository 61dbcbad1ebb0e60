//! The `tickets` and `participants` tables: a ticket, its state, who is on it.

use super::{to_ms, with_pool, with_tx, NewEvent, Store, Tx};
use crate::ticket::{Priority, Severity, Status};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

/// A ticket as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub number: i64,
    pub prefix: String,
    pub subject: String,
    pub normalized_subject: String,
    pub reporter: String,
    pub project: String,
    pub pm: String,
    pub priority: Priority,
    pub priority_reason: String,
    pub severity: Option<Severity>,
    pub status: Status,
    pub opened_at: i64,
    pub last_contact_at: Option<i64>,
    pub next_due_at: Option<i64>,
    pub next_due_rule: Option<String>,
    pub closed_at: Option<i64>,
    pub ack_message_id: Option<String>,
    pub linked_ticket_id: Option<i64>,
    pub opening_message_id: String,
    /// Set when this ticket was merged into another (it is then closed).
    pub merged_into_id: Option<i64>,
    /// Monitoring tickets only (crate::monitoring): the alert's own key …
    pub alert_key: Option<String>,
    /// … and the `[monitoring] senders` entry it came from.
    pub alert_source: Option<String>,
    /// Who took the ticket (`#owner`), if anyone.
    pub owner: Option<String>,
}

impl TicketRow {
    /// `JAC-7`.
    pub fn reference(&self) -> String {
        format!("{}-{}", self.prefix, self.number)
    }

    /// A monitoring alert's ticket (internal: no client rules apply).
    pub fn is_monitoring(&self) -> bool {
        self.alert_key.is_some()
    }
}

#[cfg(test)]
impl TicketRow {
    /// A ticket for unit tests: `JAC-number`, open, medium, reported by
    /// bob@acme.example to the default PM, opened at `opened`.
    pub fn for_test(number: i64, subject: &str, opened: DateTime<Utc>) -> TicketRow {
        TicketRow {
            id: number,
            number,
            prefix: "JAC".into(),
            subject: subject.into(),
            normalized_subject: subject.to_lowercase(),
            reporter: "bob@acme.example".into(),
            project: "default".into(),
            pm: "pm@jac.example".into(),
            priority: Priority::Medium,
            priority_reason: "medium: no rule matched".into(),
            severity: None,
            status: Status::Open,
            opened_at: to_ms(opened),
            last_contact_at: None,
            next_due_at: None,
            next_due_rule: None,
            closed_at: None,
            ack_message_id: None,
            linked_ticket_id: None,
            opening_message_id: format!("t{number}@acme.example"),
            merged_into_id: None,
            alert_key: None,
            alert_source: None,
            owner: None,
        }
    }
}

const TICKET_COLS: &str = "id, number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, severity, status, opened_at, last_contact_at, next_due_at, next_due_rule, closed_at, ack_message_id, linked_ticket_id, opening_message_id, merged_into_id, alert_key, alert_source, owner";

/// A ticket as a digest lists it: what its lines show, and no more (a daily
/// digest reads tens of thousands at a million tickets; every column read costs).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedTicket {
    pub id: i64,
    pub number: i64,
    pub prefix: String,
    pub subject: String,
    pub reporter: String,
    pub project: String,
}

impl ListedTicket {
    /// `JAC-7`.
    pub fn reference(&self) -> String {
        format!("{}-{}", self.prefix, self.number)
    }
}

/// A new ticket to insert.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub prefix: &'a str,
    pub subject: &'a str,
    pub normalized_subject: &'a str,
    pub reporter: &'a str,
    pub project: &'a str,
    pub pm: &'a str,
    pub priority: Priority,
    pub priority_reason: &'a str,
    pub opened_at: DateTime<Utc>,
    pub linked_ticket_id: Option<i64>,
    pub opening_message_id: &'a str,
    /// When the first contact is due, and the rule that sets it.
    pub next_due: Option<(DateTime<Utc>, &'a str)>,
    /// A monitoring alert's ticket (crate::monitoring): its source and key.
    pub alert: Option<(&'a str, &'a str)>,
}

/// Threading by subject: `cols` of the newest not-closed ticket of a reporter
/// (parameter `$r`) and normalised subject (`$r+1`). One text for
/// [`Tx::open_ticket_by_subject`] and the first look at a message
/// ([`Tx::first_look`]), which must find the same ticket.
pub(super) fn newest_open_by_subject(cols: &str, r: usize) -> String {
    format!(
        "SELECT {cols} FROM tickets WHERE reporter = ${r} AND normalized_subject = ${} AND status <> 'closed' \
         ORDER BY opened_at DESC, id DESC LIMIT 1",
        r + 1
    )
}

/// An event recorded with a ticket's opening ([`Tx::insert_ticket`]), at its opening time.
#[derive(Debug, Clone, Copy)]
pub struct OpeningEvent<'a> {
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub detail: &'a str,
}

impl Tx<'_> {
    /// A ticket by id.
    pub async fn ticket(&mut self, id: i64) -> Result<Option<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLS} FROM tickets WHERE id = $1"));
        with_tx!(self, c => sqlx::query_as::<_, TicketRow>(sql).bind(id).fetch_optional(&mut *c).await.context("loading ticket"))
    }

    /// A ticket by its number.
    pub async fn ticket_by_number(&mut self, number: i64) -> Result<Option<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE number = $1"
        ));
        with_tx!(self, c => sqlx::query_as::<_, TicketRow>(sql).bind(number).fetch_optional(&mut *c).await.context("loading ticket"))
    }

    /// The newest not-closed ticket with this reporter and normalised subject.
    pub async fn open_ticket_by_subject(
        &mut self,
        reporter: &str,
        normalized_subject: &str,
    ) -> Result<Option<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(newest_open_by_subject(TICKET_COLS, 1));
        with_tx!(self, c => sqlx::query_as::<_, TicketRow>(sql).bind(reporter).bind(normalized_subject).fetch_optional(&mut *c).await.context("threading by subject"))
    }

    /// The newest not-closed ticket of the alert `key` from monitoring `source`.
    pub async fn open_alert_ticket(
        &mut self,
        source: &str,
        key: &str,
    ) -> Result<Option<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE alert_source = $1 AND alert_key = $2 AND status <> 'closed' ORDER BY opened_at DESC, id DESC LIMIT 1"
        ));
        with_tx!(self, c => sqlx::query_as::<_, TicketRow>(sql).bind(source).bind(key).fetch_optional(&mut *c).await.context("threading an alert"))
    }

    /// Records who took a ticket (`#owner`).
    pub async fn set_owner(&mut self, ticket_id: i64, owner: &str) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET owner = $1 WHERE id = $2")
            .bind(owner).bind(ticket_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("recording the owner"))?;
        Ok(())
    }

    /// True when `address` already took part in the ticket (reporter, or a sender or recipient on it).
    pub async fn is_participant(&mut self, ticket_id: i64, address: &str) -> Result<bool> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ticket_participants WHERE ticket_id = $1 AND address = $2")
            .bind(ticket_id).bind(address).fetch_one(&mut *c).await.map(|n| n > 0).context("checking participant"))
    }

    /// Records addresses as taking part in a ticket.
    pub async fn add_participants(&mut self, ticket_id: i64, addresses: &[String]) -> Result<()> {
        for a in addresses {
            with_tx!(self, c => sqlx::query("INSERT INTO ticket_participants (ticket_id, address) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(ticket_id).bind(a.as_str()).execute(&mut *c).await.map(|r| r.rows_affected()).context("adding participant"))?;
        }
        Ok(())
    }

    /// Inserts a ticket (status open) with the next number and its first due
    /// time, and the `events` of its opening (at its opening time, in their
    /// order), and returns it as stored. Numbers are never reused: the UNIQUE
    /// constraint on `number` refuses a concurrent writer that took the same one.
    ///
    /// Ingest opens a ticket per new client mail, so this is one statement on
    /// PostgreSQL, where a statement is a round trip to the server (the events
    /// inserted by a data-modifying `WITH`: issue 17, a round trip of the four
    /// left per new ticket), and two on SQLite, which has no such `WITH` and where
    /// a statement is a call on the same CPU (src/cpu_placement.rs).
    pub async fn insert_ticket(
        &mut self,
        t: &NewTicket<'_>,
        events: &[OpeningEvent<'_>],
    ) -> Result<TicketRow> {
        const COLS: &str = "number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, linked_ticket_id, opening_message_id, next_due_at, next_due_rule, alert_source, alert_key";
        const VALUES: &str = "(SELECT COALESCE(MAX(number), 0) + 1 FROM tickets), $1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14, $15";
        macro_rules! bind_ticket {
            ($q:expr) => {
                $q.bind(t.prefix)
                    .bind(t.subject)
                    .bind(t.normalized_subject)
                    .bind(t.reporter)
                    .bind(t.project)
                    .bind(t.pm)
                    .bind(t.priority.as_str())
                    .bind(t.priority_reason)
                    .bind(to_ms(t.opened_at))
                    .bind(t.linked_ticket_id)
                    .bind(t.opening_message_id)
                    .bind(t.next_due.map(|d| to_ms(d.0)))
                    .bind(t.next_due.map(|d| d.1))
                    .bind(t.alert.map(|a| a.0))
                    .bind(t.alert.map(|a| a.1))
            };
        }
        match self {
            Tx::Postgres(c) if !events.is_empty() => {
                // $16… are the events' columns, four each; `ord` keeps their order
                // in the ids they are given.
                let rows: Vec<String> = (0..events.len())
                    .map(|i| {
                        let b = 16 + i * 4;
                        format!(
                            "({i}, ${b}::text, ${}::text, ${}::text, ${}::text)",
                            b + 1,
                            b + 2,
                            b + 3
                        )
                    })
                    .collect();
                let sql = sqlx::AssertSqlSafe(format!(
                    "WITH t AS (INSERT INTO tickets ({COLS}) VALUES ({VALUES}) RETURNING {TICKET_COLS}), \
                     e AS (INSERT INTO events (ticket_id, at, kind, actor, message_id, detail) \
                       SELECT t.id, t.opened_at, v.kind, v.actor, v.message_id, v.detail \
                       FROM t, (VALUES {}) AS v(ord, kind, actor, message_id, detail) ORDER BY v.ord) \
                     SELECT {TICKET_COLS} FROM t",
                    rows.join(", ")
                ));
                let mut q = bind_ticket!(sqlx::query_as::<_, TicketRow>(sql));
                for e in events {
                    q = q
                        .bind(e.kind)
                        .bind(e.actor)
                        .bind(e.message_id)
                        .bind(e.detail);
                }
                q.fetch_one(&mut **c).await.context("inserting ticket")
            }
            _ => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO tickets ({COLS}) VALUES ({VALUES}) RETURNING {TICKET_COLS}"
                ));
                let row = with_tx!(self, c => bind_ticket!(sqlx::query_as::<_, TicketRow>(sql))
                    .fetch_one(&mut *c).await.context("inserting ticket"))?;
                let events: Vec<NewEvent<'_>> = events
                    .iter()
                    .map(|e| NewEvent {
                        ticket_id: row.id,
                        at: t.opened_at,
                        kind: e.kind,
                        actor: e.actor,
                        message_id: e.message_id,
                        detail: e.detail,
                        status: None,
                    })
                    .collect();
                self.append_events(&events).await?;
                Ok(row)
            }
        }
    }

    /// Sets when the next contact is due (and the rule that sets it), leaving the last contact alone.
    pub async fn set_contact_due(
        &mut self,
        ticket_id: i64,
        next_due: Option<(DateTime<Utc>, &str)>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET next_due_at = $1, next_due_rule = $2 WHERE id = $3")
            .bind(next_due.map(|d| to_ms(d.0))).bind(next_due.map(|d| d.1)).bind(ticket_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording due time"))?;
        Ok(())
    }

    /// Sets the due time of a ticket whose stored due time is still at or before
    /// `past` (the due pass): a ticket a concurrent change already moved keeps its own.
    pub async fn set_due_if_past(
        &mut self,
        ticket_id: i64,
        past: i64,
        next_due: Option<(DateTime<Utc>, &str)>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET next_due_at = $1, next_due_rule = $2 WHERE id = $3 AND next_due_at <= $4")
            .bind(next_due.map(|d| to_ms(d.0))).bind(next_due.map(|d| d.1)).bind(ticket_id).bind(past)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording due time"))?;
        Ok(())
    }

    /// Moves the last contact forward to `at` (never back).
    pub async fn touch_contact(&mut self, ticket_id: i64, at: DateTime<Utc>) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET last_contact_at = $1 WHERE id = $2 AND (last_contact_at IS NULL OR last_contact_at < $1)")
            .bind(to_ms(at)).bind(ticket_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("recording contact time"))?;
        Ok(())
    }

    /// Our acknowledgment `message_id` was queued at `at`: records it as the
    /// ticket's acknowledgment (unless one is recorded) and moves the last
    /// contact forward to `at` (never back): [`Tx::set_ack`] and
    /// [`Tx::touch_contact`] in one write of the ticket's row, which over a long
    /// history is a descent of the largest table (issue 17).
    pub async fn ack_queued(
        &mut self,
        ticket_id: i64,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET ack_message_id = COALESCE(ack_message_id, $1), \
             last_contact_at = CASE WHEN last_contact_at IS NULL OR last_contact_at < $2 THEN $2 ELSE last_contact_at END WHERE id = $3")
            .bind(message_id).bind(to_ms(at)).bind(ticket_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording acknowledgment"))?;
        Ok(())
    }

    /// Records which message is the ticket's acknowledgment.
    pub async fn set_ack(&mut self, ticket_id: i64, message_id: &str) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET ack_message_id = $1 WHERE id = $2 AND ack_message_id IS NULL")
            .bind(message_id).bind(ticket_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("recording acknowledgment"))?;
        Ok(())
    }

    /// Sets a ticket's status (and closed_at when closing).
    pub async fn set_status(
        &mut self,
        ticket_id: i64,
        status: Status,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET status = $1, closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE NULL END WHERE id = $3")
            .bind(status.as_str()).bind(to_ms(at)).bind(ticket_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("setting status"))?;
        Ok(())
    }

    /// Moves `from`'s messages, events and participants to `into` and marks `from`
    /// as merged into it (the caller closes it).
    pub async fn merge_ticket_rows(&mut self, from: i64, into: i64) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE messages SET ticket_id = $1 WHERE ticket_id = $2")
            .bind(into).bind(from).execute(&mut *c).await.map(|r| r.rows_affected()).context("moving messages"))?;
        with_tx!(self, c => sqlx::query("UPDATE events SET ticket_id = $1 WHERE ticket_id = $2")
            .bind(into).bind(from).execute(&mut *c).await.map(|r| r.rows_affected()).context("moving events"))?;
        with_tx!(self, c => sqlx::query("INSERT INTO ticket_participants (ticket_id, address) SELECT $1, address FROM ticket_participants WHERE ticket_id = $2 ON CONFLICT DO NOTHING")
            .bind(into).bind(from).execute(&mut *c).await.map(|r| r.rows_affected()).context("copying participants"))?;
        with_tx!(self, c => sqlx::query("UPDATE tickets SET merged_into_id = $1 WHERE id = $2")
            .bind(into).bind(from).execute(&mut *c).await.map(|r| r.rows_affected()).context("marking the merged ticket"))?;
        Ok(())
    }

    /// Sets a ticket's priority and why (a person's override of the proposal).
    pub async fn set_priority(
        &mut self,
        ticket_id: i64,
        priority: Priority,
        reason: &str,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET priority = $1, priority_reason = $2 WHERE id = $3")
            .bind(priority.as_str()).bind(reason).bind(ticket_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("setting priority"))?;
        Ok(())
    }

    /// Sets a ticket's severity (`critical`, `high`, `medium`, `low`).
    pub async fn set_severity(&mut self, ticket_id: i64, severity: Severity) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET severity = $1 WHERE id = $2")
            .bind(severity.as_str()).bind(ticket_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("setting severity"))?;
        Ok(())
    }
}

impl Store {
    /// All tickets, oldest first.
    pub async fn tickets(&self) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLS} FROM tickets ORDER BY number"));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).fetch_all(p).await.context("listing tickets"))
    }

    /// Up to `count` tickets numbered after `after`, with `status` and
    /// `priority` when given, oldest first (`onit tickets`, a page at a time).
    /// The filters are the statement's: at 1 M tickets, listing the open ones
    /// read and kept every ticket to drop all but 2 % of them (5.1 s, 1.3 GB
    /// resident). Both values come from their types' own names, bound as
    /// parameters; the count is written into the text (see
    /// `outbox::kind_literal`).
    pub async fn tickets_with(
        &self,
        status: Option<crate::ticket::Status>,
        priority: Option<crate::ticket::Priority>,
        after: i64,
        count: u32,
    ) -> Result<Vec<TicketRow>> {
        let mut conds = vec!["number > $1".to_string()];
        let mut binds = Vec::new();
        if let Some(s) = status {
            binds.push(s.as_str());
            conds.push(format!("status = ${}", binds.len() + 1));
        }
        if let Some(p) = priority {
            binds.push(p.as_str());
            conds.push(format!("priority = ${}", binds.len() + 1));
        }
        let sql = format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE {} ORDER BY number LIMIT {count}",
            conds.join(" AND ")
        );
        with_pool!(self, p => {
            let mut q = sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql.as_str())).bind(after);
            for b in &binds {
                q = q.bind(*b);
            }
            q.fetch_all(p).await.context("listing tickets")
        })
    }

    /// The open tickets, oldest first (the reminder pass runs every 30 s: only what it needs).
    pub async fn open_tickets(&self) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE status = 'open' ORDER BY number"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).fetch_all(p).await.context("listing open tickets"))
    }

    /// The open tickets to remind the team of: due in `(after, until]` under
    /// any rule but `skip_rule`, whose reminder for that deadline is not in the
    /// outbox yet, soonest first. The reminder's dedupe key is built here as
    /// `crate::reminders` builds it (`remind:JAC-7:rule:unix seconds`), so a
    /// ticket already reminded of is left out in the database: in the quarter
    /// hour before the 16:30 update every open ticket is due within the horizon,
    /// and the pass, every 30 s, read them all (10,000 rows at 1,000,000
    /// tickets) only to find their reminders queued.
    pub async fn open_tickets_to_remind(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        skip_rule: &str,
    ) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets t WHERE status = 'open' AND next_due_at > $1 AND next_due_at <= $2 AND next_due_rule <> $3 \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = \
               'remind:' || t.prefix || '-' || t.number || ':' || t.next_due_rule || ':' || (t.next_due_at / 1000)) \
             ORDER BY next_due_at, number"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).bind(to_ms(after)).bind(to_ms(until)).bind(skip_rule)
            .fetch_all(p).await.context("listing tickets to remind of"))
    }

    /// The open monitoring tickets nobody owns yet, oldest first (the ownership
    /// reminders and the digest's first section).
    pub async fn unowned_alerts(&self) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE status = 'open' AND alert_key IS NOT NULL AND owner IS NULL ORDER BY opened_at, number"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).fetch_all(p).await.context("listing unowned alerts"))
    }

    /// Open tickets opened before `opened_before` with no contact in `[from, until]`
    /// (the 16:00 list: no contact yet today).
    pub async fn open_tickets_silent(
        &self,
        opened_before: DateTime<Utc>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets t WHERE status = 'open' AND alert_key IS NULL AND opened_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND m.contact_at >= $2 AND m.contact_at <= $3) ORDER BY number"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).bind(to_ms(opened_before)).bind(to_ms(from)).bind(to_ms(until))
            .fetch_all(p).await.context("listing silent open tickets"))
    }

    /// A ticket by number.
    pub async fn ticket_by_number(&self, number: i64) -> Result<Option<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE number = $1"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).bind(number).fetch_optional(p).await.context("loading ticket"))
    }
}
