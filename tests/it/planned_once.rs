//! SQLite plans each statement of an acknowledgment once (issue 17).
//!
//! SQLite plans a prepared statement again whenever a parameter is bound that
//! its plan read the value of: a `LIMIT $n`, or a value compared with a
//! constant of a partial index's condition (`kind = $1` against
//! `outbox_acks_waiting`'s `kind = 'ack'`). sqlx binds at every execution, so
//! such a statement was parsed and planned afresh every time: seven times per
//! acknowledgment (the three rate-limit counts, the outbox pass's two look-ups,
//! twice), about 57,000 instructions each. Here twelve new tickets are
//! acknowledged and sent, then every statement cached on every connection of
//! the store is asked how often SQLite re-prepared it
//! (`SQLITE_STMTSTATUS_REPREPARE`).

use chrono::Duration;
use onit::ingest::Mode;
use onit::store::Store;

use crate::common::{at, feed_mode, Db, Env, Mail};

/// New tickets acknowledged and sent.
const ROUNDS: usize = 12;

/// Each statement cached on `conn` that SQLite re-prepared, with the count.
async fn reprepared(conn: &mut sqlx::SqliteConnection) -> Vec<(i32, String)> {
    let mut handle = conn.lock_handle().await.expect("the connection's handle");
    let db = handle.as_raw_handle().as_ptr();
    let mut out = Vec::new();
    // SAFETY: `db` is this locked connection's open handle; the statements
    // listed are its own and stay alive while the lock is held; only their
    // counters and text are read.
    unsafe {
        let mut stmt = libsqlite3_sys::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !stmt.is_null() {
            let n = libsqlite3_sys::sqlite3_stmt_status(
                stmt,
                libsqlite3_sys::SQLITE_STMTSTATUS_REPREPARE,
                0,
            );
            if n > 0 {
                let sql = std::ffi::CStr::from_ptr(libsqlite3_sys::sqlite3_sql(stmt))
                    .to_string_lossy()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push((n, sql));
            }
            stmt = libsqlite3_sys::sqlite3_next_stmt(db, stmt);
        }
    }
    out
}

#[tokio::test]
async fn an_acknowledgment_plans_each_of_its_statements_once_on_sqlite() {
    let env = Env::new(Db::Sqlite, "");
    let rt = env.runtime();
    let store = env.store().await;
    let outbox = env.file_outbox(&store, &rt);
    let t0 = at(2026, 11, 26, 10, 0);
    for i in 0..ROUNDS {
        // A sender and a domain of their own each time, as new clients are.
        let mail = Mail::new(
            &format!("ops@client{i}.example"),
            "support@jac.example",
            &format!("The dashboard is down ({i})"),
            &format!("down{i}@client{i}.example"),
        );
        let arrival = t0 + Duration::minutes(i as i64);
        let out = feed_mode(&store, &rt, &mail, arrival, Mode::Live).await;
        assert!(out.ack_queued, "round {i}: {out:?}");
        let sent = outbox
            .deliver_due(arrival + Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(sent.sent, 1, "round {i}");
    }
    let Store::Sqlite { writer, reader } = &store else {
        unreachable!("a SQLite store")
    };
    // Every connection at once, so that each is a different one.
    let mut conns = vec![writer.acquire().await.unwrap()];
    for _ in 0..reader.size() {
        conns.push(reader.acquire().await.unwrap());
    }
    let mut found = Vec::new();
    for c in &mut conns {
        found.extend(reprepared(c).await);
    }
    // Once is allowed: a statement prepared before the schema last changed.
    // sqlx's migrator records each migration as the schema changes under it,
    // at the store's opening only.
    let again: Vec<_> = found
        .iter()
        .filter(|(n, sql)| *n > 1 && !sql.contains("_sqlx_migrations"))
        .collect();
    assert!(
        again.is_empty(),
        "statements planned again at every execution over {ROUNDS} acknowledgments: {again:#?}"
    );
}
