//! `onit import` as a stream (issue 12, item 2), on SQLite and PostgreSQL: the
//! resident memory of an import does not follow the archive's size, the
//! archive is still stored in date order, and a message over the size limit
//! inside an mbox is recorded from its header.

use crate::common::{Env, BOTH};
use crate::hostile_volume::peak_rss_kb;

/// A client mail of about `kb` kilobytes, sent `day` days into November 2026.
fn client_mail(i: usize, day: u32, kb: usize) -> String {
    let filler = "The export job failed again with the same error on our side.\n".repeat(kb * 16);
    format!(
        "From: User {i} <user{i}@acme.example>\n\
         To: support@jac.example\n\
         Subject: Export {i} failed\n\
         Date: {day:02} Nov 2026 10:00:00 +0000\n\
         Message-ID: <stream.{i}@acme.example>\n\
         \n\
         Hello,\n\
         From now on the export stops at step {i}.\n\
         {filler}"
    )
}

/// An attachment-sized mail of `mb` megabytes.
fn big_mail(mb: usize) -> String {
    let mut s = String::from(
        "From: Big <big@acme.example>\nTo: support@jac.example\nSubject: Logs\n\
         Date: 20 Nov 2026 10:00:00 +0000\nMessage-ID: <stream.big@acme.example>\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"x\"\n\n\
         --x\nContent-Type: text/plain\n\nLogs attached.\n--x\n\
         Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n",
    );
    while s.len() < mb * 1024 * 1024 {
        s.push_str("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n");
    }
    s.push_str("--x--\n");
    s
}

/// An mbox as mboxrd writers make it (`From ` in a body quoted as `>From `).
fn mbox(mails: impl Iterator<Item = String>) -> Vec<u8> {
    let mut out = Vec::new();
    for m in mails {
        out.extend_from_slice(b"From archive@acme.example Fri Nov 20 10:00:00 2026\n");
        for line in m.split_inclusive('\n') {
            if line.trim_start_matches('>').starts_with("From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line.as_bytes());
        }
        out.extend_from_slice(b"\n");
    }
    out
}

/// A 150 MB mbox (2,000 mails of 60 KB and one 30 MB attachment mail) imports within
/// 64 MB resident (the whole file was read, then split, before: more than the
/// file's size), every mail stored, the oldest (last in the file) first, and
/// the oversized one from its header.
#[tokio::test]
async fn a_large_mbox_imports_in_bounded_memory_and_in_date_order() {
    const N: usize = 2_000;
    for db in BOTH {
        let env = Env::new(db, "");
        let path = env.dir.path().join("archive.mbox");
        // Days 2..=28 in file order, the 30 MB one in the middle, and the very
        // last mail of the file the oldest of all (1 November).
        let mails = (0..N)
            .map(|i| client_mail(i, 2 + (i * 26 / N) as u32, 60))
            .chain(std::iter::once(big_mail(30)))
            .chain(std::iter::once(client_mail(N, 1, 1)));
        std::fs::write(&path, mbox(mails)).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 140 * 1024 * 1024, "{size}");

        let peak = peak_rss_kb(&env, &["import", path.to_str().unwrap()], &[]);
        eprintln!("{db:?}: peak RSS of onit import of a {size}-byte mbox: {peak:?} kB");
        if let Some(kb) = peak {
            assert!(kb < 64 * 1024, "{db:?}: {kb} kB for a {size}-byte mbox");
        }

        let store = env.store().await;
        let tickets = store.tickets().await.unwrap();
        assert_eq!(tickets.len(), N + 2, "{db:?}: every mail a ticket");
        assert_eq!(
            tickets[0].opening_message_id,
            format!("stream.{N}@acme.example"),
            "{db:?}: the oldest mail, last in the file, is JAC-1"
        );
        let big = tickets
            .iter()
            .find(|t| t.opening_message_id == "stream.big@acme.example")
            .expect("the 30 MB mail is a ticket");
        let events = store.events(big.id).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind.as_str() == "too_large"),
            "{db:?}"
        );
        // mboxrd quoting undone on the way back in.
        let raw = store
            .raw_mail("stream.7@acme.example")
            .await
            .unwrap()
            .expect("stored");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("\nFrom now on the export"), "{db:?}");
        assert!(!text.contains(">From now on"), "{db:?}");
    }
}

/// A message the database refuses in the middle of a batch: the batch, stored
/// first without a savepoint per message, is stored again with one, so the
/// others are all kept, the refused one leaves nothing behind (not even the
/// ticket opened for it before its message was refused), and it is counted as
/// failed.
#[tokio::test]
async fn a_message_the_database_refuses_loses_nothing_else_of_its_batch() {
    for db in BOTH {
        let env = Env::new(db, "");
        let store = env.store().await;
        crate::run_once::poison_messages(&store).await;
        let mails = (0..5).map(|i| {
            let m = client_mail(i, 2 + i as u32, 1);
            if i == 2 {
                m.replace("<stream.2@", "<poison.2@")
            } else {
                m
            }
        });
        let path = env.dir.path().join("archive.mbox");
        std::fs::write(&path, mbox(mails)).unwrap();
        let out = crate::common::onit_command(&env, &["import", "--json", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let counts: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{db:?}: {e}: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(counts["messages"], 5, "{db:?}: {counts}");
        assert_eq!(counts["tickets"], 4, "{db:?}: {counts}");
        assert_eq!(counts["failed"], 1, "{db:?}: {counts}");
        let tickets = store.tickets().await.unwrap();
        let opening: Vec<&str> = tickets
            .iter()
            .map(|t| t.opening_message_id.as_str())
            .collect();
        assert_eq!(
            opening,
            [
                "stream.0@acme.example",
                "stream.1@acme.example",
                "stream.3@acme.example",
                "stream.4@acme.example"
            ],
            "{db:?}"
        );
        let numbers: Vec<i64> = tickets.iter().map(|t| t.number).collect();
        assert_eq!(
            numbers,
            [1, 2, 3, 4],
            "{db:?}: no number taken by the refused one"
        );
        for t in &tickets {
            let kinds: Vec<String> = store
                .events(t.id)
                .await
                .unwrap()
                .iter()
                .map(|e| e.kind.as_str().to_string())
                .collect();
            assert_eq!(
                kinds,
                ["opened", "priority_proposed"],
                "{db:?}: {}",
                t.number
            );
            // Written with the message (one statement on PostgreSQL), kept or
            // rolled back with it.
            let mut tx = store.begin().await.unwrap();
            assert!(
                tx.is_participant(t.id, &t.reporter).await.unwrap(),
                "{db:?}: {} has its reporter as a participant",
                t.number
            );
            assert!(
                !tx.is_participant(t.id, "user2@acme.example").await.unwrap(),
                "{db:?}: the refused message's sender joined nothing"
            );
            tx.rollback().await.unwrap();
        }
        store.close().await;
    }
}
