//! Ingest through the seam, on SQLite and PostgreSQL.

use chrono::Duration;
use onit::classify::MailClass;
use onit::ingest::{receive_imf, Disposition, Mode};
use onit::message::MailView;
use onit::store::Store;

use crate::common::{at, feed, feed_mode, Db, Env, Mail, BOTH};

async fn acks(store: &Store) -> Vec<onit::store::OutboxRow> {
    store
        .outbox_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind.as_str() == "ack")
        .collect()
}

fn header<'a>(raw: &'a str, name: &str) -> Vec<&'a str> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .filter_map(|l| {
            l.split_once(": ")
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .collect()
}

#[tokio::test]
async fn new_ticket_gets_one_acknowledgment_with_the_policy_headers() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        let m = Mail::new(
            "Bob Client <bob@acme.example>",
            "support@jac.example",
            "Checkout page is down",
            "c1@acme.example",
        )
        .h("References", "<older@acme.example>")
        .body("Our production checkout is down since 9:40. Customers are complaining.\n");
        let out = feed(&store, &rt, &m, t0).await;
        assert_eq!(out.disposition, Disposition::NewTicket, "{db:?}");
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
        assert!(out.ack_queued);

        let tickets = store.tickets().await.unwrap();
        assert_eq!(tickets.len(), 1);
        let t = &tickets[0];
        assert_eq!(t.priority.as_str(), "urgent", "{}", t.priority_reason);
        assert!(
            t.priority_reason.contains("urgent"),
            "{}",
            t.priority_reason
        );
        assert_eq!(t.project, "acme");
        assert_eq!(t.pm, "alice.pm@jac.example");
        // The stored due time is the rules': until the acknowledgment leaves (the
        // outbox makes it a contact), the first response is what is due.
        assert_eq!(
            t.next_due_at,
            Some(onit::store::to_ms(t0 + Duration::seconds(60)))
        );
        assert_eq!(t.next_due_rule.as_deref(), Some("first-response"));

        let acks = acks(&store).await;
        assert_eq!(acks.len(), 1);
        let raw = String::from_utf8(acks[0].raw.clone()).unwrap();
        assert_eq!(
            header(&raw, "To"),
            vec!["\"Bob Client\" <bob@acme.example>"],
            "{raw}"
        );
        assert_eq!(header(&raw, "Cc"), vec!["alice.pm@jac.example"]);
        assert_eq!(
            header(&raw, "Subject"),
            vec!["Re: Checkout page is down [JAC-1]"]
        );
        assert_eq!(header(&raw, "In-Reply-To"), vec!["<c1@acme.example>"]);
        assert_eq!(
            header(&raw, "References"),
            vec!["<older@acme.example> <c1@acme.example>"]
        );
        assert_eq!(header(&raw, "Auto-Submitted"), vec!["auto-replied"]);
        assert_eq!(
            header(&raw, "Message-ID"),
            vec![format!("<{}>", acks[0].message_id).as_str()]
        );
        assert_eq!(
            t.ack_message_id.as_deref(),
            Some(acks[0].message_id.as_str())
        );
        assert!(raw.contains("Next update: by today at 11:00 GMT"), "{raw}");
        assert_eq!(acks[0].rcpt_to, "bob@acme.example,alice.pm@jac.example");

        // The same message again (a re-delivery): nothing changes.
        let again = feed(&store, &rt, &m, t0 + Duration::minutes(1)).await;
        assert_eq!(again.disposition, Disposition::Duplicate);
        assert_eq!(store.tickets().await.unwrap().len(), 1);
        assert_eq!(self::acks(&store).await.len(), 1);
        store.close().await;
    }
}

#[tokio::test]
async fn replies_thread_and_strangers_cannot_use_a_tag() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        feed(
            &store,
            &rt,
            &Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Invoices missing",
                "c1@acme.example",
            ),
            t0,
        )
        .await;
        let ack_id = acks(&store).await[0].message_id.clone();

        // A reply to the acknowledgment threads by In-Reply-To.
        let reply = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Invoices missing [JAC-1]",
            "c2@acme.example",
        )
        .h("In-Reply-To", &format!("<{ack_id}>"));
        let out = feed(&store, &rt, &reply, t0 + Duration::minutes(5)).await;
        assert_eq!(
            (out.disposition, out.ticket.as_deref()),
            (Disposition::Threaded, Some("JAC-1")),
            "{db:?}"
        );

        // The reporter with only the tag (threading headers stripped) threads too.
        let tag_only = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "more info [JAC-1]",
            "c3@acme.example",
        );
        let out = feed(&store, &rt, &tag_only, t0 + Duration::minutes(6)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));

        // Same reporter, same subject after Re:/AW: stripping, no headers: threads.
        let subj = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "AW: RE: invoices missing",
            "c4@acme.example",
        );
        let out = feed(&store, &rt, &subj, t0 + Duration::minutes(7)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));

        // A stranger guessing the tag opens a new ticket (and gets an acknowledgment of their own).
        let stranger = Mail::new(
            "eve@other.example",
            "support@jac.example",
            "Re: Invoices missing [JAC-1]",
            "e1@other.example",
        );
        let out = feed(&store, &rt, &stranger, t0 + Duration::minutes(8)).await;
        assert_eq!(
            (out.disposition, out.ticket.as_deref()),
            (Disposition::NewTicket, Some("JAC-2"))
        );
        assert_eq!(acks(&store).await.len(), 2);
        let t2 = store.ticket_by_number(2).await.unwrap().unwrap();
        assert_eq!(
            (t2.project.as_str(), t2.pm.as_str()),
            ("default", "pm@jac.example")
        );

        // A colleague of the reporter Cc'd on a thread message becomes a participant and may use the tag.
        let cc = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Invoices missing [JAC-1]",
            "c5@acme.example",
        )
        .h("Cc", "carol@acme.example")
        .h("In-Reply-To", "<c1@acme.example>");
        feed(&store, &rt, &cc, t0 + Duration::minutes(9)).await;
        let carol = Mail::new(
            "carol@acme.example",
            "support@jac.example",
            "[JAC-1] same here",
            "k1@acme.example",
        );
        let out = feed(&store, &rt, &carol, t0 + Duration::minutes(10)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
        assert_eq!(store.tickets().await.unwrap().len(), 2);
        store.close().await;
    }
}

#[tokio::test]
async fn automated_mail_is_never_acknowledged() {
    let cases: Vec<(&str, Mail)> = vec![
        (
            "auto-submitted",
            Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Out of the office",
                "a1@x",
            )
            .h("Auto-Submitted", "auto-replied"),
        ),
        (
            "auto-generated",
            Mail::new("bob@acme.example", "support@jac.example", "Report", "a2@x")
                .h("Auto-Submitted", "auto-generated; loop"),
        ),
        (
            "precedence",
            Mail::new(
                "news@acme.example",
                "support@jac.example",
                "Newsletter",
                "a3@x",
            )
            .h("Precedence", "bulk"),
        ),
        (
            "list",
            Mail::new(
                "dev@lists.example",
                "support@jac.example",
                "[dev] build",
                "a4@x",
            )
            .h("List-Id", "<dev.lists.example>"),
        ),
        (
            "unsubscribe",
            Mail::new("promo@shop.example", "support@jac.example", "Sale", "a5@x")
                .h("List-Unsubscribe", "<mailto:u@shop.example>"),
        ),
        (
            "x-autoreply",
            Mail::new("bob@acme.example", "support@jac.example", "Re: x", "a6@x")
                .h("X-Autoreply", "yes"),
        ),
        (
            "return-path",
            Mail::new("bob@acme.example", "support@jac.example", "hello", "a7@x")
                .h("Return-Path", "<>"),
        ),
        (
            "mailer-daemon",
            Mail::new(
                "MAILER-DAEMON@mx.acme.example",
                "support@jac.example",
                "failure",
                "a8@x",
            ),
        ),
        (
            "no-reply",
            Mail::new(
                "no-reply@saas.example",
                "support@jac.example",
                "Your invoice",
                "a9@x",
            ),
        ),
        (
            "report",
            Mail::new(
                "postmaster@mx.example",
                "support@jac.example",
                "Delivery Status",
                "a10@x",
            )
            .h(
                "Content-Type",
                "multipart/report; report-type=delivery-status; boundary=b",
            )
            .body("--b\nContent-Type: text/plain\n\nfailed\n--b--\n"),
        ),
    ];
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        for (name, m) in &cases {
            let out = receive_imf(
                &store,
                &rt,
                &m.bytes(),
                at(2026, 11, 26, 11, 0),
                name,
                Mode::Live,
            )
            .await
            .unwrap();
            assert_eq!(out.class, Some(MailClass::Automated), "{name} on {db:?}");
            assert!(!out.ack_queued, "{name}");
        }
        assert!(store.tickets().await.unwrap().is_empty());
        assert!(store.outbox_all().await.unwrap().is_empty());
        // A real client's ordinary mail still gets its acknowledgment.
        let ok = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Auto-Submitted: no is fine",
            "ok@x",
        )
        .h("Auto-Submitted", "no");
        assert!(
            receive_imf(
                &store,
                &rt,
                &ok.bytes(),
                at(2026, 11, 26, 11, 0),
                "ok",
                Mode::Live
            )
            .await
            .unwrap()
            .ack_queued
        );
        store.close().await;
    }
}

#[tokio::test]
async fn bounce_of_our_acknowledgment_is_recorded_on_the_ticket() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        feed(
            &store,
            &rt,
            &Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Help",
                "c1@acme.example",
            ),
            t0,
        )
        .await;
        let ack_id = acks(&store).await[0].message_id.clone();
        let bounce = Mail::new("MAILER-DAEMON@mx.acme.example", "support@jac.example", "Undelivered Mail Returned to Sender", "b1@mx.acme.example")
            .h("Content-Type", "multipart/report; report-type=delivery-status; boundary=\"BB\"")
            .body(&format!(
                "--BB\nContent-Type: text/plain\n\nmailbox full\n--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.example\n\nFinal-Recipient: rfc822; bob@acme.example\nAction: failed\nStatus: 5.2.2\n--BB\nContent-Type: text/rfc822-headers\n\nFrom: support@jac.example\nTo: bob@acme.example\nMessage-ID: <{ack_id}>\nSubject: Re: Help [JAC-1]\n--BB--\n"
            ));
        let out = feed(&store, &rt, &bounce, t0 + Duration::minutes(2)).await;
        assert_eq!(
            (out.class, out.ticket.as_deref(), out.ack_queued),
            (Some(MailClass::Automated), Some("JAC-1"), false),
            "{db:?}"
        );
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        let events = store.events(t.id).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind.as_str() == "delivery_failure"),
            "{events:?}"
        );
        assert_eq!(acks(&store).await.len(), 1);
        // The PM hears of it at once, once: a second copy of the bounce changes nothing.
        let notices: Vec<_> = store
            .outbox_all()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind.as_str() == "delivery_notice")
            .collect();
        assert_eq!(notices.len(), 1, "{db:?}");
        assert_eq!(notices[0].rcpt_to, "alice.pm@jac.example");
        assert!(MailView::parse(&notices[0].raw)
            .unwrap()
            .body
            .contains("could not be delivered to bob@acme.example"));
        let again = feed(&store, &rt, &bounce, t0 + Duration::minutes(3)).await;
        assert_eq!(again.disposition, Disposition::Duplicate);
        assert_eq!(store.outbox_all().await.unwrap().len(), 2);
        store.close().await;
    }
}

#[tokio::test]
async fn engineers_replies_are_contacts_and_notes_are_not() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        feed(
            &store,
            &rt,
            &Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Reports slow",
                "c1@acme.example",
            ),
            t0,
        )
        .await;
        let reply = Mail::new(
            "Dan Engineer <dan@jac.example>",
            "bob@acme.example",
            "Re: Reports slow [JAC-1]",
            "u1@jac.example",
        )
        .h("Cc", "support@jac.example, alice.pm@jac.example")
        .h("In-Reply-To", "<c1@acme.example>")
        .h("Date", "Thu, 26 Nov 2026 11:30:00 +0000")
        .body("We found the slow query. Next update by 3pm.\n");
        let out = feed(&store, &rt, &reply, t0 + Duration::minutes(90)).await;
        assert_eq!(
            (out.class, out.ticket.as_deref()),
            (Some(MailClass::Contact), Some("JAC-1")),
            "{db:?}"
        );
        // The same update seen again through a Sent folder counts once.
        let again = receive_imf(
            &store,
            &rt,
            &reply.bytes(),
            t0 + Duration::minutes(91),
            "sent",
            Mode::Live,
        )
        .await
        .unwrap();
        assert_eq!(again.disposition, Disposition::Duplicate);
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(
            t.last_contact_at,
            Some(onit::store::to_ms(at(2026, 11, 26, 11, 30)))
        );
        // A contractor listed in team.engineers at another domain is team too.
        let note = Mail::new(
            "contractor@freelance.example",
            "dan@jac.example",
            "Re: Reports slow [JAC-1]",
            "n1@freelance.example",
        )
        .body("#priority high\nlooks like the index\n");
        let out = feed(&store, &rt, &note, t0 + Duration::minutes(95)).await;
        assert_eq!(
            (out.class, out.ticket.as_deref()),
            (Some(MailClass::InternalNote), Some("JAC-1"))
        );
        let events = store.events(t.id).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "contact").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "internal_note").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(store.tickets().await.unwrap().len(), 1);
        assert_eq!(acks(&store).await.len(), 1);
        store.close().await;
    }
}

#[tokio::test]
async fn per_sender_rate_limit_caps_acknowledgments() {
    for db in BOTH {
        let env = Env::new(db, "[policy]\nack_rate_per_hour = 3\n");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        for i in 0..5 {
            let m = Mail::new(
                "loop@robot.example",
                "support@jac.example",
                &format!("Ticket {i} opened"),
                &format!("r{i}@robot.example"),
            );
            feed(&store, &rt, &m, t0 + Duration::minutes(i)).await;
        }
        assert_eq!(store.tickets().await.unwrap().len(), 5, "{db:?}");
        assert_eq!(acks(&store).await.len(), 3);
        // An hour later the sender may be acknowledged again.
        let m = Mail::new(
            "loop@robot.example",
            "support@jac.example",
            "Ticket 9",
            "r9@robot.example",
        );
        assert!(
            feed(&store, &rt, &m, t0 + Duration::minutes(70))
                .await
                .ack_queued
        );
        store.close().await;
    }
}

#[tokio::test]
async fn missing_message_id_dedupes_and_hostile_subject_cannot_add_headers() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let m = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "=?utf-8?B?aGkNCkJjYzogZXZpbEB4LmV4YW1wbGU=?=",
            "",
        );
        let a = feed(&store, &rt, &m, at(2026, 11, 26, 10, 0)).await;
        let b = feed(&store, &rt, &m, at(2026, 11, 26, 10, 5)).await;
        assert_eq!(a.disposition, Disposition::NewTicket, "{db:?}");
        assert_eq!(b.disposition, Disposition::Duplicate);
        assert_eq!(a.message_id, b.message_id);
        let acks = acks(&store).await;
        assert_eq!(acks.len(), 1);
        let raw = String::from_utf8_lossy(&acks[0].raw).to_string();
        assert!(header(&raw, "Bcc").is_empty(), "{raw}");
        let parsed = MailView::parse(&acks[0].raw).unwrap();
        assert_eq!(parsed.subject, "Re: hi Bcc: evil@x.example [JAC-1]");
        store.close().await;
    }
}

#[tokio::test]
async fn closed_tickets_reopen_within_the_window_and_link_after_it() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 2, 10, 0);
        feed(
            &store,
            &rt,
            &Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Export fails",
                "c1@acme.example",
            ),
            t0,
        )
        .await;
        let close = |when| {
            let store = store.clone();
            async move {
                let mut tx = store.begin().await.unwrap();
                let t = tx.ticket_by_number(1).await.unwrap().unwrap();
                tx.set_status(t.id, onit::ticket::Status::Closed, when)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        };
        close(t0 + Duration::days(1)).await;
        let r1 = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Export fails [JAC-1]",
            "c2@acme.example",
        )
        .h("In-Reply-To", "<c1@acme.example>");
        let out = feed(&store, &rt, &r1, t0 + Duration::days(3)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");
        assert_eq!(
            store
                .ticket_by_number(1)
                .await
                .unwrap()
                .unwrap()
                .status
                .as_str(),
            "open"
        );

        close(t0 + Duration::days(4)).await;
        let r2 = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Export fails [JAC-1]",
            "c3@acme.example",
        )
        .h("In-Reply-To", "<c2@acme.example>");
        let out = feed(&store, &rt, &r2, t0 + Duration::days(20)).await;
        assert_eq!(
            (out.disposition, out.ticket.as_deref()),
            (Disposition::NewTicket, Some("JAC-2"))
        );
        let t2 = store.ticket_by_number(2).await.unwrap().unwrap();
        let t1 = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t2.linked_ticket_id, Some(t1.id));
        assert_eq!(t1.status.as_str(), "closed");
        store.close().await;
    }
}

#[tokio::test]
async fn import_mode_sends_nothing_and_counts_archived_acknowledgments() {
    for db in [Db::Sqlite, Db::Postgres] {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        let m = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "VPN broken",
            "c1@acme.example",
        );
        let out = feed_mode(&store, &rt, &m, t0, Mode::Import).await;
        assert!(!out.ack_queued);
        let old_ack = Mail::new(
            "support@jac.example",
            "bob@acme.example",
            "Re: VPN broken [JAC-1]",
            "oldack@jac.example",
        )
        .h("Cc", "alice.pm@jac.example")
        .h("Auto-Submitted", "auto-replied")
        .h("In-Reply-To", "<c1@acme.example>")
        .h("Date", "Thu, 26 Nov 2026 10:00:30 +0000");
        let out = feed_mode(
            &store,
            &rt,
            &old_ack,
            t0 + Duration::seconds(30),
            Mode::Import,
        )
        .await;
        assert_eq!(
            (out.class, out.ticket.as_deref()),
            (Some(MailClass::Acknowledgment), Some("JAC-1")),
            "{db:?}"
        );
        assert!(store.outbox_all().await.unwrap().is_empty());
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.ack_message_id.as_deref(), Some("oldack@jac.example"));
        assert_eq!(
            t.last_contact_at,
            Some(onit::store::to_ms(t0 + Duration::seconds(30)))
        );
        store.close().await;
    }
}

/// Ingest's first look at a message answers threading by subject in the same
/// round trip: the same ticket `open_ticket_by_subject` finds (the newest not
/// closed of that reporter and subject), none for a closed one or another
/// reporter, and nothing asked when no reporter is given.
#[tokio::test]
async fn the_first_look_finds_what_threading_by_subject_finds() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        for (i, minutes) in [(1, 0), (2, 5)] {
            let m = Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Invoices missing",
                &format!("first{i}@acme.example"),
            );
            feed(&store, &rt, &m, t0 + Duration::minutes(minutes)).await;
        }
        // The second mail threaded by subject onto the first's ticket.
        let mut tx = store.begin().await.unwrap();
        let first = tx.ticket_by_number(1).await.unwrap().unwrap();
        assert!(tx.ticket_by_number(2).await.unwrap().is_none(), "{db:?}");
        let key = Some(("bob@acme.example", first.normalized_subject.as_str()));
        let look = tx.first_look("first2@acme.example", key).await.unwrap();
        let by_query = tx
            .open_ticket_by_subject("bob@acme.example", &first.normalized_subject)
            .await
            .unwrap()
            .map(|t| t.id);
        assert_eq!(look.open_by_subject, Some(first.id), "{db:?}");
        assert_eq!(look.open_by_subject, by_query, "{db:?}");
        let known = look.known.expect("the stored message is known");
        assert_eq!(known.ticket_id, Some(first.id), "{db:?}");
        assert!(
            !look.ours,
            "{db:?}: a client's message is not in our outbox"
        );

        let other = Some(("carol@acme.example", first.normalized_subject.as_str()));
        let look = tx.first_look("new@acme.example", other).await.unwrap();
        assert_eq!(look.open_by_subject, None, "{db:?}: another reporter's");
        assert!(look.known.is_none(), "{db:?}");
        let look = tx.first_look("new@acme.example", None).await.unwrap();
        assert_eq!(look.open_by_subject, None, "{db:?}: nothing asked");

        tx.set_status(
            first.id,
            onit::ticket::Status::Closed,
            t0 + Duration::hours(1),
        )
        .await
        .unwrap();
        let look = tx.first_look("new@acme.example", key).await.unwrap();
        assert_eq!(
            look.open_by_subject, None,
            "{db:?}: a closed ticket is not threaded onto"
        );
        tx.rollback().await.unwrap();
        store.close().await;
    }
}
