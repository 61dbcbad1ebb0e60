//! The PM digests end to end: import an archive (a ticket that breaks rules,
//! one that keeps them, a bounce of our acknowledgment, unthreaded team mail,
//! another project's ticket), render the daily digest at a fixed instant and
//! read its HTML with a real parser; queue digests with `digest_tick` under a
//! fake clock: once per period and PM across a restart, a missed period late.

use chrono::{DateTime, Duration, Utc};
use onit::digest::{build, digest_tick, render, Digest, Inputs, Kind, Request};
use onit::store::Store;
use scraper::{Html, Selector};

use crate::common::{at, Db, Env, BOTH};

use crate::compliance::{mbox, onit, Msg};

const BOB: &str = "bob@acme.example";
const CAROL: &str = "carol@acme.example";
const ALICE: &str = "alice.pm@jac.example";
const DEFAULT_PM: &str = "pm@jac.example";
const SUPPORT: &str = "support@jac.example";
/// The engineers: a digest never names them.
const ENGINEERS: [&str; 2] = ["dan@jac.example", "erin@jac.example"];

/// Thursday 26 November 2026 (London is on GMT, so local = UTC).
fn thu(h: u32, m: u32) -> DateTime<Utc> {
    at(2026, 11, 26, h, m)
}

/// JAC-1 (acme, urgent) breaks rules; JAC-2 (acme, medium) keeps them, but its
/// acknowledgment bounced; JAC-3 (gamma: the default project) breaks a promise;
/// team mail to an acme client matches no ticket.
fn archive() -> Vec<Msg<'static>> {
    let cc_pm = "support@jac.example, alice.pm@jac.example";
    vec![
        Msg { from: BOB, to: SUPPORT, cc: "", subject: "Production checkout down", id: "a1@acme.example", reply_to: "", when: thu(9, 0), auto: false, body: "Checkout is down for all customers." },
        Msg { from: SUPPORT, to: BOB, cc: ALICE, subject: "Re: Production checkout down [JAC-1]", id: "ack1@jac.example", reply_to: "a1@acme.example", when: thu(9, 2), auto: true, body: "We're on it.\n\nNext update: by today at 10:02 GMT." },
        Msg { from: "dan@jac.example", to: BOB, cc: cc_pm, subject: "Re: Production checkout down [JAC-1]", id: "u1@jac.example", reply_to: "ack1@jac.example", when: thu(9, 50), auto: false, body: "We are reading the payment logs. Next update by 11:00." },
        Msg { from: "dan@jac.example", to: BOB, cc: SUPPORT, subject: "Re: Production checkout down [JAC-1]", id: "u2@jac.example", reply_to: "u1@jac.example", when: thu(13, 30), auto: false, body: "Honestly we can't reproduce it on staging. I'll update you by 15:00." },
        Msg { from: "dan@jac.example", to: BOB, cc: cc_pm, subject: "Re: Production checkout down [JAC-1]", id: "u3@jac.example", reply_to: "u2@jac.example", when: thu(14, 55), auto: false, body: "Fixed: the intermediate certificate is back. Next update by end of day." },
        // JAC-2 keeps every rule.
        Msg { from: CAROL, to: SUPPORT, cc: "", subject: "Typo on the invoice page", id: "t1@acme.example", reply_to: "", when: thu(10, 0), auto: false, body: "There is a typo on the invoice page." },
        Msg { from: SUPPORT, to: CAROL, cc: ALICE, subject: "Re: Typo on the invoice page [JAC-2]", id: "ack2@jac.example", reply_to: "t1@acme.example", when: thu(10, 0) + Duration::seconds(30), auto: true, body: "We're on it.\n\nNext update: by today at 16:00 GMT." },
        // … but its acknowledgment bounced.
        Msg { from: "MAILER-DAEMON@mx.acme.example", to: SUPPORT, cc: "", subject: "Undelivered Mail Returned to Sender", id: "b1@mx.acme.example", reply_to: "ack2@jac.example", when: thu(10, 1), auto: false, body: "This is the mail system at host mx.acme.example.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n<carol@acme.example>: mailbox full\n\nMessage-ID: <ack2@jac.example>" },
        Msg { from: "erin@jac.example", to: CAROL, cc: cc_pm, subject: "Re: Typo on the invoice page [JAC-2]", id: "u4@jac.example", reply_to: "ack2@jac.example", when: thu(15, 50), auto: false, body: "The typo is fixed on staging and goes live tonight. I'll update you tomorrow morning." },
        // JAC-3, another PM's project: the promise of 13:30 is not kept.
        Msg { from: "dave@gamma.example", to: SUPPORT, cc: "", subject: "Question about the API rate limit", id: "g1@gamma.example", reply_to: "", when: thu(11, 0), auto: false, body: "What is the rate limit of the API?" },
        Msg { from: SUPPORT, to: "dave@gamma.example", cc: DEFAULT_PM, subject: "Re: Question about the API rate limit [JAC-3]", id: "ack3@jac.example", reply_to: "g1@gamma.example", when: thu(11, 0) + Duration::seconds(20), auto: true, body: "We're on it.\n\nNext update: by today at 13:30 GMT." },
        // Team mail to an acme client that matches no ticket.
        Msg { from: "dan@jac.example", to: "zed@acme.example", cc: SUPPORT, subject: "Your question about invoices", id: "x1@jac.example", reply_to: "", when: thu(12, 0), auto: false, body: "Hello Zed, the invoices are monthly." },
    ]
}

/// A fresh world with the archive imported and one ignored command on JAC-2
/// (written the way the command handler records it).
async fn world(db: Db) -> (Env, Store) {
    let env = Env::new(db, crate::common::ARCHIVE_TRUST);
    let path = env.dir.path().join("archive.mbox");
    std::fs::write(&path, mbox(&archive())).unwrap();
    let counts: serde_json::Value =
        serde_json::from_str(&onit(&env, &["import", "--json", path.to_str().unwrap()])).unwrap();
    assert_eq!(counts["failed"], 0, "{counts}");
    let store = env.store().await;
    let jac2 = store.ticket_by_number(2).await.unwrap().expect("JAC-2");
    let mut tx = store.begin().await.unwrap();
    tx.insert_event(
        jac2.id,
        thu(14, 0),
        "command_ignored",
        Some("mallory@elsewhere.example"),
        None,
        "#close from outside the team was ignored",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (env, store)
}

/// `tests/fixtures/digest-scenario.mbox` is this scenario (`scripts/render-digest.sh`
/// renders the example digest in docs/ from it).
#[test]
fn the_fixture_archive_is_this_scenario() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/digest-scenario.mbox");
    let want = mbox(&archive());
    if std::env::var_os("ONIT_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        want,
        "regenerate with ONIT_WRITE_FIXTURES=1 cargo test --test it digest::the_fixture"
    );
}

async fn daily(env: &Env, store: &Store, pm: &str, at_: DateTime<Utc>) -> Digest {
    let rt = env.runtime();
    let since = onit::digest::previous_period(&rt, Kind::Daily, at_)
        .unwrap()
        .at;
    let inputs = Inputs::load(store, &rt, Kind::Daily, since, at_)
        .await
        .unwrap();
    build(
        &inputs,
        &rt,
        &Request {
            kind: Kind::Daily,
            pm: pm.into(),
            at: at_,
            since,
            sent_late: None,
        },
    )
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// `(data-ticket, data-x)` of every row matching `selector`.
fn rows(doc: &Html, selector: &str, attr: &str) -> Vec<(String, String)> {
    doc.select(&sel(selector))
        .map(|r| {
            (
                r.value().attr("data-ticket").unwrap_or("").to_string(),
                r.value().attr(attr).unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_daily_digest_lists_broken_rules_open_tickets_and_mail_for_a_person() {
    for db in BOTH {
        let (env, store) = world(db).await;
        let d = daily(&env, &store, ALICE, thu(17, 0)).await;
        let (text, html) = render(&d).unwrap();

        // The HTML parses cleanly and has the rows we expect.
        let doc = Html::parse_document(&html);
        assert!(
            doc.errors.is_empty(),
            "{db:?}: HTML parse errors {:?}",
            doc.errors
        );
        let mut broken = rows(&doc, "table#broken-rules tr[data-rule]", "data-rule");
        broken.sort();
        let expected: Vec<(String, String)> = [
            ("JAC-1", "dismissive-language"),
            ("JAC-1", "first-response"),
            ("JAC-1", "pm-cc"),
            ("JAC-1", "promise-kept"),
            ("JAC-1", "promise-kept"),
            ("JAC-1", "urgent-hourly"),
        ]
        .iter()
        .map(|(t, r)| (t.to_string(), r.to_string()))
        .collect();
        assert_eq!(
            broken, expected,
            "{db:?}: JAC-2 keeps every rule, JAC-3 is not Alice's"
        );
        let open = rows(&doc, "table#open-tickets tr[data-ticket]", "data-priority");
        assert_eq!(
            open,
            vec![
                ("JAC-1".to_string(), "urgent".to_string()),
                ("JAC-2".to_string(), "medium".to_string())
            ],
            "urgent first"
        );
        let mut needs = rows(&doc, "table#needs-a-person tr[data-kind]", "data-kind");
        needs.sort();
        assert_eq!(
            needs,
            vec![
                ("".to_string(), "unthreaded".to_string()),
                ("JAC-2".to_string(), "bounce".to_string()),
                ("JAC-2".to_string(), "ignored-command".to_string()),
            ],
            "{db:?}"
        );
        // The dismissive message gets the respectful form.
        let dismissive = doc
            .select(&sel("tr[data-rule=\"dismissive-language\"] .suggestion"))
            .next()
            .expect("a suggestion for dismissive-language");
        let suggestion: String = dismissive.text().collect();
        assert!(suggestion.contains("screenshare"), "{suggestion}");
        assert!(!doc
            .select(&sel("tr[data-rule=\"pm-cc\"] .suggestion"))
            .any(|_| true));
        // Team accountability: no engineer is named, next to a rule or anywhere.
        for row in doc.select(&sel("table#broken-rules tr")) {
            let t: String = row.text().collect();
            assert!(!t.contains("@jac.example"), "a person next to a rule: {t}");
        }
        for e in ENGINEERS {
            assert!(!html.contains(e), "{e} in the HTML");
            assert!(!text.contains(e), "{e} in the text");
        }
        // The open ticket rows carry age, last contact and the next due time with its rule.
        let jac1: String = doc
            .select(&sel("table#open-tickets tr[data-ticket=\"JAC-1\"]"))
            .next()
            .unwrap()
            .text()
            .collect();
        for want in [
            "Production checkout down",
            BOB,
            "(8h ago)",
            "Last contact: Thu 26 Nov 14:55",
            "Next due",
            "Fri 27 Nov",
        ] {
            assert!(jac1.contains(want), "{want} missing in {jac1}");
        }
        // Client text is escaped, the page is one narrow column.
        assert!(html.contains("max-width:600px"));
        assert!(!html.contains("<style"), "inline CSS only");

        // The plain text says the same.
        for want in [
            "Daily compliance digest for alice.pm@jac.example",
            "RULES BROKEN SINCE WED 25 NOV 17:00 (6)",
            "JAC-1  first-response  Thu 26 Nov 09:01",
            "JAC-1  urgent-hourly  Thu 26 Nov 12:50",
            "JAC-1  dismissive-language  Thu 26 Nov 13:30",
            "Suggestion: Acknowledge the problem",
            "Bounce  JAC-2  Thu 26 Nov 10:01",
            "Ignored command  JAC-2  Thu 26 Nov 14:00",
            "mallory@elsewhere.example",
            "Unthreaded team mail  no ticket  Thu 26 Nov 12:00",
            "zed@acme.example",
            "OPEN TICKETS (2)",
            "JAC-2  medium  open",
        ] {
            assert!(text.contains(want), "{db:?}: {want:?} missing in\n{text}");
        }
        assert!(!text.contains("JAC-3"), "another PM's ticket:\n{text}");
        assert!(
            text.lines().all(|l| l.chars().count() <= 78),
            "lines fit a narrow reader:\n{text}"
        );
        assert_eq!(
            d.subject,
            "Daily compliance digest, Thu 26 Nov: 6 rules broken, 2 open tickets, 3 mails needing a person"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn each_pm_sees_only_their_projects() {
    let (env, store) = world(Db::Sqlite).await;
    let other = daily(&env, &store, DEFAULT_PM, thu(17, 0)).await;
    let ids: Vec<&str> = other.open_tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["JAC-3"]);
    let broken: Vec<(&str, &str)> = other
        .broken
        .iter()
        .map(|v| (v.ticket.as_str(), v.rule))
        .collect();
    assert_eq!(broken, vec![("JAC-3", "promise-kept")]);
    assert!(other.needs_person.is_empty(), "{:?}", other.needs_person);
    let (text, html) = render(&other).unwrap();
    for t in ["JAC-1", "JAC-2", "zed@acme.example", BOB, CAROL] {
        assert!(!text.contains(t) && !html.contains(t), "{t} is Alice's");
    }
    let alice = daily(&env, &store, "Alice.PM@jac.example", thu(17, 0)).await;
    assert!(alice.open_tickets.iter().all(|t| t.id != "JAC-3"));
    assert!(alice.broken.iter().all(|v| v.ticket != "JAC-3"));
    // A PM with no tickets gets an empty digest.
    let nobody = daily(&env, &store, "nobody.pm@jac.example", thu(17, 0)).await;
    assert!(nobody.is_empty());
    store.close().await;
}

fn digests(rows: &[onit::store::OutboxRow], kind: &str) -> Vec<(String, String)> {
    rows.iter()
        .filter(|o| o.kind.as_str() == kind)
        .map(|o| (o.dedupe_key.clone(), o.to_addr.clone()))
        .collect()
}

#[tokio::test]
async fn one_digest_per_period_and_pm_across_a_restart() {
    for db in BOTH {
        let (env, store) = world(db).await;
        let rt = env.runtime();
        assert_eq!(
            digest_tick(&store, &rt, thu(16, 59)).await.unwrap().daily,
            0,
            "{db:?}: Wednesday's period had no tickets yet"
        );
        let first = digest_tick(&store, &rt, thu(17, 0) + Duration::seconds(30))
            .await
            .unwrap();
        assert_eq!((first.daily, first.weekly, first.late), (2, 0, 0), "{db:?}");
        assert_eq!(
            digest_tick(&store, &rt, thu(17, 5)).await.unwrap().queued(),
            0
        );
        store.close().await;
        // A restart: a new store on the same database.
        let store = env.store().await;
        assert_eq!(
            digest_tick(&store, &rt, thu(17, 6)).await.unwrap().queued(),
            0,
            "{db:?}: once per period, also across a restart"
        );
        let outbox = store.outbox_all().await.unwrap();
        assert_eq!(
            digests(&outbox, "digest_daily"),
            vec![
                (
                    "digest:daily:2026-11-26:alice.pm@jac.example".to_string(),
                    ALICE.to_string()
                ),
                (
                    "digest:daily:2026-11-26:pm@jac.example".to_string(),
                    DEFAULT_PM.to_string()
                ),
            ],
            "{db:?}"
        );
        let row = outbox
            .iter()
            .find(|o| o.to_addr == ALICE && o.kind.as_str() == "digest_daily")
            .unwrap();
        let raw = String::from_utf8_lossy(&row.raw);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-generated"));
        let mail = onit::message::MailView::parse(&row.raw).unwrap();
        assert!(!mail.subject.contains("late"), "{}", mail.subject);
        assert!(mail
            .subject
            .starts_with("Daily compliance digest, Thu 26 Nov"));
        assert!(mail.body.contains("JAC-1  first-response"), "{}", mail.body);
        store.close().await;
    }
}

#[tokio::test]
async fn a_missed_period_is_sent_late_once_and_only_the_latest() {
    for db in BOTH {
        let (env, store) = world(db).await;
        let rt = env.runtime();
        // Thursday's digests go out on time …
        assert_eq!(digest_tick(&store, &rt, thu(17, 1)).await.unwrap().daily, 2);
        // … then onit is down from Friday morning until Monday 10:00: Friday's
        // weekly status and daily digest are sent late, nothing older.
        let monday = at(2026, 11, 30, 10, 0);
        let r = digest_tick(&store, &rt, monday).await.unwrap();
        assert_eq!((r.daily, r.weekly, r.late), (2, 2, 4), "{db:?}");
        assert_eq!(
            digest_tick(&store, &rt, monday + Duration::minutes(1))
                .await
                .unwrap()
                .queued(),
            0
        );
        let outbox = store.outbox_all().await.unwrap();
        let mut keys: Vec<String> = outbox
            .iter()
            .filter(|o| o.kind.as_str().starts_with("digest_"))
            .map(|o| o.dedupe_key.clone())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "digest:daily:2026-11-26:alice.pm@jac.example",
                "digest:daily:2026-11-26:pm@jac.example",
                "digest:daily:2026-11-27:alice.pm@jac.example",
                "digest:daily:2026-11-27:pm@jac.example",
                "digest:weekly:2026-11-27:alice.pm@jac.example",
                "digest:weekly:2026-11-27:pm@jac.example",
            ],
            "{db:?}"
        );
        let mail_of = |key: &str| {
            let row = outbox.iter().find(|o| o.dedupe_key == key).unwrap();
            onit::message::MailView::parse(&row.raw).unwrap()
        };
        let late = mail_of("digest:daily:2026-11-27:alice.pm@jac.example");
        assert!(
            late.subject.contains("(late: due Fri 27 Nov 17:00)"),
            "{}",
            late.subject
        );
        assert!(
            late.body.contains("late: due Fri 27 Nov 17:00"),
            "{}",
            late.body
        );
        assert!(late.body.contains("Mon 30 Nov 10:00"), "when it went out");
        // It covers Friday (since Thursday's digest), without repeating Thursday.
        assert!(
            late.body.contains("RULES BROKEN SINCE THU 26 NOV 17:00"),
            "{}",
            late.body
        );
        assert!(
            late.body.contains("JAC-2  promise-kept  Fri 27 Nov 10:00"),
            "tomorrow morning's promise: {}",
            late.body
        );
        assert!(!late.body.contains("first-response"), "{}", late.body);
        let weekly = mail_of("digest:weekly:2026-11-27:alice.pm@jac.example");
        assert!(
            weekly.subject.contains("(late: due Fri 27 Nov 15:00)"),
            "{}",
            weekly.subject
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_late_digest_covers_everything_since_the_last_one_sent() {
    let (env, store) = world(Db::Sqlite).await;
    let rt = env.runtime();
    assert_eq!(digest_tick(&store, &rt, thu(17, 0)).await.unwrap().daily, 2);
    // Down from Friday morning until Tuesday: Friday's and Monday's digests are
    // missed; Monday's is sent, and covers Friday too (since Thursday's).
    let r = digest_tick(&store, &rt, at(2026, 12, 1, 10, 0))
        .await
        .unwrap();
    assert_eq!(r.daily, 2);
    let outbox = store.outbox_all().await.unwrap();
    assert!(outbox
        .iter()
        .all(|o| !o.dedupe_key.starts_with("digest:daily:2026-11-27")));
    let row = outbox
        .iter()
        .find(|o| o.dedupe_key == "digest:daily:2026-11-30:alice.pm@jac.example")
        .unwrap();
    let mail = onit::message::MailView::parse(&row.raw).unwrap();
    assert!(
        mail.subject.contains("(late: due Mon 30 Nov 17:00)"),
        "{}",
        mail.subject
    );
    assert!(
        mail.body.contains("RULES BROKEN SINCE THU 26 NOV 17:00"),
        "{}",
        mail.body
    );
    assert!(
        mail.body.contains("JAC-2  promise-kept  Fri 27 Nov 10:00"),
        "Friday's broken promise: {}",
        mail.body
    );
    assert!(
        !mail.body.contains("first-response"),
        "Thursday's are not repeated"
    );
    store.close().await;
}

#[tokio::test]
async fn the_weekly_status_lists_every_open_ticket() {
    let (env, store) = world(Db::Sqlite).await;
    let rt = env.runtime();
    let friday = at(2026, 11, 27, 15, 0);
    let since = onit::digest::previous_period(&rt, Kind::Weekly, friday)
        .unwrap()
        .at;
    assert_eq!(since, at(2026, 11, 20, 15, 0));
    let inputs = Inputs::load(&store, &rt, Kind::Weekly, since, friday)
        .await
        .unwrap();
    let d = build(
        &inputs,
        &rt,
        &Request {
            kind: Kind::Weekly,
            pm: ALICE.into(),
            at: friday,
            since,
            sent_late: None,
        },
    );
    let (text, html) = render(&d).unwrap();
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let open: Vec<String> = rows(&doc, "table#open-tickets tr[data-ticket]", "data-status")
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(open, vec!["JAC-1", "JAC-2"]);
    assert!(
        doc.select(&sel("table#broken-rules")).next().is_none(),
        "the weekly lists tickets"
    );
    let week = d.week.as_ref().unwrap();
    assert_eq!((week.opened, week.resolved_or_closed), (2, 0));
    assert!(week.broken >= 6, "{week:?}");
    assert!(
        text.contains("Weekly status for alice.pm@jac.example"),
        "{text}"
    );
    assert!(text.contains("2 still open, 2 opened this week"), "{text}");
    assert!(text.contains("  urgent-hourly: "), "{text}");
    assert_eq!(d.subject, "Weekly status, Fri 27 Nov: 2 open tickets");
    for e in ENGINEERS {
        assert!(!html.contains(e) && !text.contains(e));
    }
    store.close().await;
}

#[tokio::test]
async fn onit_digest_prints_and_writes_html_without_sending() {
    let (env, store) = world(Db::Sqlite).await;
    store.close().await;
    let text = onit(
        &env,
        &[
            "digest",
            "daily",
            "--at",
            "2026-11-26 17:00",
            "--pm",
            ALICE,
            "--print",
        ],
    );
    assert!(
        text.starts_with("Daily compliance digest for alice.pm@jac.example\n"),
        "{text}"
    );
    assert!(text.contains("JAC-1  pm-cc  Thu 26 Nov 13:30"), "{text}");
    // Without --pm: every PM that has tickets.
    let all = onit(&env, &["digest", "daily", "--at", "2026-11-26 17:00"]);
    assert!(
        all.contains("for alice.pm@jac.example") && all.contains("for pm@jac.example"),
        "{all}"
    );
    let file = env.dir.path().join("digest.html");
    onit(
        &env,
        &[
            "digest",
            "weekly",
            "--at",
            "2026-11-27 15:00",
            "--pm",
            ALICE,
            "--html",
            file.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&file).unwrap();
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    assert_eq!(doc.select(&sel("table#open-tickets tr")).count(), 2);
    // Rendering never queues anything.
    let store = env.store().await;
    assert!(store
        .outbox_all()
        .await
        .unwrap()
        .iter()
        .all(|o| !o.kind.as_str().starts_with("digest_")));
    store.close().await;
}
