//! `onit run --once` and `onit import` as a user runs them: the real binary, a
//! Maildir, the file transport, on SQLite and PostgreSQL; and crashes at the
//! worst moments (an abort, like `kill -9`) that must lose nothing and send nothing twice.

use std::process::{Command, Output};

use onit::mailstore::Maildir;

use crate::common::{expect_ok, onit_bin, onit_command, Env, Mail, BOTH};

fn onit(env: &Env, args: &[&str], fault: Option<&str>) -> Output {
    let mut c = onit_command(env, args);
    if let Some(f) = fault {
        c.env("ONIT_FAULT", f);
    }
    c.output().expect("run onit")
}

fn ok(env: &Env, args: &[&str]) -> String {
    expect_ok(args, onit(env, args, None))
}

fn tickets(env: &Env) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(env, &["tickets", "--json"])).expect("tickets --json is JSON")
}

fn count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

fn fill(md: &Maildir) {
    let mails = [
        Mail::new(
            "Bob <bob@acme.example>",
            "support@jac.example",
            "Checkout down",
            "m1@acme.example",
        )
        .body("Production checkout is down.\n"),
        Mail::new(
            "carol@beta.example",
            "support@jac.example",
            "Typo on pricing page",
            "m2@beta.example",
        ),
        Mail::new(
            "dave@acme.example",
            "support@jac.example",
            "Export: workaround for now",
            "m3@acme.example",
        )
        .body("For now we can export by hand.\n"),
        Mail::new(
            "MAILER-DAEMON@mx.example",
            "support@jac.example",
            "Undelivered Mail Returned to Sender",
            "b1@mx.example",
        ),
        Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Automatic reply: holiday",
            "o1@acme.example",
        )
        .h("Auto-Submitted", "auto-replied"),
        Mail::new(
            "list@lists.example",
            "support@jac.example",
            "[announce] release",
            "l1@lists.example",
        )
        .h("List-Id", "<announce.lists.example>"),
    ];
    for m in mails {
        md.deliver(&m.bytes()).unwrap();
    }
}

#[test]
fn run_once_acknowledges_each_new_thread_once() {
    for db in BOTH {
        let env = Env::new(db, "");
        let md = Maildir::open(&env.maildir()).unwrap();
        fill(&md);
        ok(&env, &["run", "--once"]);
        let ts = tickets(&env);
        assert_eq!(ts.len(), 3, "{db:?}: {ts:?}");
        let prios: Vec<&str> = ts.iter().map(|t| t["priority"].as_str().unwrap()).collect();
        assert_eq!(prios, vec!["urgent", "medium", "high"]);
        for t in &ts {
            for field in [
                "id",
                "subject",
                "reporter",
                "project",
                "priority",
                "priority_reason",
                "status",
                "opened_at",
                "last_contact_at",
                "next_due_at",
            ] {
                assert!(t.get(field).is_some(), "missing {field} in {t}");
            }
            assert_eq!(t["status"], "open");
            assert!(
                t["last_contact_at"].is_string(),
                "the acknowledgment is a contact: {t}"
            );
        }
        let files = env.sent_files();
        assert_eq!(files.len(), 3, "one .eml per ticket");
        for f in &files {
            let raw = std::fs::read_to_string(f).unwrap();
            assert!(raw.contains("Auto-Submitted: auto-replied"));
            assert!(raw.contains("In-Reply-To: <m"));
            assert!(raw.contains("Next update: by"));
        }
        assert_eq!(count(&md.root().join("new")), 0);
        assert_eq!(count(&md.root().join("cur")), 6);

        // A second run sends nothing.
        ok(&env, &["run", "--once"]);
        assert_eq!(env.sent_files().len(), 3);

        // The client answers the acknowledgment: it threads, no new ticket, no new acknowledgment.
        let first = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .find(|r| r.contains("[JAC-1]"))
            .unwrap();
        let ack_id = first
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap()
            .trim()
            .to_string();
        md.deliver(
            &Mail::new(
                "bob@acme.example",
                "support@jac.example",
                "Re: Checkout down [JAC-1]",
                "m4@acme.example",
            )
            .h("In-Reply-To", &ack_id)
            .bytes(),
        )
        .unwrap();
        // And a stranger guesses a tag: a ticket of their own.
        md.deliver(
            &Mail::new(
                "mallory@evil.example",
                "support@jac.example",
                "Re: Checkout down [JAC-1]",
                "x1@evil.example",
            )
            .bytes(),
        )
        .unwrap();
        ok(&env, &["run", "--once"]);
        let ts = tickets(&env);
        assert_eq!(ts.len(), 4);
        assert_eq!(ts[3]["reporter"], "mallory@evil.example");
        assert_eq!(env.sent_files().len(), 4);
        let detail: serde_json::Value =
            serde_json::from_str(&ok(&env, &["ticket", "JAC-1", "--json"])).unwrap();
        let kinds: Vec<&str> = detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "client_message").count(),
            1,
            "{kinds:?}"
        );
        assert!(kinds.contains(&"ack_sent"), "{kinds:?}");
    }
}

#[test]
fn a_crash_at_any_step_loses_nothing_and_sends_nothing_twice() {
    for db in BOTH {
        for fault in [
            "maildir-after-commit",
            "outbox-after-claim",
            "outbox-after-send",
        ] {
            let env = Env::new(db, "");
            let md = Maildir::open(&env.maildir()).unwrap();
            fill(&md);
            let crashed = onit(&env, &["run", "--once"], Some(fault));
            assert!(
                !crashed.status.success(),
                "{fault}: the fault point must abort the process"
            );
            // Restart until it gets through (each fault fires once per process at most once more).
            ok(&env, &["run", "--once"]);
            ok(&env, &["run", "--once"]);
            let ts = tickets(&env);
            assert_eq!(ts.len(), 3, "{db:?} {fault}: {ts:?}");
            assert_eq!(
                env.sent_files().len(),
                3,
                "{db:?} {fault}: exactly one acknowledgment per ticket"
            );
            assert_eq!(count(&md.root().join("new")), 0, "{fault}");
            assert_eq!(count(&md.root().join("cur")), 6, "{fault}");
            let status: serde_json::Value =
                serde_json::from_str(&ok(&env, &["status", "--json"])).unwrap();
            assert_eq!(status["outbox"]["pending"], 0, "{fault}: {status}");
            assert_eq!(status["outbox"]["sending"], 0, "{fault}: {status}");
            // Acknowledgments exactly once each. (Digests and reminders depend on the wall
            // clock, which this test does not control, so they are not counted here.)
            let rt = env.runtime();
            let acks = tokio::runtime::Runtime::new().unwrap().block_on(async {
                let store = onit::store::Store::open(&rt.database_url, 2).await.unwrap();
                let rows = store.outbox_all().await.unwrap();
                store.close().await;
                rows.into_iter()
                    .filter(|o| o.kind.as_str() == "ack")
                    .map(|o| o.status.as_str())
                    .collect::<Vec<_>>()
            });
            assert_eq!(acks, vec!["sent"; 3], "{fault}");
        }
    }
}

#[test]
fn import_of_an_mbox_sends_nothing_and_lists_tickets() {
    for db in BOTH {
        let env = Env::new(db, crate::common::ARCHIVE_TRUST);
        let mbox = env.dir.path().join("archive.mbox");
        let mut text = String::new();
        let parts = [
            ("bob@acme.example", "support@jac.example", "Login broken", "i1@acme.example", "Tue, 3 Nov 2026 09:10:00 +0000", ""),
            ("support@jac.example", "bob@acme.example", "Re: Login broken [JAC-1]", "i2@jac.example", "Tue, 3 Nov 2026 09:10:20 +0000", "Auto-Submitted: auto-replied\nIn-Reply-To: <i1@acme.example>\nCc: alice.pm@jac.example\n"),
            ("dan@jac.example", "bob@acme.example", "Re: Login broken [JAC-1]", "i3@jac.example", "Tue, 3 Nov 2026 11:00:00 +0000", "In-Reply-To: <i2@jac.example>\nCc: support@jac.example\n"),
            ("eve@zeta.example", "support@jac.example", "Question about >From lines", "i4@zeta.example", "Wed, 4 Nov 2026 15:00:00 +0000", ""),
        ];
        for (from, to, subj, id, date, extra) in parts {
            let sep = chrono::DateTime::parse_from_rfc2822(date)
                .unwrap()
                .format("%a %b %e %H:%M:%S %Y");
            text.push_str(&format!("From {from} {sep}\nFrom: {from}\nTo: {to}\nSubject: {subj}\nMessage-ID: <{id}>\nDate: {date}\n{extra}\nbody of {id}\n>From the archive\n\n"));
        }
        std::fs::write(&mbox, text).unwrap();
        let out = ok(&env, &["import", "--json", mbox.to_str().unwrap()]);
        let counts: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(counts["messages"], 4, "{db:?}: {counts}");
        assert_eq!(counts["tickets"], 2, "{counts}");
        assert_eq!(counts["threaded"], 2, "{counts}");
        assert_eq!(counts["duplicates"], 0, "{counts}");
        // Importing the same archive again: all duplicates.
        let again: serde_json::Value =
            serde_json::from_str(&ok(&env, &["import", "--json", mbox.to_str().unwrap()])).unwrap();
        assert_eq!(again["duplicates"], 4, "{again}");
        assert!(env.sent_files().is_empty(), "import never sends");
        let ts = tickets(&env);
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0]["id"], "JAC-1");
        assert_eq!(ts[0]["opened_at"], "2026-11-03T09:10:00Z");
        assert_eq!(ts[0]["last_contact_at"], "2026-11-03T11:00:00Z");
        assert_eq!(ts[1]["id"], "JAC-2");
        // A run afterwards does not acknowledge history.
        ok(&env, &["run", "--once"]);
        assert!(env.sent_files().is_empty());
    }
}

#[test]
fn check_config_names_the_key() {
    let env = Env::new(crate::common::Db::Sqlite, "");
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[calendar]\ntimezone = \"Mars/Olympus\"\n[team]\ndefault_pm = \"\"\ncolour = 3\n",
    )
    .unwrap();
    let out = Command::new(onit_bin())
        .args(["check-config", "--json", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every error at once, in the file's order: the unknown key hides nothing.
    let keys: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        vec!["calendar.timezone", "team.default_pm", "team.colour"],
        "{v}"
    );
    std::fs::write(
        &bad,
        "[calendar]\ntimezone = \"Mars/Olympus\"\n[team]\ndefault_pm = \"\"\n",
    )
    .unwrap();
    let out = Command::new(onit_bin())
        .args(["check-config", "--json", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"calendar.timezone") && keys.contains(&"team.default_pm"),
        "{v}"
    );
    let good = Command::new(onit_bin())
        .args(["check-config", "--config"])
        .arg(&env.config_path)
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}

/// Makes the database refuse to store one message (its Message-ID contains
/// `poison`), as a constraint, a full disk or a driver error would: no fault hook
/// in onit, the failure comes from the database itself (a trigger, on SQLite or
/// PostgreSQL).
pub async fn poison_messages(store: &onit::store::Store) {
    match store {
        onit::store::Store::Sqlite { writer, .. } => {
            sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.message_id LIKE '%poison%' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END",
            )
            .execute(writer)
            .await
            .expect("create trigger");
        }
        onit::store::Store::Postgres(pool) => {
            sqlx::raw_sql(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.message_id LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned by the test'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison();",
            )
            .execute(pool)
            .await
            .expect("create trigger");
        }
    }
}

/// Lifts [`poison_messages`].
pub async fn cure_messages(store: &onit::store::Store) {
    let onit::store::Store::Sqlite { writer, .. } = store else {
        panic!("cure_messages is written for SQLite");
    };
    sqlx::query("DROP TRIGGER poison")
        .execute(writer)
        .await
        .expect("drop trigger");
}

#[test]
fn a_maildir_message_that_cannot_be_stored_stays_in_new_and_blocks_nothing() {
    let env = Env::new(crate::common::Db::Sqlite, "");
    let md = Maildir::open(&env.maildir()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(env.store());
    rt.block_on(poison_messages(&store));
    for (id, subject) in [
        ("good1@acme.example", "Checkout down"),
        ("poison@acme.example", "Invoices missing"),
        ("good2@acme.example", "Login slow"),
    ] {
        md.deliver(
            &Mail::new("Bob <bob@acme.example>", "support@jac.example", subject, id).bytes(),
        )
        .unwrap();
    }
    let out = onit(&env, &["run", "--once"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a message that failed must fail the run"
    );
    assert!(
        err.contains("1 message(s) could not be stored; they stay in new/"),
        "{err}"
    );
    // The other two went through; the poisoned one waits, whole, in new/.
    assert_eq!(tickets(&env).len(), 2);
    assert_eq!(count(&md.root().join("new")), 1);
    assert_eq!(count(&md.root().join("cur")), 2);
    assert_eq!(env.sent_files().len(), 2);
    let status = ok(&env, &["status"]);
    assert!(status.contains("could not be stored"), "{status}");

    // The cause is mended: the next run stores it, and nothing twice.
    rt.block_on(cure_messages(&store));
    ok(&env, &["run", "--once"]);
    assert_eq!(tickets(&env).len(), 3);
    assert_eq!(count(&md.root().join("new")), 0);
    assert_eq!(env.sent_files().len(), 3);
    rt.block_on(store.close());
}
