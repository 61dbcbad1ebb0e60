//! Opening a SQLite database that several processes may be creating at once.
//!
//! `onit run`, `onit migrate` and `onit status` started together on a path with
//! no database yet each create the file, switch it to WAL and apply the
//! migrations. The WAL switch needs the file to itself and SQLite does not wait
//! for it (the busy timeout does not cover it), and the migrator takes no lock:
//! one of them failed with `(code: 5) database is locked`. So the whole set-up
//! (connect, WAL switch, migrations) runs under an exclusive lock on
//! `<database file>.onit-open-lock`, held for the set-up only (milliseconds),
//! and a `database is locked` that still slips through (a process of an older
//! onit, a tool holding the file) is retried.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::sqlite::SqliteConnectOptions;

/// How long a process waits for another to finish setting the database up.
const WAIT: Duration = Duration::from_secs(60);

/// The exclusive set-up lock of one SQLite database; released when dropped
/// (and by the OS when the process ends, however it ends).
pub struct OpenLock {
    _file: Option<std::fs::File>,
}

impl OpenLock {
    /// Takes the set-up lock of the SQLite `url`, waiting up to a minute for
    /// another process's set-up. An in-memory database needs none.
    pub async fn take(url: &str) -> Result<OpenLock> {
        let Some((db, path)) = lock_path(url)? else {
            return Ok(OpenLock { _file: None });
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_files::create_dir_all(dir)
                .with_context(|| format!("creating the database folder {}", dir.display()))?;
        }
        let file = crate::private_files::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        // The database file is created here, empty (SQLite takes an empty file as a
        // new database), so that it is 0600 whatever the umask; SQLite gives its
        // `-wal` and `-shm` files the database file's mode.
        crate::private_files::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&db)
            .with_context(|| format!("creating {}", db.display()))?;
        let locked = tokio::time::timeout(
            WAIT,
            tokio::task::spawn_blocking(move || file.lock().map(|()| file)),
        )
        .await
        .with_context(|| format!("waited {WAIT:?} for {}", path.display()))?
        .context("the lock task failed")?
        .with_context(|| format!("locking {}", path.display()))?;
        Ok(OpenLock {
            _file: Some(locked),
        })
    }
}

/// The database file and `<database file>.onit-open-lock`, or None for an in-memory database.
fn lock_path(url: &str) -> Result<Option<(PathBuf, PathBuf)>> {
    let opts =
        SqliteConnectOptions::from_str(url).with_context(|| format!("bad SQLite url {url}"))?;
    let db = opts.get_filename();
    let name = db.to_string_lossy();
    // sqlx names an in-memory database `file:sqlx-in-memory-N`.
    if name.is_empty() || name.contains(":memory:") || name.starts_with("file:sqlx-in-memory") {
        return Ok(None);
    }
    Ok(Some((
        db.to_path_buf(),
        PathBuf::from(format!("{}.onit-open-lock", db.display())),
    )))
}

/// True for SQLite's `SQLITE_BUSY` / `SQLITE_LOCKED` (`database is locked`), anywhere in the chain.
pub fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<sqlx::Error>().is_some_and(|e| match e {
            sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("5" | "6" | "517")),
            _ => false,
        }) || c.to_string().contains("database is locked")
    })
}

/// Runs a set-up step, retrying it while SQLite says the database is busy.
pub async fn retry_busy<T, F, Fut>(mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match step().await {
            Err(e) if attempt < 20 && is_busy(&e) => {
                attempt += 1;
                tracing::debug!(
                    error = format!("{e:#}"),
                    attempt,
                    "SQLite busy while opening; retrying"
                );
                tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(..150))).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_sits_beside_the_database() {
        assert_eq!(
            lock_path("sqlite:///var/lib/onit/onit.db").unwrap(),
            Some((
                PathBuf::from("/var/lib/onit/onit.db"),
                PathBuf::from("/var/lib/onit/onit.db.onit-open-lock")
            ))
        );
        assert_eq!(lock_path("sqlite::memory:").unwrap(), None);
    }

    #[test]
    fn busy_is_recognised_in_a_chain() {
        let e = anyhow::anyhow!("error returned from database: (code: 5) database is locked")
            .context("opening SQLite database");
        assert!(is_busy(&e));
        assert!(!is_busy(&anyhow::anyhow!("no such table: tickets")));
    }

    #[tokio::test]
    async fn a_second_taker_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let first = OpenLock::take(&url).await.unwrap();
        let url2 = url.clone();
        let second = tokio::spawn(async move { OpenLock::take(&url2).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !second.is_finished(),
            "the second waits while the first holds it"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("taken once released")
            .unwrap()
            .unwrap();
    }
}
