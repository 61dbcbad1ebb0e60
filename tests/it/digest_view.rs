//! The PM's one-minute digest (issue 16 item 1) on both databases: the
//! compliance rate at the top (checked by hand below), one line per ticket
//! with its broken rules rolled up, grouped per client project, each with a
//! well-formed `mailto:` reply link; the weekly status's 8-week trend chart as
//! an inline PNG with a Content-ID, its numbers in the text part.
//!
//! The scenario: Alice is the PM of two projects, acme and beta.
//! * Seven earlier Thursdays (8 Oct to 19 Nov, 10:00 London), one acme ticket
//!   each: acknowledged on time in even weeks back, two minutes late in odd
//!   ones, then closed at 12:00. Each week has two deadlines: the first
//!   response and the day's 16:30 (met by the acknowledgment): 2 of 2, or 1 of 2.
//! * Thursday 26 Nov: JAC-8 (acme, urgent) breaks rules, JAC-9 (acme, medium)
//!   keeps them, JAC-10 (beta, medium, a hostile subject) breaks a promise.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use onit::digest::{build, digest_tick, render, Digest, Inputs, Kind, Request};
use onit::store::Store;
use scraper::{Html, Selector};

use crate::common::{at, Db, Env, ARCHIVE_TRUST, BOTH};
use crate::compliance::{mbox, Msg};

const ALICE: &str = "alice.pm@jac.example";
const SUPPORT: &str = "support@jac.example";
const BOB: &str = "bob@acme.example";
const CAROL: &str = "carol@acme.example";
const FRANK: &str = "frank@beta.example";
const HOSTILE: &str = "API: 50% of calls fail? & more=yes #3 — Ünïcødé";

/// London local time (BST before 25 Oct 2026) as UTC.
fn london(mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Europe::London
        .with_ymd_and_hms(2026, mo, d, h, mi, s)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn thu(h: u32, m: u32) -> DateTime<Utc> {
    at(2026, 11, 26, h, m)
}

/// The earlier weeks' tickets: (client, subject, id stem, opened, acknowledged).
type Earlier = (String, String, String, DateTime<Utc>, DateTime<Utc>);

fn history() -> Vec<Earlier> {
    (1..=7)
        .rev()
        .map(|k: i64| {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap() - Duration::weeks(k);
            let opened = london(
                chrono::Datelike::month(&day),
                chrono::Datelike::day(&day),
                10,
                0,
                0,
            );
            let late = if k % 2 == 1 { 120 } else { 30 };
            (
                format!("client{k}@acme.example"),
                format!("Question about export format {k}"),
                format!("h{k}"),
                opened,
                opened + Duration::seconds(late),
            )
        })
        .collect()
}

async fn world(db: Db) -> (Env, Store) {
    let extra = format!(
        "{ARCHIVE_TRUST}\n[[projects]]\nname = \"beta\"\nclient_domains = [\"beta.example\"]\npm = \"{ALICE}\"\n"
    );
    let env = Env::new(db, &extra);
    let hist = history();
    let ids: Vec<[String; 4]> = hist
        .iter()
        .map(|(_, _, stem, _, _)| {
            [
                format!("{stem}@acme.example"),
                format!("{stem}-ack@jac.example"),
                format!("{stem}-note@jac.example"),
                String::new(),
            ]
        })
        .collect();
    let subjects: Vec<[String; 2]> = hist
        .iter()
        .enumerate()
        .map(|(i, (_, s, _, _, _))| [s.clone(), format!("Re: {s} [JAC-{}]", i + 1)])
        .collect();
    let mut msgs: Vec<Msg<'_>> = Vec::new();
    for (i, (client, _, _, opened, acked)) in hist.iter().enumerate() {
        msgs.push(Msg {
            from: client,
            to: SUPPORT,
            cc: "",
            subject: &subjects[i][0],
            id: &ids[i][0],
            reply_to: "",
            when: *opened,
            auto: false,
            body: "Which export format should we use?",
        });
        msgs.push(Msg {
            from: SUPPORT,
            to: client,
            cc: ALICE,
            subject: &subjects[i][1],
            id: &ids[i][1],
            reply_to: &ids[i][0],
            when: *acked,
            auto: true,
            body: "We're on it.",
        });
        msgs.push(Msg { from: "dan@jac.example", to: SUPPORT, cc: "", subject: &subjects[i][1], id: &ids[i][2], reply_to: &ids[i][1], when: *opened + Duration::hours(2), auto: false, body: "#cause A question, no fault\n#resolution Answered\n#prevention Documented the format\n#close\n" });
    }
    let cc_pm = "support@jac.example, alice.pm@jac.example";
    let jac10 = format!("Re: {HOSTILE} [JAC-10]");
    #[rustfmt::skip]
    msgs.extend([
        Msg { from: BOB, to: SUPPORT, cc: "", subject: "Production checkout down", id: "a1@acme.example", reply_to: "", when: thu(9, 0), auto: false, body: "Checkout is down for all customers." },
        Msg { from: SUPPORT, to: BOB, cc: ALICE, subject: "Re: Production checkout down [JAC-8]", id: "ack8@jac.example", reply_to: "a1@acme.example", when: thu(9, 2), auto: true, body: "We're on it.\n\nNext update: by today at 10:02 GMT." },
        Msg { from: "dan@jac.example", to: BOB, cc: cc_pm, subject: "Re: Production checkout down [JAC-8]", id: "u1@jac.example", reply_to: "ack8@jac.example", when: thu(9, 50), auto: false, body: "We are reading the payment logs. Next update by 11:00." },
        Msg { from: "dan@jac.example", to: BOB, cc: SUPPORT, subject: "Re: Production checkout down [JAC-8]", id: "u2@jac.example", reply_to: "u1@jac.example", when: thu(13, 30), auto: false, body: "Honestly we can't reproduce it on staging. I'll update you by 15:00." },
        Msg { from: "dan@jac.example", to: BOB, cc: cc_pm, subject: "Re: Production checkout down [JAC-8]", id: "u3@jac.example", reply_to: "u2@jac.example", when: thu(14, 55), auto: false, body: "Fixed: the intermediate certificate is back. Next update by end of day." },
        Msg { from: CAROL, to: SUPPORT, cc: "", subject: "Typo on the invoice page", id: "t1@acme.example", reply_to: "", when: thu(10, 0), auto: false, body: "There is a typo on the invoice page." },
        Msg { from: SUPPORT, to: CAROL, cc: ALICE, subject: "Re: Typo on the invoice page [JAC-9]", id: "ack9@jac.example", reply_to: "t1@acme.example", when: thu(10, 0) + Duration::seconds(30), auto: true, body: "We're on it.\n\nNext update: by today at 16:00 GMT." },
        Msg { from: "erin@jac.example", to: CAROL, cc: cc_pm, subject: "Re: Typo on the invoice page [JAC-9]", id: "u4@jac.example", reply_to: "ack9@jac.example", when: thu(15, 50), auto: false, body: "The typo is fixed on staging and goes live tonight. I'll update you tomorrow morning." },
        Msg { from: FRANK, to: SUPPORT, cc: "", subject: HOSTILE, id: "f1@beta.example", reply_to: "", when: thu(11, 0), auto: false, body: "Half of our calls fail." },
        Msg { from: SUPPORT, to: FRANK, cc: ALICE, subject: &jac10, id: "ack10@jac.example", reply_to: "f1@beta.example", when: thu(11, 0) + Duration::seconds(20), auto: true, body: "We're on it.\n\nNext update: by today at 13:30 GMT." },
    ]);
    let path = env.dir.path().join("archive.mbox");
    std::fs::write(&path, mbox(&msgs)).unwrap();
    let counts: serde_json::Value = serde_json::from_str(&crate::compliance::onit(
        &env,
        &["import", "--json", path.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(counts["failed"], 0, "{counts}");
    let store = env.store().await;
    for n in 1..=7 {
        let t = store.ticket_by_number(n).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "closed", "JAC-{n}: {}", t.subject);
    }
    (env, store)
}

async fn digest(env: &Env, store: &Store, kind: Kind, at_: DateTime<Utc>) -> Digest {
    let rt = env.runtime();
    let since = onit::digest::previous_period(&rt, kind, at_).unwrap().at;
    let inputs = Inputs::load(store, &rt, kind, since, at_).await.unwrap();
    build(
        &inputs,
        &rt,
        &Request {
            kind,
            pm: ALICE.into(),
            at: at_,
            since,
            sent_late: None,
        },
    )
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// Percent-decodes a `mailto:` component.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A `mailto:` link parsed back (RFC 6068): the recipient and the fields.
fn parse_mailto(link: &str) -> (String, Vec<(String, String)>) {
    assert!(
        link.bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&b)),
        "not a well-formed mailto URI: {link:?}"
    );
    let rest = link.strip_prefix("mailto:").unwrap();
    let (to, query) = rest.split_once('?').unwrap();
    assert!(!query.contains('?'), "{link}");
    let fields = query
        .split('&')
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect();
    (decode(to), fields)
}

#[tokio::test]
async fn the_daily_digest_rolls_up_per_ticket_per_project_with_rates_and_reply_links() {
    for db in BOTH {
        let (env, store) = world(db).await;
        let d = digest(&env, &store, Kind::Daily, thu(17, 0)).await;

        // The rate, Wed 17:00 to Thu 17:00, by hand (deadlines of first-response,
        // urgent-hourly, high-checkpoints, eod-update, promise-kept):
        // JAC-8 (urgent): kept: the hours due 10:00 (ack 09:02), 10:02 (09:50) and
        //   15:30 (14:55); the 16:30 of the day (ack); the promises of 10:02 (09:50)
        //   and 15:00 (14:55). Missed: first-response (ack at 09:02, due 09:01), the
        //   11:00 promise (next contact 13:30), the silence 09:50–13:30 (broken
        //   12:50; the 13:30 update ends it and counts no more), the 16:30 promise.
        //   6 of 10.
        // JAC-9 (medium): first-response, the day's 16:30, the 16:00 promise
        //   (kept at 15:50): 3 of 3. The "tomorrow morning" promise is not yet due.
        // JAC-10 (medium): first-response, the day's 16:30 kept; the 13:30 promise
        //   missed: 2 of 3.
        // acme 9 of 13 = 69%, beta 2 of 3 = 67%, overall 11 of 16 = 69%.
        // A week earlier (Wed 18 17:00 to Thu 19 17:00): JAC-7, acknowledged two
        // minutes late: 1 of 2 = 50%; beta had nothing due: "—".
        let c = &d.compliance;
        assert_eq!((c.overall.now.kept, c.overall.now.due), (11, 16), "{db:?}");
        assert_eq!(c.overall.now.label, "69%");
        assert_eq!((c.overall.last_week.kept, c.overall.last_week.due), (1, 2));
        let rows: Vec<(&str, &str, usize, usize, &str)> = c
            .projects
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.now.label.as_str(),
                    r.now.kept,
                    r.now.due,
                    r.last_week.label.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![("acme", "69%", 9, 13, "50%"), ("beta", "67%", 2, 3, "—")],
            "{db:?}"
        );

        // One line per ticket, grouped per project, broken first, then due soon.
        let lines: Vec<(&str, Vec<&str>)> = d
            .attention
            .iter()
            .map(|p| {
                (
                    p.project.as_str(),
                    p.lines.iter().map(|l| l.line.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (
                    "acme",
                    vec![
                        "JAC-8: 5 rules broken since 09:01 — first-response, promise-kept ×2, urgent-hourly, dismissive-language, pm-cc",
                        "JAC-9: due by Fri 27 Nov 10:00 — promise-kept",
                    ]
                ),
                ("beta", vec!["JAC-10: 1 rule broken since 13:30 — promise-kept"]),
            ],
            "{db:?}"
        );

        let (text, html) = render(&d).unwrap();
        for want in [
            "CONTACTS ON TIME SINCE WED 25 NOV 17:00: 69% (11 of 16 due), last week 50%",
            "  acme: 69% (9 of 13), last week 50%",
            "  beta: 67% (2 of 3), last week —",
            "NEEDS ATTENTION FIRST, BY PROJECT",
            "acme: 2 of 2 tickets need attention",
            "  JAC-9: due by Fri 27 Nov 10:00 — promise-kept",
        ] {
            assert!(text.contains(want), "{db:?}: {want:?} missing in\n{text}");
        }
        assert!(text.lines().all(|l| l.chars().count() <= 78), "{text}");

        // The HTML: the rates at the top, each line a link that parses back.
        let doc = Html::parse_document(&html);
        assert!(doc.errors.is_empty(), "{db:?}: {:?}", doc.errors);
        let rates: Vec<(String, String, String)> = doc
            .select(&sel("table#compliance tr[data-rate]"))
            .map(|r| {
                let v = r.value();
                (
                    v.attr("data-project").unwrap().to_string(),
                    v.attr("data-rate").unwrap().to_string(),
                    v.attr("data-last-week").unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            rates,
            vec![
                ("".into(), "69%".into(), "50%".into()),
                ("acme".into(), "69%".into(), "50%".into()),
                ("beta".into(), "67%".into(), "—".into()),
            ]
        );
        let summary = doc.select(&sel("#summary")).next().unwrap().id();
        let compliance = doc.select(&sel("#compliance")).next().unwrap().id();
        let broken = doc.select(&sel("#broken-rules")).next().unwrap().id();
        let order: Vec<_> = doc.tree.nodes().map(|n| n.id()).collect();
        let pos = |id| order.iter().position(|x| *x == id).unwrap();
        assert!(
            pos(summary) < pos(compliance) && pos(compliance) < pos(broken),
            "the rate at the top"
        );

        let links: Vec<(String, String, String)> = doc
            .select(&sel("tr.attention"))
            .map(|tr| {
                let a = tr.select(&sel("a[href]")).next().expect("a reply link");
                (
                    tr.value().attr("data-ticket").unwrap().to_string(),
                    tr.value().attr("data-need").unwrap().to_string(),
                    a.value().attr("href").unwrap().to_string(),
                )
            })
            .collect();
        let needs: Vec<(&str, &str)> = links
            .iter()
            .map(|(t, n, _)| (t.as_str(), n.as_str()))
            .collect();
        assert_eq!(
            needs,
            vec![
                ("JAC-8", "broken"),
                ("JAC-9", "due-soon"),
                ("JAC-10", "broken")
            ]
        );
        let cc = "alice.pm@jac.example,support@jac.example";
        let expect = [
            (
                BOB,
                "Re: Production checkout down [JAC-8]",
                "<u3@jac.example>",
            ),
            (
                CAROL,
                "Re: Typo on the invoice page [JAC-9]",
                "<u4@jac.example>",
            ),
            (
                FRANK,
                &*format!("Re: {HOSTILE} [JAC-10]"),
                "<ack10@jac.example>",
            ),
        ];
        for ((ticket, _, href), (to, subject, irt)) in links.iter().zip(expect) {
            let (got_to, fields) = parse_mailto(href);
            assert_eq!(got_to, to, "{db:?} {ticket}");
            assert_eq!(
                fields,
                vec![
                    ("cc".to_string(), cc.to_string()),
                    ("subject".to_string(), subject.to_string()),
                    ("in-reply-to".to_string(), irt.to_string()),
                ],
                "{db:?} {ticket}: {href}"
            );
        }
        // The hostile subject is escaped in the page and encoded in the link.
        assert!(
            html.contains("API: 50% of calls fail? &amp; more=yes #3"),
            "{html}"
        );
        assert!(
            links[2].2.contains("%26%20more%3Dyes%20%233"),
            "{}",
            links[2].2
        );
        store.close().await;
    }
}

#[tokio::test]
async fn the_weekly_status_sends_an_eight_week_trend_chart_inline() {
    for db in BOTH {
        let (env, store) = world(db).await;
        let rt = env.runtime();
        let friday = at(2026, 11, 27, 15, 0);
        let report = digest_tick(&store, &rt, friday + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(report.weekly, 1, "{db:?}");
        let outbox = store.outbox_all().await.unwrap();
        let row = outbox
            .iter()
            .find(|o| o.kind.as_str() == "digest_weekly")
            .expect("the weekly status queued");
        let msg = MessageParser::default()
            .parse(&row.raw)
            .expect("the mail parses");

        // Oldest first, weeks ending Friday 15:00. acme: the seven earlier tickets
        // (1 of 2 in odd weeks back, 2 of 2 in even ones), then this week at Friday
        // 15:00: JAC-8 6 of 11 (Thursday's 6 of 10, and the silence since 14:55
        // broken Friday 09:55), JAC-9 3 of 4 (the "tomorrow morning" promise,
        // 10:00, missed): 9 of 15 = 60%. beta: nothing due before this week, then
        // JAC-10's 2 of 3.
        let acme = "acme: 9 Oct 50%, 16 Oct 100%, 23 Oct 50%, 30 Oct 100%, 6 Nov 50%, 13 Nov 100%, 20 Nov 50%, 27 Nov 60%";
        let beta =
            "beta: 9 Oct —, 16 Oct —, 23 Oct —, 30 Oct —, 6 Nov —, 13 Nov —, 20 Nov —, 27 Nov 67%";

        // The text part has the numbers (for mail programs that block images).
        let text = msg.body_text(0).expect("a text part").to_string();
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for want in [
            acme,
            beta,
            "CONTACTS ON TIME SINCE FRI 20 NOV 15:00: 61% (11 of 18 due), last week 50%",
        ] {
            assert!(flat.contains(want), "{db:?}: {want:?} missing in\n{text}");
        }

        // The charts: inline image/png parts with a Content-ID, 320×80, one per
        // project, each shown by the HTML part as cid:.
        let html = msg.body_html(0).expect("an HTML part").to_string();
        let doc = Html::parse_document(&html);
        let srcs: Vec<String> = doc
            .select(&sel(".trend img"))
            .map(|i| i.value().attr("src").unwrap().to_string())
            .collect();
        assert_eq!(srcs.len(), 2, "{db:?}: {html}");
        let mut cids = Vec::new();
        for part in &msg.parts {
            let Some(ct) = part.content_type() else {
                continue;
            };
            if ct.ctype() != "image" {
                continue;
            }
            assert_eq!(ct.subtype(), Some("png"));
            let cid = part.content_id().expect("a Content-ID").to_string();
            let bytes = part.contents();
            let r = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .expect("a PNG");
            assert_eq!((r.info().width, r.info().height), (320, 80), "{db:?}");
            cids.push(format!("cid:{cid}"));
        }
        assert_eq!(
            cids, srcs,
            "{db:?}: every chart is an inline part the HTML names"
        );
        let alts: Vec<String> = doc
            .select(&sel(".trend img"))
            .map(|i| i.value().attr("alt").unwrap().to_string())
            .collect();
        assert_eq!(alts, vec![acme, beta]);
        // multipart/alternative: the text, then multipart/related (the HTML and the images).
        let raw = String::from_utf8_lossy(&row.raw);
        let alt = raw.find("multipart/alternative").expect("alternative");
        let related = raw.find("multipart/related").expect("related");
        assert!(alt < related, "{raw}");

        // `onit digest --html` shows the same charts as data: URIs.
        store.close().await;
        let file = env.dir.path().join("weekly.html");
        crate::compliance::onit(
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
        let page = std::fs::read_to_string(&file).unwrap();
        let doc = Html::parse_document(&page);
        let imgs: Vec<String> = doc
            .select(&sel(".trend img"))
            .map(|i| i.value().attr("src").unwrap().to_string())
            .collect();
        assert_eq!(imgs.len(), 2);
        for src in imgs {
            use base64::Engine;
            let b64 = src
                .strip_prefix("data:image/png;base64,")
                .expect("a data: URI");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let r = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .unwrap();
            assert_eq!((r.info().width, r.info().height), (320, 80));
        }
    }
}
