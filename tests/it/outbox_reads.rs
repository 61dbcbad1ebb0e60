//! `onit status` and the backlog gauge count the outbox without reading its
//! mail (issue 17). SQLite stores a row as one record in column order, and the
//! mail (`raw`) comes before `status` and `created_at`: a statement that reads
//! those from the rows reads every overflow page of every mail in them. Here
//! four 1 MB reports, three sent and one waiting; the counts and the oldest
//! waiting time are then counted in pages SQLite fetched
//! (`SQLITE_DBSTATUS_CACHE_MISS` of every reader, their caches emptied
//! first). The old count by status with the oldest time of each read all four
//! mails (~1,050 pages), and the gauge the waiting one's (~260).

use chrono::Duration;
use onit::store::{Claim, NewOutbox, Store};
use onit::ticket::OutboxKind;

use crate::common::{at, Db, Env};
use crate::sqlite_pages::readers;

/// Queues `raw` as a report under `key`, committed; its id.
async fn queue(store: &Store, key: &str, raw: &[u8], t: chrono::DateTime<chrono::Utc>) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let queued = tx
        .enqueue(&NewOutbox {
            kind: OutboxKind::Report,
            dedupe_key: key,
            ticket_id: None,
            message_id: key,
            mail_from: "support@jac.example",
            to_addr: "pm@jac.example",
            rcpt_to: "pm@jac.example",
            raw,
            created_at: t,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(queued, "{key}");
    store.outbox_last_id().await.unwrap()
}

/// Claims item `id` and records it sent, as the outbox's pass does around a send.
async fn send(store: &Store, id: i64, t: chrono::DateTime<chrono::Utc>) {
    let claim = Claim {
        now: t,
        instance: "test",
        exclusive: true,
        stale_after: Duration::minutes(10),
        claimer_gone_after: Duration::minutes(2),
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.outbox_claim(id, &claim).await.unwrap().is_some(), "{id}");
    tx.outbox_sent(id, t).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn counting_the_outbox_does_not_read_its_mail_on_sqlite() {
    let env = Env::new(Db::Sqlite, "");
    let store = env.store().await;
    let t0 = at(2026, 11, 26, 10, 0);
    // 1 MB of mail: about 260 pages of 4 KB.
    let line = "A".repeat(76);
    let mut raw = b"From: support@jac.example\r\nSubject: Incident report\r\n\r\n".to_vec();
    while raw.len() < 1024 * 1024 {
        raw.extend_from_slice(line.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    for i in 0..3 {
        let id = queue(&store, &format!("report:{i}@jac.example"), &raw, t0).await;
        send(&store, id, t0 + Duration::minutes(1)).await;
    }
    let waiting = t0 + Duration::minutes(5);
    queue(&store, "report:3@jac.example", &raw, waiting).await;

    readers(&store, true).await;
    let summary = store.outbox_summary().await.unwrap();
    let backlog = store.outbox_backlog().await.unwrap();
    let fetched = readers(&store, false).await;

    assert_eq!(
        (
            summary.sent,
            summary.pending,
            summary.sending,
            summary.failed
        ),
        (3, 1, 0, 0)
    );
    assert_eq!(summary.oldest_unsent, Some(waiting.timestamp_millis()));
    assert_eq!(backlog, (1, Some(waiting)));
    // The schema and a few index pages.
    assert!(
        fetched < 50,
        "the outbox's counts fetched {fetched} pages: its mail was read with them"
    );
    // What was queued after a point, without what came before (`onit run --dry-run`).
    let last = store.outbox_last_id().await.unwrap();
    assert_eq!(store.outbox_queued_after(last).await.unwrap(), []);
    let queued = store.outbox_queued_after(last - 1).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].0, queued[0].1.as_str()),
        (OutboxKind::Report, "pm@jac.example")
    );
}
