//! Migration 0019 (SQLite) moves each message's text and raw bytes to
//! `message_content` (issue 17) without losing or renumbering a message: a
//! database at 0018 with stored mail is migrated by `Store::open`, as an
//! upgraded onit does. PostgreSQL keeps them in the row (TOAST keeps long
//! values out of line): there the same database must come through the same.

use chrono::Duration;
use onit::store::Store;

use crate::common::{at, feed, Db, Env, Mail, BOTH};

/// The stored mail of the database at 0018: bytes that are not UTF-8 among them.
const RAW: &[u8] =
    b"From: bob@acme.example\r\nSubject: Exports fail\r\n\r\n\xff\xfe binary \x00 tail";

const OLD_ROWS: [&str; 5] = [
    "INSERT INTO tickets (number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, opening_message_id) \
     VALUES (1, 'JAC', 'Exports fail', 'exports fail', 'bob@acme.example', 'acme', 'pm@jac.example', 'medium', 'default', 'open', $1, 'old1@acme.example')",
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, arrived_at, effective_at, in_reply_to, refs, body, origin, raw, contact_at, contact_kind, promise_at, promise_text) \
     SELECT 'old1@acme.example', id, 'client', 'bob@acme.example', 'support@jac.example', '', 'Exports fail', $1, $1, '', '', 'The export fails.', 'test', $2, NULL, NULL, NULL, NULL FROM tickets",
    // Ours, no bytes kept and no text: no content row.
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, arrived_at, effective_at, in_reply_to, refs, body, origin, raw, contact_at, contact_kind, promise_at, promise_text) \
     SELECT 'old2@jac.example', id, 'contact', 'dan@jac.example', 'bob@acme.example', 'pm@jac.example', 'Re: Exports fail', $1, $1, 'old1@acme.example', '', '', 'test', NULL, $1, 'update', $1 + 3600000, 'next update within the hour' FROM tickets",
    // A message stored, then forgotten: its id must not come back.
    "INSERT INTO messages (message_id, ticket_id, class, to_addrs, cc_addrs, subject, arrived_at, effective_at, in_reply_to, refs, body, origin) \
     VALUES ('old3@elsewhere.example', NULL, 'unthreaded', '', '', 'x', $1, $1, '', '', 'x', 'test')",
    "DELETE FROM messages WHERE message_id = 'old3@elsewhere.example'",
];

/// Runs `sql` on the store's writing connection with `$1` = `t`, `$2` = [`RAW`].
async fn exec(store: &Store, sql: &'static str, t: i64) {
    let binds = sql.contains("$2");
    match store {
        Store::Sqlite { writer, .. } => {
            let q = sqlx::query(sql).bind(t);
            let q = if binds { q.bind(RAW) } else { q };
            q.execute(writer).await.expect(sql);
        }
        Store::Postgres(p) => {
            let q = sqlx::query(sql).bind(t);
            let q = if binds { q.bind(RAW) } else { q };
            q.execute(p).await.expect(sql);
        }
    }
}

/// `SELECT id, …` of the messages, by Message-ID.
async fn ids(store: &Store) -> Vec<(String, i64)> {
    let sql = "SELECT message_id, id FROM messages ORDER BY id";
    match store {
        Store::Sqlite { writer, .. } => sqlx::query_as(sql).fetch_all(writer).await.unwrap(),
        Store::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    }
}

#[test]
fn stored_mail_survives_the_move_to_message_content() {
    for db in BOTH {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let env = Env::new(db, "");
            let rt = env.runtime();
            let t0 = at(2026, 11, 26, 10, 0);
            // The database as onit left it at migration 0018.
            let old = Store::connect(&env.url, 2).await.unwrap();
            let migrations = match db {
                Db::Sqlite => sqlx::migrate!("./migrations/sqlite"),
                Db::Postgres => sqlx::migrate!("./migrations/postgres"),
            };
            match &old {
                Store::Sqlite { writer, .. } => migrations.run_to(18, writer).await.unwrap(),
                Store::Postgres(p) => migrations.run_to(18, p).await.unwrap(),
            }
            for sql in OLD_ROWS {
                exec(&old, sql, t0.timestamp_millis()).await;
            }
            let before = ids(&old).await;
            old.close().await;

            // The upgraded onit opens it.
            let store = Store::open(&env.url, 4).await.unwrap();
            assert_eq!(
                ids(&store).await,
                before,
                "{db:?}: every message, its id kept"
            );
            assert_eq!(
                store
                    .raw_mail("old1@acme.example")
                    .await
                    .unwrap()
                    .as_deref(),
                Some(RAW),
                "{db:?}: the bytes, exactly"
            );
            assert_eq!(
                store.raw_mail("old2@jac.example").await.unwrap(),
                None,
                "{db:?}"
            );
            // The rules still read the contact's facts from the row.
            let (_, contacts, _) = store
                .policy_rows_since((t0 - Duration::days(1)).timestamp_millis())
                .await
                .unwrap();
            assert_eq!(contacts.len(), 1, "{db:?}: {contacts:?}");
            assert_eq!(
                contacts[0].promise_text.as_deref(),
                Some("next update within the hour"),
                "{db:?}"
            );

            // New mail is stored as before, under an id never used (AUTOINCREMENT
            // on SQLite: not the forgotten message's).
            let later = Mail::new(
                "carol@globex.example",
                "support@jac.example",
                "Login broken",
                "new1@globex.example",
            );
            let out = feed(&store, &rt, &later, t0 + Duration::hours(1)).await;
            assert_eq!(out.ticket.as_deref(), Some("JAC-2"), "{db:?}: {out:?}");
            let now = ids(&store).await;
            let forgotten = before.iter().map(|(_, id)| *id).max().unwrap() + 1;
            let new_id = now
                .iter()
                .find(|(m, _)| m == "new1@globex.example")
                .unwrap()
                .1;
            assert!(new_id > forgotten, "{db:?}: {now:?}");
            let kept = store
                .raw_mail("new1@globex.example")
                .await
                .unwrap()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&kept).contains("Subject: Login broken"),
                "{db:?}"
            );
            store.close().await;
        });
    }
}
