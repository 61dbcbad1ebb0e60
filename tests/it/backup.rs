//! `onit backup PATH` as an operator runs it (the real binary, a separate
//! process): a copy that opens with the same tickets, a consistent copy while
//! another writer keeps committing, and refusals (an existing file, PostgreSQL).

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use onit::config::Runtime;
use onit::ingest::{receive_imf, Disposition, Mode};
use onit::store::Store;

use crate::common::{onit_command, Db, Env, Mail};

/// Runs `onit --config <env> backup <dest>` without blocking the test's runtime
/// (a writer task may be running on it).
async fn onit_backup(env: &Env, dest: &Path) -> Output {
    let dest = dest.to_str().expect("utf-8 path");
    tokio::process::Command::from(onit_command(env, &["backup", dest]))
        .output()
        .await
        .expect("run onit backup")
}

fn client_mail(i: usize) -> Vec<u8> {
    Mail::new(
        &format!("client{i}@acme.example"),
        "support@jac.example",
        &format!("Problem number {i}"),
        &format!("b{i}@acme.example"),
    )
    .body("Something is broken, please look.\n")
    .bytes()
}

async fn ingest(store: &Store, rt: &Runtime, i: usize) {
    let out = receive_imf(store, rt, &client_mail(i), Utc::now(), "test", Mode::Live)
        .await
        .expect("ingest");
    assert_eq!(out.disposition, Disposition::NewTicket);
}

async fn count(store: &Store) -> usize {
    store.tickets().await.expect("tickets").len()
}

/// Opens a backup as onit would after a restore (database.url pointing at it).
async fn open_copy(path: &Path) -> Store {
    Store::connect(&format!("sqlite://{}", path.display()), 2)
        .await
        .expect("the backup opens")
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite { reader, .. } => sqlx::query_scalar(sql)
            .fetch_one(reader)
            .await
            .expect("query the copy"),
        Store::Postgres(_) => unreachable!("backups are SQLite"),
    }
}

async fn integrity(store: &Store) -> Vec<String> {
    match store {
        Store::Sqlite { reader, .. } => sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(reader)
            .await
            .expect("integrity_check"),
        Store::Postgres(_) => unreachable!("backups are SQLite"),
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("onit-backup-tmp"))
        .collect()
}

#[tokio::test]
async fn backup_has_the_same_tickets() {
    let env = Env::new(Db::Sqlite, "");
    let store = env.store().await;
    let rt = env.runtime();
    for i in 0..5 {
        ingest(&store, &rt, i).await;
    }
    let dest = env.dir.path().join("backups").join("onit-1.db");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    let out = onit_backup(&env, &dest).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("integrity check ok"), "{stdout}");
    assert!(stdout.contains("5 tickets"), "{stdout}");

    let copy = open_copy(&dest).await;
    let fmt = |ts: Vec<onit::store::TicketRow>| -> Vec<String> {
        ts.iter().map(|t| format!("{t:?}")).collect()
    };
    let original = fmt(store.tickets().await.expect("tickets"));
    assert_eq!(original.len(), 5);
    assert_eq!(fmt(copy.tickets().await.expect("copy's tickets")), original);
    assert_eq!(
        scalar(&copy, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack'").await,
        5
    );
    copy.close().await;
    store.close().await;
    assert!(leftovers(dest.parent().expect("parent")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_another_writer_commits_is_one_snapshot() {
    // The writer opens tickets from one domain as fast as it can: no flood limit.
    let env = Env::new(
        Db::Sqlite,
        "[policy]\nmax_new_tickets_per_domain_per_hour = 1000000\n",
    );
    let store = env.store().await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, rt, stop) = (store.clone(), env.runtime(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                ingest(&store, &rt, i).await;
                i += 1;
            }
            i
        })
    };
    // Let the writer get going, so each backup starts with data and overlaps commits.
    while count(&store).await < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let mut overlapped = 0;
    for n in 0..3 {
        let dest = env.dir.path().join(format!("while-writing-{n}.db"));
        let before = count(&store).await;
        let out = onit_backup(&env, &dest).await;
        let after = count(&store).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if after > before {
            overlapped += 1;
        }

        let copy = open_copy(&dest).await;
        assert_eq!(integrity(&copy).await, vec!["ok".to_string()], "backup {n}");
        let tickets = count(&copy).await;
        // The copy is the database as it was at one instant between the two counts ...
        assert!(
            (before..=after).contains(&tickets),
            "backup {n}: {tickets} tickets, not between {before} and {after}"
        );
        // ... and whole transactions only: each ticket with its message and its queued acknowledgment.
        assert_eq!(
            scalar(
                &copy,
                "SELECT COUNT(*) FROM messages WHERE class = 'client'"
            )
            .await,
            tickets as i64,
            "backup {n}"
        );
        assert_eq!(
            scalar(&copy, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack'").await,
            tickets as i64,
            "backup {n}"
        );
        // Ticket numbers run 1..=n without a hole.
        assert_eq!(
            scalar(&copy, "SELECT COALESCE(MAX(number), 0) FROM tickets").await,
            tickets as i64,
            "backup {n}"
        );
        copy.close().await;
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer task");
    store.close().await;
    assert!(
        overlapped > 0,
        "the writer committed nothing while any of the backups ran ({written} mails in all)"
    );
    assert!(leftovers(env.dir.path()).is_empty());
}

#[tokio::test]
async fn backup_refuses_to_overwrite() {
    let env = Env::new(Db::Sqlite, "");
    let store = env.store().await;
    ingest(&store, &env.runtime(), 1).await;
    store.close().await;
    let dest = env.dir.path().join("yesterday.db");
    std::fs::write(&dest, b"yesterday's backup").expect("write");

    let out = onit_backup(&env, &dest).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read(&dest).expect("read"),
        b"yesterday's backup".to_vec()
    );
    assert!(leftovers(env.dir.path()).is_empty());
}

#[tokio::test]
async fn backup_refuses_a_missing_sqlite_database() {
    let env = Env::new(Db::Sqlite, "");
    // No store opened: onit.db does not exist, and backup must not create it.
    let dest = env.dir.path().join("b.db");
    let out = onit_backup(&env, &dest).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no database"), "{stderr}");
    assert!(!env.dir.path().join("onit.db").exists());
    assert!(!dest.exists());
}

#[tokio::test]
async fn backup_refuses_postgres_and_names_pg_dump() {
    let env = Env::new(Db::Postgres, "");
    let dest = env.dir.path().join("pg.db");
    // The command refuses before connecting.
    let out = onit_backup(&env, &dest).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!dest.exists());
    // The library refuses a PostgreSQL store too.
    let store = env.store().await;
    let err = onit::backup::backup(&store, &dest)
        .await
        .expect_err("PostgreSQL must be refused");
    store.close().await;
    assert!(format!("{err:#}").contains("pg_dump"), "{err:#}");
    assert!(!dest.exists());
}
