//! Issue 14, "send exactly once": over the real Postfix + Dovecot, onit killed
//! right after the server's final `250` (before it records the send) does not
//! send that message again when it restarts, because the server filed its own
//! copy in `smtp.sent_copy_folder` (Postfix `sender_bcc_maps` for the test
//! stack's `sentcopy-*` senders) and onit looks there first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::{Db, BOTH};
use crate::imap::{client_mail, client_writes, eventually, smtp_send, Live};
use crate::imap_read;
use crate::mailstack::{self, Stack};

const SENT_COPY: &str = "sent_copy_folder = \"Sent\"";

/// How many copies of each Message-ID are in `user`'s INBOX.
async fn copies(stack: &Stack, user: &str) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for raw in imap_read::fetch_all(stack, user, "INBOX").await {
        if let Some(id) = imap_read::message_id(&raw) {
            *n.entry(id).or_default() += 1;
        }
    }
    n
}

/// The client's acknowledgment after onit died at `outbox-after-send` and
/// started again: how many copies reached the client.
async fn ack_copies_after_a_kill_at_the_250(stack: &Stack, db: Db, sent_copy: bool) -> usize {
    let live = if sent_copy {
        Live::new_full(stack, db, &["INBOX"], true, "", "sentcopy", SENT_COPY)
    } else {
        Live::new(stack, db, &["INBOX"], true)
    };
    let mut dying = live.spawn_with(&[("ONIT_FAULT", "outbox-after-send")]);
    let store = live.store().await;
    client_writes(stack, &live, "VPN down", "vpn1@client.example").await;
    let status = dying.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| !s.success()),
        "onit did not stop at the fault point: {status:?}\n{}",
        live.log()
    );
    // The server took it (the client has it) but onit recorded nothing.
    let at_client =
        imap_read::wait_for(stack, &live.client, "INBOX", 1, Duration::from_secs(20)).await;
    assert_eq!(at_client.len(), 1, "{}", live.log());
    let summary = store.outbox_summary().await.unwrap();
    assert_eq!(
        (summary.sent, summary.sending),
        (0, 1),
        "killed before the commit"
    );

    let again = live.spawn();
    eventually(Duration::from_secs(30), "the attempt settled", || async {
        store.outbox_summary().await.is_ok_and(|s| s.sent == 1)
    })
    .await;
    // A second copy, if any, is on its way within this.
    tokio::time::sleep(Duration::from_secs(2)).await;
    live.terminate(again);
    let n = copies(stack, &live.client).await;
    assert_eq!(n.len(), 1, "one acknowledgment: {n:?}");
    let t = &store.tickets().await.unwrap()[0];
    let sent_events = store
        .events(t.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind.as_str() == "ack_sent")
        .count();
    assert_eq!(sent_events, 1, "recorded as sent once");
    if sent_copy {
        assert!(
            live.log().contains("recorded as sent, not sent again"),
            "{}",
            live.log()
        );
    }
    n.into_values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_at_the_250_then_restart_sends_once_when_the_server_keeps_a_copy() {
    let stack = mailstack::shared();
    for db in BOTH {
        let n = ack_copies_after_a_kill_at_the_250(stack, db, true).await;
        assert_eq!(n, 1, "{db:?}: exactly one copy in the client's mailbox");
    }
    // The control: without the sent-copy folder SMTP cannot tell, and the retry
    // delivers a second copy (with the same Message-ID). This is what the
    // lookup above prevents.
    let n = ack_copies_after_a_kill_at_the_250(stack, Db::Sqlite, false).await;
    assert_eq!(n, 2, "without smtp.sent_copy_folder the retry sends again");
}

/// Sends `n` client mails, each from its own address (`client~i`: the test
/// stack delivers all of them to the client's one mailbox).
async fn burst(stack: Stack, client: String, support: String, round: usize, n: usize) {
    let (local, domain) = client.split_once('@').unwrap();
    for i in 0..n {
        let from = format!("{local}~{i}@{domain}");
        let mail = client_mail(
            &from,
            &support,
            &format!("Issue {i} of round {round}"),
            &format!("r{round}i{i}.{local}@client.example"),
            "",
        );
        smtp_send(&stack, &from, &[&support], &mail).await;
    }
}

/// The benchmark of issue 14: 20 rounds, each a burst of 60 client mails over
/// the real stack with `onit run` killed (`kill -9`) at a random moment of the
/// burst and started again; counts the acknowledgments the clients got twice.
/// `ONIT_BENCH_SENT_COPY=0` runs it without `smtp.sent_copy_folder`.
/// `cargo test --test it -- --ignored kill9_bursts --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: about five minutes"]
async fn kill9_bursts_report_duplicate_acknowledgments() {
    const ROUNDS: usize = 20;
    const N: usize = 60;
    let stack = mailstack::shared();
    let sent_copy = std::env::var("ONIT_BENCH_SENT_COPY").map_or(true, |v| v != "0");
    let mut duplicates = 0;
    let mut in_flight_at_kill = 0;
    let started = Instant::now();
    for round in 0..ROUNDS {
        let live = if sent_copy {
            Live::new_full(
                stack,
                Db::Sqlite,
                &["INBOX"],
                true,
                "",
                "sentcopy",
                SENT_COPY,
            )
        } else {
            Live::new(stack, Db::Sqlite, &["INBOX"], true)
        };
        let mut daemon = live.spawn();
        let store = live.store().await;
        eventually(Duration::from_secs(20), "the first sync", || async {
            store
                .folder_states()
                .await
                .is_ok_and(|f| f.iter().any(|f| f.last_sync_at.is_some()))
        })
        .await;
        let sender = tokio::spawn(burst(
            stack.clone(),
            live.client.clone(),
            live.support.clone(),
            round,
            N,
        ));
        tokio::time::sleep(Duration::from_millis(300 + fastrand::u64(..1700))).await;
        daemon.kill_now();
        in_flight_at_kill += store.outbox_summary().await.map(|s| s.sending).unwrap_or(0);
        sender.await.unwrap();
        let daemon = live.spawn();
        eventually(Duration::from_secs(120), "every acknowledgment", || async {
            store
                .outbox_summary()
                .await
                .is_ok_and(|s| s.sent >= N as i64)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        live.terminate(daemon);
        let n = copies(stack, &live.client).await;
        assert_eq!(n.len(), N, "round {round}: every mail acknowledged");
        let doubled: usize = n.values().map(|c| c - 1).sum();
        duplicates += doubled;
        eprintln!("round {round}: {N} acknowledged, {doubled} twice");
    }
    eprintln!(
        "kill -9 benchmark (sent_copy_folder {}): {ROUNDS} rounds of {N}, {duplicates} duplicate acknowledgment(s), {in_flight_at_kill} attempt(s) in flight at the kills, {:.0} s",
        if sent_copy { "on" } else { "off" },
        started.elapsed().as_secs_f64()
    );
    if sent_copy {
        assert_eq!(duplicates, 0);
    }
}
