//! `onit backup PATH`: a consistent copy of the SQLite database, taken while
//! `onit run` keeps writing.
//!
//! `VACUUM INTO` reads the database in one read transaction, so in WAL mode it
//! copies a single committed snapshot and never blocks the daemon's writer (a
//! file copy of `onit.db` would miss what is still in `onit.db-wal`, or catch a
//! checkpoint half done). SQLite writes the copy without a journal and does not
//! sync it, so a crash can leave it incomplete: the copy is therefore made under
//! a temporary name in the destination's directory, synced, checked with
//! `PRAGMA integrity_check`, and only then linked to PATH. PATH either does not
//! exist or holds a checked backup. The file is created with mode 0600: it holds
//! every client's mail.
//!
//! PostgreSQL has its own tool for this (`pg_dump`), which onit does not wrap.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::config::Runtime;
use crate::store::{redact, Store};

/// What a finished backup holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    /// The backup file (absolute).
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Tickets in the copy.
    pub tickets: i64,
}

/// The `onit backup PATH` command: refuses PostgreSQL before connecting (so a
/// refused command creates nothing), and a SQLite file that does not exist (the
/// store would otherwise create an empty one and back that up).
pub async fn command(rt: &Runtime, dest: &Path) -> Result<BackupReport> {
    let url = rt.database_url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!("{}", postgres_refusal(&redact(url)));
    }
    if url.starts_with("sqlite:") {
        let opts =
            SqliteConnectOptions::from_str(url).with_context(|| format!("bad SQLite url {url}"))?;
        let file = opts.get_filename();
        if !file.exists() {
            bail!(
                "no database at {} (database.url = {url}): nothing to back up",
                file.display()
            );
        }
    }
    // No migration: the running daemon owns the schema, and a backup of an older
    // schema is still a backup (the restored file is migrated when onit opens it).
    let store = Store::connect(url, 2).await?;
    let result = backup(&store, dest).await;
    store.close().await;
    result
}

/// Copies the database behind `store` to `dest`, which must not exist.
///
/// SQLite only; on PostgreSQL it refuses and names `pg_dump`.
pub async fn backup(store: &Store, dest: &Path) -> Result<BackupReport> {
    let reader = match store {
        Store::Sqlite { reader, .. } => reader,
        Store::Postgres(_) => bail!("{}", postgres_refusal("the database URL")),
    };
    let dest = std::path::absolute(dest)
        .with_context(|| format!("cannot resolve the backup path {}", dest.display()))?;
    let name = dest
        .file_name()
        .with_context(|| format!("{} does not name a file", dest.display()))?
        .to_string_lossy()
        .into_owned();
    let dir = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?
        .to_path_buf();
    refuse_existing(&dest).await?;
    if !tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
        bail!("directory {} does not exist", dir.display());
    }

    // Same directory as the destination, so the final link stays on one filesystem;
    // a dot name so a glob over backups does not pick up an unfinished one.
    let tmp_path = dir.join(format!(
        ".{name}.{}-{:08x}.onit-backup-tmp",
        std::process::id(),
        fastrand::u32(..)
    ));
    let tmp_str = tmp_path
        .to_str()
        .with_context(|| format!("the backup path {} is not UTF-8", dest.display()))?
        .to_string();
    // Created empty here (VACUUM INTO accepts an empty file) so that it is the
    // owner's alone from the start: the backup holds every client's mail, and
    // SQLite would create it world-readable under the usual umask.
    create_private(&tmp_path)
        .await
        .with_context(|| format!("creating {}", tmp_path.display()))?;
    let tmp = TempFile(tmp_path);

    // The path is bound as a parameter (SQLite evaluates the INTO expression), so no
    // quoting of the file name is involved. The read-only pool suffices: VACUUM INTO
    // only reads this database, and opens the new file for writing itself.
    sqlx::query("VACUUM INTO $1")
        .bind(&tmp_str)
        .execute(reader)
        .await
        .with_context(|| format!("copying the database into {}", tmp.0.display()))?;
    let file = tokio::fs::File::open(&tmp.0)
        .await
        .with_context(|| format!("opening {}", tmp.0.display()))?;
    file.sync_all()
        .await
        .with_context(|| format!("syncing {}", tmp.0.display()))?;
    drop(file);

    let tickets = check_copy(&tmp.0).await?;
    publish(&tmp.0, &dest).await?;
    tmp.disarm();
    // Make the new directory entry durable too; best effort, the file itself is synced.
    if let Ok(d) = tokio::fs::File::open(&dir).await {
        if let Err(e) = d.sync_all().await {
            tracing::warn!(error = %e, dir = %dir.display(), "could not sync the backup's directory");
        }
    }
    let bytes = tokio::fs::metadata(&dest)
        .await
        .with_context(|| format!("reading {}", dest.display()))?
        .len();
    Ok(BackupReport {
        path: dest,
        bytes,
        tickets,
    })
}

/// A copy of the database behind `store` at `dest` (which must not exist) for
/// a plan to run over and throw away (`onit run --dry-run`): the same
/// snapshot as [`backup`], owner-only, but neither synced nor checked. Those
/// two make a backup trustworthy after a crash; a scratch copy does not
/// outlive its command. Over the scale bench's 1 M tickets (9 GB) the check
/// alone took 21 s of a 56 s dry run.
pub async fn scratch_copy(store: &Store, dest: &Path) -> Result<()> {
    let reader = match store {
        Store::Sqlite { reader, .. } => reader,
        Store::Postgres(_) => bail!("only a SQLite database is copied"),
    };
    let dest_str = dest
        .to_str()
        .with_context(|| format!("the path {} is not UTF-8", dest.display()))?;
    create_private(dest)
        .await
        .with_context(|| format!("creating {}", dest.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest_str)
        .execute(reader)
        .await
        .with_context(|| format!("copying the database into {}", dest.display()))?;
    Ok(())
}

/// Creates an empty file readable and writable by its owner only; fails if it exists.
async fn create_private(path: &Path) -> std::io::Result<()> {
    crate::private_files::tokio_options()
        .write(true)
        .create_new(true)
        .open(path)
        .await
        .map(drop)
}

fn postgres_refusal(url: &str) -> String {
    format!(
        "onit backup copies SQLite databases only; this one is PostgreSQL. \
         Back it up with pg_dump, e.g. `pg_dump --format=custom --file=onit.dump '{url}'` \
         (docs/operations.md, \"Back up\")"
    )
}

async fn refuse_existing(dest: &Path) -> Result<()> {
    // symlink_metadata: a dangling symlink at PATH is something there too.
    match tokio::fs::symlink_metadata(dest).await {
        Ok(_) => bail!(
            "{} already exists; onit backup never overwrites a file (choose a new name)",
            dest.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking {}", dest.display())),
    }
}

/// Opens the copy read-only, runs `PRAGMA integrity_check`, and counts its tickets.
async fn check_copy(path: &Path) -> Result<i64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening the copy {}", path.display()))?;
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .context("running PRAGMA integrity_check on the copy")?;
    if problems.len() != 1 || problems[0] != "ok" {
        let _ = conn.close().await;
        bail!(
            "the copy failed PRAGMA integrity_check: {}",
            problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(&mut conn)
        .await
        .context("counting the copy's tickets")?;
    conn.close().await.context("closing the copy")?;
    Ok(tickets)
}

/// Gives the checked copy its final name without ever replacing a file that
/// appeared there meanwhile: a hard link fails if the name exists (rename would
/// silently overwrite it).
async fn publish(tmp: &Path, dest: &Path) -> Result<()> {
    match tokio::fs::hard_link(tmp, dest).await {
        Ok(()) => tokio::fs::remove_file(tmp)
            .await
            .with_context(|| format!("removing {}", tmp.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} appeared while the backup was being made; onit backup never overwrites a file",
            dest.display()
        ),
        // A filesystem without hard links: check, then rename (a tiny window remains).
        Err(_) => {
            refuse_existing(dest).await?;
            tokio::fs::rename(tmp, dest)
                .await
                .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
        }
    }
}

/// A temporary file removed on drop unless [`TempFile::disarm`]ed, so a failed
/// or interrupted backup leaves nothing behind.
struct TempFile(PathBuf);

impl TempFile {
    fn disarm(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_in(dir: &Path) -> Store {
        let url = format!("sqlite://{}", dir.join("onit.db").display());
        Store::open(&url, 2).await.expect("open a test store")
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read test dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn backup_copies_and_checks() {
        let src = tempfile::tempdir().expect("tempdir");
        let out = tempfile::tempdir().expect("tempdir");
        let store = store_in(src.path()).await;
        let dest = out.path().join("copy.db");
        let r = backup(&store, &dest).await.expect("backup");
        store.close().await;
        assert_eq!(r.path, dest);
        assert_eq!(r.tickets, 0);
        assert!(r.bytes > 0);
        assert_eq!(names(out.path()), vec!["copy.db"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the backup is its owner's alone");
        }
    }

    #[tokio::test]
    async fn backup_refuses_an_existing_file_and_leaves_it_alone() {
        let src = tempfile::tempdir().expect("tempdir");
        let store = store_in(src.path()).await;
        let dest = src.path().join("old-backup.db");
        std::fs::write(&dest, b"precious").expect("write");
        let err = backup(&store, &dest).await.expect_err("must refuse");
        store.close().await;
        assert!(format!("{err:#}").contains("already exists"), "{err:#}");
        assert_eq!(std::fs::read(&dest).expect("read"), b"precious");
        assert!(!names(src.path())
            .iter()
            .any(|n| n.contains("onit-backup-tmp")));
    }

    #[tokio::test]
    async fn backup_into_a_missing_directory_fails_cleanly() {
        let src = tempfile::tempdir().expect("tempdir");
        let store = store_in(src.path()).await;
        let dest = src.path().join("no-such-dir").join("b.db");
        let err = backup(&store, &dest).await.expect_err("must fail");
        store.close().await;
        assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
    }

    #[test]
    fn postgres_refusal_names_pg_dump() {
        let m = postgres_refusal("postgres://onit:***@db/onit");
        assert!(m.contains("pg_dump"));
        assert!(m.contains("postgres://onit:***@db/onit"));
    }
}
