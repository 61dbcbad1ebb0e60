//! The rules read a contact without reading its mail (issue 17).
//!
//! A message's text and raw bytes used to sit in its row ahead of the columns
//! the rules read (added later, so last). SQLite reaches a column behind a long
//! value only by reading each of the value's overflow pages, so every contact
//! that the digests, the compliance report and the due times read cost a read
//! of the whole mail. Since migration 0019 the mail is kept in
//! `message_content`. Here an engineer's three updates each carry a 1 MB
//! attachment; the digest's load and the report's load of the period are
//! then counted in pages that SQLite had to fetch (`SQLITE_DBSTATUS_CACHE_MISS`
//! of every reader connection, their caches emptied first). With the mail in
//! the row the two loads fetched each update's ~330 pages, twice.

use chrono::Duration;

use crate::common::{at, feed, Db, Env, Mail};
use crate::sqlite_pages::readers;

#[tokio::test]
async fn the_rules_read_a_contact_without_its_mail_on_sqlite() {
    let env = Env::new(Db::Sqlite, "");
    let rt = env.runtime();
    let store = env.store().await;
    let t0 = at(2026, 11, 26, 10, 0);
    let opened = feed(
        &store,
        &rt,
        &Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Exports fail",
            "c1@acme.example",
        ),
        t0,
    )
    .await;
    assert_eq!(opened.ticket.as_deref(), Some("JAC-1"), "{opened:?}");
    // 1 MB of attachment, base64 in lines of 76.
    let line = "A".repeat(76);
    let attachment = vec![line.as_str(); 1024 * 1024 / 57].join("\n");
    for i in 0..3 {
        let update = Mail::new(
            "dan@jac.example",
            "bob@acme.example",
            "Re: Exports fail [JAC-1]",
            &format!("u{i}@jac.example"),
        )
        .h("Cc", "support@jac.example, pm@jac.example")
        .h("In-Reply-To", "<c1@acme.example>")
        .h("MIME-Version", "1.0")
        .h("Content-Type", "multipart/mixed; boundary=\"b\"")
        .body(&format!(
            "--b\nContent-Type: text/plain\n\nThe export job's log is attached. Next update by 15:00.\n\
             --b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\
             Content-Disposition: attachment; filename=\"export{i}.log\"\n\n{attachment}\n--b--\n"
        ));
        let out = feed(&store, &rt, &update, t0 + Duration::minutes(10 * (i + 1))).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "update {i}: {out:?}");
    }
    // The mail is kept whole, where `onit mail` reads it.
    let kept = store.raw_mail("u0@jac.example").await.unwrap().unwrap();
    assert!(kept.len() > 1024 * 1024, "{}", kept.len());

    readers(&store, true).await;
    let period = store
        .digest_period(t0 - Duration::days(1), t0 + Duration::hours(2))
        .await
        .unwrap();
    let (_, contacts, _) = store
        .policy_rows_since((t0 - Duration::days(1)).timestamp_millis())
        .await
        .unwrap();
    let fetched = readers(&store, false).await;

    // Both loads saw the three updates, their promises read from the rows.
    assert_eq!(period.len(), 1);
    let updates: Vec<_> = period[0]
        .contacts
        .iter()
        .filter(|c| c.message_id.starts_with('u'))
        .collect();
    assert_eq!(updates.len(), 3, "{:?}", period[0].contacts);
    assert!(
        updates.iter().all(|c| c.promise_at.is_some()),
        "{updates:?}"
    );
    assert_eq!(
        contacts
            .iter()
            .filter(|c| c.message_id.starts_with('u'))
            .count(),
        3
    );
    // The schema, the tickets, the messages' and events' pages and their
    // indexes: a few dozen pages in all. Each update's mail is ~330.
    assert!(
        fetched < 100,
        "the two loads fetched {fetched} pages: the contacts' mail was read with them"
    );
}
