//! The `outbox` table: what must be sent, claimed, attempted and recorded.

use super::{from_ms, to_ms, with_pool, with_tx, Store, Tx};
use crate::ticket::OutboxKind;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::*;

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
    pub status: OutboxStatus,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub attempt_started_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// [`OUTBOX_DUE`] up to its `LIMIT`, so that SQLite's form (the limit in the
/// text: see [`kind_literal`]) is the same statement.
macro_rules! outbox_due_ordered {
    () => {
        "SELECT id FROM outbox WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1 ORDER BY next_attempt_at, id"
    };
}

/// What the outbox has due at `$1` (ms), oldest first, at most `$2`: the
/// part of [`Store::outbox_due`] after the acknowledgments. Public so that a
/// test can ask the server how it reads this very statement.
pub const OUTBOX_DUE: &str = concat!(outbox_due_ordered!(), " LIMIT $2");

/// When the next outbox item falls due ([`Store::outbox_next_due`]); public
/// for the same reason as [`OUTBOX_DUE`].
pub const OUTBOX_NEXT_DUE: &str =
    "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'sending')";

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

/// Whom a rate counts (see [`Tx::queued_since`]).
#[derive(Debug, Clone, Copy)]
pub enum RateScope<'a> {
    Address(&'a crate::address::EmailAddress),
    Domain(&'a crate::address::EmailAddress),
    All,
}

/// The normalised address and domain an outgoing message counts against.
fn rate_scope(to_addr: &str) -> (String, String) {
    match crate::address::EmailAddress::parse(to_addr) {
        Ok(a) => (a.rate_key(), a.domain().to_string()),
        Err(_) => {
            let lower = to_addr.to_lowercase();
            let domain = lower
                .rsplit_once('@')
                .map(|(_, d)| d.to_string())
                .unwrap_or_default();
            (lower, domain)
        }
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt began and its outcome is not recorded (a crash, or in flight).
    Sending,
    Sent,
    /// A permanent failure: recorded on the ticket, never retried.
    Failed,
}

impl OutboxStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<OutboxStatus> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sending,
            OutboxStatus::Sent,
            OutboxStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
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

/// `kind`'s stored name, to be written into a statement's text: a name from
/// [`OutboxKind`]'s own list, never input.
///
/// Why not bound parameters (here, and the `LIMIT`s of the outbox's two
/// look-ups and of the due look-up, `Store::open_due_by`'s): SQLite plans a statement again whenever a parameter is bound
/// that its plan read the value of, and its planner reads two kinds: one
/// compared with a constant of a partial index's condition (`kind = $1` against
/// `outbox_acks_waiting`'s `kind = 'ack'`: `exprCompareVariable`), and a
/// `LIMIT` (`sqlite3ExprIsInteger`). sqlx binds at every execution, so each
/// such statement was parsed and planned afresh each time: seven times per
/// acknowledgment (the three rate-limit counts, and the outbox pass's two
/// look-ups, twice), about 57,000 instructions each by callgrind, and the
/// same at any size of history (issue 17). With the values in the text, each
/// statement's plan is cached once per value, and the values are few.
pub(crate) fn kind_literal(kind: OutboxKind) -> &'static str {
    let name = kind.as_str();
    debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    name
}

impl Tx<'_> {
    /// Messages of `kind` queued since `since`: to one address (without its
    /// `+tag`), to one domain, or in all (the rate limits), counted up to `cap`.
    /// A rate limit asks only whether its cap is reached, so the count stops
    /// there: without it, the total of the last hour (`ack_rate_total_per_hour`)
    /// read one index entry per acknowledgment of the hour, for every new ticket
    /// (issue 17: over a few thousand in an hour, the largest part of an
    /// acknowledgment's database work).
    pub async fn queued_since(
        &mut self,
        kind: OutboxKind,
        scope: RateScope<'_>,
        since: DateTime<Utc>,
        cap: i64,
    ) -> Result<i64> {
        let since = to_ms(since);
        let cap = cap.max(0);
        let kind = kind_literal(kind);
        match scope {
            RateScope::Address(a) => {
                let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM (SELECT 1 FROM outbox WHERE kind = '{kind}' AND rate_key = $1 AND created_at >= $2 LIMIT {cap}) AS q"));
                with_tx!(self, c => sqlx::query_scalar::<_, i64>(sql)
                .bind(a.rate_key()).bind(since).fetch_one(&mut *c).await.context("counting messages to an address"))
            }
            RateScope::Domain(a) => {
                let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM (SELECT 1 FROM outbox WHERE kind = '{kind}' AND rate_domain = $1 AND created_at >= $2 LIMIT {cap}) AS q"));
                with_tx!(self, c => sqlx::query_scalar::<_, i64>(sql)
                .bind(a.domain()).bind(since).fetch_one(&mut *c).await.context("counting messages to a domain"))
            }
            RateScope::All => {
                let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM (SELECT 1 FROM outbox WHERE kind = '{kind}' AND created_at >= $1 LIMIT {cap}) AS q"));
                with_tx!(self, c => sqlx::query_scalar::<_, i64>(sql)
                .bind(since).fetch_one(&mut *c).await.context("counting messages"))
            }
        }
    }

    /// Queues a message. Returns false (and queues nothing) when its dedupe key exists: an
    /// acknowledgment's key is `ack:<ticket id>`, so a ticket can never get two.
    pub async fn enqueue(&mut self, o: &NewOutbox<'_>) -> Result<bool> {
        let (rate_key, rate_domain) = rate_scope(o.to_addr);
        let n = with_tx!(self, c => sqlx::query(
            "INSERT INTO outbox (kind, dedupe_key, ticket_id, message_id, mail_from, to_addr, rcpt_to, raw, status, attempts, created_at, next_attempt_at, rate_key, rate_domain) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $10, $11) ON CONFLICT (dedupe_key) DO NOTHING")
            .bind(o.kind.as_str()).bind(o.dedupe_key).bind(o.ticket_id).bind(o.message_id).bind(o.mail_from).bind(o.to_addr)
            .bind(o.rcpt_to).bind(o.raw).bind(to_ms(o.created_at)).bind(&rate_key).bind(&rate_domain)
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

impl Store {
    /// Whether the outbox already holds mail with this dedupe key (queued, sent
    /// or failed): mail a periodic pass need not render again only to have its
    /// insert skipped.
    pub async fn outbox_holds(&self, dedupe_key: &str) -> Result<bool> {
        with_pool!(self, p => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE dedupe_key = $1")
            .bind(dedupe_key).fetch_one(p).await.map(|n| n > 0).context("looking up queued mail"))
    }

    /// Outbox items due for an attempt at `now` (pending ones, and `sending` ones
    /// left by a crash), and acknowledgments never yet tried that were queued
    /// by `fresh_until` (a pass running since `now` takes those queued while it
    /// runs): acknowledgments first, then the rest oldest first.
    ///
    /// An acknowledgment is the one message with a deadline a minute away
    /// (`first-response`) and the client waiting for it: it must not queue
    /// behind a backlog (a first run over a long history queues a reminder for
    /// every open ticket: 10,000 at 1 M tickets, which held a new client's
    /// acknowledgment back 17 s in the scale bench). Anything else queued
    /// during a pass, a retry included, waits for the next pass.
    pub async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        fresh_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>> {
        // Two look-ups: the waiting acknowledgments (their own partial index,
        // `outbox_acks_waiting`, in its order), then everything due, as before
        // (on PostgreSQL through `outbox_waiting`, migration 0015, which the
        // dead versions of the rows already sent do not fill).
        // One statement ordering acknowledgments first sorted every due row by
        // that order for each batch: at 10,000 reminders queued, the drain's
        // own CPU, and 28 ms added to each acknowledgment.
        let mut ids = self.outbox_acks_waiting(now, fresh_until, limit).await?;
        // SQLite: the limit in the text, not bound (see `kind_literal`).
        let rest = match self {
            Store::Sqlite { reader, .. } => {
                let sql = sqlx::AssertSqlSafe(format!(
                    concat!(outbox_due_ordered!(), " LIMIT {}"),
                    limit
                ));
                sqlx::query_scalar::<_, i64>(sql)
                    .bind(to_ms(now))
                    .fetch_all(reader)
                    .await
            }
            Store::Postgres(pool) => {
                sqlx::query_scalar::<_, i64>(OUTBOX_DUE)
                    .bind(to_ms(now))
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            }
        }
        .context("listing due outbox items")?;
        for id in rest {
            if ids.len() as i64 >= limit {
                break;
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// The acknowledgments of [`Store::outbox_due`] alone: due at `now`, or
    /// never tried and queued by `fresh_until`, oldest first. Cheap (a partial
    /// index of the waiting ones): a pass asks between its sends.
    pub async fn outbox_acks_waiting(
        &self,
        now: DateTime<Utc>,
        fresh_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>> {
        // SQLite, with no statistics, would take the index on `kind` and read
        // every acknowledgment ever sent: it is told which index to use.
        // The limit in the text, not bound (see `kind_literal`).
        let acks = sqlx::AssertSqlSafe(if self.is_sqlite() {
            format!("SELECT id FROM outbox INDEXED BY outbox_acks_waiting WHERE kind = 'ack' AND status IN ('pending', 'sending') \
             AND (next_attempt_at <= $1 OR (attempts = 0 AND next_attempt_at <= $2)) ORDER BY next_attempt_at, id LIMIT {limit}")
        } else {
            format!("SELECT id FROM outbox WHERE kind = 'ack' AND status IN ('pending', 'sending') \
             AND (next_attempt_at <= $1 OR (attempts = 0 AND next_attempt_at <= $2)) ORDER BY next_attempt_at, id LIMIT {limit}")
        });
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(acks)
            .bind(to_ms(now)).bind(to_ms(fresh_until.max(now)))
            .fetch_all(p).await.context("listing waiting acknowledgments"))
    }

    /// When the next outbox item falls due, if any is waiting.
    pub async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let v = with_pool!(self, p => sqlx::query_scalar::<_, Option<i64>>(OUTBOX_NEXT_DUE)
            .fetch_one(p).await.context("outbox next due"))?;
        Ok(v.map(from_ms))
    }

    /// Mails waiting to be sent, and when the oldest of them was queued. On
    /// SQLite from `outbox_unsent` alone (migration 0020), which holds only
    /// what waits: the gauge reads no mail at a scrape.
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

    /// The last outbox id given so far (0 for none): with
    /// [`Store::outbox_queued_after`], what a run queued, without reading what
    /// was queued before it (every mail ever sent, over a long history).
    pub async fn outbox_last_id(&self) -> Result<i64> {
        with_pool!(self, p => sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM outbox")
            .fetch_one(p).await.map(|id| id.unwrap_or(0)).context("the last outbox id"))
    }

    /// The kind and recipient of each item queued after item `id`, in order.
    pub async fn outbox_queued_after(&self, id: i64) -> Result<Vec<(OutboxKind, String)>> {
        with_pool!(self, p => sqlx::query_as::<_, (OutboxKind, String)>("SELECT kind, to_addr FROM outbox WHERE id > $1 ORDER BY id")
            .bind(id).fetch_all(p).await.context("listing what was queued"))
    }

    /// Counts by outbox status, and the oldest unsent item's creation time.
    ///
    /// Two statements that each read an index alone: the counts `outbox_due`'s
    /// entries, the oldest waiting item [`Store::outbox_backlog`]'s. One
    /// statement asking for the oldest creation time of every status read the
    /// rows, and on SQLite every byte of every mail ever sent with them
    /// (migration 0020).
    pub async fn outbox_summary(&self) -> Result<OutboxSummary> {
        let rows: Vec<(OutboxStatus, i64)> = with_pool!(self, p => sqlx::query_as("SELECT status, count(*) FROM outbox GROUP BY status")
            .fetch_all(p).await.context("outbox summary"))?;
        let mut s = OutboxSummary::default();
        for (status, n) in rows {
            match status {
                OutboxStatus::Pending => s.pending = n,
                OutboxStatus::Sending => s.sending = n,
                OutboxStatus::Sent => s.sent = n,
                OutboxStatus::Failed => s.failed = n,
            }
        }
        if s.pending + s.sending > 0 {
            s.oldest_unsent = self.outbox_backlog().await?.1.map(to_ms);
        }
        Ok(s)
    }
}
