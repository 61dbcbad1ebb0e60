//! The `messages` table: every message seen, ours included, with the facts the rules read.

use super::{from_ms, to_ms, with_pool, with_tx, Store, Tx};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

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
    /// How sure onit is of the sender (none for mail that was not judged, e.g. unparseable).
    pub auth: Option<&'a crate::trust::Authentication>,
    /// To/Cc addresses not recorded (`mailbox.max_recipients`); the raw message has them.
    pub recipients_omitted: i64,
}

/// The columns of a message's row, but its text and raw bytes (`body`, `raw`).
/// On SQLite those two are kept apart, in `message_content` (migration 0019):
/// SQLite reaches a column behind a long value only through the value's
/// overflow pages, and the rules read every contact's row. PostgreSQL keeps
/// long values out of line itself (TOAST), so there they stay in the row: a
/// second table cost its import 7 % for no read it sped up.
const MESSAGE_COLS: &str = "message_id, ticket_id, class, detail, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, auth, auth_how, recipients_omitted";
const MESSAGE_VALUES: &str =
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17";
/// The contact facts' columns, bound after a message's as `$18…$22`.
const FACT_COLS: &str = "contact_at, contact_kind, promise_at, promise_text, dismissive";
const FACT_VALUES: &str = "$18, $19, $20, $21, $22";

/// Binds a [`NewMessage`]'s row as `$1…$17` of [`MESSAGE_VALUES`].
macro_rules! bind_message {
    ($q:expr, $m:expr) => {{
        let m: &NewMessage<'_> = $m;
        $q.bind(m.message_id)
            .bind(m.ticket_id)
            .bind(m.class)
            .bind(m.detail)
            .bind(m.from_addr)
            .bind(m.to_addrs)
            .bind(m.cc_addrs)
            .bind(m.subject)
            .bind(m.date_header.map(to_ms))
            .bind(to_ms(m.arrived_at))
            .bind(to_ms(m.effective_at))
            .bind(m.in_reply_to)
            .bind(m.refs)
            .bind(m.origin)
            .bind(m.auth.map(|a| a.verdict.as_str()))
            .bind(m.auth.map(|a| a.how.as_str()))
            .bind(m.recipients_omitted)
    }};
}

/// Binds [`ContactFacts`] as `$18…$22` of [`FACT_VALUES`].
macro_rules! bind_facts {
    ($q:expr, $f:expr) => {{
        let f: &ContactFacts<'_> = $f;
        $q.bind(f.contact_at.map(to_ms))
            .bind(f.contact_kind)
            .bind(f.promise_at.map(to_ms))
            .bind(f.promise_text)
            .bind(f.dismissive)
    }};
}

/// Where a message's raw bytes are read, as (the value, the tables), the
/// message named `m`: on SQLite in `message_content` (a message may have no
/// row there), on PostgreSQL in its own row.
pub(super) fn raw_of_message(sqlite: bool) -> (&'static str, &'static str) {
    match sqlite {
        true => (
            "c.raw",
            "messages m LEFT JOIN message_content c ON c.id = m.id",
        ),
        false => ("m.raw", "messages m"),
    }
}

/// `SELECT` of one message's raw bytes by Message-ID (`$1`), on either
/// database ([`raw_of_message`]): NULL when none are kept.
pub(super) fn raw_by_message_id(sqlite: bool) -> String {
    let (raw, from) = raw_of_message(sqlite);
    format!("SELECT {raw} FROM {from} WHERE m.message_id = $1")
}

impl NewMessage<'_> {
    /// Whether it has text or bytes to keep (a row in `message_content`).
    fn has_content(&self) -> bool {
        !self.body.is_empty() || self.raw.is_some()
    }
}

/// What is known of a stored Message-ID.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnownMessage {
    pub class: String,
    pub ticket_id: Option<i64>,
}

/// What [`Tx::first_look`] found.
#[derive(Debug, Clone)]
pub struct FirstLook {
    /// The stored message with this Message-ID.
    pub known: Option<KnownMessage>,
    /// Our outbox holds a message with this Message-ID.
    pub ours: bool,
    /// The newest not-closed ticket of the reporter and subject asked about.
    pub open_by_subject: Option<i64>,
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

/// A stored message, for `onit ticket`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub message_id: String,
    pub class: String,
    pub from_addr: Option<String>,
    pub subject: String,
    pub effective_at: i64,
}

/// A stored message as `onit mail reprocess` and `attach` take it again: its
/// bytes, where it came from, and the times it was stored with.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredMail {
    pub message_id: String,
    pub ticket_id: Option<i64>,
    pub class: String,
    pub raw: Option<Vec<u8>>,
    pub origin: String,
    pub date_header: Option<i64>,
    pub arrived_at: i64,
    pub effective_at: i64,
}

impl Tx<'_> {
    /// A stored message, whole, by Message-ID.
    pub async fn stored_mail(&mut self, message_id: &str) -> Result<Option<StoredMail>> {
        let (raw, from) = raw_of_message(matches!(self, Tx::Sqlite(_)));
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT m.message_id, m.ticket_id, m.class, {raw} AS raw, m.origin, m.date_header, m.arrived_at, m.effective_at FROM {from} WHERE m.message_id = $1"
        ));
        with_tx!(self, c => sqlx::query_as::<_, StoredMail>(sql)
            .bind(message_id).fetch_optional(&mut *c).await.context("reading a stored message"))
    }

    /// Removes the record of a message on no ticket, so that ingest can take it
    /// again; a message on a ticket is never removed (false).
    pub async fn forget_unticketed(&mut self, message_id: &str) -> Result<bool> {
        let n = with_tx!(self, c => sqlx::query("DELETE FROM messages WHERE message_id = $1 AND ticket_id IS NULL")
            .bind(message_id).execute(&mut *c).await.map(|r| r.rows_affected()).context("removing a message's record"))?;
        Ok(n > 0)
    }

    /// Looks a Message-ID up among stored messages.
    pub async fn known_message(&mut self, message_id: &str) -> Result<Option<KnownMessage>> {
        with_tx!(self, c => sqlx::query_as::<_, KnownMessage>("SELECT class, ticket_id FROM messages WHERE message_id = $1")
            .bind(message_id).fetch_optional(&mut *c).await.context("looking up message"))
    }

    /// What ingest asks first of every message, in one round trip: the stored
    /// message with this Message-ID, whether our outbox holds a message with it
    /// (our own mail is recognised by what we stored, never by the shape of the
    /// id), and, when `by_subject` (reporter, normalised subject) is given, the
    /// id of the newest not-closed ticket that threading by subject would find
    /// for it (the same ticket as [`Tx::open_ticket_by_subject`]). Asked ahead of
    /// threading because most client mail opens a ticket: threading then needs
    /// no statement of its own to learn that none matches (issue 17: a round
    /// trip less per new ticket, on PostgreSQL a sixth of an import's time).
    pub async fn first_look(
        &mut self,
        message_id: &str,
        by_subject: Option<(&str, &str)>,
    ) -> Result<FirstLook> {
        let (reporter, subject) = by_subject.unzip();
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT m.class, m.ticket_id, (SELECT count(*) FROM outbox o WHERE o.message_id = $1), ({}) \
             FROM (SELECT 1 AS one) AS x LEFT JOIN messages m ON m.message_id = $1",
            super::tickets::newest_open_by_subject("id", 2)
        ));
        let row: (Option<String>, Option<i64>, i64, Option<i64>) = with_tx!(self, c => sqlx::query_as(sql)
            .bind(message_id).bind(reporter).bind(subject).fetch_one(&mut *c).await.context("looking up message"))?;
        Ok(FirstLook {
            known: row.0.map(|class| KnownMessage {
                class,
                ticket_id: row.1,
            }),
            ours: row.2 > 0,
            open_by_subject: row.3,
        })
    }

    /// The ticket a stored message with this id belongs to.
    pub async fn ticket_of_message(&mut self, message_id: &str) -> Result<Option<i64>> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM messages WHERE message_id = $1 AND ticket_id IS NOT NULL")
            .bind(message_id).fetch_optional(&mut *c).await.context("threading by reference"))
    }

    /// Records a message (its Message-ID must be new).
    pub async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<()> {
        self.insert_row(m, None, &[]).await
    }

    /// Stores a new message with its contact facts in one statement: our own
    /// mail kept on its ticket (an acknowledgment and its stated next update).
    /// One write of the row and its indexes instead of an insert and an update
    /// found again by Message-ID, a descent of the largest index (issue 17).
    pub async fn insert_message_with_facts(
        &mut self,
        m: &NewMessage<'_>,
        f: &ContactFacts<'_>,
    ) -> Result<()> {
        self.insert_row(m, Some(f), &[]).await
    }

    /// Records a message on ticket `ticket_id` (its Message-ID must be new) and
    /// `participants` as taking part in it. One statement on PostgreSQL, where a
    /// statement is a round trip (a data-modifying `WITH`, as
    /// [`Tx::insert_ticket`] and for the same reason), one per row on SQLite.
    pub async fn insert_message_on_ticket(
        &mut self,
        ticket_id: i64,
        m: &NewMessage<'_>,
        participants: &[String],
    ) -> Result<()> {
        let m = NewMessage {
            ticket_id: Some(ticket_id),
            ..*m
        };
        self.insert_row(&m, None, participants).await?;
        if matches!(self, Tx::Sqlite(_)) {
            self.add_participants(ticket_id, participants).await?;
        }
        Ok(())
    }

    /// Inserts a message's row (with `facts` when given) and its text and raw
    /// bytes. PostgreSQL: one statement, the text and bytes in the row (TOAST
    /// keeps long values out of line), and `participants` of its ticket added
    /// by the same statement (`WITH`: a statement is a round trip). SQLite:
    /// the row, then its content in `message_content` under the id the row
    /// got (migration 0019), and no participants (the caller adds them).
    async fn insert_row(
        &mut self,
        m: &NewMessage<'_>,
        facts: Option<&ContactFacts<'_>>,
        participants: &[String],
    ) -> Result<()> {
        let (cols, values) = match facts {
            Some(_) => (
                format!("{MESSAGE_COLS}, {FACT_COLS}"),
                format!("{MESSAGE_VALUES}, {FACT_VALUES}"),
            ),
            None => (MESSAGE_COLS.to_string(), MESSAGE_VALUES.to_string()),
        };
        match self {
            Tx::Postgres(c) => {
                // The text's, the bytes' and the participants' parameters follow.
                let next = if facts.is_some() { 23 } else { 18 };
                let row = format!(
                    "INSERT INTO messages ({cols}, body, raw) VALUES ({values}, ${}, ${})",
                    next,
                    next + 1
                );
                let sql = match participants.is_empty() {
                    true => row,
                    false => format!(
                        "WITH m AS ({row}) INSERT INTO ticket_participants (ticket_id, address) \
                         SELECT $2, a FROM unnest(${}::text[]) AS a ON CONFLICT DO NOTHING",
                        next + 2
                    ),
                };
                let mut q = bind_message!(sqlx::query(sqlx::AssertSqlSafe(sql)), m);
                if let Some(f) = facts {
                    q = bind_facts!(q, f);
                }
                q = q.bind(m.body).bind(m.raw);
                if !participants.is_empty() {
                    q = q.bind(participants);
                }
                q.execute(&mut **c).await.context("inserting message")?;
            }
            Tx::Sqlite(c) => {
                let row = format!("INSERT INTO messages ({cols}) VALUES ({values}) RETURNING id");
                let mut q =
                    bind_message!(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(row)), m);
                if let Some(f) = facts {
                    q = bind_facts!(q, f);
                }
                let id = q.fetch_one(&mut **c).await.context("inserting message")?;
                if m.has_content() {
                    sqlx::query("INSERT INTO message_content (id, body, raw) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(m.body)
                        .bind(m.raw)
                        .execute(&mut **c)
                        .await
                        .context("inserting a message's content")?;
                }
            }
        }
        Ok(())
    }

    /// When the mail that opened a ticket arrived (for the acknowledgment latency).
    pub async fn ticket_arrival(&mut self, ticket_id: i64) -> Result<Option<DateTime<Utc>>> {
        let v = with_tx!(self, c => sqlx::query_scalar::<_, i64>("SELECT m.arrived_at FROM tickets t JOIN messages m ON m.message_id = t.opening_message_id WHERE t.id = $1")
            .bind(ticket_id).fetch_optional(&mut *c).await.context("reading a ticket's arrival"))?;
        Ok(v.map(from_ms))
    }

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

    /// A ticket's messages in order, as this transaction sees them.
    pub async fn ticket_messages(&mut self, ticket_id: i64) -> Result<Vec<MessageRow>> {
        with_tx!(self, c => sqlx::query_as::<_, MessageRow>("SELECT message_id, class, from_addr, subject, effective_at FROM messages WHERE ticket_id = $1 ORDER BY effective_at, id")
            .bind(ticket_id).fetch_all(&mut *c).await.context("loading messages"))
    }
}

impl Store {
    /// A ticket's messages in order.
    pub async fn messages_of(&self, ticket_id: i64) -> Result<Vec<MessageRow>> {
        with_pool!(self, p => sqlx::query_as::<_, MessageRow>("SELECT message_id, class, from_addr, subject, effective_at FROM messages WHERE ticket_id = $1 ORDER BY effective_at, id")
            .bind(ticket_id).fetch_all(p).await.context("loading messages"))
    }

    /// Message counts by class (tests, status).
    pub async fn message_counts(&self) -> Result<Vec<(String, i64)>> {
        with_pool!(self, p => sqlx::query_as::<_, (String, i64)>("SELECT class, count(*) FROM messages GROUP BY class ORDER BY class")
            .fetch_all(p).await.context("counting messages"))
    }

    /// A stored message's class and ticket, by Message-ID.
    pub async fn known_message(&self, message_id: &str) -> Result<Option<KnownMessage>> {
        with_pool!(self, p => sqlx::query_as::<_, KnownMessage>("SELECT class, ticket_id FROM messages WHERE message_id = $1")
            .bind(message_id).fetch_optional(p).await.context("looking up message"))
    }
}
