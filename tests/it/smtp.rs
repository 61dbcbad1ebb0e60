//! The SMTP transport against the real stack (Postfix delivering to Dovecot):
//! acknowledgments leave over STARTTLS, SMTPS with AUTH, and plain SMTP, and
//! are read back over IMAP; an outage is ridden out with retries, a 5xx is
//! recorded as a permanent failure; TLS failures, a rejected login, a silent
//! server and a connection lost after DATA are retried.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use onit::daemon::outbox_for;
use onit::ingest::{receive_imf, Disposition, Mode};
use onit::outgoing::{Outbox, PassReport};
use onit::store::{OutboxRow, Store};

use crate::common::{at, Base, Db, Env, Mail};
use crate::imap_read::{fetch_all, header, message_id, wait_for};
use crate::mailstack::{self, fresh, Stack};

/// How long mail may take from Postfix's acceptance to the mailbox.
const ARRIVAL: Duration = Duration::from_secs(20);
/// How long to keep looking for a second copy after the first arrived.
const SETTLE: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, Debug)]
enum Wire {
    Starttls,
    ImplicitAuth,
    Plain,
}

/// One test's onit: SMTP to the stack, a fresh support address and a fresh default PM.
struct World {
    _env: Env,
    store: Store,
    outbox: Outbox,
    rt: onit::config::Runtime,
    pm: String,
}

impl World {
    /// `smtp` is the `[smtp]` table body (host is added).
    async fn new(smtp: &str) -> World {
        let pm = fresh("pm", "jac.example");
        let base = Base {
            transport: Some("smtp".into()),
            from: Some(fresh("support", "jac.example")),
            default_pm: Some(pm.clone()),
            ..Base::default()
        };
        let env = Env::with(
            Db::Sqlite,
            &base,
            &format!(
                "[smtp]\nhost = \"127.0.0.1\"\n{}{smtp}\n",
                if smtp.contains("timeout_secs") {
                    ""
                } else {
                    "timeout_secs = 10\n"
                }
            ),
        );
        let rt = env.runtime();
        assert!(
            rt.smtp.is_some(),
            "the test config must select the SMTP transport"
        );
        let store = env.store().await;
        let outbox = outbox_for(&rt, &store).expect("SMTP outbox");
        World {
            _env: env,
            store,
            outbox,
            rt,
            pm,
        }
    }

    fn for_mode(stack: &Stack, mode: Wire) -> String {
        let ca = stack.ca_file.display();
        match mode {
            Wire::Starttls => format!("port = {}\ntls = \"starttls\"\nca_file = \"{ca}\"", stack.smtp_port),
            Wire::ImplicitAuth => format!(
                "port = {}\ntls = \"implicit\"\nca_file = \"{ca}\"\nusername = \"{}\"\npassword = \"{}\"",
                stack.smtps_port,
                fresh("onit", "jac.example"),
                stack.password
            ),
            Wire::Plain => format!("port = {}\ntls = \"none\"", stack.smtp_port),
        }
    }

    /// A new ticket from `client`, acknowledged into the outbox.
    async fn new_ticket(&self, client: &str, subject: &str, at: DateTime<Utc>) {
        let id = format!(
            "{:x}{:x}@client.example",
            std::process::id(),
            fastrand::u64(..)
        );
        let mail = Mail::new(client, "support@jac.example", subject, &id);
        let out = receive_imf(&self.store, &self.rt, &mail.bytes(), at, "test", Mode::Live)
            .await
            .expect("ingest");
        assert_eq!(out.disposition, Disposition::NewTicket, "{client}");
        assert!(out.ack_queued, "no acknowledgment queued for {client}");
    }

    async fn acks(&self) -> Vec<OutboxRow> {
        self.store
            .outbox_all()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind.as_str() == "ack")
            .collect()
    }
}

/// Message-IDs of raw messages, each with how often it was seen.
fn id_counts(mails: &[Vec<u8>]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for raw in mails {
        *m.entry(
            message_id(raw)
                .unwrap_or_else(|| panic!("no Message-ID in {}", String::from_utf8_lossy(raw))),
        )
        .or_insert(0) += 1;
    }
    m
}

async fn round_trip(mode: Wire) {
    let stack = mailstack::shared();
    let w = World::new(&World::for_mode(stack, mode)).await;
    let client = fresh("bob", "client.example");
    let t0 = at(2026, 11, 26, 10, 0);
    w.new_ticket(
        &format!("Bob Client <{client}>"),
        "Invoices are missing",
        t0,
    )
    .await;
    let acks = w.acks().await;
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].rcpt_to, format!("{client},{}", w.pm));

    let report = w.outbox.deliver_due(t0).await.unwrap();
    let row = &w.store.outbox_all().await.unwrap()[0];
    assert_eq!(
        report,
        PassReport {
            sent: 1,
            retried: 0,
            failed: 0
        },
        "{mode:?}: {:?}",
        row.last_error
    );
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
    let events = w.store.events(row.ticket_id.unwrap()).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind.as_str() == "ack_sent")
            .count(),
        1,
        "{events:?}"
    );

    // The client gets it exactly once, with the outbox row's Message-ID; so does the PM (Cc).
    for who in [client.as_str(), w.pm.as_str()] {
        let got = wait_for(stack, who, "INBOX", 1, ARRIVAL).await;
        assert_eq!(got.len(), 1, "{mode:?}: {who}");
        tokio::time::sleep(SETTLE).await;
        let got = fetch_all(stack, who, "INBOX").await;
        assert_eq!(got.len(), 1, "{mode:?}: {who} got a second copy");
        assert_eq!(
            message_id(&got[0]).as_deref(),
            Some(acks[0].message_id.as_str()),
            "{mode:?}: {who}"
        );
        let text = String::from_utf8_lossy(&got[0]);
        assert!(
            text.contains("Subject: Re: Invoices are missing [JAC-1]"),
            "{text}"
        );
        // The stored bytes went out as they are: below the trace headers Postfix and
        // Dovecot put on top, the message is byte for byte what the outbox holds.
        let stored = String::from_utf8_lossy(&acks[0].raw);
        assert!(
            text.ends_with(&*stored),
            "{mode:?}: message changed in transit:\n{text:?}\n---\n{stored:?}"
        );
        // Postfix's Received header names the protocol: ESMTPS is TLS, ESMTPSA is TLS + AUTH.
        let protocol = match mode {
            Wire::Starttls => "with ESMTPS id",
            Wire::ImplicitAuth => "with ESMTPSA id",
            Wire::Plain => "with ESMTP id",
        };
        let received = header(&got[0], "Received");
        assert!(
            received.iter().any(|r| r.contains(protocol)),
            "{mode:?}: {received:?}"
        );
    }
    // Nothing is left to send.
    assert_eq!(
        w.outbox
            .deliver_due(t0 + chrono::Duration::hours(1))
            .await
            .unwrap(),
        PassReport::default()
    );
}

#[tokio::test]
async fn smtp_starttls_ack_reaches_client_and_pm_exactly_once() {
    round_trip(Wire::Starttls).await;
}

#[tokio::test]
async fn smtp_implicit_tls_with_auth_delivers_the_ack() {
    round_trip(Wire::ImplicitAuth).await;
}

#[tokio::test]
async fn smtp_plain_delivers_the_ack() {
    round_trip(Wire::Plain).await;
}

#[tokio::test]
async fn smtp_outage_is_retried_until_every_ack_is_delivered_once() {
    const N: usize = 20;
    let stack = mailstack::private("smtp-outage");
    let w = World::new(&World::for_mode(&stack, Wire::Starttls)).await;
    let t0 = at(2026, 11, 26, 10, 0);
    let clients: Vec<String> = (0..N)
        .map(|i| fresh(&format!("c{i}"), "client.example"))
        .collect();

    stack.ctl("stop-postfix");
    for (i, c) in clients.iter().enumerate() {
        w.new_ticket(c, &format!("Report {i} is empty"), t0).await;
    }
    assert_eq!(w.acks().await.len(), N);
    let report = w.outbox.deliver_due(t0).await.unwrap();
    assert_eq!(
        report,
        PassReport {
            sent: 0,
            retried: N,
            failed: 0
        }
    );
    let rows = w.acks().await;
    for r in &rows {
        assert_eq!(
            (r.status.as_str(), r.attempts),
            ("pending", 1),
            "{:?}",
            r.last_error
        );
        let err = r.last_error.as_deref().unwrap_or("");
        assert!(
            err.contains("failed at connect") && err.contains("refused"),
            "{err}"
        );
    }
    // Not due again until the backoff has passed.
    assert_eq!(
        w.outbox.deliver_due(t0).await.unwrap(),
        PassReport::default()
    );
    assert!(fetch_all(&stack, &w.pm, "INBOX").await.is_empty());
    for c in &clients {
        assert!(fetch_all(&stack, c, "INBOX").await.is_empty(), "{c}");
    }

    stack.ctl("start-postfix");
    let mut total = PassReport::default();
    let mut now = t0;
    for _ in 0..10 {
        // Past retry_max_secs (5): every pending item is due.
        now += chrono::Duration::seconds(6);
        let r = w.outbox.deliver_due(now).await.unwrap();
        total.sent += r.sent;
        total.retried += r.retried;
        total.failed += r.failed;
        let s = w.store.outbox_summary().await.unwrap();
        if s.pending == 0 && s.sending == 0 {
            break;
        }
    }
    assert_eq!((total.sent, total.failed), (N, 0), "{total:?}");
    let s = w.store.outbox_summary().await.unwrap();
    assert_eq!(
        (s.sent, s.pending, s.sending, s.failed),
        (N as i64, 0, 0, 0),
        "{s:?}"
    );

    // Every acknowledgment arrives, none twice: at each client, and all of them at the PM.
    let expected: BTreeMap<String, usize> =
        rows.iter().map(|r| (r.message_id.clone(), 1)).collect();
    assert_eq!(expected.len(), N);
    assert_eq!(wait_for(&stack, &w.pm, "INBOX", N, ARRIVAL).await.len(), N);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        id_counts(&fetch_all(&stack, &w.pm, "INBOX").await),
        expected
    );
    let mut at_clients = BTreeMap::new();
    for (c, r) in clients.iter().zip(&rows) {
        assert_eq!(r.to_addr, *c);
        let got = wait_for(&stack, c, "INBOX", 1, ARRIVAL).await;
        assert_eq!(got.len(), 1, "{c}");
        assert_eq!(
            message_id(&got[0]).as_deref(),
            Some(r.message_id.as_str()),
            "{c}"
        );
        for (id, n) in id_counts(&got) {
            *at_clients.entry(id).or_insert(0) += n;
        }
    }
    assert_eq!(at_clients, expected);
}

#[tokio::test]
async fn smtp_5xx_is_a_permanent_failure_recorded_on_the_ticket() {
    let stack = mailstack::shared();
    let w = World::new(&World::for_mode(stack, Wire::Starttls)).await;
    let t0 = at(2026, 11, 26, 10, 0);
    // Postfix relays nothing: a domain it does not serve gets 554 at RCPT.
    let client = fresh("someone", "refused.invalid");
    w.new_ticket(&client, "Login fails", t0).await;

    let report = w.outbox.deliver_due(t0).await.unwrap();
    assert_eq!(
        report,
        PassReport {
            sent: 0,
            retried: 0,
            failed: 1
        }
    );
    let row = &w.acks().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    let err = row.last_error.as_deref().unwrap_or("");
    // The server's own reply, code and text.
    assert!(
        err.contains(&format!("554 5.7.1 <{client}>: Recipient address rejected")),
        "{err}"
    );

    let events = w.store.events(row.ticket_id.unwrap()).await.unwrap();
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.kind.as_str() == "delivery_failure")
        .collect();
    assert_eq!(failures.len(), 1, "{events:?}");
    assert!(
        failures[0].detail.contains("Recipient address rejected"),
        "{}",
        failures[0].detail
    );
    assert_eq!(
        failures[0].message_id.as_deref(),
        Some(row.message_id.as_str())
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind.as_str() == "ack_sent")
            .count(),
        0
    );

    // The PM hears of it: one delivery notice is queued and goes out on the next pass.
    // The failed acknowledgment itself is never retried, however much later.
    assert_eq!(
        w.outbox
            .deliver_due(t0 + chrono::Duration::days(1))
            .await
            .unwrap(),
        PassReport {
            sent: 1,
            retried: 0,
            failed: 0
        }
    );
    assert_eq!(
        w.outbox
            .deliver_due(t0 + chrono::Duration::days(2))
            .await
            .unwrap(),
        PassReport::default()
    );
    let row = &w.acks().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    let s = w.store.outbox_summary().await.unwrap();
    assert_eq!((s.sent, s.pending, s.sending, s.failed), (1, 0, 0, 1));
    // The rejected transaction delivered nothing to the PM; the notice did, once.
    let at_pm = wait_for(stack, &w.pm, "INBOX", 1, Duration::from_secs(15)).await;
    tokio::time::sleep(SETTLE).await;
    let at_pm = if at_pm.len() == 1 {
        fetch_all(stack, &w.pm, "INBOX").await
    } else {
        at_pm
    };
    assert_eq!(at_pm.len(), 1, "exactly the delivery notice");
    let notice = onit::message::MailView::parse(&at_pm[0]).unwrap();
    assert!(
        notice.subject.starts_with("Delivery failed"),
        "{}",
        notice.subject
    );
    assert!(
        notice
            .body
            .contains(&format!("could not be delivered to {client}")),
        "{}",
        notice.body
    );
}

/// A CA that did not sign the stack's certificate.
fn wrong_ca(env: &Env) -> std::path::PathBuf {
    let dir = env.dir.path();
    let ca = dir.join("wrong-ca.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Not the stack's CA",
        ])
        .arg("-keyout")
        .arg(dir.join("wrong-ca.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ca
}

async fn assert_transient(smtp: &str, what: &str) -> String {
    assert_transient_in(smtp, what).await.0
}

/// As `assert_transient`, also returning the world's store.
async fn assert_transient_in(smtp: &str, what: &str) -> (String, World) {
    let stack = mailstack::shared();
    let w = World::new(smtp).await;
    let client = fresh("tls", "client.example");
    let t0 = at(2026, 11, 26, 10, 0);
    w.new_ticket(&client, "Cannot export", t0).await;
    let report = w.outbox.deliver_due(t0).await.unwrap();
    let row = &w.acks().await[0];
    assert_eq!(
        report,
        PassReport {
            sent: 0,
            retried: 1,
            failed: 0
        },
        "{what}: {:?}",
        row.last_error
    );
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("pending", 1),
        "{what}"
    );
    assert!(
        row.next_attempt_at > onit::store::to_ms(t0),
        "{what}: retried without backoff"
    );
    let err = row.last_error.clone().unwrap_or_default();
    println!("{what}: {err}");
    assert!(!err.is_empty(), "{what}");
    let events = w.store.events(row.ticket_id.unwrap()).await.unwrap();
    assert!(
        !events.iter().any(|e| e.kind.as_str() == "delivery_failure"),
        "{what}: {events:?}"
    );
    // Still failing on the next attempt, still transient. An alert mail queued by the
    // first attempt (a refused sign-in) is due by then too, and fails the same way.
    let alert_mails = w
        .store
        .outbox_all()
        .await
        .unwrap()
        .iter()
        .filter(|o| o.kind.as_str() == "alert")
        .count();
    let report = w
        .outbox
        .deliver_due(t0 + chrono::Duration::seconds(6))
        .await
        .unwrap();
    assert_eq!(
        report,
        PassReport {
            sent: 0,
            retried: 1 + alert_mails,
            failed: 0
        },
        "{what}"
    );
    assert_eq!(w.acks().await[0].attempts, 2);
    assert!(
        fetch_all(stack, &client, "INBOX").await.is_empty(),
        "{what}"
    );
    (err.to_string(), w)
}

#[tokio::test]
async fn smtp_tls_failures_are_transient() {
    let stack = mailstack::shared();
    let ca = stack.ca_file.display();
    // Implicit TLS against the plain port: the server's "220" greeting is no TLS record.
    let err = assert_transient(
        &format!(
            "port = {}\ntls = \"implicit\"\nca_file = \"{ca}\"",
            stack.smtp_port
        ),
        "implicit TLS on the plain port",
    )
    .await;
    assert!(err.contains("failed at connect"), "{err}");
    // STARTTLS, and SMTPS, with a CA that did not sign the server's certificate.
    let scratch = Env::new(Db::Sqlite, "");
    let wrong = wrong_ca(&scratch);
    let err = assert_transient(
        &format!(
            "port = {}\ntls = \"starttls\"\nca_file = \"{}\"",
            stack.smtp_port,
            wrong.display()
        ),
        "STARTTLS with the wrong CA",
    )
    .await;
    assert!(
        err.contains("failed at STARTTLS") && err.contains("UnknownIssuer"),
        "{err}"
    );
    let err = assert_transient(
        &format!(
            "port = {}\ntls = \"implicit\"\nca_file = \"{}\"",
            stack.smtps_port,
            wrong.display()
        ),
        "SMTPS with the wrong CA",
    )
    .await;
    assert!(
        err.contains("failed at connect") && err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[tokio::test]
async fn smtp_rejected_login_is_retried_and_raises_one_sign_in_alert() {
    // A 535 to AUTH is about onit's account, not the message: once the password is
    // fixed the acknowledgment must still go out, so it is retried, not written off;
    // and since it will not mend by itself, the operators hear of it, once.
    let stack = mailstack::shared();
    let (err, w) = assert_transient_in(
        &format!(
            "port = {}\ntls = \"implicit\"\nca_file = \"{}\"\nusername = \"{}\"\npassword = \"not-the-password\"",
            stack.smtps_port,
            stack.ca_file.display(),
            fresh("onit", "jac.example")
        ),
        "AUTH with a wrong password",
    )
    .await;
    assert!(err.contains("refused the credentials: 535 5.7.8"), "{err}");
    assert!(
        !err.contains("not-the-password"),
        "the password leaked into the error: {err}"
    );
    let store = &w.store;
    let open = onit::alerts::open(store).await.unwrap();
    assert_eq!(
        open.len(),
        1,
        "two refused attempts, one incident: {open:?}"
    );
    assert_eq!(open[0].kind, "sign-in-failed");
    assert!(open[0].subject.starts_with("smtp:"), "{:?}", open[0]);
    let alert_mails = store
        .outbox_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind.as_str() == "alert")
        .count();
    assert_eq!(alert_mails, 1, "mailed once");
}

/// How a fake SMTP server misbehaves.
#[derive(Clone, Copy)]
enum Fake {
    /// Accepts connections and never says a word.
    Silent,
    /// Speaks SMTP up to the end of DATA, then drops the connection without the final reply.
    DropsAfterData,
}

/// A fake SMTP server on loopback; its port. It runs until the test's runtime ends.
async fn fake_server(kind: Fake) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            match kind {
                Fake::Silent => held.push(sock),
                Fake::DropsAfterData => {
                    tokio::spawn(async move {
                        let mut sock = BufReader::new(sock);
                        let _ = sock.get_mut().write_all(b"220 fake ESMTP\r\n").await;
                        let mut in_data = false;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if sock.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let reply: &[u8] = if in_data {
                                if line == ".\r\n" {
                                    // The whole message is here: vanish without the final reply.
                                    return;
                                }
                                continue;
                            } else if line.starts_with("EHLO") {
                                b"250-fake\r\n250 8BITMIME\r\n"
                            } else if line.starts_with("DATA") {
                                in_data = true;
                                b"354 go ahead\r\n"
                            } else {
                                b"250 ok\r\n"
                            };
                            if sock.get_mut().write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    });
    port
}

#[tokio::test]
async fn smtp_silent_server_times_out_and_is_retried() {
    let port = fake_server(Fake::Silent).await;
    let started = std::time::Instant::now();
    let err = assert_transient(
        &format!("port = {port}\ntls = \"none\"\ntimeout_secs = 1"),
        "a server that never greets",
    )
    .await;
    assert!(err.contains("timed out after 1s"), "{err}");
    // Two attempts, each abandoned after smtp.timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn smtp_connection_lost_after_data_is_retried() {
    // The ambiguous case: the server has the whole message but onit never hears "250".
    // It is sent again (same bytes, same Message-ID), never written off.
    let port = fake_server(Fake::DropsAfterData).await;
    let err = assert_transient(
        &format!("port = {port}\ntls = \"none\""),
        "a connection lost after DATA",
    )
    .await;
    assert!(
        err.starts_with(&format!("sending via 127.0.0.1:{port}")),
        "{err}"
    );
}
