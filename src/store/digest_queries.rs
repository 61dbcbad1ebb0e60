//! The queries the PM digests read (one SQL text each, shared by both backends).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{
    to_ms, with_pool, ListedTicket, PolicyContactRow, PolicyStatusRow, PolicyTicketRow, Store,
    PERIOD_TICKETS,
};
use crate::ticket::{Priority, Status};

/// A period ticket as a digest reads it: what the rules read (the ticket, its
/// contacts and status changes), what the digest lists, and its thread's last
/// message (the reply link's `In-Reply-To`).
#[derive(Debug, Clone)]
pub struct DigestTicket {
    pub policy: PolicyTicketRow,
    pub subject: String,
    pub reporter: String,
    pub project: String,
    /// The Message-ID of the last message of its thread that the client saw
    /// (theirs, our contacts, our own mail; not internal notes), as it stood at
    /// the digest's instant.
    pub last_message_id: Option<String>,
    /// Its contacts, in time order.
    pub contacts: Vec<PolicyContactRow>,
    /// Its status changes, in time order.
    pub changes: Vec<PolicyStatusRow>,
}

impl DigestTicket {
    /// The ticket as a digest lists it.
    pub fn listed(&self) -> ListedTicket {
        ListedTicket {
            id: self.policy.id,
            number: self.policy.number,
            prefix: self.policy.prefix.clone(),
            subject: self.subject.clone(),
            reporter: self.reporter.clone(),
            project: self.project.clone(),
        }
    }

    /// Puts a ticket together from its columns; `contacts` and `changes` as the
    /// JSON arrays [`Store::digest_period`] writes them.
    fn assemble(
        policy: PolicyTicketRow,
        listed: (String, String, String),
        last_message_id: Option<String>,
        mut contacts: Vec<PolicyContactRow>,
        changes: Vec<(i64, String)>,
    ) -> Result<DigestTicket> {
        let id = policy.id;
        for c in &mut contacts {
            c.ticket_id = id;
        }
        let changes = changes
            .into_iter()
            .map(|(at, status)| {
                Ok(PolicyStatusRow {
                    ticket_id: id,
                    at,
                    status: Status::parse(&status)
                        .with_context(|| format!("ticket {id}: unknown status {status:?}"))?,
                })
            })
            .collect::<Result<_>>()?;
        let (subject, reporter, project) = listed;
        Ok(DigestTicket {
            policy,
            subject,
            reporter,
            project,
            last_message_id,
            contacts,
            changes,
        })
    }
}

/// How many period tickets one PostgreSQL read asks for ([`digest_rows`]):
/// over the kept 1 M bench database (20,030 period tickets), 1,000 a read
/// loaded them in 146–159 ms against 164–179 ms with 500 (three alternated
/// runs of `examples/digest_phases`), each statement still an index scan
/// (a bitmap scan at 1,000 and 2,000 ids; at 10,000 the status changes' read
/// became a scan of every event).
const DIGEST_IDS_PER_READ: usize = 1_000;

/// The [`DigestTicket`]s of the tickets `ids` (PostgreSQL), by id, the
/// thread's last message at `until` (epoch milliseconds): four flat reads, each
/// ordered by ticket, put together here. As one statement (a row per ticket,
/// its contacts and changes aggregated as JSON by subqueries) the server spent
/// 5.8–6.0 ms on 500 tickets, running three subplans per ticket; the four reads
/// take about 3.4 ms.
async fn digest_rows(pool: &sqlx::PgPool, ids: &[i64], until: i64) -> Result<Vec<DigestTicket>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {DIGEST_TICKET_COLS} FROM tickets t WHERE t.id = ANY($1) AND t.alert_key IS NULL ORDER BY t.id"
    ));
    let tickets: Vec<DigestTicketCols> = sqlx::query_as(sql)
        .bind(ids)
        .fetch_all(pool)
        .await
        .context("loading the period's tickets")?;
    let contacts: Vec<PolicyContactRow> = sqlx::query_as(
        "SELECT ticket_id, contact_at, message_id, contact_kind, to_addrs, cc_addrs, promise_at, promise_text, dismissive \
         FROM messages WHERE ticket_id = ANY($1) AND contact_at IS NOT NULL ORDER BY ticket_id, contact_at, id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .context("loading the period's contacts")?;
    let changes: Vec<PolicyStatusRow> = sqlx::query_as(
        "SELECT ticket_id, at, status FROM events WHERE ticket_id = ANY($1) AND status IS NOT NULL ORDER BY ticket_id, at, id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .context("loading the period's status changes")?;
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT ON (ticket_id) ticket_id, message_id FROM messages \
         WHERE ticket_id = ANY($1) AND effective_at <= $2 AND class IN {LAST_SEEN_CLASSES} \
         ORDER BY ticket_id, effective_at DESC, id DESC"
    ));
    let last: Vec<(i64, String)> = sqlx::query_as(sql)
        .bind(ids)
        .bind(until)
        .fetch_all(pool)
        .await
        .context("loading the period's last messages")?;
    let mut contacts = contacts.into_iter().peekable();
    let mut changes = changes.into_iter().peekable();
    let mut last = last.into_iter().peekable();
    Ok(tickets
        .into_iter()
        .map(|t| {
            let id = t.policy.id;
            let contacts = rows_of(&mut contacts, id, |c| c.ticket_id);
            let changes = rows_of(&mut changes, id, |c| c.ticket_id);
            let last_message_id = rows_of(&mut last, id, |l| l.0).pop().map(|l| l.1);
            DigestTicket {
                policy: t.policy,
                subject: t.subject,
                reporter: t.reporter,
                project: t.project,
                last_message_id,
                contacts,
                changes,
            }
        })
        .collect())
}

/// The rows at the front of `rows` that belong to ticket `id`, dropping any
/// before them (of a ticket not listed: an alert's). `rows` and the tickets
/// asked about are both in ticket order.
fn rows_of<T>(
    rows: &mut std::iter::Peekable<impl Iterator<Item = T>>,
    id: i64,
    ticket: impl Fn(&T) -> i64,
) -> Vec<T> {
    let mut mine = Vec::new();
    while let Some(r) = rows.next_if(|r| ticket(r) <= id) {
        if ticket(&r) == id {
            mine.push(r);
        }
    }
    mine
}

/// A period ticket's own columns (PostgreSQL).
#[derive(sqlx::FromRow)]
struct DigestTicketCols {
    #[sqlx(flatten)]
    policy: PolicyTicketRow,
    subject: String,
    reporter: String,
    project: String,
}

/// A [`DigestTicket`] as SQLite returns it: one element of a JSON array, the
/// columns of [`digest_ticket_cols`] and the arrays in that order.
#[derive(serde::Deserialize)]
struct DigestTicketJson(
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Vec<PolicyContactRow>,
    Vec<(i64, String)>,
);

impl DigestTicketJson {
    fn parse(self) -> Result<DigestTicket> {
        let DigestTicketJson(
            id,
            number,
            prefix,
            priority,
            opened_at,
            pm,
            status,
            subject,
            reporter,
            project,
            last,
            contacts,
            changes,
        ) = self;
        let policy = PolicyTicketRow {
            id,
            number,
            prefix,
            priority: Priority::parse(&priority)
                .with_context(|| format!("ticket {id}: unknown priority {priority:?}"))?,
            opened_at,
            pm,
            status: Status::parse(&status)
                .with_context(|| format!("ticket {id}: unknown status {status:?}"))?,
        };
        DigestTicket::assemble(
            policy,
            (subject, reporter, project),
            last,
            contacts,
            changes,
        )
    }
}

/// The columns of a [`DigestTicket`] before its arrays, `t` the ticket and
/// `$until` the number of the parameter holding the digest's instant: the last
/// message the client saw is a look-up per ticket, backwards through
/// `messages_ticket`.
fn digest_ticket_cols(until: usize) -> String {
    format!(
        "{DIGEST_TICKET_COLS}, \
         (SELECT m.message_id FROM messages m WHERE m.ticket_id = t.id AND m.effective_at <= ${until} \
          AND m.class IN {LAST_SEEN_CLASSES} \
          ORDER BY m.effective_at DESC, m.id DESC LIMIT 1)"
    )
}

/// A period ticket's own columns, `t` the ticket: [`PolicyTicketRow`]'s, then
/// subject, reporter and project (both databases' reads).
const DIGEST_TICKET_COLS: &str = "t.id, t.number, t.prefix, t.priority, t.opened_at, t.pm, t.status, t.subject, t.reporter, t.project";

/// The classes of message a thread's last message is taken from (the one a
/// reply link answers), in both databases' reads.
const LAST_SEEN_CLASSES: &str = "('client', 'contact', 'acknowledgment', 'own')";

/// A contact's cells in its JSON array: [`PolicyContactRow`]'s columns after `ticket_id`, in order.
const CONTACT_CELLS: &str = "m.contact_at, m.message_id, m.contact_kind, m.to_addrs, m.cc_addrs, m.promise_at, m.promise_text, m.dismissive";

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
    /// The tickets a digest's period from `from` reads ([`PERIOD_TICKETS`](super::PERIOD_TICKETS)), client work
    /// only, by id, each with its contacts and status changes (its whole
    /// history: the rules need what came before the period) and its thread's
    /// last message at `until`.
    ///
    /// At 10,000 open tickets what cost most was not finding the rows but
    /// handing them over (issue 17). sqlx runs SQLite on a thread of its own
    /// and passes each row to the caller's, copying every value; and it binds
    /// `$N` by name, a search through every name per parameter, so a 500-id
    /// list cost 1.8 ms a statement before it ran. On SQLite the whole period
    /// is therefore one statement, the ids a subquery, returning one value: a
    /// JSON array with one array per ticket (`json_group_array`), its contacts
    /// and changes nested. PostgreSQL plans that subquery as a hash join over
    /// every ticket (1.2 s at 1,000,000), so there the ids are read first and
    /// the tickets [`DIGEST_IDS_PER_READ`] at a time, up to three reads in
    /// flight (the server works on them side by side), each four flat
    /// statements ([`digest_rows`]).
    pub async fn digest_period(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<DigestTicket>> {
        match self {
            Store::Sqlite { reader, .. } => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT json_group_array(json_array({}, \
                     json((SELECT json_group_array(json_array({CONTACT_CELLS}) ORDER BY m.contact_at, m.id) \
                           FROM messages m WHERE m.ticket_id = t.id AND m.contact_at IS NOT NULL)), \
                     json((SELECT json_group_array(json_array(e.at, e.status) ORDER BY e.at, e.id) \
                           FROM events e WHERE e.ticket_id = t.id AND e.status IS NOT NULL))) ORDER BY t.id) \
                     FROM tickets t WHERE t.id IN ({PERIOD_TICKETS}) AND t.alert_key IS NULL",
                    digest_ticket_cols(2)
                ));
                let doc: String = sqlx::query_scalar(sql)
                    .bind(to_ms(from))
                    .bind(to_ms(until))
                    .fetch_one(reader)
                    .await
                    .context("loading the period's tickets")?;
                let tickets: Vec<DigestTicketJson> =
                    serde_json::from_str(&doc).context("reading the period's tickets")?;
                tickets.into_iter().map(DigestTicketJson::parse).collect()
            }
            Store::Postgres(pool) => {
                use futures::{StreamExt, TryStreamExt};

                let ids = self.period_ticket_ids(to_ms(from)).await?;
                let until = to_ms(until);
                // Up to three statements in flight, leaving the pool two
                // connections for the rest of the daemon (ingest, the outbox).
                let in_flight = (pool.options().get_max_connections() as usize)
                    .saturating_sub(2)
                    .clamp(1, 3);
                // The futures are made first: a closure mapped over the stream
                // makes the daemon's task not `Send` (a higher-ranked lifetime).
                let reads: Vec<_> = ids
                    .chunks(DIGEST_IDS_PER_READ)
                    .map(|chunk| digest_rows(pool, chunk, until))
                    .collect();
                let chunks: Vec<Vec<DigestTicket>> = futures::stream::iter(reads)
                    .buffered(in_flight)
                    .try_collect()
                    .await?;
                Ok(chunks.into_iter().flatten().collect())
            }
        }
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
        // The kind as text, not a parameter: see `outbox::kind_literal`.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT dedupe_key FROM outbox WHERE kind = '{}' AND created_at >= $1 ORDER BY id",
            super::outbox::kind_literal(kind)
        ));
        with_pool!(self, p => sqlx::query_scalar::<_, String>(sql)
            .bind(to_ms(since)).fetch_all(p).await.context("listing outbox keys"))
    }
}
