//! POLICY "Commands from the team" and "Closing": commands in team mail are
//! applied, a client's are recorded and ignored, `#close` needs cause,
//! resolution and prevention, and a close makes, stores and sends the
//! incident response report. Through the ingest seam and through the binary,
//! on SQLite and PostgreSQL.

use std::process::Output;

use chrono::{DateTime, Utc};
use onit::config::Runtime;
use onit::ingest::Mode;
use onit::store::{EventRow, OutboxRow, Store};

use crate::common::{at, expect_ok, feed, feed_mode, onit_command, Db, Env, Mail, BOTH};

const HEADINGS: [&str; 8] = [
    "Date of incident",
    "Reporter",
    "Severity (critical, high, medium, low)",
    "Timeline of response (times, actions, people)",
    "Exposure / impacts",
    "Suspected root cause",
    "Resolution of issue",
    "Mitigation steps / prevention in future",
];

/// A world whose configuration lists report maintainers.
fn env_with_maintainers(db: Db) -> Env {
    let env = Env::new(db, "");
    let cfg = std::fs::read_to_string(&env.config_path).unwrap();
    let cfg = cfg.replacen(
        "[team]\n",
        "[team]\nmaintainers = [\"ops@acme.example\", \"sre@jac.example\"]\n",
        1,
    );
    std::fs::write(&env.config_path, cfg).unwrap();
    env
}

fn date(t: DateTime<Utc>) -> String {
    t.to_rfc2822()
}

/// Bob at acme reports an outage at 10:00 (urgent, acknowledged at once).
async fn open_ticket(store: &Store, rt: &Runtime) -> i64 {
    let t0 = at(2026, 11, 26, 10, 0);
    let m = Mail::new(
        "Bob Client <bob@acme.example>",
        "support@jac.example",
        "Checkout page is down",
        "c1@acme.example",
    )
    .h("Date", &date(t0))
    .body("Our production checkout is down. Customers are complaining.\n");
    let out = feed(store, rt, &m, t0).await;
    assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
    assert!(out.ack_queued);
    store.ticket_by_number(1).await.unwrap().unwrap().id
}

/// An internal note from Dan (team only), threaded by reference.
fn note(id: &str, when: DateTime<Utc>, body: &str) -> Mail {
    Mail::new(
        "Dan Engineer <dan@jac.example>",
        "support@jac.example",
        "Re: Checkout page is down [JAC-1]",
        id,
    )
    .h("In-Reply-To", "<c1@acme.example>")
    .h("Date", &date(when))
    .body(body)
}

fn kinds(events: &[EventRow]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn of_kind<'a>(events: &'a [EventRow], kind: &str) -> Vec<&'a EventRow> {
    events.iter().filter(|e| e.kind.as_str() == kind).collect()
}

async fn outbox_of(store: &Store, kind: &str) -> Vec<OutboxRow> {
    store
        .outbox_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind.as_str() == kind)
        .collect()
}

fn header(raw: &str, name: &str) -> Vec<String> {
    // Unfold continuation lines first (RFC 5322 folding).
    let head = raw
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .replace("\r\n ", " ");
    head.split("\r\n")
        .filter_map(|l| {
            l.split_once(": ")
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
        })
        .collect()
}

/// The Markdown headings of a document, in order.
fn headings(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect()
}

/// The lines of one section of the Markdown report.
fn section<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    md.lines()
        .skip_while(|l| l.trim_start_matches('#').trim() != heading || !l.starts_with('#'))
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[tokio::test]
async fn an_engineers_note_applies_its_commands() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_ticket(&store, &rt).await;
        let n = note(
            "n1@jac.example",
            at(2026, 11, 26, 10, 20),
            "Looked at it.\n#priority high\n  #cause The nightly migration dropped an index\n#severity HIGH\nthanks\n",
        );
        let out = feed(&store, &rt, &n, at(2026, 11, 26, 10, 20)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");

        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.priority.as_str(), "high", "{db:?}");
        assert!(
            t.priority_reason.contains("dan@jac.example"),
            "{}",
            t.priority_reason
        );
        assert_eq!(t.severity.map(|s| s.as_str()), Some("high"));
        assert_eq!(t.status.as_str(), "open");
        let facts = store.closing_facts(tid).await.unwrap();
        assert_eq!(
            facts.cause.as_deref(),
            Some("The nightly migration dropped an index")
        );
        assert_eq!(facts.prevention, None);

        let events = store.events(tid).await.unwrap();
        let set = of_kind(&events, "priority_set");
        assert_eq!(set.len(), 1, "{:?}", kinds(&events));
        assert_eq!(set[0].detail, "high (was urgent)");
        assert_eq!(set[0].actor.as_deref(), Some("dan@jac.example"));
        assert_eq!(set[0].message_id.as_deref(), Some("n1@jac.example"));
        let cause = of_kind(&events, "cause_set");
        assert_eq!(cause.len(), 1);
        assert_eq!(cause[0].detail, "The nightly migration dropped an index");
        assert_eq!(of_kind(&events, "severity_set").len(), 1);
        assert_eq!(of_kind(&events, "internal_note").len(), 1);
        // Nothing wrong: no reply.
        assert!(outbox_of(&store, "command_reply").await.is_empty());
        store.close().await;
    }
}

#[tokio::test]
async fn a_clients_commands_are_ignored_and_recorded() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_ticket(&store, &rt).await;
        let m = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Checkout page is down [JAC-1]",
            "c2@acme.example",
        )
        .h("In-Reply-To", "<c1@acme.example>")
        .h("Date", &date(at(2026, 11, 26, 10, 30)))
        .body("Still down.\n#priority medium\n#cause you broke it\n#close\n#hashtag\n#priority soon\n");
        feed(&store, &rt, &m, at(2026, 11, 26, 10, 30)).await;

        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(
            (t.priority.as_str(), t.status.as_str()),
            ("urgent", "open"),
            "{db:?}"
        );
        assert_eq!(store.closing_facts(tid).await.unwrap().cause, None);
        let events = store.events(tid).await.unwrap();
        let ignored: Vec<&str> = of_kind(&events, "command_ignored")
            .iter()
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(
            ignored,
            vec![
                "#priority medium",
                "#cause you broke it",
                "#close",
                "#priority soon"
            ],
            "{db:?}"
        );
        for e in of_kind(&events, "command_ignored") {
            assert_eq!(e.actor.as_deref(), Some("bob@acme.example"));
            assert_eq!(e.message_id.as_deref(), Some("c2@acme.example"));
        }
        for k in ["priority_set", "cause_set", "status", "close_refused"] {
            assert!(of_kind(&events, k).is_empty(), "{k}: {:?}", kinds(&events));
        }
        // A client is never answered about commands.
        let out = store.outbox_all().await.unwrap();
        assert_eq!(out.len(), 1, "only the acknowledgment: {out:?}");
        assert_eq!(out[0].kind.as_str(), "ack");

        // Commands in the message that opens a ticket are recorded on it too.
        let m = Mail::new(
            "carol@beta.example",
            "support@jac.example",
            "Typo",
            "b1@beta.example",
        )
        .body("#severity critical\nplease fix\n");
        feed(&store, &rt, &m, at(2026, 11, 26, 11, 0)).await;
        let t2 = store.ticket_by_number(2).await.unwrap().unwrap();
        assert_eq!(t2.severity, None);
        let events = store.events(t2.id).await.unwrap();
        let ignored = of_kind(&events, "command_ignored");
        assert_eq!(ignored.len(), 1, "{:?}", kinds(&events));
        assert_eq!(ignored[0].detail, "#severity critical");
        store.close().await;
    }
}

#[tokio::test]
async fn an_unknown_command_gets_one_reply_to_its_sender() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_ticket(&store, &rt).await;
        let n = note(
            "n1@jac.example",
            at(2026, 11, 26, 10, 20),
            "#foo bar\n#priority soon\n#priority high\n",
        );
        feed(&store, &rt, &n, at(2026, 11, 26, 10, 20)).await;
        // The same note seen again (a Sent folder): no second reply.
        feed(&store, &rt, &n, at(2026, 11, 26, 10, 21)).await;

        let replies = outbox_of(&store, "command_reply").await;
        assert_eq!(replies.len(), 1, "{db:?}: {replies:?}");
        assert_eq!(replies[0].to_addr, "dan@jac.example");
        assert_eq!(replies[0].rcpt_to, "dan@jac.example");
        assert_eq!(replies[0].ticket_id, Some(tid));
        let raw = String::from_utf8(replies[0].raw.clone()).unwrap();
        assert!(
            !raw.contains("acme.example"),
            "no client address in the reply:\n{raw}"
        );
        assert!(raw.contains("#foo"), "{raw}");
        assert!(raw.contains("#priority: takes"), "{raw}");
        // Never more of the sender's line than its command word.
        assert!(!raw.contains("soon") && !raw.contains("bar"), "{raw}");
        assert_eq!(header(&raw, "Subject"), vec!["Command not applied [JAC-1]"]);
        // The valid command in the same note was applied.
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.priority.as_str(), "high");
        let events = store.events(tid).await.unwrap();
        assert_eq!(
            of_kind(&events, "command_invalid").len(),
            2,
            "{:?}",
            kinds(&events)
        );

        // An engineer's update to the client with a bad command: the reply goes to the engineer only.
        let upd = Mail::new(
            "dan@jac.example",
            "bob@acme.example",
            "Re: Checkout page is down [JAC-1]",
            "u1@jac.example",
        )
        .h("Cc", "alice.pm@jac.example")
        .h("In-Reply-To", "<c1@acme.example>")
        .h("Date", &date(at(2026, 11, 26, 10, 40)))
        .body("We are on it. Next update by 11:40.\n#frobnicate\n");
        feed(&store, &rt, &upd, at(2026, 11, 26, 10, 40)).await;
        let replies = outbox_of(&store, "command_reply").await;
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[1].rcpt_to, "dan@jac.example");

        // Archived history never answers.
        let old = note("n2@jac.example", at(2026, 11, 26, 10, 50), "#bogus\n");
        feed_mode(&store, &rt, &old, at(2026, 11, 26, 10, 50), Mode::Import).await;
        assert_eq!(outbox_of(&store, "command_reply").await.len(), 2);
        for o in store.outbox_all().await.unwrap() {
            if o.kind.as_str() != "ack" {
                assert!(!o.rcpt_to.contains("acme.example"), "{o:?}");
            }
        }
        store.close().await;
    }
}

#[tokio::test]
async fn commands_in_a_note_on_no_ticket_are_answered_not_applied() {
    let env = Env::new(Db::Sqlite, "");
    let rt = env.runtime();
    let store = env.store().await;
    let m = Mail::new(
        "dan@jac.example",
        "support@jac.example",
        "some thoughts",
        "x1@jac.example",
    )
    .body("#close\n");
    let out = feed(&store, &rt, &m, at(2026, 11, 26, 10, 0)).await;
    assert_eq!(out.ticket, None);
    let replies = outbox_of(&store, "command_reply").await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].rcpt_to, "dan@jac.example");
    assert!(store.tickets().await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn close_is_refused_until_prevention_then_the_report_goes_out() {
    for db in BOTH {
        let env = env_with_maintainers(db);
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_ticket(&store, &rt).await;
        let ack_id = store
            .ticket_by_number(1)
            .await
            .unwrap()
            .unwrap()
            .ack_message_id
            .unwrap();

        // 11:30 Dan's update to the client.
        let upd = Mail::new(
            "Dan Engineer <dan@jac.example>",
            "bob@acme.example",
            "Re: Checkout page is down [JAC-1]",
            "u1@jac.example",
        )
        .h("Cc", "alice.pm@jac.example")
        .h("In-Reply-To", "<c1@acme.example>")
        .h("Date", &date(at(2026, 11, 26, 11, 30)))
        .body("We found a dropped index and are restoring it. Next update by 3pm.\n");
        feed(&store, &rt, &upd, at(2026, 11, 26, 11, 30)).await;

        // 14:00 everything but prevention, and #close: refused.
        let n1 = note(
            "n1@jac.example",
            at(2026, 11, 26, 14, 0),
            "#severity high\n#impact Checkout unavailable for 40 minutes\n#cause A migration dropped the orders index\n#resolution Index restored, queries back to normal\n#close\n",
        );
        feed(&store, &rt, &n1, at(2026, 11, 26, 14, 0)).await;
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "open", "{db:?}");
        let events = store.events(tid).await.unwrap();
        let refused = of_kind(&events, "close_refused");
        assert_eq!(refused.len(), 1, "{:?}", kinds(&events));
        assert!(
            refused[0].detail.contains("prevention"),
            "{}",
            refused[0].detail
        );
        assert!(
            !refused[0].detail.contains("cause"),
            "{}",
            refused[0].detail
        );
        let replies = outbox_of(&store, "command_reply").await;
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(replies[0].rcpt_to, "dan@jac.example");
        let raw = String::from_utf8(replies[0].raw.clone()).unwrap();
        assert!(raw.contains("prevention"), "{raw}");
        assert_eq!(
            header(&raw, "Subject"),
            vec!["Not closed: prevention missing [JAC-1]"]
        );
        assert!(store.latest_report(tid).await.unwrap().is_none());
        assert!(outbox_of(&store, "report").await.is_empty());

        // 15:00 prevention, then #close in the same note: closed.
        let close_at = at(2026, 11, 26, 15, 0);
        let n2 = note(
            "n2@jac.example",
            close_at,
            "#prevention Migrations are checked for dropped indexes in CI\n#close\n",
        );
        feed(&store, &rt, &n2, close_at).await;
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "closed", "{db:?}");
        assert_eq!(t.closed_at, Some(onit::store::to_ms(close_at)));
        assert_eq!(
            outbox_of(&store, "command_reply").await.len(),
            1,
            "no reply to a good close"
        );
        let events = store.events(tid).await.unwrap();
        let statuses: Vec<&str> = of_kind(&events, "status")
            .iter()
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(statuses, vec!["closed"]);
        // The policy loader sees the close.
        let hist = onit::compliance::load_histories(&store, false)
            .await
            .unwrap();
        assert_eq!(
            hist[0].status_at(close_at),
            onit::policy::history::Status::Closed
        );

        // The stored report: eight headings, in order, and the facts.
        let report = store
            .latest_report(tid)
            .await
            .unwrap()
            .expect("report stored");
        let md = &report.markdown;
        assert_eq!(headings(md), HEADINGS.to_vec(), "{md}");
        assert!(
            section(md, "Date of incident")[0].contains("Thursday 26 November 2026, 10:00 GMT"),
            "{md}"
        );
        assert!(
            section(md, "Reporter")[0].contains("bob@acme.example"),
            "{md}"
        );
        assert_eq!(
            section(md, "Severity (critical, high, medium, low)"),
            vec!["high"]
        );
        assert_eq!(
            section(md, "Exposure / impacts"),
            vec!["Checkout unavailable for 40 minutes"]
        );
        assert_eq!(
            section(md, "Suspected root cause"),
            vec!["A migration dropped the orders index"]
        );
        assert_eq!(
            section(md, "Resolution of issue"),
            vec!["Index restored, queries back to normal"]
        );
        assert_eq!(
            section(md, "Mitigation steps / prevention in future"),
            vec!["Migrations are checked for dropped indexes in CI"]
        );
        let timeline = section(md, "Timeline of response (times, actions, people)");
        let find = |needle: &str| {
            timeline
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no `{needle}` in the timeline:\n{md}"))
        };
        let ack = find("Thu 26 Nov 2026 10:00 GMT — Acknowledgment");
        let update = find("Thu 26 Nov 2026 11:30 GMT — Update to bob@acme.example");
        assert!(
            timeline[update].ends_with("— dan@jac.example"),
            "{}",
            timeline[update]
        );
        let closed = find("Thu 26 Nov 2026 15:00 GMT — Closed — dan@jac.example");
        let opened = find("Thu 26 Nov 2026 10:00 GMT — Ticket JAC-1 opened");
        assert!(opened <= ack && ack < update && update < closed, "{md}");
        find("14:00 GMT — Severity set to high — dan@jac.example");
        find("15:00 GMT — Prevention plan recorded");
        assert!(
            !md.contains("Not closed"),
            "refusals are not part of the report"
        );
        assert!(report.html.contains("<h2"), "{}", report.html);
        assert_eq!(report.html.matches("<h2").count(), 8);

        // Queued to the client and the maintainers, the PM in Cc.
        let sent = outbox_of(&store, "report").await;
        assert_eq!(sent.len(), 1, "{db:?}");
        let r = &sent[0];
        assert_eq!(report.message_id.as_deref(), Some(r.message_id.as_str()));
        assert_eq!(
            r.rcpt_to,
            "bob@acme.example,ops@acme.example,sre@jac.example,alice.pm@jac.example"
        );
        let raw = String::from_utf8(r.raw.clone()).unwrap();
        assert_eq!(
            header(&raw, "To"),
            vec!["bob@acme.example, ops@acme.example, sre@jac.example"],
            "{raw}"
        );
        assert_eq!(header(&raw, "Cc"), vec!["alice.pm@jac.example"]);
        assert_eq!(
            header(&raw, "Subject"),
            vec!["Incident response report: Checkout page is down [JAC-1]"]
        );
        assert_eq!(header(&raw, "In-Reply-To"), vec!["<c1@acme.example>"]);
        assert_eq!(
            header(&raw, "References"),
            vec![format!("<c1@acme.example> <{ack_id}>").as_str()]
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        let parsed = onit::message::MailView::parse(&r.raw).unwrap();
        assert_eq!(parsed.message_id, r.message_id);
        // It is a message of the ticket and a contact of kind `report`.
        let known = store.known_message(&r.message_id).await.unwrap().unwrap();
        assert_eq!((known.class.as_str(), known.ticket_id), ("own", Some(tid)));
        let contacts = store.policy_contacts(false).await.unwrap();
        let c = contacts
            .iter()
            .find(|c| c.message_id == r.message_id)
            .expect("the report is a contact");
        assert_eq!(c.contact_kind.as_deref(), Some("report"));
        assert_eq!(c.contact_at, onit::store::to_ms(close_at));
        assert_eq!(
            hist_kind(&store, &r.message_id).await,
            Some(onit::policy::history::ContactKind::Report)
        );

        // `onit report JAC-1` prints it.
        let out = onit(&env, &["report", "JAC-1"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), *md);
        let out = onit(&env, &["report", "1", "--html"]);
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), report.html);
        let out = onit(&env, &["report", "JAC-1", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["ticket"], "JAC-1");
        assert_eq!(v["markdown"].as_str(), Some(md.as_str()));
        assert_eq!(v["html"].as_str(), Some(report.html.as_str()));

        // The client answers the report within reopen_days: reopened, facts kept.
        let reply = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Incident response report: Checkout page is down [JAC-1]",
            "c3@acme.example",
        )
        .h("In-Reply-To", &format!("<{}>", r.message_id))
        .h("Date", &date(at(2026, 11, 27, 9, 30)))
        .body("It is down again!\n");
        let out = feed(&store, &rt, &reply, at(2026, 11, 27, 9, 30)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!((t.status.as_str(), t.closed_at), ("open", None));
        let facts = store.closing_facts(tid).await.unwrap();
        assert!(facts.cause.is_some() && facts.resolution.is_some() && facts.prevention.is_some());
        // Closing again needs no new facts; a second report is made.
        let n3 = note("n3@jac.example", at(2026, 11, 27, 11, 0), "#close\n");
        feed(&store, &rt, &n3, at(2026, 11, 27, 11, 0)).await;
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "closed");
        assert_eq!(outbox_of(&store, "report").await.len(), 2);
        let second = store.latest_report(tid).await.unwrap().unwrap();
        assert_ne!(second.id, report.id);
        assert!(
            second
                .markdown
                .contains("Reopened by a message from the client"),
            "{}",
            second.markdown
        );
        store.close().await;
    }
}

async fn hist_kind(store: &Store, message_id: &str) -> Option<onit::policy::history::ContactKind> {
    onit::compliance::load_histories(store, false)
        .await
        .unwrap()
        .iter()
        .flat_map(|h| h.contacts.iter())
        .find(|c| c.message_id == message_id)
        .map(|c| c.kind)
}

#[tokio::test]
async fn an_imported_close_stores_the_report_and_sends_nothing() {
    let env = Env::new(Db::Sqlite, "");
    let rt = env.runtime();
    let store = env.store().await;
    let m = Mail::new(
        "bob@acme.example",
        "support@jac.example",
        "Export fails",
        "c1@acme.example",
    );
    feed_mode(&store, &rt, &m, at(2026, 11, 2, 10, 0), Mode::Import).await;
    let n = note(
        "n1@jac.example",
        at(2026, 11, 2, 12, 0),
        "#cause a\n#resolution b\n#prevention c\n#close\n",
    );
    feed_mode(&store, &rt, &n, at(2026, 11, 2, 12, 0), Mode::Import).await;
    let t = store.ticket_by_number(1).await.unwrap().unwrap();
    assert_eq!(t.status.as_str(), "closed");
    let report = store.latest_report(t.id).await.unwrap().unwrap();
    assert_eq!(report.message_id, None);
    assert_eq!(headings(&report.markdown), HEADINGS.to_vec());
    assert!(store.outbox_all().await.unwrap().is_empty());
    store.close().await;
}

fn onit(env: &Env, args: &[&str]) -> Output {
    onit_command(env, args)
        .env("USER", "dan")
        .output()
        .expect("run onit")
}

fn ok(env: &Env, args: &[&str]) -> String {
    expect_ok(args, onit(env, args))
}

fn fails(env: &Env, args: &[&str]) -> String {
    let out = onit(env, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "onit {args:?} should fail with 1: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[tokio::test]
async fn the_command_line_sets_notes_refuses_and_closes() {
    for db in BOTH {
        let env = env_with_maintainers(db);
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_ticket(&store, &rt).await;

        // Refused: nothing recorded yet. Exit code 1, no mail.
        let err = fails(&env, &["ticket", "JAC-1", "close"]);
        assert!(err.contains("cause, resolution and prevention"), "{err}");
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
        let out = store.outbox_all().await.unwrap();
        assert_eq!(out.len(), 1, "only the acknowledgment: {out:?}");

        let err = fails(&env, &["ticket", "JAC-1", "set", "priority", "soon"]);
        assert!(err.contains("soon"), "{err}");
        let err = fails(&env, &["ticket", "JAC-1", "set", "status", "closed"]);
        assert!(err.contains("#close"), "{err}");
        let err = fails(&env, &["ticket", "JAC-9", "set", "priority", "high"]);
        assert!(err.contains("no ticket JAC-9"), "{err}");

        let said = ok(&env, &["ticket", "JAC-1", "set", "priority", "high"]);
        assert!(said.contains("priority high (was urgent)"), "{said}");
        ok(&env, &["ticket", "1", "set", "severity", "low"]);
        ok(
            &env,
            &["ticket", "JAC-1", "note", "called", "Bob", "by", "phone"],
        );
        ok(
            &env,
            &["ticket", "JAC-1", "set", "cause", "Certificate", "expired"],
        );
        ok(
            &env,
            &[
                "ticket",
                "JAC-1",
                "set",
                "resolution",
                "Renewed the certificate",
            ],
        );

        let err = fails(&env, &["ticket", "JAC-1", "close"]);
        assert!(
            err.contains("was not closed: prevention not recorded"),
            "{err}"
        );
        assert_eq!(
            outbox_of(&store, "command_reply").await.len(),
            0,
            "the CLI never mails a refusal"
        );

        ok(
            &env,
            &[
                "ticket",
                "JAC-1",
                "set",
                "prevention",
                "Expiry alerts 30 days ahead",
            ],
        );
        let text = ok(&env, &["ticket", "JAC-1"]);
        assert!(text.contains("Expiry alerts 30 days ahead"), "{text}");
        let said = ok(&env, &["ticket", "JAC-1", "close"]);
        assert!(said.contains("closed"), "{said}");
        assert!(said.contains("ops@acme.example"), "{said}");

        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!((t.status.as_str(), t.priority.as_str()), ("closed", "high"));
        assert_eq!(t.severity.map(|s| s.as_str()), Some("low"));
        let events = store.events(tid).await.unwrap();
        assert_eq!(
            of_kind(&events, "close_refused").len(),
            2,
            "{:?}",
            kinds(&events)
        );
        let notes = of_kind(&events, "note");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].detail, "called Bob by phone");
        assert_eq!(notes[0].actor.as_deref(), Some("command line (dan)"));
        let sent = outbox_of(&store, "report").await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].rcpt_to,
            "bob@acme.example,ops@acme.example,sre@jac.example,alice.pm@jac.example"
        );
        let md = ok(&env, &["report", "JAC-1", "--markdown"]);
        assert_eq!(headings(&md), HEADINGS.to_vec(), "{md}");
        assert!(
            md.contains("Internal team note — command line (dan)"),
            "{md}"
        );
        assert!(
            !md.contains("called Bob"),
            "a note's words stay internal: {md}"
        );
        assert_eq!(
            section(&md, "Suspected root cause"),
            vec!["Certificate expired"]
        );

        // The plain views still work.
        let json: serde_json::Value =
            serde_json::from_str(&ok(&env, &["ticket", "JAC-1", "--json"])).unwrap();
        assert_eq!(json["status"], "closed");
        let err = fails(&env, &["report", "JAC-2"]);
        assert!(err.contains("no ticket JAC-2"), "{err}");
        store.close().await;
    }
}
