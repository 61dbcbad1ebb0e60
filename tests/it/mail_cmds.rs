//! Issue 15, item 6: `onit mail attach ID JAC-n` threads mail that made no ticket
//! onto one, where it counts (a rule it kept reads as kept, the due time moves);
//! refusals change nothing; `onit mail reprocess ID` takes such mail through
//! ingest again with the current configuration, idempotently, and never
//! acknowledges mail older than `mailbox.ack_max_age`. Both databases.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use onit::config::Runtime;
use onit::store::{from_ms, Store};

use crate::common::{at, expect_ok, feed, onit_command, Env, Mail, BOTH};

const CLIENT: &str = "zed@acme.example";

/// The client's mail that opens JAC-1 (a medium ticket) on Thursday 26 November at 10:00.
fn opening() -> Mail {
    Mail::new(
        CLIENT,
        "support@jac.example",
        "Question about invoices",
        "c1@acme.example",
    )
}

/// An engineer's update to the client that names no ticket (no reference, no tag, another subject).
fn stray_update() -> Mail {
    Mail::new("dan@jac.example", CLIENT, "Your invoices", "u1@jac.example")
        .h("Cc", "alice.pm@jac.example")
        .h("Date", "Fri, 27 Nov 2026 11:00:00 +0000")
        .body("Hello Zed,\nthe invoices are being regenerated. Next update by Monday.\n")
}

/// Opens JAC-1 at Thursday 10:00 and sends its acknowledgment 20 s later.
async fn open_jac1(env: &Env, store: &Store, rt: &Runtime) {
    let t0 = at(2026, 11, 26, 10, 0);
    let out = feed(store, rt, &opening(), t0).await;
    assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
    let outbox = env.file_outbox(store, rt);
    outbox
        .deliver_due(t0 + Duration::seconds(20))
        .await
        .unwrap();
}

/// A world with JAC-1 acknowledged and the stray update (Friday 11:00) on no ticket.
async fn jac1_and_a_stray_update(db: crate::common::Db) -> (Env, Runtime, Store) {
    let env = Env::new(db, "");
    let rt = env.runtime();
    let store = env.store().await;
    open_jac1(&env, &store, &rt).await;
    let out = feed(&store, &rt, &stray_update(), at(2026, 11, 27, 11, 0)).await;
    assert_eq!(out.ticket, None, "{db:?}: the update threads nowhere");
    (env, rt, store)
}

/// The rules broken on JAC-1 up to `until`, as `rule@time`.
async fn broken(store: &Store, rt: &Runtime, until: DateTime<Utc>) -> Vec<String> {
    onit::compliance::compliance(store, rt, until, None)
        .await
        .unwrap()
        .violations
        .iter()
        .filter(|v| v.ticket == "JAC-1")
        .map(|v| format!("{}@{}", v.rule, v.at.to_rfc3339()))
        .collect()
}

/// The message's class and ticket number as stored.
async fn stored(store: &Store, id: &str) -> Option<(String, Option<i64>)> {
    let k = store.known_message(id).await.unwrap()?;
    let number = match k.ticket_id {
        Some(tid) => Some(
            store
                .tickets()
                .await
                .unwrap()
                .iter()
                .find(|t| t.id == tid)
                .unwrap()
                .number,
        ),
        None => None,
    };
    Some((k.class, number))
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite { reader, .. } => sqlx::query_scalar::<_, i64>(sql).fetch_one(reader).await,
        Store::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await,
    }
    .expect("count query")
}

/// The configuration file with `edit` applied, written next to it (the same database).
fn changed_config(env: &Env, name: &str, edit: impl Fn(&str) -> String) -> Runtime {
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    let path: PathBuf = env.dir.path().join(name);
    let changed = edit(&text);
    assert_ne!(changed, text, "the edit must change the configuration");
    std::fs::write(&path, changed).unwrap();
    Runtime::load(Some(&path)).expect("the changed configuration validates")
}

#[tokio::test]
async fn attaching_a_stray_update_counts_it_where_it_belongs() {
    for db in BOTH {
        let (env, rt, store) = jac1_and_a_stray_update(db).await;
        let fri_11 = at(2026, 11, 27, 11, 0);
        let fri_12 = at(2026, 11, 27, 12, 0);
        onit::ticket::lifecycle::settle_dues(&store, &rt, fri_12)
            .await
            .unwrap();
        let before = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(
            before.next_due_at.map(from_ms),
            Some(at(2026, 11, 27, 16, 30)),
            "{db:?}: Friday's end-of-day update is due"
        );
        // Left alone, Friday's end-of-day update is broken.
        let fri_17 = at(2026, 11, 27, 17, 0);
        let eod_friday = format!("eod-update@{}", at(2026, 11, 27, 16, 30).to_rfc3339());
        // (The acknowledgment stated Friday 16:30 for the next update: a promise too.)
        let promise = format!("promise-kept@{}", at(2026, 11, 27, 16, 30).to_rfc3339());
        let mut left_alone = broken(&store, &rt, fri_17).await;
        left_alone.sort();
        assert_eq!(left_alone, vec![eod_friday, promise], "{db:?}");

        // The digest names the command.
        let args = [
            "digest",
            "daily",
            "--at",
            "2026-11-27T17:00:00Z",
            "--pm",
            "alice.pm@jac.example",
            "--print",
        ];
        let text = expect_ok(&args, onit_command(&env, &args).output().unwrap());
        // The plain text wraps its lines.
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains("(`onit mail attach u1@jac.example JAC-n`)"),
            "{db:?}: {text}"
        );

        let r = onit::mail_attach::attach(
            &store,
            &rt,
            "<u1@jac.example>",
            1,
            "command line (ops)",
            fri_12,
        )
        .await
        .unwrap();
        assert_eq!(
            (r.ticket.as_str(), r.class, r.counted_as),
            ("JAC-1", "contact", "a team update"),
            "{db:?}"
        );
        // It counts at 11:00, when it was sent: Friday is kept, Monday's update is next.
        let mon_1630 = at(2026, 11, 30, 16, 30);
        assert_eq!(r.next_due_at.map(from_ms), Some(mon_1630), "{db:?}");
        let after = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(after.next_due_at.map(from_ms), Some(mon_1630), "{db:?}");
        assert_eq!(after.last_contact_at.map(from_ms), Some(fri_11), "{db:?}");
        let now_broken = broken(&store, &rt, fri_17).await;
        assert!(
            now_broken.is_empty(),
            "{db:?}: the rules it kept read as kept, and it breaks no other: {now_broken:?}"
        );
        assert_eq!(
            stored(&store, "u1@jac.example").await,
            Some(("contact".into(), Some(1)))
        );
        let events = store.events(after.id).await.unwrap();
        let kinds: Vec<(&str, i64)> = events.iter().map(|e| (e.kind.as_str(), e.at)).collect();
        assert!(
            kinds.contains(&("contact", onit::store::to_ms(fri_11))),
            "{db:?}: {kinds:?}"
        );
        let attached = events
            .iter()
            .find(|e| e.kind.as_str() == "attached")
            .expect("an attached event");
        assert_eq!(attached.at, onit::store::to_ms(fri_12));
        assert_eq!(attached.actor.as_deref(), Some("command line (ops)"));
        assert_eq!(attached.message_id.as_deref(), Some("u1@jac.example"));
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM messages").await,
            3,
            "{db:?}: the client's mail, our acknowledgment, the update: never twice"
        );
        // Nothing was sent for it (only the acknowledgment is in the outbox).
        assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox").await, 1);

        // Attaching it again is refused, naming where it is.
        let err = onit::mail_attach::attach(&store, &rt, "u1@jac.example", 1, "x", fri_12)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("already on JAC-1"), "{db:?}: {err}");
    }
}

#[tokio::test]
async fn attach_refuses_and_changes_nothing() {
    for db in BOTH {
        let (env, rt, store) = jac1_and_a_stray_update(db).await;
        let fri_11 = at(2026, 11, 27, 11, 0);
        let forged = Mail::new("dan@jac.example", CLIENT, "Hi", "f1@jac.example").forged();
        feed(&store, &rt, &forged, fri_11).await;
        // JAC-2, merged into JAC-3; JAC-4, closed.
        for (n, subject) in [(2, "Login broken"), (3, "Login page"), (4, "Old question")] {
            let id = format!("c{n}@acme.example");
            let m = Mail::new(CLIENT, "support@jac.example", subject, &id);
            let out = feed(&store, &rt, &m, at(2026, 11, 26, 11, n)).await;
            assert_eq!(out.ticket, Some(format!("JAC-{n}")));
        }
        let now = at(2026, 11, 27, 12, 0);
        let cli = |n: i64, a: onit::commands::CliAction| {
            let (store, rt) = (store.clone(), rt.clone());
            async move {
                onit::commands::run_cli(&store, &rt, n, a, now)
                    .await
                    .unwrap()
            }
        };
        use onit::commands::CliAction;
        cli(3, CliAction::Merge("JAC-2".into())).await;
        for (field, value) in [
            ("cause", "a typo"),
            ("resolution", "answered"),
            ("prevention", "none needed"),
        ] {
            let (field, value) = (field.to_string(), value.to_string());
            cli(4, CliAction::Set { field, value }).await;
        }
        cli(4, CliAction::Close).await;

        let events = || async { count(&store, "SELECT COUNT(*) FROM events").await };
        let before = events().await;
        let attach = |id: &'static str, n: i64| {
            let (store, rt) = (store.clone(), rt.clone());
            async move {
                onit::mail_attach::attach(&store, &rt, id, n, "command line (ops)", now)
                    .await
                    .unwrap_err()
                    .to_string()
            }
        };
        let cases = [
            ("u1@jac.example", 99, "no ticket JAC-99"),
            ("u1@jac.example", 2, "JAC-2 was merged into JAC-3"),
            ("u1@jac.example", 4, "`onit ticket JAC-4 reopen` first"),
            ("c1@acme.example", 3, "c1@acme.example is already on JAC-1"),
            (
                "nothing@jac.example",
                1,
                "no stored message nothing@jac.example",
            ),
            ("f1@jac.example", 1, "its sender could not prove"),
        ];
        for (id, n, want) in cases {
            let err = attach(id, n).await;
            assert!(err.contains(want), "{db:?}: {id} onto {n}: {err}");
        }
        assert_eq!(events().await, before, "{db:?}: no event recorded");
        assert_eq!(
            stored(&store, "u1@jac.example").await,
            Some(("contact".into(), None)),
            "{db:?}: still on no ticket"
        );
        assert_eq!(
            stored(&store, "c1@acme.example").await,
            Some(("client".into(), Some(1)))
        );
        assert_eq!(
            stored(&store, "f1@jac.example").await,
            Some(("impersonation".into(), None))
        );

        // The command line: exit 1 and the reason on stderr; JSON on success.
        let out = onit_command(&env, &["mail", "attach", "u1@jac.example", "JAC-4"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{db:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("JAC-4 is closed"), "{db:?}: {err}");
        let args = ["mail", "attach", "u1@jac.example", "JAC-1", "--json"];
        let text = expect_ok(&args, onit_command(&env, &args).output().unwrap());
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["ticket"], "JAC-1", "{db:?}: {json}");
        assert_eq!(json["counted_as"], "a team update", "{json}");
        assert_eq!(
            stored(&store, "u1@jac.example").await,
            Some(("contact".into(), Some(1)))
        );
    }
}

#[tokio::test]
async fn reprocess_after_a_trust_fix_makes_an_unproven_update_count_once() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        open_jac1(&env, &store, &rt).await;
        // The engineer's update on JAC-1's subject, but our border server did not
        // vouch for it (a relay we had not listed): refused as unproven, on no ticket.
        let update = Mail::new(
            "dan@jac.example",
            CLIENT,
            "Re: Question about invoices",
            "u2@jac.example",
        )
        .h("Cc", "alice.pm@jac.example")
        .h("Date", "Fri, 27 Nov 2026 11:00:00 +0000")
        .body("Hello Zed,\nthe invoices are being regenerated. Next update by Monday.\n")
        .forged();
        let fri_11 = at(2026, 11, 27, 11, 0);
        let out = feed(&store, &rt, &update, fri_11).await;
        assert_eq!(out.ticket, None, "{db:?}");
        assert_eq!(
            stored(&store, "u2@jac.example").await,
            Some(("impersonation".into(), None))
        );
        let now = at(2026, 11, 27, 12, 0);

        // With the same configuration it stays what it was, stored once.
        let r = onit::mail_reprocess::reprocess(&store, &rt, "u2@jac.example", now)
            .await
            .unwrap();
        assert_eq!(
            (r.disposition, r.class, r.ticket.as_deref()),
            ("unthreaded", Some("impersonation"), None),
            "{db:?}"
        );
        assert!(
            r.text("JAC").contains("still on no ticket"),
            "{}",
            r.text("JAC")
        );
        let messages = count(&store, "SELECT COUNT(*) FROM messages").await;
        assert_eq!(messages, 3, "{db:?}");

        // trust.team = "header": the team's From is believed; the update counts on JAC-1.
        let fixed = changed_config(&env, "fixed.toml", |t| {
            t.replacen("[trust]\n", "[trust]\nteam = \"header\"\n", 1)
        });
        let r = onit::mail_reprocess::reprocess(&store, &fixed, "<u2@jac.example>", now)
            .await
            .unwrap();
        assert_eq!(
            (r.disposition, r.class, r.ticket.as_deref(), r.was.as_str()),
            ("threaded", Some("contact"), Some("JAC-1"), "impersonation"),
            "{db:?}"
        );
        assert_eq!(r.taken_as, "live");
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.last_contact_at.map(from_ms), Some(fri_11), "{db:?}");
        let eod_friday = format!("eod-update@{}", at(2026, 11, 27, 16, 30).to_rfc3339());
        let now_broken = broken(&store, &fixed, at(2026, 11, 27, 17, 0)).await;
        assert!(
            !now_broken.contains(&eod_friday),
            "{db:?}: Friday's update is there: {now_broken:?}"
        );
        let events = count(&store, "SELECT COUNT(*) FROM events").await;

        // Again: it is on JAC-1 already; nothing changes.
        let r = onit::mail_reprocess::reprocess(&store, &fixed, "u2@jac.example", now)
            .await
            .unwrap();
        assert_eq!(
            (r.disposition, r.ticket.as_deref()),
            ("unchanged", Some("JAC-1")),
            "{db:?}"
        );
        assert!(r.text("JAC").contains("nothing changed"));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM messages").await, 3);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM events").await, events);

        // The command line, in JSON.
        let args = ["mail", "reprocess", "u2@jac.example", "--json"];
        let text = expect_ok(&args, onit_command(&env, &args).output().unwrap());
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["disposition"], "unchanged", "{db:?}: {json}");
        assert_eq!(json["ticket"], "JAC-1", "{json}");
        let out = onit_command(&env, &["mail", "reprocess", "nothing@jac.example"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no stored message nothing@jac.example"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn reprocess_acknowledges_recent_mail_only() {
    for db in BOTH {
        // A subject heuristic that is too broad: client mail taken for a robot's.
        let extra = "[automated]\nsubject_phrases = [\"weekly report\"]\n";
        let env = Env::new(db, extra);
        let rt = env.runtime();
        let store = env.store().await;
        let now = at(2026, 11, 26, 12, 0);
        let recent = Mail::new(
            CLIENT,
            "support@jac.example",
            "Weekly report is empty",
            "r1@acme.example",
        );
        let old = Mail::new(
            "amy@acme.example",
            "support@jac.example",
            "Weekly report missing",
            "r0@acme.example",
        )
        .h("Date", "Mon, 23 Nov 2026 10:00:00 +0000");
        let o = feed(&store, &rt, &old, at(2026, 11, 23, 10, 1)).await;
        assert_eq!(o.class.map(|c| c.as_str()), Some("automated"), "{db:?}");
        let r = feed(&store, &rt, &recent, at(2026, 11, 26, 10, 1)).await;
        assert_eq!(r.class.map(|c| c.as_str()), Some("automated"));
        let listed = onit::mail_list::list(&store, onit::mail_list::MailKind::Automated)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2, "{db:?}");

        let fixed = changed_config(&env, "fixed.toml", |t| t.replace(extra, ""));
        let r = onit::mail_reprocess::reprocess(&store, &fixed, "r0@acme.example", now)
            .await
            .unwrap();
        assert_eq!(
            (r.disposition, r.ticket.as_deref(), r.taken_as, r.ack_queued),
            ("new_ticket", Some("JAC-1"), "history", false),
            "{db:?}: three days old: history, not acknowledged"
        );
        assert!(
            r.text("JAC").contains("not acknowledged (older than"),
            "{}",
            r.text("JAC")
        );
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(from_ms(t.opened_at), at(2026, 11, 23, 10, 0), "{db:?}");
        let r = onit::mail_reprocess::reprocess(&store, &fixed, "r1@acme.example", now)
            .await
            .unwrap();
        assert_eq!(
            (r.disposition, r.ticket.as_deref(), r.taken_as, r.ack_queued),
            ("new_ticket", Some("JAC-2"), "live", true),
            "{db:?}: two hours old: acknowledged"
        );
        let t = store.ticket_by_number(2).await.unwrap().unwrap();
        assert_eq!(
            from_ms(t.opened_at),
            at(2026, 11, 26, 10, 0),
            "{db:?}: it opened when the client wrote"
        );
        let acks: Vec<_> = store
            .outbox_all()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind.as_str() == "ack")
            .collect();
        assert_eq!(acks.len(), 1, "{db:?}: only the recent one is acknowledged");
        assert_eq!(acks[0].ticket_id, Some(t.id));
        assert_eq!(
            from_ms(acks[0].created_at),
            now,
            "{db:?}: acknowledged now, its next update counted from now"
        );
        // Twice: nothing more.
        for id in ["r0@acme.example", "r1@acme.example"] {
            let r = onit::mail_reprocess::reprocess(&store, &fixed, id, now)
                .await
                .unwrap();
            assert_eq!(r.disposition, "unchanged", "{db:?}");
        }
        assert_eq!(count(&store, "SELECT COUNT(*) FROM tickets").await, 2);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM messages").await, 3);
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack'").await,
            1
        );
    }
}

#[tokio::test]
async fn reprocess_stores_a_set_aside_message() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let raw = Mail::new(
            CLIENT,
            "support@jac.example",
            "Export fails",
            "s1@acme.example",
        )
        .h("Date", "Tue, 24 Nov 2026 09:00:00 +0000")
        .bytes();
        let mut tx = store.begin().await.unwrap();
        let set_aside_at = at(2026, 11, 24, 9, 1);
        tx.insert_ingest_failure("imap:INBOX/1/7", set_aside_at, "disk full", &raw)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let listed = store.set_aside_mail().await.unwrap();
        assert_eq!(listed.len(), 1, "{db:?}");
        let number = listed[0].id.clone();
        let now = at(2026, 11, 26, 12, 0);
        let r = onit::mail_reprocess::reprocess(&store, &rt, &number, now)
            .await
            .unwrap();
        assert_eq!(
            (
                r.disposition,
                r.ticket.as_deref(),
                r.taken_as,
                r.was.as_str()
            ),
            ("new_ticket", Some("JAC-1"), "history", "set-aside"),
            "{db:?}"
        );
        assert_eq!(r.message_id, "s1@acme.example");
        assert!(!r.ack_queued, "{db:?}: two days old");
        assert!(store.set_aside_mail().await.unwrap().is_empty(), "{db:?}");
        assert_eq!(
            stored(&store, "s1@acme.example").await,
            Some(("client".into(), Some(1)))
        );
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(from_ms(t.opened_at), at(2026, 11, 24, 9, 0), "{db:?}");
        let err = onit::mail_reprocess::reprocess(&store, &rt, &number, now)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no set-aside message"), "{db:?}: {err}");
    }
}

#[tokio::test]
async fn held_mail_is_released_not_reprocessed_or_attached() {
    for db in BOTH {
        let env = Env::new(db, "[policy]\nmax_new_tickets_per_sender_per_hour = 1\n");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        for (i, id) in ["h1@acme.example", "h2@acme.example"].iter().enumerate() {
            let subject = format!("Alarm {i}");
            let m = Mail::new(CLIENT, "support@jac.example", &subject, id);
            feed(&store, &rt, &m, t0 + Duration::minutes(i as i64)).await;
        }
        assert_eq!(store.held_mail().await.unwrap().len(), 1, "{db:?}");
        let now = t0 + Duration::minutes(5);
        let err = onit::mail_reprocess::reprocess(&store, &rt, "h2@acme.example", now)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("onit mail release h2@acme.example"),
            "{db:?}: {err}"
        );
        let err = onit::mail_attach::attach(&store, &rt, "h2@acme.example", 1, "ops", now)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("held by a flood limit"), "{db:?}: {err}");
        assert_eq!(
            store.held_mail().await.unwrap().len(),
            1,
            "{db:?}: still held"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM tickets").await, 1);
    }
}
