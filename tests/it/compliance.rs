//! POLICY's rules end to end: import a realistic archive, run `onit compliance
//! --json` at a chosen instant, compare with the verdicts POLICY gives (rule,
//! ticket, and the exact time it broke); an archive that keeps every rule must
//! report nothing; reminders under a fake clock come before the deadline, once.

use std::process::Command;

use chrono::{DateTime, Duration, Utc};

use crate::common::{at, onit_bin, Db, Env, BOTH};

/// One archived message, written into an mbox with a matching `From ` line.
pub(crate) struct Msg<'a> {
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) cc: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) id: &'a str,
    pub(crate) reply_to: &'a str,
    pub(crate) when: DateTime<Utc>,
    pub(crate) auto: bool,
    pub(crate) body: &'a str,
}

pub(crate) fn mbox(msgs: &[Msg<'_>]) -> String {
    let mut out = String::new();
    for m in msgs {
        out.push_str(&format!(
            "From {} {}\n",
            m.from,
            m.when.format("%a %b %e %H:%M:%S %Y")
        ));
        out.push_str(&format!("From: {}\nTo: {}\n", m.from, m.to));
        if !m.cc.is_empty() {
            out.push_str(&format!("Cc: {}\n", m.cc));
        }
        out.push_str(&format!(
            "Subject: {}\nMessage-ID: <{}>\nDate: {}\n",
            m.subject,
            m.id,
            m.when.to_rfc2822()
        ));
        if !m.reply_to.is_empty() {
            out.push_str(&format!(
                "In-Reply-To: <{}>\nReferences: <{}>\n",
                m.reply_to, m.reply_to
            ));
        }
        if m.auto {
            out.push_str("Auto-Submitted: auto-replied\n");
        }
        out.push('\n');
        out.push_str(m.body);
        out.push_str("\n\n");
    }
    out
}

pub(crate) fn onit(env: &Env, args: &[&str]) -> String {
    let mut c = Command::new(onit_bin());
    c.arg("--config")
        .arg(&env.config_path)
        .args(args)
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("ONIT__") || k == "ONIT_FAULT" {
            c.env_remove(k);
        }
    }
    let out = c.output().expect("run onit");
    assert!(
        out.status.success(),
        "onit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

pub(crate) fn import(env: &Env, msgs: &[Msg<'_>]) {
    let path = env.dir.path().join("archive.mbox");
    std::fs::write(&path, mbox(msgs)).unwrap();
    let counts: serde_json::Value =
        serde_json::from_str(&onit(env, &["import", "--json", path.to_str().unwrap()])).unwrap();
    assert_eq!(counts["failed"], 0, "{counts}");
}

pub(crate) fn violations(env: &Env, at_: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&onit(env, &["compliance", "--json", "--at", at_])).unwrap();
    v["violations"]
        .as_array()
        .expect("violations array")
        .iter()
        .map(|x| {
            (
                x["ticket"].as_str().unwrap().to_string(),
                x["rule"].as_str().unwrap().to_string(),
                x["at"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub(crate) const BOB: &str = "bob@acme.example";
pub(crate) const PM: &str = "alice.pm@jac.example";
pub(crate) const SUPPORT: &str = "support@jac.example";

/// Thursday 26 November 2026 (London is on GMT, so local = UTC).
pub(crate) fn thu(h: u32, m: u32) -> DateTime<Utc> {
    at(2026, 11, 26, h, m)
}

pub(crate) fn breaking_archive() -> Vec<Msg<'static>> {
    let cc_pm = "support@jac.example, alice.pm@jac.example";
    vec![
        // JAC-1, urgent: acknowledged two minutes late.
        Msg { from: BOB, to: SUPPORT, cc: "", subject: "Production checkout down", id: "a1@acme.example", reply_to: "", when: thu(9, 0), auto: false, body: "Checkout is down for all customers." },
        Msg { from: SUPPORT, to: BOB, cc: PM, subject: "Re: Production checkout down [JAC-1]", id: "ack1@jac.example", reply_to: "a1@acme.example", when: thu(9, 2), auto: true, body: "We're on it.\n\nNext update: by today at 10:02 GMT." },
        Msg { from: "dan@jac.example", to: BOB, cc: cc_pm, subject: "Re: Production checkout down [JAC-1]", id: "u1@jac.example", reply_to: "ack1@jac.example", when: thu(9, 50), auto: false, body: "We are reading the payment logs. Next update by 11:00." },
        // An internal note is not a contact: it does not stop the urgent clock.
        Msg { from: "dan@jac.example", to: PM, cc: "", subject: "Re: Production checkout down [JAC-1]", id: "n1@jac.example", reply_to: "u1@jac.example", when: thu(10, 30), auto: false, body: "Internal: looks like the certificate chain." },
        // Silent from 09:50 to 13:30: promise (11:00) broken, urgent-hourly broken at 12:50.
        // This update leaves the PM out and is dismissive.
        Msg { from: "dan@jac.example", to: BOB, cc: SUPPORT, subject: "Re: Production checkout down [JAC-1]", id: "u2@jac.example", reply_to: "u1@jac.example", when: thu(13, 30), auto: false, body: "Honestly we can't reproduce it on staging. I'll update you by 15:00.\n\nOn Thu, Bob wrote:\n> Next update by 9am please" },
        Msg { from: "dan@jac.example", to: BOB, cc: cc_pm, subject: "Re: Production checkout down [JAC-1]", id: "u3@jac.example", reply_to: "u2@jac.example", when: thu(14, 55), auto: false, body: "Fixed: the intermediate certificate is back. Next update by end of day." },
        // JAC-2, high: acknowledged in time; the lunchtime update states no next update; no end-of-day window contact.
        Msg { from: "dave@gamma.example", to: SUPPORT, cc: "", subject: "Export broken, workaround for now", id: "g1@gamma.example", reply_to: "", when: thu(11, 0), auto: false, body: "The export is broken; for now we can copy by hand." },
        Msg { from: SUPPORT, to: "dave@gamma.example", cc: "pm@jac.example", subject: "Re: Export broken, workaround for now [JAC-2]", id: "ack2@jac.example", reply_to: "g1@gamma.example", when: at(2026, 11, 26, 11, 0) + Duration::seconds(20), auto: true, body: "We're on it.\n\nNext update: by today at 13:30 GMT." },
        Msg { from: "erin@jac.example", to: "dave@gamma.example", cc: "support@jac.example, pm@jac.example", subject: "Re: Export broken, workaround for now [JAC-2]", id: "g2@jac.example", reply_to: "ack2@jac.example", when: thu(12, 30), auto: false, body: "We are looking into the export job." },
    ]
}

#[test]
fn each_rule_breaks_at_the_time_policy_gives() {
    for db in BOTH {
        let env = Env::new(db, crate::common::ARCHIVE_TRUST);
        import(&env, &breaking_archive());
        let got = violations(&env, "2026-11-26T17:00:00Z");
        let expected: Vec<(String, String, String)> = [
            ("JAC-1", "first-response", "2026-11-26T09:01:00Z"),
            ("JAC-1", "promise-kept", "2026-11-26T11:00:00Z"),
            ("JAC-2", "next-update-stated", "2026-11-26T12:30:00Z"),
            ("JAC-1", "urgent-hourly", "2026-11-26T12:50:00Z"),
            ("JAC-1", "dismissive-language", "2026-11-26T13:30:00Z"),
            ("JAC-1", "pm-cc", "2026-11-26T13:30:00Z"),
            ("JAC-1", "promise-kept", "2026-11-26T16:30:00Z"),
            ("JAC-2", "high-checkpoints", "2026-11-26T16:30:00Z"),
        ]
        .iter()
        .map(|(t, r, a)| (t.to_string(), r.to_string(), a.to_string()))
        .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        let mut exp_sorted = expected.clone();
        exp_sorted.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        assert_eq!(got_sorted, exp_sorted, "{db:?}");
        // Ordered by time in the output.
        let times: Vec<&String> = got.iter().map(|v| &v.2).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);

        // Earlier, fewer: a rule breaks when its deadline passes, not before.
        let at_noon = violations(&env, "2026-11-26T12:00:00Z");
        let rules: Vec<&str> = at_noon.iter().map(|v| v.1.as_str()).collect();
        assert_eq!(rules, vec!["first-response", "promise-kept"], "{at_noon:?}");
        // And it breaks once: evaluating later does not repeat a violation.
        let friday = violations(&env, "2026-11-27T09:30:00Z");
        assert_eq!(
            friday
                .iter()
                .filter(|v| v.1 == "urgent-hourly" && v.2 == "2026-11-26T12:50:00Z")
                .count(),
            1
        );

        // --since keeps the later ones only.
        let v: serde_json::Value = serde_json::from_str(&onit(
            &env,
            &[
                "compliance",
                "--json",
                "--at",
                "2026-11-26T17:00:00Z",
                "--since",
                "2026-11-26T13:00:00Z",
            ],
        ))
        .unwrap();
        assert_eq!(v["violations"].as_array().unwrap().len(), 4, "{v}");
        // Every open ticket has a next due time and the rule that sets it.
        let open = v["open_tickets"].as_array().unwrap();
        assert_eq!(open.len(), 2, "{v}");
        assert!(
            open.iter()
                .all(|t| t["next_due_at"].is_string() && t["rule"].is_string()),
            "{v}"
        );
    }
}

/// `onit compliance` without `--since` reads the history part by part
/// (`compliance_in_parts`, issue 17): its report must be the one the whole
/// load gave, byte for byte, wherever the parts split the tickets.
#[test]
fn the_whole_history_read_in_parts_gives_the_whole_load_s_report() {
    for db in BOTH {
        let env = Env::new(db, crate::common::ARCHIVE_TRUST);
        import(&env, &breaking_archive());
        import(&env, &keeping_archive());
        let rt = env.runtime();
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let store = env.store().await;
            let at_ = thu(17, 0) + Duration::days(1);
            let histories = onit::compliance::load_histories(&store, false)
                .await
                .unwrap();
            assert!(histories.len() >= 3, "{db:?}: {} tickets", histories.len());
            let whole = onit::compliance::report(&histories, &rt, at_, None);
            assert!(
                whole.violations.len() >= 5,
                "{db:?}: {:?}",
                whole.violations
            );
            let text = onit::compliance::report_text(&whole, &rt);
            let json = serde_json::to_string(&whole).unwrap();
            for per in [1, 2, onit::compliance::TICKETS_PER_PART] {
                let parts = onit::compliance::compliance_in_parts(&store, &rt, at_, per)
                    .await
                    .unwrap();
                assert_eq!(
                    serde_json::to_string(&parts).unwrap(),
                    json,
                    "{db:?}, {per} a part"
                );
                assert_eq!(onit::compliance::report_text(&parts, &rt), text, "{db:?}");
                // As `onit compliance` writes it: merged from the parts' files
                // as it is written, the bytes the whole report printed.
                let count = whole.violations.len();
                assert_eq!(
                    streamed(&store, &rt, at_, per, false).await,
                    (count, text.clone()),
                    "{db:?}, {per} a part"
                );
                assert_eq!(
                    streamed(&store, &rt, at_, per, true).await,
                    (count, serde_json::to_string_pretty(&whole).unwrap()),
                    "{db:?}, {per} a part"
                );
            }
            // The command's default.
            let default = onit::compliance::compliance(&store, &rt, at_, None)
                .await
                .unwrap();
            assert_eq!(serde_json::to_string(&default).unwrap(), json, "{db:?}");
        });
    }
}

/// A whole-history report keeps its parts in `TMPDIR`: with nowhere to keep
/// them, `onit compliance` fails and says where, having printed nothing (no
/// report cut short that looks whole); with `--since` it needs no files.
#[test]
fn a_whole_history_report_with_nowhere_to_keep_its_parts_fails_clearly() {
    let env = Env::new(Db::Sqlite, crate::common::ARCHIVE_TRUST);
    import(&env, &breaking_archive());
    let at_ = "2026-11-27T17:00:00Z";
    let nowhere = env.dir.path().join("no-such-folder");
    let out = crate::common::onit_command(&env, &["compliance", "--at", at_])
        .env("TMPDIR", &nowhere)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("temporary file (TMPDIR)"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let since =
        crate::common::onit_command(&env, &["compliance", "--at", at_, "--since", "2026-11-26"])
            .env("TMPDIR", &nowhere)
            .output()
            .unwrap();
    assert!(
        since.status.success(),
        "{}",
        String::from_utf8_lossy(&since.stderr)
    );
    assert!(String::from_utf8_lossy(&since.stdout).contains("rule(s) broken"));
}

/// The whole-history report as `onit compliance` writes it, merged from its
/// parts' files as it is written (`compliance_parts`): its count, and its text
/// or JSON.
async fn streamed(
    store: &onit::store::Store,
    rt: &onit::config::Runtime,
    at: chrono::DateTime<chrono::Utc>,
    per: u32,
    json: bool,
) -> (usize, String) {
    let parted = onit::compliance_parts::whole_history(store, rt, at, per)
        .await
        .unwrap();
    let count = parted.violations();
    let mut out = Vec::new();
    match json {
        true => parted.write_json(&mut out).unwrap(),
        false => parted.write_text(&mut out, rt).unwrap(),
    }
    (count, String::from_utf8(out).unwrap())
}

#[test]
fn an_archive_that_keeps_every_rule_reports_nothing() {
    let env = Env::new(Db::Sqlite, crate::common::ARCHIVE_TRUST);
    import(&env, &keeping_archive());
    let got = violations(&env, "2026-11-26T16:45:00Z");
    assert!(
        got.is_empty(),
        "a ticket that keeps every rule reports nothing: {got:?}"
    );
}

/// An urgent ticket with hourly updates, each stating the next one: it keeps every rule.
pub(crate) fn keeping_archive() -> Vec<Msg<'static>> {
    let cc = "support@jac.example, alice.pm@jac.example";
    let mut msgs = vec![
        Msg {
            from: BOB,
            to: SUPPORT,
            cc: "",
            subject: "Site down",
            id: "k0@acme.example",
            reply_to: "",
            when: thu(9, 0),
            auto: false,
            body: "Our production site is down.",
        },
        Msg {
            from: SUPPORT,
            to: BOB,
            cc: PM,
            subject: "Re: Site down [JAC-1]",
            id: "kack@jac.example",
            reply_to: "k0@acme.example",
            when: at(2026, 11, 26, 9, 0) + Duration::seconds(30),
            auto: true,
            body: "We're on it.\n\nNext update: by today at 10:00 GMT.",
        },
    ];
    // Hourly updates with the PM in Cc, each stating the next one.
    let hours = [
        (9, 55, "Next update by 10:55."),
        (10, 50, "Next update by 11:50."),
        (11, 45, "Next update by 12:45."),
        (12, 40, "Next update by 13:40."),
        (13, 35, "Next update by 14:35."),
        (14, 30, "Next update by 15:30."),
        (15, 25, "Next update by 16:25."),
        (16, 20, "Next update by 17:20."),
    ];
    let ids: Vec<String> = (0..hours.len())
        .map(|i| format!("k{}@jac.example", i + 1))
        .collect();
    for (i, (h, m, text)) in hours.iter().enumerate() {
        msgs.push(Msg {
            from: "dan@jac.example",
            to: BOB,
            cc,
            subject: "Re: Site down [JAC-1]",
            id: Box::leak(ids[i].clone().into_boxed_str()),
            reply_to: "kack@jac.example",
            when: thu(*h, *m),
            auto: false,
            body: text,
        });
    }
    msgs
}

#[tokio::test]
async fn reminders_come_before_the_deadline_exactly_once() {
    for db in BOTH {
        let env = Env::new(
            db,
            &format!(
                "[policy]\nremind_before_mins = 15\n{}",
                crate::common::ARCHIVE_TRUST
            ),
        );
        let rt = env.runtime();
        let store = env.store().await;
        let msgs = [
            Msg {
                from: BOB,
                to: SUPPORT,
                cc: "",
                subject: "API down",
                id: "r0@acme.example",
                reply_to: "",
                when: thu(10, 0),
                auto: false,
                body: "The API is down.",
            },
            Msg {
                from: "dan@jac.example",
                to: BOB,
                cc: "support@jac.example, alice.pm@jac.example",
                subject: "Re: API down [JAC-1]",
                id: "r1@jac.example",
                reply_to: "r0@acme.example",
                when: thu(10, 1),
                auto: false,
                body: "Looking at it now. Next update by 11:30.",
            },
        ];
        import(&env, &msgs);
        // Urgent: due one business hour after the last contact (11:01), before the 11:30 promise.
        let tick = |h: u32, m: u32| {
            let store = store.clone();
            let rt = rt.clone();
            async move { onit::reminders::tick(&store, &rt, thu(h, m)).await.unwrap() }
        };
        let to_remind = |h: u32, m: u32| {
            let store = store.clone();
            async move {
                let now = thu(h, m);
                store
                    .open_tickets_to_remind(
                        now,
                        now + Duration::minutes(15),
                        onit::policy::rules::first_response::ID,
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|t| t.reference())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(tick(10, 40).await.reminders, 0, "{db:?}: too early");
        assert_eq!(
            to_remind(10, 46).await,
            ["JAC-1"],
            "{db:?}: due within the horizon"
        );
        assert_eq!(tick(10, 46).await.reminders, 1, "15 minutes before 11:01");
        // The key the store builds in SQL is the reminder's own: once queued, the
        // ticket is no longer read by the pass.
        assert!(
            to_remind(10, 50).await.is_empty(),
            "{db:?}: already reminded of"
        );
        assert_eq!(tick(10, 50).await.reminders, 0, "once only");
        assert_eq!(tick(10, 59).await.reminders, 0, "once only");
        let outbox = store.outbox_all().await.unwrap();
        let reminders: Vec<_> = outbox
            .iter()
            .filter(|o| o.kind.as_str() == "reminder")
            .collect();
        assert_eq!(reminders.len(), 1);
        // Never to a client: the team only (team.reminders_to is empty, so the listed engineers).
        assert_eq!(reminders[0].rcpt_to, "contractor@freelance.example");
        let body = onit::message::MailView::parse(&reminders[0].raw).unwrap();
        assert!(
            body.subject.contains("JAC-1") && body.body.contains("11:01"),
            "{} / {}",
            body.subject,
            body.body
        );
        assert!(body.body.contains(BOB), "the client is named");
        // At 16:00 the list of open tickets with no contact today (none on Friday yet).
        let friday = |h: u32, m: u32| {
            let store = store.clone();
            let rt = rt.clone();
            async move {
                onit::reminders::tick(&store, &rt, at(2026, 11, 27, h, m))
                    .await
                    .unwrap()
            }
        };
        assert!(!friday(15, 59).await.open_list);
        assert!(friday(16, 0).await.open_list);
        assert!(!friday(16, 10).await.open_list, "one list a day");
        store.close().await;
    }
}
