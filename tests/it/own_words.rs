//! The author's own words, whatever the client (issue 13):
//! * the golden corpus `tests/clients/*.eml`, one reply per client format,
//!   each with the own-words segments expected in its `.json`;
//! * every talon fixture in `../shared/corpus/talon-replies/` (skipped when
//!   absent), compared with talon's `*_reply_text` where it exists;
//! * end to end through `onit import` and `onit compliance` on both
//!   databases: bottom-posted and inline promises kept and broken at the
//!   right time, and an HTML-only Outlook-on-the-web reply whose quoted
//!   dismissive phrase and quoted promise are ignored.

use std::path::Path;

use chrono::{DateTime, Utc};
use onit::message::MailView;
use onit::policy::html_quoting::read_html;

use crate::common::{at, corpus_dir, Env, BOTH};
use crate::compliance::{import, mbox, onit, violations, Msg};

fn clients_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[test]
fn golden_client_formats() {
    let mut names: Vec<String> = std::fs::read_dir(clients_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "eml").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    assert!(names.len() >= 14, "one reply per client format: {names:?}");
    let mut wrong = Vec::new();
    for name in &names {
        let raw = std::fs::read(clients_dir().join(format!("{name}.eml"))).unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(clients_dir().join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let expected: Vec<String> = json["own_words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let got = MailView::parse(&raw).unwrap().own_words.segments;
        let ok = got == expected;
        // The README's table is this line per format.
        println!("| {name} | {} |", if ok { "correct" } else { "WRONG" });
        if !ok {
            wrong.push(format!("{name}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What onit reads as the author's own words in each talon fixture. Talon
/// keeps signatures ("Sent from my iPhone", Sparrow's `-- ` block); onit
/// drops them, so talon's expected text must start with onit's.
const TALON_STANDARD: &[(&str, &str)] = &[
    ("android.eml", "Hello"),
    ("aol.eml", "Hello"),
    ("apple_mail.eml", "Hello"),
    ("apple_mail_2.eml", "Hello"),
    ("comcast.eml", "Hello"),
    ("gmail.eml", "Hello"),
    ("hotmail.eml", "Hello"),
    ("iphone.eml", "Hello"),
    ("outlook.eml", "Hello"),
    ("sparrow.eml", "Hello"),
    ("thunderbird.eml", "Hello"),
    ("yahoo.eml", "Hello"),
];

#[test]
fn talon_fixtures() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("SKIP talon fixtures: ../shared/corpus is absent (set ONIT_CORPUS to run it)");
        return;
    };
    let talon = corpus.join("talon-replies");
    let standard = talon.join("standard_replies");
    let mut seen = 0;
    for entry in std::fs::read_dir(&standard).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".eml") {
            continue;
        }
        let expected = TALON_STANDARD
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no expectation for talon fixture {name}"))
            .1;
        let got = MailView::parse(&std::fs::read(&path).unwrap())
            .unwrap()
            .own_words
            .text();
        assert_eq!(got, expected, "{name}");
        let reply_text = standard.join(name.replace(".eml", "_reply_text"));
        if let Ok(talon_text) = std::fs::read_to_string(&reply_text) {
            assert!(
                talon_text.starts_with(&got),
                "{name}: talon reads {talon_text:?}, onit {got:?}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, TALON_STANDARD.len());

    // The booking inquiry: the reply, its sign-off name, and nothing of the
    // inquiry quoted below "--- On … wrote:".
    let share =
        MailView::parse(&std::fs::read(talon.join("reply-quotations-share-block.eml")).unwrap())
            .unwrap()
            .own_words
            .text();
    assert!(share.starts_with("Hi Katharine."), "{share}");
    assert!(share.ends_with("Joe XXX"), "{share}");
    assert!(!share.contains("Booking Inquiry"), "{share}");

    // The HTML replies (talon's tests: the reply is kept, the quote is not).
    let mut html_seen = 0;
    for entry in std::fs::read_dir(talon.join("html_replies")).unwrap() {
        let path = entry.unwrap().path();
        let text = read_html(&std::fs::read_to_string(&path).unwrap())
            .segments
            .join("\n\n");
        assert_eq!(text, "Hi. I am fine.\n\nThanks,", "{path:?}");
        html_seen += 1;
    }
    assert_eq!(html_seen, 9);
}

const BOB: &str = "bob@acme.example";
const TEAM_CC: &str = "support@jac.example, alice.pm@jac.example";

fn thu(h: u32, m: u32) -> DateTime<Utc> {
    at(2026, 11, 26, h, m)
}

/// `(ticket, rule, at)` of the rules the own words decide.
fn word_rules(env: &Env, when: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = violations(env, when)
        .into_iter()
        .filter(|(_, r, _)| {
            matches!(
                r.as_str(),
                "promise-kept" | "next-update-stated" | "dismissive-language"
            )
        })
        .collect();
    v.sort();
    v
}

fn triples(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn bottom_posted_and_inline_promises_are_kept_or_broken_on_time() {
    const BOTTOM: &str = "On Thu, 26 Nov 2026 at 09:00, Bob <bob@acme.example> wrote:\n> The export fails.\n> Next update by 9:30 please.\n\nWe found the cause. I'll update you by 11:00.\n\n-- \nDan";
    const INLINE: &str = "On 26/11/2026 09:00, Bob wrote:\n> 1. What is broken?\n\nThe export job.\n\n> 2. When will we hear from you?\n\nNext update by 11:30.\n\n-- \nDan";
    let client = |subject: &'static str, id: &'static str| Msg {
        from: BOB,
        to: "support@jac.example",
        cc: "",
        subject,
        id,
        reply_to: "",
        when: thu(9, 0),
        auto: false,
        body: "The export fails, please have a look.",
    };
    let reply = |subject: &'static str, id: &'static str, to: &'static str, when, body| Msg {
        from: "dan@jac.example",
        to: BOB,
        cc: TEAM_CC,
        subject,
        id,
        reply_to: to,
        when,
        auto: false,
        body,
    };
    let msgs = vec![
        client("Export question one", "c1@acme.example"),
        reply(
            "Re: Export question one [JAC-1]",
            "d1@jac.example",
            "c1@acme.example",
            thu(9, 50),
            BOTTOM,
        ),
        reply(
            "Re: Export question one [JAC-1]",
            "d1b@jac.example",
            "d1@jac.example",
            thu(10, 58),
            "Re-run finished. Next update by 16:00.",
        ),
        client("Export question two", "c2@acme.example"),
        reply(
            "Re: Export question two [JAC-2]",
            "d2@jac.example",
            "c2@acme.example",
            thu(9, 50),
            BOTTOM,
        ),
        client("Export question three", "c3@acme.example"),
        reply(
            "Re: Export question three [JAC-3]",
            "d3@jac.example",
            "c3@acme.example",
            thu(9, 50),
            INLINE,
        ),
        reply(
            "Re: Export question three [JAC-3]",
            "d3b@jac.example",
            "d3@jac.example",
            thu(11, 20),
            "Fixed and verified. Next update by 16:00.",
        ),
        client("Export question four", "c4@acme.example"),
        reply(
            "Re: Export question four [JAC-4]",
            "d4@jac.example",
            "c4@acme.example",
            thu(9, 50),
            INLINE,
        ),
    ];
    for db in BOTH {
        let env = Env::new(db, crate::common::ARCHIVE_TRUST);
        import(&env, &msgs);
        // Before the promised times nothing the words decide is broken: the
        // replies state their next update (in the answer below the quote).
        assert_eq!(word_rules(&env, "2026-11-26T10:59:00Z"), vec![], "{db:?}");
        // Each promise breaks at its own time, only where no contact came.
        assert_eq!(
            word_rules(&env, "2026-11-26T12:00:00Z"),
            triples(&[
                ("JAC-2", "promise-kept", "2026-11-26T11:00:00Z"),
                ("JAC-4", "promise-kept", "2026-11-26T11:30:00Z"),
            ]),
            "{db:?}"
        );
    }
}

#[test]
fn outlook_web_html_only_reply_ignores_the_quoted_words() {
    // The golden Outlook-on-the-web reply, dated into the scenario: the
    // quote carries "can't reproduce" and "Next update by 2pm"; the
    // author's own words state no time at all.
    let owa = std::fs::read_to_string(clients_dir().join("outlook-web.eml")).unwrap();
    let owa = owa
        .replace(
            "Date: Thu, 03 Dec 2026 11:20:00 +0000",
            "Date: Thu, 26 Nov 2026 09:50:00 +0000",
        )
        .replace(
            "Message-ID: <outlook-web@clients.test>",
            "Message-ID: <o1@jac.example>\nIn-Reply-To: <c5@acme.example>",
        )
        .replace(
            "Subject: Re: Reports are empty [JAC-10]",
            "Subject: Re: Reports are empty [JAC-1]",
        );
    // A second reply, same format, whose own words make a promise the quote contradicts.
    let owa2 = owa
        .replace(
            "Message-ID: <o1@jac.example>",
            "Message-ID: <o2@jac.example>",
        )
        .replace(
            "Date: Thu, 26 Nov 2026 09:50:00",
            "Date: Thu, 26 Nov 2026 10:20:00",
        )
        .replace("reports will be back shortly.", "I'll update you by 15:00.");
    let client = Msg {
        from: BOB,
        to: "support@jac.example",
        cc: "",
        subject: "Reports are empty",
        id: "c5@acme.example",
        reply_to: "",
        when: thu(9, 0),
        auto: false,
        body: "All reports are empty since this morning.",
    };
    let mut archive = mbox(&[client]);
    for raw in [&owa, &owa2] {
        archive.push_str("From erin@jac.example Thu Nov 26 09:50:00 2026\n");
        archive.push_str(raw);
        archive.push_str("\n\n");
    }
    for db in BOTH {
        let env = Env::new(db, crate::common::ARCHIVE_TRUST);
        let path = env.dir.path().join("owa.mbox");
        std::fs::write(&path, &archive).unwrap();
        let counts: serde_json::Value =
            serde_json::from_str(&onit(&env, &["import", "--json", path.to_str().unwrap()]))
                .unwrap();
        assert_eq!(counts["failed"], 0, "{counts}");
        // The first reply states no time of its own (the quoted 2pm is not
        // its promise) and nothing dismissive is ours; the second reply's
        // own 15:00 is the promise, broken at 15:00, not at the quoted 14:00.
        assert_eq!(
            word_rules(&env, "2026-11-26T16:00:00Z"),
            triples(&[
                ("JAC-1", "next-update-stated", "2026-11-26T09:50:00Z"),
                ("JAC-1", "promise-kept", "2026-11-26T15:00:00Z"),
            ]),
            "{db:?}"
        );
    }
}
