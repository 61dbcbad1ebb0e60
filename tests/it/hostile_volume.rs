//! Hostile volume (issue 12), on SQLite and PostgreSQL: what one attacker's
//! message can make onit store and send is bounded.

use onit::store::Store;

use crate::common::{at, feed, Env, Mail, BOTH};

async fn acks(store: &Store) -> Vec<onit::store::OutboxRow> {
    store
        .outbox_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind.as_str() == "ack")
        .collect()
}

/// Item 5: a 5 MB subject with a right-to-left override, a quoted non-ASCII
/// Message-ID and 60 long References make a small, well-formed acknowledgment.
#[tokio::test]
async fn what_we_send_stays_well_formed_whatever_the_client_wrote() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        let subject = format!("Invoice \u{202E}fdp.exe {}", "x".repeat(5 * 1024 * 1024));
        let refs: Vec<String> = (0..60)
            .map(|i| format!("<{i:03}.{}@mail.acme.example>", "r".repeat(40)))
            .collect();
        let m = Mail::new(
            "Bob <bob@acme.example>",
            "support@jac.example",
            &subject,
            "",
        )
        .h("Message-ID", "<\"quoted\"é@acme.example>")
        .h("References", &refs.join(" "));
        let out = feed(&store, &rt, &m, t0).await;
        assert!(out.ack_queued, "{db:?}");
        let tickets = store.tickets().await.unwrap();
        assert!(
            tickets[0].subject.chars().count() <= 1000,
            "{db:?}: stored subject {} chars",
            tickets[0].subject.len()
        );
        assert!(!tickets[0].subject.contains('\u{202E}'));

        let ack = &acks(&store).await[0];
        let raw = String::from_utf8(ack.raw.clone()).unwrap();
        assert!(
            raw.len() < 8 * 1024,
            "{db:?}: a {}-byte acknowledgment",
            raw.len()
        );
        assert!(!raw.contains('\u{202E}'), "{db:?}");
        for line in raw.split("\r\n") {
            assert!(line.len() <= 998, "{db:?}: a {}-byte line", line.len());
        }
        let parsed = onit::message::MailView::parse(ack.raw.as_slice()).unwrap();
        assert!(
            parsed.subject.chars().count() <= 200,
            "{db:?}: {}",
            parsed.subject
        );
        assert!(parsed.subject.ends_with("[JAC-1]"), "{}", parsed.subject);
        assert!(parsed.subject.starts_with("Re: Invoice fdp.exe xx"));
        // The body quotes the subject cut the same way.
        let quoted = parsed
            .body
            .lines()
            .find(|l| l.contains("Your request"))
            .unwrap()
            .to_string();
        assert!(quoted.chars().count() < 300, "{db:?}: {quoted}");
        // The client's id is not a valid msg-id: not copied into our threading headers.
        assert!(parsed.in_reply_to.is_empty(), "{:?}", parsed.in_reply_to);
        assert!(!raw.contains("\"quoted\""), "{db:?}: {raw}");
        // References: the root, then the newest, the parent last.
        assert_eq!(
            parsed.references.first().map(String::as_str),
            Some(refs[0].trim_matches(|c| c == '<' || c == '>'))
        );
        assert_eq!(
            parsed.references.last().map(String::as_str),
            Some(refs[59].trim_matches(|c| c == '<' || c == '>'))
        );
    }
}

/// One number from the database.
async fn count(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite { reader, .. } => sqlx::query_scalar::<_, i64>(sql).fetch_one(reader).await,
        Store::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await,
    }
    .expect("count query")
}

/// The length of a stored message's kept bytes, as `onit mail` reads them.
async fn raw_len(store: &Store, message_id: &str) -> i64 {
    let raw = store
        .raw_mail(message_id)
        .await
        .expect("reading the kept bytes");
    raw.map_or(0, |r| r.len() as i64)
}

/// A client mail with `n` addresses in Cc (about 22 bytes each).
fn many_cc(n: usize) -> Vec<u8> {
    let cc: Vec<String> = (0..n).map(|i| format!("user{i}@acme.example")).collect();
    Mail::new(
        "Bob <bob@acme.example>",
        "support@jac.example",
        "Everyone in Cc",
        "cc-bomb@acme.example",
    )
    .h("Cc", &cc.join(", "))
    .bytes()
}

/// Stores `raw` as the daemon does and returns how long its transaction took
/// (from BEGIN to COMMIT). `parse_inside`: parse within the transaction, as
/// onit did before issue 12 (with `max_recipients` set to `usize::MAX`, the
/// "before" figure in README).
async fn timed_store(
    store: &Store,
    rt: &onit::config::Runtime,
    raw: &[u8],
    parse_inside: bool,
) -> std::time::Duration {
    let t0 = at(2026, 11, 26, 10, 0);
    let parsed = (!parse_inside).then(|| onit::message::MailView::parse(raw));
    let started = std::time::Instant::now();
    let mut tx = store.begin().await.unwrap();
    let parsed = parsed.unwrap_or_else(|| onit::message::MailView::parse(raw));
    onit::ingest::receive_parsed(
        &mut tx,
        rt,
        raw,
        parsed,
        t0,
        "test",
        onit::ingest::Mode::Live,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    started.elapsed()
}

/// Item 4: a mail with 100,000 addresses in Cc records `mailbox.max_recipients`
/// (200) of them, counts the rest, keeps the raw message whole, and its
/// transaction is short.
#[tokio::test]
async fn a_hundred_thousand_cc_record_two_hundred_and_count_the_rest() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        assert_eq!(rt.max_recipients, 200, "the default");
        let store = env.store().await;
        let raw = many_cc(100_000);
        let took = timed_store(&store, &rt, &raw, false).await;
        eprintln!("{db:?}: storing transaction of a 100,000-Cc mail: {took:?}");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM tickets").await, 1);
        let participants = count(&store, "SELECT COUNT(*) FROM ticket_participants").await;
        assert!(participants <= 200, "{db:?}: {participants} participants");
        assert!(participants >= 100, "{db:?}: the first ones are recorded");
        assert_eq!(
            count(
                &store,
                "SELECT recipients_omitted FROM messages WHERE message_id = 'cc-bomb@acme.example'"
            )
            .await,
            100_000 + 1 - 200,
            "{db:?}: To + Cc beyond the first 200 are counted"
        );
        assert_eq!(
            raw_len(&store, "cc-bomb@acme.example").await,
            raw.len() as i64,
            "{db:?}: the raw message is kept whole"
        );
        assert_eq!(acks(&store).await.len(), 1, "{db:?}: one acknowledgment");
        // Generous for a shared machine (the issue's bound is 100 ms; medians are in README).
        assert!(
            took < std::time::Duration::from_secs(2),
            "{db:?}: the transaction took {took:?}"
        );
    }
}

/// Item 3: 15 mails from one bot (tags and case varied) and 55 from one domain
/// in an hour open 10 + 50 tickets; the rest is held: stored, listed, one
/// `flood` alert per incident, no acknowledgment; a release opens its ticket.
#[tokio::test]
async fn floods_are_held_not_ticketed_and_released_by_command() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        assert_eq!(rt.policy.max_new_tickets_per_sender_per_hour, 10);
        assert_eq!(rt.policy.max_new_tickets_per_domain_per_hour, 50);
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        let mut held = 0;
        for i in 0..15 {
            let from = if i % 2 == 0 {
                format!("Bot+{i}@Flood.example")
            } else {
                format!("bot+{i}@flood.example")
            };
            let m = Mail::new(
                &from,
                "support@jac.example",
                &format!("Alarm {i}"),
                &format!("bot{i}@flood.example"),
            );
            let out = feed(&store, &rt, &m, t0 + chrono::Duration::minutes(i)).await;
            if out.disposition == onit::ingest::Disposition::Held {
                held += 1;
                assert!(!out.ack_queued);
            }
        }
        assert_eq!(held, 5, "{db:?}: the 11th to 15th are held");
        for i in 0..55 {
            let m = Mail::new(
                &format!("user{i}@bulk.example"),
                "support@jac.example",
                &format!("Question {i}"),
                &format!("q{i}@bulk.example"),
            );
            feed(&store, &rt, &m, t0 + chrono::Duration::seconds(i)).await;
        }
        assert_eq!(store.tickets().await.unwrap().len(), 60, "{db:?}");
        // 50 for bulk.example, and 5 of the bot's 10 tickets: acknowledgments count the
        // bot without its +tags too (policy.ack_rate_per_hour); none for held mail.
        assert_eq!(
            acks(&store).await.len(),
            55,
            "{db:?}: no acknowledgment for held mail"
        );
        let alerts: Vec<(String, String)> = onit::alerts::open(&store)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.kind, a.subject))
            .collect();
        assert_eq!(
            alerts,
            vec![
                ("flood".to_string(), "sender:bot@flood.example".to_string()),
                ("flood".to_string(), "domain:bulk.example".to_string())
            ],
            "{db:?}: one alert per incident"
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM outbox WHERE kind = 'alert'").await,
            2,
            "{db:?}: one alert mail per incident"
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM messages WHERE class = 'client'"
            )
            .await,
            70,
            "{db:?}: no mail lost"
        );
        let list = store.held_mail().await.unwrap();
        assert_eq!(list.len(), 10, "{db:?}");
        assert_eq!(list[0].id, "bot10@flood.example");

        // The operator's view, from the command line.
        let out = crate::common::onit_command(&env, &["mail", "--kind", "held", "--json"])
            .output()
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&crate::common::expect_ok(&["mail"], out)).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 10, "{db:?}: {json}");
        assert!(
            json[0]["reason"].as_str().unwrap().contains("sender"),
            "{json}"
        );

        // A release opens the ticket as if the mail were new (and acknowledges it).
        let ticket = onit::mail_list::release(
            &store,
            &rt,
            "<bot10@flood.example>",
            t0 + chrono::Duration::minutes(20),
        )
        .await
        .unwrap();
        assert_eq!(ticket.as_deref(), Some("JAC-61"), "{db:?}");
        assert_eq!(store.held_mail().await.unwrap().len(), 9);
        // Its acknowledgment is still counted against the bot (ack_rate_per_hour, without +tags).
        assert_eq!(acks(&store).await.len(), 55);
        assert!(
            onit::mail_list::release(&store, &rt, "bot10@flood.example", t0)
                .await
                .is_err(),
            "{db:?}: released once"
        );
        let out = crate::common::onit_command(&env, &["mail", "release", "bot11@flood.example"])
            .output()
            .unwrap();
        let text = crate::common::expect_ok(&["mail", "release"], out);
        assert!(text.contains("JAC-62"), "{db:?}: {text}");
        let out = crate::common::onit_command(&env, &["mail", "show", "bot12@flood.example"])
            .output()
            .unwrap();
        let text = crate::common::expect_ok(&["mail", "show"], out);
        assert!(text.contains("Subject: Alarm 12"), "{db:?}: {text}");

        // The PM's digest lists what is still held.
        let args = [
            "digest",
            "daily",
            "--at",
            "2026-11-26T17:00:00Z",
            "--pm",
            "pm@jac.example",
            "--print",
        ];
        let out = crate::common::onit_command(&env, &args).output().unwrap();
        let text = crate::common::expect_ok(&args, out);
        assert!(text.contains("HELD MAIL (8)"), "{db:?}: {text}");
        assert!(text.contains("bot14@flood.example"), "{db:?}: {text}");
        assert!(!text.contains("bot10@flood.example"), "{db:?}: released");
    }
}

/// Peak resident memory (VmHWM, kB) of `onit ARGS`, measured by `/usr/bin/time -v`
/// around the child (None when that tool is missing).
pub fn peak_rss_kb(env: &Env, args: &[&str], envs: &[(&str, &str)]) -> Option<u64> {
    if !std::path::Path::new("/usr/bin/time").exists() {
        return None;
    }
    let mut c = std::process::Command::new("/usr/bin/time");
    c.arg("-v")
        .arg(crate::common::onit_bin())
        .arg("--config")
        .arg(&env.config_path)
        .args(args)
        .current_dir(env.dir.path())
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("ONIT__") || k == "ONIT_FAULT" {
            c.env_remove(k);
        }
    }
    c.envs(envs.iter().copied());
    let out = c.output().expect("run onit under /usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "onit {args:?}: {err}");
    err.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
}

/// A client mail of about `mb` megabytes (a base64 attachment).
fn big_mail(mb: usize, id: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: Bob <bob@acme.example>\r\nTo: support@jac.example\r\nSubject: Logs attached\r\n\
         Message-ID: <{id}>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         The checkout is down, logs attached.\r\n--b\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"logs.bin\"\r\n\r\n"
    )
    .into_bytes();
    let line = [
        b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3"
            .as_slice(),
        b"\r\n",
    ]
    .concat();
    while raw.len() < mb * 1024 * 1024 {
        raw.extend_from_slice(&line);
    }
    raw.extend_from_slice(b"--b--\r\n");
    // As our border server delivers it (Authentication-Results: the client is proven).
    crate::common::stamped(&raw)
}

/// Item 1 from the Maildir: a 30 MB mail (over the 25 MB default) is read from
/// its header only: one ticket with a `too_large` event, an acknowledgment that
/// says so, the PM told, the file kept, and `onit run --once` stays small.
#[tokio::test]
async fn an_oversized_maildir_message_is_read_from_its_header_and_kept() {
    for db in BOTH {
        let env = Env::new(db, "");
        let md = onit::mailstore::Maildir::open(&env.maildir()).unwrap();
        let raw = big_mail(30, "big@acme.example");
        let path = md.deliver(&raw).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let peak = peak_rss_kb(&env, &["run", "--once"], &[]);
        eprintln!("{db:?}: peak RSS of onit run --once with a 30 MB mail: {peak:?} kB");
        if let Some(kb) = peak {
            assert!(kb < 80 * 1024, "{db:?}: {kb} kB");
        }
        let store = env.store().await;
        let tickets = store.tickets().await.unwrap();
        assert_eq!(tickets.len(), 1, "{db:?}");
        let events = store.events(tickets[0].id).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind.as_str() == "too_large"),
            "{db:?}: {events:?}"
        );
        let ack = &acks(&store).await[0];
        let text = String::from_utf8_lossy(&ack.raw);
        assert!(
            text.contains("too large for us to process"),
            "{db:?}: {text}"
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'delivery_notice'"
            )
            .await,
            1,
            "{db:?}: the PM is told"
        );
        assert!(
            raw_len(&store, "big@acme.example").await < 64 * 1024,
            "{db:?}: the header is stored, not 30 MB"
        );
        // The message itself is kept whole in the Maildir (moved to cur/).
        let kept = std::fs::read(env.maildir().join("cur").join(format!("{name}:2,"))).unwrap();
        assert_eq!(kept.len(), raw.len(), "{db:?}");
    }
}

/// Item 1 over IMAP: a 30 MB message (over the 25 MB default) is sized with
/// RFC822.SIZE and fetched as its header only: a ticket with a `too_large`
/// event, the acknowledgment says so, the message stays on the server, and
/// `onit run --once` stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_imap_message_is_fetched_as_its_header_and_left_on_the_server() {
    let stack = crate::mailstack::shared();
    for db in BOTH {
        let live = crate::imap::Live::new(stack, db, &["INBOX"], false);
        let id = format!("{:x}@acme.example", fastrand::u64(..));
        let raw = big_mail(30, &id);
        let mut s = crate::imap_read::login(stack, &live.support).await;
        tokio::time::timeout(
            std::time::Duration::from_secs(120),
            s.append("INBOX", None, None, &raw),
        )
        .await
        .expect("APPEND in time")
        .expect("APPEND");
        crate::imap_read::logout(s).await;
        let peak = peak_rss_kb(
            &live.env,
            &["run", "--once"],
            &[
                ("ONIT__MAILBOX__SOURCE", "imap"),
                ("ONIT__IMAP__PASSWORD", &stack.password),
            ],
        );
        eprintln!("{db:?}: peak RSS of onit run --once, IMAP, a 30 MB mail: {peak:?} kB");
        if let Some(kb) = peak {
            assert!(kb < 80 * 1024, "{db:?}: {kb} kB");
        }
        let store = live.store().await;
        let tickets = store.tickets().await.unwrap();
        assert_eq!(tickets.len(), 1, "{db:?}");
        let events = store.events(tickets[0].id).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind.as_str() == "too_large"),
            "{db:?}: {events:?}"
        );
        let ack = &acks(&store).await[0];
        assert!(String::from_utf8_lossy(&ack.raw).contains("too large for us to process"));
        // Still on the server, whole.
        let on_server = crate::imap_read::fetch_all(stack, &live.support, "INBOX").await;
        assert_eq!(on_server.len(), 1, "{db:?}");
        assert!(on_server[0].len() >= raw.len(), "{db:?}");
    }
}

/// Item 1 in `onit import`: a 30 MB .eml is recorded from its header (a
/// `too_large` event; history, so nothing is sent).
#[tokio::test]
async fn an_oversized_imported_message_is_recorded_from_its_header() {
    for db in BOTH {
        let env = Env::new(db, "");
        let eml = env.dir.path().join("big.eml");
        std::fs::write(&eml, big_mail(30, "imported-big@acme.example")).unwrap();
        let peak = peak_rss_kb(&env, &["import", eml.to_str().unwrap()], &[]);
        eprintln!("{db:?}: peak RSS of onit import of a 30 MB .eml: {peak:?} kB");
        if let Some(kb) = peak {
            assert!(kb < 80 * 1024, "{db:?}: {kb} kB");
        }
        let store = env.store().await;
        let tickets = store.tickets().await.unwrap();
        assert_eq!(tickets.len(), 1, "{db:?}");
        let events = store.events(tickets[0].id).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind.as_str() == "too_large"),
            "{db:?}"
        );
        assert!(
            acks(&store).await.is_empty(),
            "{db:?}: history sends nothing"
        );
        assert!(
            raw_len(&store, "imported-big@acme.example").await < 64 * 1024,
            "{db:?}"
        );
    }
}
