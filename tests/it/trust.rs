//! Trust (issue 11): the attacks that used to work, each tried again on both
//! databases with `trust.team = "authenticated"` (the default). The genuine
//! team mail of every other test carries our test border's
//! Authentication-Results (`Mail`); here the attacker's does not (`forged`).

use chrono::{DateTime, Utc};
use onit::config::Runtime;
use onit::store::{OutboxRow, Store};

use crate::common::{at, feed, Env, Mail, BOTH};

fn date(t: DateTime<Utc>) -> String {
    t.to_rfc2822()
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

async fn kinds_of(store: &Store, ticket_id: i64) -> Vec<String> {
    store
        .events(ticket_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind.as_str().to_string())
        .collect()
}

/// Bob at acme opens JAC-1 at 10:00 (proven sender: acknowledged).
async fn open_jac1(store: &Store, rt: &Runtime) -> i64 {
    let t0 = at(2026, 11, 26, 10, 0);
    let m = Mail::new(
        "Bob Client <bob@acme.example>",
        "support@jac.example",
        "Checkout page is down",
        "c1@acme.example",
    )
    .h("Date", &date(t0))
    .body("Our production checkout is down.\n");
    let out = feed(store, rt, &m, t0).await;
    assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
    assert!(out.ack_queued);
    store.ticket_by_number(1).await.unwrap().unwrap().id
}

fn forged_close(id: &str) -> Mail {
    Mail::new(
        "Eng One <eng1@jac.example>",
        "support@jac.example",
        "Re: Checkout page is down [JAC-1]",
        id,
    )
    .h("Date", &date(at(2026, 11, 26, 10, 30)))
    .body(
        "#cause Customer misconfiguration\n#resolution Customer must wire the fee to https://evil.example/pay\n\
         #prevention Pay promptly\n#close\n",
    )
    .forged()
}

#[tokio::test]
async fn a_forged_close_closes_nothing_and_mails_nothing() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_jac1(&store, &rt).await;
        let out = feed(
            &store,
            &rt,
            &forged_close("f1@evil.example"),
            at(2026, 11, 26, 10, 30),
        )
        .await;
        assert_eq!(
            out.class.map(|c| c.as_str()),
            Some("impersonation"),
            "{db:?}"
        );
        // Two From: fields (the parser used the last one) fail even with a passing field.
        let two_from = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Checkout page is down [JAC-1]",
            "f2@evil.example",
        )
        .h("From", "eng1@jac.example")
        .h("Date", &date(at(2026, 11, 26, 10, 31)))
        .body("#resolution pay us\n#close\n");
        let out2 = feed(&store, &rt, &two_from, at(2026, 11, 26, 10, 31)).await;
        assert_eq!(
            out2.class.map(|c| c.as_str()),
            Some("impersonation"),
            "{db:?}"
        );

        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "open", "{db:?}");
        let kinds = kinds_of(&store, tid).await;
        assert!(
            !kinds
                .iter()
                .any(|k| k.ends_with("_set") || k == "report_stored"),
            "{db:?}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "impersonation").count(),
            2,
            "{kinds:?}"
        );
        assert!(
            outbox_of(&store, "report").await.is_empty(),
            "{db:?}: no report"
        );
        assert!(
            outbox_of(&store, "command_reply").await.is_empty(),
            "{db:?}: no reply"
        );
        // One alert for the incident, with one mail to the operators.
        let alerts = onit::alerts::open(&store).await.unwrap();
        let imp: Vec<_> = alerts
            .iter()
            .filter(|a| a.kind == "impersonation")
            .collect();
        assert_eq!(imp.len(), 1, "{db:?}: {alerts:?}");
        assert_eq!(imp[0].subject, "eng1@jac.example");
        assert_eq!(outbox_of(&store, "alert").await.len(), 1, "{db:?}");
        // The verdict is shown per event.
        let ev = store.events(tid).await.unwrap();
        let e = ev
            .iter()
            .find(|e| e.kind.as_str() == "impersonation")
            .unwrap();
        assert_eq!(e.auth.map(|a| a.as_str()), Some("none"), "{e:?}");
        let opened = ev.iter().find(|e| e.kind.as_str() == "opened").unwrap();
        assert_eq!(opened.auth.map(|a| a.as_str()), Some("pass"), "{opened:?}");

        // The genuine engineer's close, proven by our border, works as before.
        let genuine = Mail::new(
            "Eng One <eng1@jac.example>",
            "support@jac.example",
            "Re: Checkout page is down [JAC-1]",
            "g1@jac.example",
        )
        .h("Date", &date(at(2026, 11, 26, 11, 0)))
        .body("#cause disk full\n#resolution cleaned up\n#prevention alerting\n#close\n");
        feed(&store, &rt, &genuine, at(2026, 11, 26, 11, 0)).await;
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "closed", "{db:?}");
        let report = outbox_of(&store, "report").await;
        assert_eq!(report.len(), 1);
        let raw = String::from_utf8_lossy(&report[0].raw);
        assert!(!raw.contains("evil.example"), "{raw}");
    }
}

#[tokio::test]
async fn forged_updates_with_back_dated_dates_count_for_no_rule() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_jac1(&store, &rt).await;
        let now = at(2026, 11, 27, 17, 0);
        let before = onit::compliance::compliance(&store, &rt, now, None)
            .await
            .unwrap();
        let broken_before = before.violations.len();
        assert!(broken_before > 0, "{db:?}: the scenario breaks rules");
        for i in 0..9 {
            let when = at(2026, 11, 26, 11 + i / 2, (i % 2) * 30);
            let m = Mail::new(
                "Eng One <eng1@jac.example>",
                "bob@acme.example",
                "Re: Checkout page is down [JAC-1]",
                &format!("upd{i}@evil.example"),
            )
            .h("Cc", "pm@jac.example")
            .h("In-Reply-To", "<c1@acme.example>")
            .h("Date", &date(when))
            .body("Update: still investigating. Next update by 17:00.\n")
            .forged();
            // Sent only to support, with the Date: set back a day.
            feed(&store, &rt, &m, now).await;
        }
        let after = onit::compliance::compliance(&store, &rt, now, None)
            .await
            .unwrap();
        assert_eq!(
            after.violations.len(),
            broken_before,
            "{db:?}: {:?}",
            after.violations
        );
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        let kinds = kinds_of(&store, tid).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "impersonation").count(),
            9,
            "{kinds:?}"
        );
        assert!(!kinds.iter().any(|k| k == "contact"), "{kinds:?}");
        // The last contact is still the acknowledgment.
        assert_eq!(
            t.last_contact_at,
            Some(onit::store::to_ms(at(2026, 11, 26, 10, 0))),
            "{db:?}"
        );
    }
}

#[tokio::test]
async fn two_thousand_forged_senders_get_no_acknowledgment_and_hear_nothing_of_their_words() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        for i in 0..2000 {
            let m = Mail::new(
                &format!(
                    "Hello Cheap meds at http://spam.example <victim{i}+x{i}@v{}.example>",
                    i % 400
                ),
                "support@jac.example",
                "Cheap meds at http://spam.example",
                &format!("spam{i}@spam.example"),
            )
            .h("Date", &date(t0))
            .forged();
            feed(&store, &rt, &m, t0).await;
        }
        assert!(
            outbox_of(&store, "ack").await.is_empty(),
            "{db:?}: no backscatter"
        );
        let t = store.ticket_by_number(2000).await.unwrap().unwrap();
        let kinds = kinds_of(&store, t.id).await;
        assert!(kinds.iter().any(|k| k == "ack_held"), "{kinds:?}");
    }
}

#[tokio::test]
async fn with_acknowledge_any_the_caps_hold_and_nothing_is_echoed() {
    for db in BOTH {
        let env = Env::new(
            db,
            "[trust]\nauthserv_ids = [\"mx.onit.test\"]\nacknowledge = \"any\"\n\
             [policy]\nack_rate_per_domain_per_hour = 20\nack_rate_total_per_hour = 200\n",
        );
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        // One address with varied +tags, then many domains.
        for i in 0..30 {
            let m = Mail::new(
                &format!("Hello Cheap meds <bob+{i}@acme.example>"),
                "support@jac.example",
                "Cheap meds at http://spam.example",
                &format!("tag{i}@spam.example"),
            )
            .h("Date", &date(t0))
            .forged();
            feed(&store, &rt, &m, t0).await;
        }
        assert_eq!(
            outbox_of(&store, "ack").await.len(),
            5,
            "{db:?}: ack_rate_per_hour counts bob without +tags"
        );
        // Many addresses at one domain.
        for i in 0..30 {
            let m = Mail::new(
                &format!("user{i}@big.example"),
                "support@jac.example",
                "Cheap meds at http://spam.example",
                &format!("big{i}@spam.example"),
            )
            .h("Date", &date(t0))
            .forged();
            feed(&store, &rt, &m, t0).await;
        }
        assert_eq!(
            outbox_of(&store, "ack").await.len(),
            25,
            "{db:?}: ack_rate_per_domain_per_hour"
        );
        // Many domains: the total cap.
        for i in 0..400 {
            let m = Mail::new(
                &format!("x{i}@d{}.example", i % 40),
                "support@jac.example",
                "Cheap meds at http://spam.example",
                &format!("dom{i}@spam.example"),
            )
            .h("Date", &date(t0))
            .forged();
            feed(&store, &rt, &m, t0).await;
        }
        let acks = outbox_of(&store, "ack").await;
        assert_eq!(acks.len(), 200, "{db:?}: ack_rate_total_per_hour");
        for a in &acks {
            let raw = String::from_utf8_lossy(&a.raw);
            // Neither the subject nor the display name comes back (the Message-ID
            // cited in In-Reply-To is the sender's, not their words).
            assert!(!raw.contains("Cheap meds"), "{raw}");
            assert!(!raw.contains("http://spam.example"), "{raw}");
        }
    }
}

#[tokio::test]
async fn forged_pm_commands_get_no_reply_and_a_genuine_one_only_its_command_word() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        open_jac1(&store, &rt).await;
        for i in 0..100 {
            let m = Mail::new(
                "pm@jac.example",
                "support@jac.example",
                "Re: Checkout page is down [JAC-1]",
                &format!("phish{i}@evil.example"),
            )
            .h("Date", &date(at(2026, 11, 26, 10, 10)))
            .body("#urgent Your mailbox is full: log in at https://evil.example/login\n")
            .forged();
            feed(&store, &rt, &m, at(2026, 11, 26, 10, 10)).await;
        }
        assert!(
            outbox_of(&store, "command_reply").await.is_empty(),
            "{db:?}"
        );
        // The genuine PM gets replies, rate-limited, with only the command word.
        for i in 0..8 {
            let m = Mail::new(
                "pm@jac.example",
                "support@jac.example",
                "Re: Checkout page is down [JAC-1]",
                &format!("pm{i}@jac.example"),
            )
            .h("Date", &date(at(2026, 11, 26, 10, 20)))
            .body("#urgent log in at https://evil.example/login\n");
            feed(&store, &rt, &m, at(2026, 11, 26, 10, 20)).await;
        }
        let replies = outbox_of(&store, "command_reply").await;
        assert_eq!(replies.len(), 5, "{db:?}: command_replies_per_hour");
        let raw = String::from_utf8_lossy(&replies[0].raw);
        assert!(raw.contains("#urgent"), "{raw}");
        assert!(!raw.contains("evil.example"), "{raw}");
    }
}

#[tokio::test]
async fn a_stranger_citing_a_ticket_opens_a_linked_one_and_joins_nothing() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let tid = open_jac1(&store, &rt).await;
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        let ack_id = t.ack_message_id.clone().expect("acknowledged");
        let m = Mail::new(
            "mallory@evil.example",
            "support@jac.example",
            "Re: Checkout page is down",
            "m1@evil.example",
        )
        .h("In-Reply-To", &format!("<{ack_id}>"))
        .h("Date", &date(at(2026, 11, 26, 10, 40)));
        let out = feed(&store, &rt, &m, at(2026, 11, 26, 10, 40)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-2"), "{db:?}");
        let t2 = store.ticket_by_number(2).await.unwrap().unwrap();
        assert_eq!(t2.linked_ticket_id, Some(tid));
        let mut tx = store.begin().await.unwrap();
        assert!(!tx
            .is_participant(tid, "mallory@evil.example")
            .await
            .unwrap());
        drop(tx);
        // Bob's colleague may join JAC-1; another client's address in Cc may not.
        let m = Mail::new(
            "carol@acme.example",
            "support@jac.example",
            "Re: Checkout page is down [JAC-1]",
            "c2@acme.example",
        )
        .h("In-Reply-To", &format!("<{ack_id}>"))
        .h("Cc", "eve@other-client.example")
        .h("Date", &date(at(2026, 11, 26, 10, 50)));
        let out = feed(&store, &rt, &m, at(2026, 11, 26, 10, 50)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.is_participant(tid, "carol@acme.example").await.unwrap());
        assert!(!tx
            .is_participant(tid, "eve@other-client.example")
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn a_message_id_that_only_looks_like_ours_is_a_clients_message() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let m = Mail::new(
            "dora@client.example",
            "support@jac.example",
            "Printer on fire",
            "onit.ack.0123456789abcdef@jac.example",
        )
        .h("Date", &date(at(2026, 11, 26, 9, 0)));
        let out = feed(&store, &rt, &m, at(2026, 11, 26, 9, 0)).await;
        assert_eq!(out.class.map(|c| c.as_str()), Some("client"), "{db:?}");
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
    }
}

#[tokio::test]
async fn header_trust_keeps_the_old_behaviour_and_says_so() {
    let env = Env::new(
        crate::common::Db::Sqlite,
        "[trust]\nteam = \"header\"\nacknowledge = \"any\"\n",
    );
    let rt = env.runtime();
    assert!(rt.trust.header_trust_warning().is_some());
    let store = env.store().await;
    open_jac1(&store, &rt).await;
    feed(
        &store,
        &rt,
        &forged_close("f1@evil.example"),
        at(2026, 11, 26, 10, 30),
    )
    .await;
    let t = store.ticket_by_number(1).await.unwrap().unwrap();
    assert_eq!(t.status.as_str(), "closed", "header trust believes From:");
    // check-config, status and the digest say so.
    let out = crate::common::onit_command(&env, &["check-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: trust.team = \"header\""), "{err}");
    let status = crate::common::expect_ok(
        &["status"],
        crate::common::onit_command(&env, &["status"])
            .output()
            .unwrap(),
    );
    assert!(
        status.contains("WARNING   trust.team = \"header\""),
        "{status}"
    );
    let digest = crate::common::expect_ok(
        &["digest"],
        crate::common::onit_command(
            &env,
            &[
                "digest",
                "daily",
                "--pm",
                "alice.pm@jac.example",
                "--at",
                "2026-11-26T17:00:00Z",
                "--print",
            ],
        )
        .output()
        .unwrap(),
    );
    assert!(
        digest.contains("Warning: trust.team = \"header\""),
        "{digest}"
    );
}

/// The demo (config/demo.toml and its sample mail): its receiving server's verdicts
/// let the genuine mail through, refuse the mail forged in Dan's name, and hold the
/// acknowledgment of the stranger whose domain proves nothing.
#[test]
fn the_demo_refuses_its_forged_engineer_mail() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    let mut files: Vec<_> = std::fs::read_dir(root.join("config/demo/mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files
        .iter()
        .any(|f| f.ends_with("10-forged-engineer-close.eml")));
    // Read in order: the Maildir source goes by modification time.
    let base = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    for (i, f) in files.iter().enumerate() {
        let dest = md
            .join("new")
            .join(format!("{}.demo{i}.host", 1_700_000_000 + i));
        std::fs::copy(f, &dest).unwrap();
        let t = base + std::time::Duration::from_secs(5 * i as u64);
        std::fs::File::options()
            .write(true)
            .open(&dest)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(crate::common::onit_bin());
        c.arg("--config")
            .arg(root.join("config/demo.toml"))
            .args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("ONIT__") {
                c.env_remove(k);
            }
        }
        c.env(
            "ONIT__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("onit.db").display()),
        )
        .env("ONIT__MAILBOX__MAILDIR", &md)
        .env("ONIT__OUTGOING__DIR", dir.path().join("out"));
        crate::common::expect_ok(args, c.output().unwrap())
    };
    run(&["run", "--once"]);
    let t: serde_json::Value = serde_json::from_str(&run(&["ticket", "JAC-1", "--json"])).unwrap();
    assert_eq!(t["status"], "open", "{t}");
    let kinds: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"impersonation"), "{kinds:?}");
    assert!(
        kinds.contains(&"contact"),
        "Dan's genuine update counts: {kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k.ends_with("_set")), "{kinds:?}");
    let forged = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "impersonation")
        .unwrap();
    assert_eq!(forged["auth"], "fail", "{forged}");
    // The stranger's ticket: opened, acknowledgment held for a person.
    let all: serde_json::Value = serde_json::from_str(&run(&["tickets", "--json"])).unwrap();
    let stranger = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["reporter"] == "someone@unknown.example")
        .expect("the stranger's ticket");
    let id = stranger["id"].as_str().unwrap().to_string();
    let st: serde_json::Value = serde_json::from_str(&run(&["ticket", &id, "--json"])).unwrap();
    assert!(
        st["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "ack_held"),
        "{st}"
    );
    // A person releases it.
    let out = run(&["ticket", &id, "ack"]);
    assert!(out.contains("acknowledgment"), "{out}");
}
