//! Real auto-responders in the loop (issue 14, item 4): the test mail stack runs
//! Pigeonhole Sieve on client mailboxes (tests/mailstack/mailstack.sh,
//! `write_responders`): `ooo-…@` answers with Pigeonhole's `vacation`,
//! `robot-…@` with a script that adds no RFC 3834 header and no In-Reply-To.
//! Every ticket gets one acknowledgment, each vacation reply is an `auto_reply`
//! on its ticket, the PM hears nothing, and nothing grows: no storm.

use std::time::Duration;

use crate::auto_reply::event_kinds;
use crate::common::Db;
use crate::imap::{client_mail, smtp_send, Live};
use crate::imap_read;
use crate::mailstack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacation_and_headerless_responders_get_one_ack_per_ticket_and_no_storm() {
    let stack = mailstack::shared();
    let live = Live::new(stack, Db::Sqlite, &["INBOX"], true);
    let child = live.spawn();
    let store = live.store().await;
    let ooo = mailstack::fresh("ooo", "client.example");
    let robot = mailstack::fresh("robot", "client.example");
    // Ten tickets from each responder's owner, each sender once (the per-sender rate limit stays out of it).
    for base in [&ooo, &robot] {
        let (local, domain) = base.split_once('@').unwrap();
        for i in 0..10 {
            let from = format!("{local}+{i}@{domain}");
            let raw = client_mail(
                &from,
                &live.support,
                &format!("Issue {i}"),
                &format!("r{i}.{local}@client.example"),
                "",
            );
            smtp_send(stack, &from, &[&live.support], &raw).await;
        }
    }
    // 20 client mails, our 20 acknowledgments, 10 vacation replies, 10 script replies: 60 messages.
    // On a timeout, say which are missing and where the mail stands.
    let started = std::time::Instant::now();
    loop {
        let counts = store.message_counts().await.unwrap_or_default();
        if counts.iter().map(|(_, n)| n).sum::<i64>() >= 60 {
            break;
        }
        if started.elapsed() >= Duration::from_secs(60) {
            // Whether the mail onit lacks reached its mailbox (onit did not
            // read it) or never came (a responder did not answer).
            let inbox = imap_read::fetch_all(stack, &live.support, "INBOX").await;
            let froms: Vec<String> = inbox
                .iter()
                .map(|m| {
                    String::from_utf8_lossy(m)
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("from:"))
                        .unwrap_or("(no From)")
                        .to_string()
                })
                .collect();
            panic!(
                "timed out after 60 s waiting for 60 messages; stored by class: {counts:?}\n\
                 {} in the support mailbox's INBOX, from: {froms:?}\n{}\n{}\nonit's log:\n{}",
                inbox.len(),
                stack.mail_diagnosis(ooo.split('@').next().unwrap_or("ooo")),
                stack.mail_diagnosis(robot.split('@').next().unwrap_or("robot")),
                live.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a storm to show if there were one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tickets = store.tickets().await.unwrap();
    assert_eq!(tickets.len(), 20, "{}", live.log());
    for t in &tickets {
        let kinds = event_kinds(&store, t.id).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "ack_sent").count(),
            1,
            "{}: {kinds:?}",
            t.reporter
        );
        assert!(!kinds.iter().any(|k| k == "delivery_failure"), "{kinds:?}");
        if t.reporter.starts_with("ooo-") {
            assert!(kinds.iter().any(|k| k == "auto_reply"), "{kinds:?}");
        }
    }
    let outbox = store.outbox_all().await.unwrap();
    assert_eq!(outbox.len(), 20, "only the 20 acknowledgments: {outbox:?}");
    assert!(outbox.iter().all(|o| o.kind.as_str() == "ack"));
    let counts = store.message_counts().await.unwrap();
    eprintln!("messages by class: {counts:?}");
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 60, "{counts:?}");
    // `x+i@` is delivered to `x@`: each owner's mailbox holds its ten acknowledgments, no more.
    for base in [&ooo, &robot] {
        let inbox = imap_read::fetch_all(stack, base, "INBOX").await;
        assert_eq!(inbox.len(), 10, "{base}");
        let mut ids: Vec<_> = inbox
            .iter()
            .filter_map(|m| imap_read::message_id(m))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10, "{base}: ten different acknowledgments");
    }
    live.terminate(child);
}
