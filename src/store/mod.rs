//! Storage on SQLite (the embedded default) and PostgreSQL, without `sqlx::Any`
//! (which cannot bind dates and misreads SQLite booleans). Every query is one
//! SQL text with `$N` parameters that both drivers accept; the [`Tx`] and
//! [`Store`] enums dispatch it to the concrete connection type, so each query
//! is type-checked once per backend. Times are Unix epoch milliseconds.
//!
//! SQLite has one writer: a dedicated single-connection pool that begins every
//! transaction with `BEGIN IMMEDIATE`, so a read-then-write transaction takes
//! the write lock up front instead of failing with "database is locked" when it
//! upgrades. Reads that are not part of a write go to a separate reader pool.

mod alerts;
pub mod backup;
mod closing;
mod codec;
mod digest_queries;
mod events;
mod folders;
pub mod grants;
mod held_mail;
pub mod leases;
mod messages;
mod outbox;
mod outbox_recovery;
mod policy_rows;
pub mod probe;
pub mod sqlite_open;
mod tickets;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use alerts::AlertRow;
pub use closing::*;
pub use digest_queries::*;
pub use events::*;
pub use folders::*;
pub use held_mail::*;
pub use messages::*;
pub use outbox::*;
pub use policy_rows::*;
pub use tickets::*;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// A connection pool on one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// A write transaction on either database. Dropping it without `commit` rolls back.
pub enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

/// Runs the same body against whichever connection a [`Tx`] holds; inside, `$c`
/// is `&mut <Db>Connection` (reborrow it as `&mut *$c` for each query).
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
}

/// Runs the same body against the read pool of a [`Store`]; inside, `$p` is `&Pool<Db>`.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite { reader, .. } => {
                let $p = reader;
                $body
            }
            $crate::store::Store::Postgres(pool) => {
                let $p = pool;
                $body
            }
        }
    };
}

/// At most this many values (ticket ids, outbox keys) are bound in one
/// statement's `IN (…)` list (SQLite allows 32,766
/// parameters, PostgreSQL 65,535; a short list keeps each statement an index
/// look-up per id).
pub(super) const IDS_PER_STATEMENT: usize = 500;

/// The size a SQLite database's WAL file is cut back to once it starts over
/// (`journal_size_limit`), bytes: 64 MB, sixteen times what SQLite's own
/// checkpoint every 1,000 pages lets it reach in daily work.
pub const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// `$first, $first+1, …`: `n` numbered parameters, for an `IN (…)` list.
pub(super) fn id_params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `query_as::<_, $row>($sql)` on the pool with the `$pre` values bound first,
/// then each value of `$ids` (the numbered parameters after them: see
/// [`id_params`]), every row fetched; `$what` names it in errors.
macro_rules! fetch_by_ids {
    ($store:expr, $row:ty, $sql:expr, [$($pre:expr),*], $ids:expr, $what:literal) => {
        with_pool!($store, p => {
            let mut q = sqlx::query_as::<_, $row>($sql)$(.bind($pre))*;
            for id in $ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await.context($what)
        })
    };
}
pub(crate) use {fetch_by_ids, with_pool, with_tx};

/// Serialises a stored epoch-millisecond time as RFC 3339 (seconds, `Z`), as every JSON output does.
pub fn ser_ms<S: serde::Serializer>(ms: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&from_ms(*ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
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

/// Converts a stored epoch-millisecond value.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Converts a time to the stored epoch-millisecond value.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Connects (creating a SQLite file or a PostgreSQL database if missing) and applies migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        let store = Store::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating. SQLite: under the set-up lock (`sqlite_open`),
    /// since connecting may create the file and switch it to WAL.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let _setup = match url.starts_with("sqlite:") {
            true => Some(sqlite_open::OpenLock::take(url).await?),
            false => None,
        };
        Store::connect_unlocked(url, max_connections).await
    }

    async fn connect_unlocked(url: &str, max_connections: u32) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("bad SQLite url {url}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // The WAL file keeps the size of the largest transaction it
                // ever held (an import, a migration: 1.4 GB after 0019 over 1 M
                // tickets) unless a limit is set; with one, it is cut back to
                // it when it next starts over after a checkpoint.
                .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string());
            let writer = sqlite_open::retry_busy(|| async {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect_with(opts.clone())
                    .await
                    .with_context(|| format!("opening SQLite database {url}"))
            })
            .await?;
            let reader = sqlite_open::retry_busy(|| async {
                SqlitePoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .connect_with(opts.clone().read_only(true))
                    .await
                    .with_context(|| format!("opening SQLite database {url} for reading"))
            })
            .await?;
            Ok(Store::Sqlite { writer, reader })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if !Postgres::database_exists(url)
                .await
                .with_context(|| format!("connecting to {}", redact(url)))?
            {
                // Another instance may create it at the same moment: only fail if it still does not exist.
                if let Err(e) = Postgres::create_database(url).await {
                    if !Postgres::database_exists(url).await.unwrap_or(false) {
                        return Err(e)
                            .with_context(|| format!("creating database {}", redact(url)));
                    }
                }
            }
            // A transaction left open by a paused process (see leadership.rs: fencing)
            // must not hold row locks for long; none of onit's transactions idle this long.
            let opts = PgConnectOptions::from_str(url)
                .with_context(|| format!("bad PostgreSQL url {}", redact(url)))?
                .options([("idle_in_transaction_session_timeout", "10000")]);
            // A connection keeps the buffers of the largest message it carried (a
            // digest of thousands of tickets is megabytes of raw mail, written to the
            // outbox and read back to send): over a million-ticket history the pooled
            // connections held ~65 MB after the first round's digests, given back at
            // once when they were closed. Each connection is replaced after a
            // minute, and one idle for 30 s is closed, so an idle daemon does not
            // stay as large as its largest mail for long: with 5 minutes, the
            // daemon over 1,000,000 tickets stayed at 82–101 MB for its first five
            // minutes (24 MB from the sixth). A new connection a minute is a few
            // milliseconds of the server's and ours.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .max_lifetime(Duration::from_secs(60))
                .idle_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await
                .with_context(|| format!("connecting to {}", redact(url)))?;
            Ok(Store::Postgres(pool))
        } else {
            anyhow::bail!("database.url must start with sqlite:// or postgres://")
        }
    }

    /// Applies the embedded migrations for this database.
    ///
    /// PostgreSQL serialises concurrent migrators with an advisory lock; SQLite's
    /// migrator takes none, so onit's set-up lock (`sqlite_open`) serialises
    /// them; should two still collide (an older onit), the loser retries and
    /// finds the work done.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Store::Sqlite { writer, .. } => {
                let _setup = match writer.connect_options().get_filename().to_str() {
                    Some(path) => {
                        Some(sqlite_open::OpenLock::take(&format!("sqlite://{path}")).await?)
                    }
                    None => None,
                };
                let mut attempt = 0;
                loop {
                    match SQLITE_MIGRATIONS.run(writer).await {
                        Ok(()) => return Ok(()),
                        Err(e) if attempt < 10 => {
                            attempt += 1;
                            tracing::debug!(error = %e, attempt, "SQLite migration collided; retrying");
                            tokio::time::sleep(Duration::from_millis(100 + fastrand::u64(..200)))
                                .await;
                        }
                        Err(e) => return Err(e).context("applying SQLite migrations"),
                    }
                }
            }
            Store::Postgres(pool) => POSTGRES_MIGRATIONS
                .run(pool)
                .await
                .context("applying PostgreSQL migrations"),
        }
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx<'static>> {
        Ok(match self {
            Store::Sqlite { writer, .. } => Tx::Sqlite(
                writer
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .context("beginning SQLite transaction")?,
            ),
            Store::Postgres(pool) => Tx::Postgres(
                pool.begin()
                    .await
                    .context("beginning PostgreSQL transaction")?,
            ),
        })
    }

    /// Closes the pools (waits for connections to return).
    pub async fn close(&self) {
        match self {
            Store::Sqlite { writer, reader } => {
                writer.close().await;
                reader.close().await;
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }

    /// True on SQLite (one writer, one instance), false on PostgreSQL.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Store::Sqlite { .. })
    }

    /// "sqlite" or "postgres", for people and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

impl<'c> Tx<'c> {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await.context("commit")?,
            Tx::Postgres(t) => t.commit().await.context("commit")?,
        }
        Ok(())
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await.context("rollback")?,
            Tx::Postgres(t) => t.rollback().await.context("rollback")?,
        }
        Ok(())
    }

    /// A nested transaction (a SAVEPOINT): lets a batch skip one bad message without losing the rest.
    pub async fn savepoint(&mut self) -> Result<Tx<'_>> {
        use sqlx::Connection;
        Ok(match self {
            Tx::Sqlite(t) => Tx::Sqlite((**t).begin().await.context("savepoint")?),
            Tx::Postgres(t) => Tx::Postgres((**t).begin().await.context("savepoint")?),
        })
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
