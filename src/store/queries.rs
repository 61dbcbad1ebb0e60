//! The queries, one SQL text each, shared by both backends.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{from_ms, to_ms, with_pool, with_tx, Store, Tx};
use crate::ticket::{EventKind, OutboxKind, Priority, Severity, Status};

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
}

impl TicketRow {
    /// `JAC-7`.
    pub fn reference(&self) -> String {
        format!("{}-{}", self.prefix, self.number)
    }
}

const TICKET_COLS: &str = "id, number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, severity, status, opened_at, last_contact_at, next_due_at, next_due_rule, closed_at, ack_message_id, linked_ticket_id, opening_message_id";

/// A new ticket to insert.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub number: i64,
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
}

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

/// A message to record.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub message_id: &'a str,
    pub ticket_id: Option<i64>,
    pub class: &'a str,
    pub detail: Option<&'a str>,
    pub from_addr: Option<&'a str>,
    pub to_addrs: &'a str,
    pub cc_addrs: &'a str,
    pub subject: &'a str,
    pub date_header: Option<DateTime<Utc>>,
    pub arrived_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub in_reply_to: &'a str,
    pub refs: &'a str,
    pub body: &'a str,
    pub origin: &'a str,
    pub raw: Option<&'a [u8]>,
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
}

/// Serialises a stored epoch-millisecond time as RFC 3339 (seconds, `Z`), as every JSON output does.
pub fn ser_ms<S: serde::Serializer>(ms: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&from_ms(*ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Mail waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: OutboxKind,
    pub dedupe_key: String,
    pub ticket_id: Option<i64>,
    pub message_id: String,
    pub mail_from: String,
    pub to_addr: String,
    pub rcpt_to: String,
    pub raw: Vec<u8>,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub attempt_started_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

const OUTBOX_COLS: &str = "id, kind, dedupe_key, ticket_id, message_id, mail_from, to_addr, rcpt_to, raw, status, attempts, created_at, next_attempt_at, attempt_started_at, sent_at, last_error";

/// Who claims an outbox item, and when a `sending` claim counts as abandoned.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub now: DateTime<Utc>,
    /// This instance's name (`ha.instance_name`).
    pub instance: &'a str,
    /// Only one instance can run on this database (SQLite).
    pub exclusive: bool,
    /// An attempt older than this is abandoned whoever made it.
    pub stale_after: chrono::Duration,
    /// A claimer without a heartbeat for this long is gone.
    pub claimer_gone_after: chrono::Duration,
}

/// A new outbox item.
#[derive(Debug, Clone)]
pub struct NewOutbox<'a> {
    pub kind: OutboxKind,
    pub dedupe_key: &'a str,
    pub ticket_id: Option<i64>,
    pub message_id: &'a str,
    pub mail_from: &'a str,
    pub to_addr: &'a str,
    pub rcpt_to: &'a str,
    pub raw: &'a [u8],
    pub created_at: DateTime<Utc>,
}

/// Outbox status values.
pub mod outbox_status {
    /// Waiting for its next attempt.
    pub const PENDING: &str = "pending";
    /// An attempt began and its outcome is not recorded (a crash, or in flight).
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    /// A permanent failure: recorded on the ticket, never retried.
    pub const FAILED: &str = "failed";
}

/// What is known of a stored Message-ID.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnownMessage {
    pub class: String,
    pub ticket_id: Option<i64>,
}

impl Tx<'_> {
    /// Looks a Message-ID up among stored messages.
    pub async fn known_message(&mut self, message_id: &str) -> Result<Option<KnownMessage>> {
        with_tx!(self, c => sqlx::query_as::<_, KnownMessage>("SELECT class, ticket_id FROM messages WHERE message_id = $1")
            .bind(message_id).fetch_optional(&mut *c).await.context("looking up message"))
    }

    /// The ticket a stored message with this id belongs to.
    pub async fn ticket_of_message(&mut self, message_id: &str) -> Result<Option<i64>> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM messages WHERE message_id = $1 AND ticket_id IS NOT NULL")
            .bind(message_id).fetch_optional(&mut *c).await.context("threading by reference"))
    }

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
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE reporter = $1 AND normalized_subject = $2 AND status <> 'closed' ORDER BY opened_at DESC, id DESC LIMIT 1"
        ));
        with_tx!(self, c => sqlx::query_as::<_, TicketRow>(sql).bind(reporter).bind(normalized_subject).fetch_optional(&mut *c).await.context("threading by subject"))
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

    /// The next ticket number (numbers are never reused: a UNIQUE constraint guards concurrent writers).
    pub async fn next_ticket_number(&mut self) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(number), 0) + 1 FROM tickets")
            .fetch_one(&mut *c).await.context("numbering ticket"))
    }

    /// Inserts a ticket (status open) and returns its id.
    pub async fn insert_ticket(&mut self, t: &NewTicket<'_>) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>(
            "INSERT INTO tickets (number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, linked_ticket_id, opening_message_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11, $12) RETURNING id")
            .bind(t.number).bind(t.prefix).bind(t.subject).bind(t.normalized_subject).bind(t.reporter).bind(t.project)
            .bind(t.pm).bind(t.priority.as_str()).bind(t.priority_reason).bind(to_ms(t.opened_at)).bind(t.linked_ticket_id).bind(t.opening_message_id)
            .fetch_one(&mut *c).await.context("inserting ticket"))
    }

    /// Records a message (its Message-ID must be new).
    pub async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<()> {
        with_tx!(self, c => sqlx::query(
            "INSERT INTO messages (message_id, ticket_id, class, detail, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, body, origin, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)")
            .bind(m.message_id).bind(m.ticket_id).bind(m.class).bind(m.detail).bind(m.from_addr).bind(m.to_addrs).bind(m.cc_addrs)
            .bind(m.subject).bind(m.date_header.map(to_ms)).bind(to_ms(m.arrived_at)).bind(to_ms(m.effective_at)).bind(m.in_reply_to)
            .bind(m.refs).bind(m.body).bind(m.origin).bind(m.raw)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("inserting message"))?;
        Ok(())
    }

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

    /// Appends an event, with the status it leaves the ticket in when it changes it.
    pub async fn append_event(&mut self, e: &NewEvent<'_>) -> Result<()> {
        with_tx!(self, c => sqlx::query("INSERT INTO events (ticket_id, at, kind, actor, message_id, detail, status) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(e.ticket_id).bind(to_ms(e.at)).bind(e.kind).bind(e.actor).bind(e.message_id).bind(e.detail).bind(e.status.map(Status::as_str))
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("inserting event"))?;
        Ok(())
    }

    /// Records a contact: the last contact time and the next due time it sets.
    pub async fn set_contact(
        &mut self,
        ticket_id: i64,
        at: DateTime<Utc>,
        next_due: Option<(DateTime<Utc>, &str)>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query(
            "UPDATE tickets SET last_contact_at = CASE WHEN last_contact_at IS NULL OR last_contact_at < $1 THEN $1 ELSE last_contact_at END, \
             next_due_at = $2, next_due_rule = $3 WHERE id = $4")
            .bind(to_ms(at)).bind(next_due.map(|d| to_ms(d.0))).bind(next_due.map(|d| d.1)).bind(ticket_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording contact"))?;
        Ok(())
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

    /// Moves the last contact forward to `at` (never back).
    pub async fn touch_contact(&mut self, ticket_id: i64, at: DateTime<Utc>) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE tickets SET last_contact_at = $1 WHERE id = $2 AND (last_contact_at IS NULL OR last_contact_at < $1)")
            .bind(to_ms(at)).bind(ticket_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("recording contact time"))?;
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

    /// Acknowledgments queued to `to_addr` since `since` (the per-sender rate limit).
    pub async fn acks_to_since(&mut self, to_addr: &str, since: DateTime<Utc>) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE kind = 'ack' AND to_addr = $1 AND created_at >= $2")
            .bind(to_addr).bind(to_ms(since)).fetch_one(&mut *c).await.context("counting acknowledgments"))
    }

    /// Queues a message. Returns false (and queues nothing) when its dedupe key exists: an
    /// acknowledgment's key is `ack:<ticket id>`, so a ticket can never get two.
    pub async fn enqueue(&mut self, o: &NewOutbox<'_>) -> Result<bool> {
        let n = with_tx!(self, c => sqlx::query(
            "INSERT INTO outbox (kind, dedupe_key, ticket_id, message_id, mail_from, to_addr, rcpt_to, raw, status, attempts, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9) ON CONFLICT (dedupe_key) DO NOTHING")
            .bind(o.kind.as_str()).bind(o.dedupe_key).bind(o.ticket_id).bind(o.message_id).bind(o.mail_from).bind(o.to_addr)
            .bind(o.rcpt_to).bind(o.raw).bind(to_ms(o.created_at))
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("queueing outgoing mail"))?;
        Ok(n == 1)
    }

    /// Claims an outbox item for an attempt: marks it `sending` (and by whom) before
    /// any byte leaves, so a crash mid-send is visible as an ambiguous attempt.
    ///
    /// Every instance delivers, so an item another instance is sending right now
    /// must not be taken: a `sending` item is taken over only when its claimer is
    /// gone (no instance heartbeat within `c.claimer_gone_after`), the attempt is
    /// older than `c.stale_after` (no send takes that long), or `c.exclusive` (one
    /// instance only, as on SQLite: any `sending` left is from a crash).
    /// PostgreSQL locks the row with `FOR UPDATE SKIP LOCKED`, so two instances
    /// racing for the same item never both claim it.
    pub async fn outbox_claim(&mut self, id: i64, c: &Claim<'_>) -> Result<Option<OutboxRow>> {
        let lock = if matches!(self, Tx::Postgres(_)) {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE id = $1 AND next_attempt_at <= $2 AND (status = 'pending' OR (status = 'sending' AND \
             ($3 OR claimed_by IS NULL OR claimed_by = $4 OR attempt_started_at IS NULL OR attempt_started_at < $5 \
              OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.name = outbox.claimed_by AND i.seen_at >= $6)))){lock}"));
        let row = with_tx!(self, c2 => sqlx::query_as::<_, OutboxRow>(sql).bind(id).bind(to_ms(c.now)).bind(c.exclusive).bind(c.instance)
            .bind(to_ms(c.now - c.stale_after)).bind(to_ms(c.now - c.claimer_gone_after))
            .fetch_optional(&mut *c2).await.context("claiming outbox item"))?;
        if row.is_some() {
            with_tx!(self, c2 => sqlx::query("UPDATE outbox SET status = 'sending', attempts = attempts + 1, attempt_started_at = $1, claimed_by = $2 WHERE id = $3")
                .bind(to_ms(c.now)).bind(c.instance).bind(id).execute(&mut *c2).await.map(|r| r.rows_affected()).context("marking attempt"))?;
        }
        Ok(row)
    }

    /// When the mail that opened a ticket arrived (for the acknowledgment latency).
    pub async fn ticket_arrival(&mut self, ticket_id: i64) -> Result<Option<DateTime<Utc>>> {
        let v = with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT m.arrived_at FROM tickets t JOIN messages m ON m.message_id = t.opening_message_id WHERE t.id = $1")
            .bind(ticket_id).fetch_optional(&mut *c).await.context("reading a ticket's arrival"))?;
        Ok(v.map(from_ms))
    }

    /// Marks an outbox item sent.
    pub async fn outbox_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(to_ms(at)).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()).context("marking sent"))?;
        Ok(())
    }

    /// Schedules another attempt after a transient failure.
    pub async fn outbox_retry(&mut self, id: i64, next: DateTime<Utc>, error: &str) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $2 WHERE id = $3")
            .bind(to_ms(next)).bind(error).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()).context("scheduling retry"))?;
        Ok(())
    }

    /// Records a permanent failure.
    pub async fn outbox_failed(&mut self, id: i64, error: &str) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE outbox SET status = 'failed', last_error = $1 WHERE id = $2")
            .bind(error).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()).context("marking failed"))?;
        Ok(())
    }
}

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

/// The policy facts of one message, set when it is stored (or, for our acknowledgment, sent).
#[derive(Debug, Clone, Default)]
pub struct ContactFacts<'a> {
    pub contact_at: Option<DateTime<Utc>>,
    pub contact_kind: Option<&'a str>,
    pub promise_at: Option<DateTime<Utc>>,
    pub promise_text: Option<&'a str>,
    pub dismissive: Option<&'a str>,
}

impl Tx<'_> {
    /// Records a message's policy facts (NULLs leave nothing behind: each call sets all five).
    pub async fn set_contact_facts(
        &mut self,
        message_id: &str,
        f: &ContactFacts<'_>,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE messages SET contact_at = $1, contact_kind = $2, promise_at = $3, promise_text = $4, dismissive = $5 WHERE message_id = $6")
            .bind(f.contact_at.map(to_ms)).bind(f.contact_kind).bind(f.promise_at.map(to_ms)).bind(f.promise_text).bind(f.dismissive).bind(message_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording contact facts"))?;
        Ok(())
    }

    /// Marks a stored message of ours as a contact from `at` (our acknowledgment, once sent).
    pub async fn set_contact_at(&mut self, message_id: &str, at: DateTime<Utc>) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE messages SET contact_at = $1 WHERE message_id = $2")
            .bind(to_ms(at)).bind(message_id)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("recording contact time"))?;
        Ok(())
    }
}

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

/// Counts for `onit status` and tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutboxSummary {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    #[serde(serialize_with = "ser_opt_ms")]
    pub oldest_unsent: Option<i64>,
}

/// [`ser_ms`] for an optional time.
pub fn ser_opt_ms<S: serde::Serializer>(
    ms: &Option<i64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => ser_ms(ms, s),
        None => s.serialize_none(),
    }
}

/// A stored message, for `onit ticket`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub message_id: String,
    pub class: String,
    pub from_addr: Option<String>,
    pub subject: String,
    pub effective_at: i64,
}

impl Store {
    /// All tickets, oldest first.
    pub async fn tickets(&self) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLS} FROM tickets ORDER BY number"));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).fetch_all(p).await.context("listing tickets"))
    }

    /// The open tickets, oldest first (the reminder pass runs every 30 s: only what it needs).
    pub async fn open_tickets(&self) -> Result<Vec<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE status = 'open' ORDER BY number"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).fetch_all(p).await.context("listing open tickets"))
    }

    /// A ticket by number.
    pub async fn ticket_by_number(&self, number: i64) -> Result<Option<TicketRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE number = $1"
        ));
        with_pool!(self, p => sqlx::query_as::<_, TicketRow>(sql).bind(number).fetch_optional(p).await.context("loading ticket"))
    }

    /// A ticket's events in order.
    pub async fn events(&self, ticket_id: i64) -> Result<Vec<EventRow>> {
        with_pool!(self, p => sqlx::query_as::<_, EventRow>("SELECT id, ticket_id, at, kind, actor, message_id, detail, status FROM events WHERE ticket_id = $1 ORDER BY at, id")
            .bind(ticket_id).fetch_all(p).await.context("loading events"))
    }

    /// A ticket's messages in order.
    pub async fn messages_of(&self, ticket_id: i64) -> Result<Vec<MessageRow>> {
        with_pool!(self, p => sqlx::query_as::<_, MessageRow>("SELECT message_id, class, from_addr, subject, effective_at FROM messages WHERE ticket_id = $1 ORDER BY effective_at, id")
            .bind(ticket_id).fetch_all(p).await.context("loading messages"))
    }

    /// Outbox items due for an attempt at `now` (pending ones, and `sending` ones left by a crash).
    pub async fn outbox_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<i64>> {
        with_pool!(self, p => sqlx::query_scalar::<_, i64>("SELECT id FROM outbox WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2")
            .bind(to_ms(now)).bind(limit).fetch_all(p).await.context("listing due outbox items"))
    }

    /// When the next outbox item falls due, if any is waiting.
    pub async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let v = with_pool!(self, p => sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(p).await.context("outbox next due"))?;
        Ok(v.map(from_ms))
    }

    /// Mails waiting to be sent, and when the oldest of them was queued.
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<DateTime<Utc>>)> {
        let (n, oldest) = with_pool!(self, p => sqlx::query_as::<_, (i64, Option<i64>)>("SELECT count(*), MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(p).await.context("outbox backlog"))?;
        Ok((n, oldest.map(from_ms)))
    }

    /// Every outbox row (tests, status).
    pub async fn outbox_all(&self) -> Result<Vec<OutboxRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {OUTBOX_COLS} FROM outbox ORDER BY id"));
        with_pool!(self, p => sqlx::query_as::<_, OutboxRow>(sql).fetch_all(p).await.context("listing outbox"))
    }

    /// Counts by outbox status, and the oldest unsent item's creation time.
    pub async fn outbox_summary(&self) -> Result<OutboxSummary> {
        let rows: Vec<(String, i64, Option<i64>)> = with_pool!(self, p => sqlx::query_as("SELECT status, count(*), MIN(created_at) FROM outbox GROUP BY status")
            .fetch_all(p).await.context("outbox summary"))?;
        let mut s = OutboxSummary::default();
        for (status, n, oldest) in rows {
            match status.as_str() {
                "pending" => s.pending = n,
                "sending" => s.sending = n,
                "sent" => s.sent = n,
                "failed" => s.failed = n,
                _ => {}
            }
            if status == "pending" || status == "sending" {
                s.oldest_unsent = match (s.oldest_unsent, oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok(s)
    }

    /// Message counts by class (tests, status).
    pub async fn message_counts(&self) -> Result<Vec<(String, i64)>> {
        with_pool!(self, p => sqlx::query_as::<_, (String, i64)>("SELECT class, count(*) FROM messages GROUP BY class ORDER BY class")
            .fetch_all(p).await.context("counting messages"))
    }

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

    /// Every IMAP folder's sync state.
    pub async fn folder_states(&self) -> Result<Vec<FolderState>> {
        with_pool!(self, p => sqlx::query_as::<_, FolderState>("SELECT account, folder, uidvalidity, next_uid, last_sync_at, last_error, last_error_at FROM imap_folders ORDER BY account, folder")
            .fetch_all(p).await.context("listing folders"))
    }

    /// Messages that could not be stored, newest first.
    pub async fn ingest_failures(&self) -> Result<Vec<IngestFailure>> {
        with_pool!(self, p => sqlx::query_as::<_, IngestFailure>("SELECT id, source, at, error FROM ingest_failures ORDER BY at DESC, id DESC LIMIT 100")
            .fetch_all(p).await.context("listing ingest failures"))
    }

    /// A stored message's class and ticket, by Message-ID.
    pub async fn known_message(&self, message_id: &str) -> Result<Option<KnownMessage>> {
        with_pool!(self, p => sqlx::query_as::<_, KnownMessage>("SELECT class, ticket_id FROM messages WHERE message_id = $1")
            .bind(message_id).fetch_optional(p).await.context("looking up message"))
    }
}

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

    /// Stores an incident response report; returns its id.
    pub async fn insert_report(&mut self, r: &NewReport<'_>) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("INSERT INTO reports (ticket_id, created_at, markdown, html, message_id) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(r.ticket_id).bind(to_ms(r.created_at)).bind(r.markdown).bind(r.html).bind(r.message_id)
            .fetch_one(&mut *c).await.context("storing report"))
    }

    /// A ticket's events in order, as this transaction sees them.
    pub async fn ticket_events(&mut self, ticket_id: i64) -> Result<Vec<EventRow>> {
        with_tx!(self, c => sqlx::query_as::<_, EventRow>("SELECT id, ticket_id, at, kind, actor, message_id, detail, status FROM events WHERE ticket_id = $1 ORDER BY at, id")
            .bind(ticket_id).fetch_all(&mut *c).await.context("loading events"))
    }

    /// A ticket's messages in order, as this transaction sees them.
    pub async fn ticket_messages(&mut self, ticket_id: i64) -> Result<Vec<MessageRow>> {
        with_tx!(self, c => sqlx::query_as::<_, MessageRow>("SELECT message_id, class, from_addr, subject, effective_at FROM messages WHERE ticket_id = $1 ORDER BY effective_at, id")
            .bind(ticket_id).fetch_all(&mut *c).await.context("loading messages"))
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
