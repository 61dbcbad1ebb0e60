//! Issue 17, item 3: a report from `since` reads the period's tickets by id,
//! a bounded list of ids per statement (src/store/policy_rows.rs). With more
//! period tickets than one statement binds, what it loads must be exactly the
//! whole-history load cut to the period: every ticket not closed, and every
//! closed one with a contact or a status change since; none of the others; each
//! history whole and in order. Both databases; rows generated in SQL, as the
//! scale benchmark does.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use onit::compliance::{load_histories, load_histories_since};
use onit::policy::history::{Status, TicketHistory};
use onit::store::Store;

use crate::common::{at, Env, BOTH};

/// Tickets generated: more than two statements' worth of ids in the period
/// (500 a statement for the reports, 1,000 a read for PostgreSQL's digest).
const N: i64 = 2_300;

/// Ticket `i` opens `i` hours after the start. 1..=400 closed a day after
/// opening; of those, 101..=150 have a contact after the period starts, and
/// 151..=170 a status change (reopened, then closed again) after it.
const GEN: [&str; 6] = [
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
     INSERT INTO tickets (number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, last_contact_at, closed_at, opening_message_id) \
     SELECT i, 'JAC', 'Problem ' || i, 'problem ' || i, 'client' || i || '@acme.example', 'acme', 'Alice.PM@jac.example', \
       CASE WHEN i % 7 = 0 THEN 'urgent' ELSE 'medium' END, 'generated', CASE WHEN i <= 400 THEN 'closed' ELSE 'open' END, \
       $2 + i * $3, $2 + i * $3, CASE WHEN i <= 400 THEN $2 + i * $3 + 86400000 ELSE NULL END, 'c' || i || '@acme.example' FROM n",
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin) \
     SELECT 'c' || number || '@acme.example', id, 'client', reporter, 'support@jac.example', '', subject, opened_at, opened_at, opened_at, '', '', 'test' FROM tickets",
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind, promise_at, promise_text) \
     SELECT 'a' || number || '@jac.example', id, 'acknowledgment', 'support@jac.example', reporter, pm, 'Re: ' || subject, opened_at + 30000, opened_at + 30000, opened_at + 30000, 'c' || number || '@acme.example', '', 'outbox', opened_at + 30000, 'acknowledgment', opened_at + 3600000, 'within the hour' FROM tickets",
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind) \
     SELECT 'u' || number || '@jac.example', id, 'contact', 'dan@jac.example', reporter, pm, 'Re: ' || subject, $1, $1, $1, 'a' || number || '@jac.example', '', 'test', $1, 'update' FROM tickets WHERE number BETWEEN 101 AND 150",
    "INSERT INTO events (ticket_id, at, kind, actor, detail, status) SELECT id, closed_at, 'status', 'dan@jac.example', 'closed', 'closed' FROM tickets WHERE status = 'closed'",
    "INSERT INTO events (ticket_id, at, kind, actor, detail, status) SELECT id, $1 + k * 60000, 'status', 'dan@jac.example', s, s FROM tickets, \
     (SELECT 1 AS k, 'open' AS s UNION ALL SELECT 2, 'closed') x WHERE number BETWEEN 151 AND 170",
];

async fn generate(store: &Store, start: DateTime<Utc>, after: DateTime<Utc>) {
    let (n, start, after) = (N, start.timestamp_millis(), after.timestamp_millis());
    // What each statement of GEN binds, in order.
    let each: [&[i64]; 6] = [&[n, start, 3_600_000], &[], &[], &[after], &[], &[after]];
    for (sql, binds) in GEN.into_iter().zip(each) {
        match store {
            Store::Sqlite { writer, .. } => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.execute(writer).await.expect(sql);
            }
            Store::Postgres(p) => {
                // PostgreSQL keeps a message's text in its row (SQLite in
                // message_content, migration 0019): an empty one here.
                let sql = match sql.starts_with("INSERT INTO messages") {
                    true => sql.replacen(") SELECT", ", body) SELECT", 1).replacen(
                        " FROM tickets",
                        ", '' FROM tickets",
                        1,
                    ),
                    false => sql.to_string(),
                };
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for b in binds {
                    q = q.bind(*b);
                }
                q.execute(p).await.expect(&sql);
            }
        }
    }
}

/// The period's tickets by the definition, read off whole histories.
fn in_period(h: &TicketHistory, since: DateTime<Utc>) -> bool {
    h.status_changes
        .last()
        .is_none_or(|c| c.status != Status::Closed)
        || h.contacts.iter().any(|c| c.at >= since)
        || h.status_changes.iter().any(|c| c.at >= since)
}

#[tokio::test]
async fn a_period_longer_than_one_statement_loads_every_history_whole() {
    for db in BOTH {
        let env = Env::new(db, "");
        let store = env.store().await;
        let start = at(2026, 1, 5, 9, 0);
        let since = start + Duration::hours(N + 10);
        generate(&store, start, since + Duration::minutes(30)).await;

        let whole = load_histories(&store, false).await.unwrap();
        assert_eq!(whole.len(), N as usize, "{db:?}");
        let expected: Vec<&TicketHistory> = whole.iter().filter(|h| in_period(h, since)).collect();
        // 1,900 open + 50 with a late contact + 20 with a late status change.
        assert_eq!(expected.len(), 1_970, "{db:?}");

        let loaded = load_histories_since(&store, since).await.unwrap();
        assert_eq!(loaded.len(), expected.len(), "{db:?}");
        for (got, want) in loaded.iter().zip(&expected) {
            assert_eq!(got, *want, "{db:?}");
        }
        let late = loaded.iter().find(|h| h.id == "JAC-160").expect("JAC-160");
        assert_eq!(
            late.status_changes.len(),
            3,
            "{db:?}: closed, reopened, closed"
        );
        let contacted = loaded.iter().find(|h| h.id == "JAC-120").expect("JAC-120");
        assert_eq!(
            contacted.contacts.len(),
            2,
            "{db:?}: the ack and the late update"
        );

        // The digest's read of the period (`Store::digest_period`, one
        // statement on SQLite, 1,000 ids a read on PostgreSQL): the same
        // tickets, what the rules read of each as the whole-history load has
        // it, and each listed thread's last message as it stood at the digest:
        // the late update where there is one, else our acknowledgment.
        let rows = store
            .digest_period(since, since + Duration::hours(1))
            .await
            .unwrap();
        let want: BTreeSet<String> = expected.iter().map(|h| h.id.clone()).collect();
        let got: BTreeSet<String> = rows.iter().map(|t| t.listed().reference()).collect();
        assert_eq!(got, want, "{db:?}");
        for (row, h) in rows.iter().zip(&expected) {
            let p = &row.policy;
            assert_eq!(format!("{}-{}", p.prefix, p.number), h.id, "{db:?}");
            assert_eq!(p.priority, h.priority, "{db:?}");
            assert_eq!(p.pm.to_lowercase(), h.pm, "{db:?}");
            assert_eq!(p.opened_at, h.opened_at.timestamp_millis(), "{db:?}");
            assert_eq!(row.subject, format!("Problem {}", p.number), "{db:?}");
            assert_eq!(
                row.reporter,
                format!("client{}@acme.example", p.number),
                "{db:?}"
            );
            assert_eq!(row.project, "acme", "{db:?}");
        }
        // The histories the digest builds from those rows (contacts and status
        // changes carried in each) are the period's histories as the report
        // loads them.
        let mut policy = Vec::new();
        let mut contacts = Vec::new();
        let mut changes = Vec::new();
        for row in &rows {
            let id = row.policy.id;
            assert!(
                row.contacts.iter().all(|c| c.ticket_id == id)
                    && row.changes.iter().all(|c| c.ticket_id == id),
                "{db:?}: ticket {id} carries only its own contacts and changes"
            );
        }
        for row in rows.clone() {
            contacts.extend(row.contacts);
            changes.extend(row.changes);
            policy.push(row.policy);
        }
        assert_eq!(
            contacts.len(),
            1_970 + 50,
            "{db:?}: each ack, and the late updates"
        );
        assert_eq!(
            changes.len(),
            expected
                .iter()
                .map(|h| h.status_changes.len())
                .sum::<usize>(),
            "{db:?}: every status change of the period's tickets"
        );
        assert!(changes.len() >= 20 * 3, "{db:?}: {}", changes.len());
        let built = onit::compliance::histories_from_rows(policy, contacts, changes);
        assert_eq!(built, loaded, "{db:?}");
        let last_of = |rows: &[onit::store::DigestTicket], n: i64| {
            rows.iter()
                .find(|t| t.policy.number == n)
                .expect("listed")
                .last_message_id
                .clone()
        };
        assert!(rows.iter().all(|t| t.last_message_id.is_some()), "{db:?}");
        assert_eq!(last_of(&rows, 120).as_deref(), Some("u120@jac.example"));
        assert_eq!(last_of(&rows, 1_250).as_deref(), Some("a1250@jac.example"));
        // Before the late update, the thread ended with our acknowledgment.
        let earlier = store
            .digest_period(since, since + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(last_of(&earlier, 120).as_deref(), Some("a120@jac.example"));
        // Before anything, no thread had a message the client saw.
        let before = store.digest_period(since, start).await.unwrap();
        assert!(before.iter().all(|t| t.last_message_id.is_none()), "{db:?}");
        store.close().await;
    }
}
