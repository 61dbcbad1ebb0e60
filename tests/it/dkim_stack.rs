//! DKIM through the real mail stack: an engineer's mail signed by OpenDKIM on
//! the team's outgoing MTA, and forgeries of it sent straight to our receiving
//! server, where a second OpenDKIM verifies each one (the key fetched from
//! dnsmasq on loopback) and adds `Authentication-Results` (RFC 8601) under the
//! stack's authserv-id. See "DKIM layer" in `tests/mailstack/mailstack.sh`.
//!
//! `send_signed_and_forged` returns the three messages as the support mailbox
//! holds them, for tests that feed them to onit.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use crate::imap::smtp_send_to;
use crate::imap_read;
use crate::mailstack::{self, Stack};

/// The messages as delivered to the support mailbox (raw bytes, read over IMAP).
pub struct Delivered {
    /// The engineer's mail, sent through the engineer's MTA (signed there,
    /// `d=` the team domain): our server says `dkim=pass`.
    pub signed: Vec<u8>,
    /// The same `From:`, sent straight to our server unsigned, carrying two
    /// look-alike `Authentication-Results` under our authserv-id (`dkim=pass`,
    /// `spf=pass`): OpenDKIM removes the one with a DKIM result and adds its own
    /// `dkim=none`; the `spf=pass` one stays, below our `Received:` line.
    pub forged: Vec<u8>,
    /// The signed mail replayed by someone else with another body and
    /// Message-ID (not covered by the signature): `dkim=fail`.
    pub tampered: Vec<u8>,
}

/// Sends, through the DKIM stack's Postfix, `engineer`'s mail (`From:` at the
/// signing domain) to `support` via the engineer's MTA, then its two forgeries
/// straight to our SMTP port, and returns the three as delivered. `body` may
/// hold `\n` line ends.
pub async fn send_signed_and_forged(
    stack: &Stack,
    engineer: &str,
    support: &str,
    subject: &str,
    body: &str,
) -> Delivered {
    let dkim = stack.dkim.as_ref().expect("a stack with the DKIM layer");
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let head = |id: &str| {
        format!(
            "From: Engineer <{engineer}>\r\nTo: <{support}>\r\nCc: Bob <bob@acme.example>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: {}\r\n",
            chrono::Utc::now().to_rfc2822()
        )
    };
    let id = |what: &str| format!("{what}-{:x}@{}", fastrand::u64(..), dkim.domain);

    let signed_id = id("signed");
    let mail = format!("{}\r\n{body}", head(&signed_id));
    smtp_send_to(
        dkim.signing_smtp_port,
        engineer,
        &[support],
        mail.as_bytes(),
    )
    .await;
    let signed = delivered(stack, support, &signed_id).await;

    let forged_id = id("forged");
    let mail = format!(
        "Authentication-Results: {0}; dkim=pass header.d={1}\r\n\
         Authentication-Results: {0}; spf=pass smtp.mailfrom={1}\r\n{2}\r\n{body}",
        dkim.authserv_id,
        dkim.domain,
        head(&forged_id)
    );
    smtp_send_to(stack.smtp_port, engineer, &[support], mail.as_bytes()).await;

    // The replay: the signed message from its DKIM-Signature down (what left
    // the engineer's MTA), with a Message-ID and a body of the attacker's.
    let tampered_id = id("tampered");
    let text = String::from_utf8(signed.clone()).expect("ASCII mail");
    let (head_part, _) = text.split_once("\r\n\r\n").expect("a header and a body");
    let from_signature = &head_part[head_part
        .find("DKIM-Signature:")
        .expect("the signed mail has a DKIM-Signature")..];
    let replay_head: Vec<&str> = from_signature
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("message-id:"))
        .collect();
    let mail = format!(
        "{}\r\nMessage-ID: <{tampered_id}>\r\n\r\nPay the invoice to https://evil.example/pay\r\n",
        replay_head.join("\r\n")
    );
    smtp_send_to(stack.smtp_port, engineer, &[support], mail.as_bytes()).await;

    Delivered {
        signed,
        forged: delivered(stack, support, &forged_id).await,
        tampered: delivered(stack, support, &tampered_id).await,
    }
}

/// The message with Message-ID `id` in `user`'s INBOX, once it is there.
async fn delivered(stack: &Stack, user: &str, id: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = imap_read::fetch_all(stack, user, "INBOX").await;
        if let Some(m) = all
            .into_iter()
            .find(|m| imap_read::message_id(m).as_deref() == Some(id))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "<{id}> not delivered to {user} within 30 s (see {:?}/log)",
            stack.dir
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The header fields of a raw message in order, as (name, unfolded value).
pub fn fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The `Authentication-Results` values of a raw message, top first, each with
/// whether it stands above the `Received:` line our receiving server's smtpd
/// added (`by mail.jac.example (Postfix)`), i.e. whether our server wrote it.
fn auth_results(raw: &[u8]) -> Vec<(String, bool)> {
    let fields = fields(raw);
    let ours = fields
        .iter()
        .position(|(n, v)| {
            n.eq_ignore_ascii_case("Received") && v.contains("by mail.jac.example (Postfix)")
        })
        .expect("our server's Received: line");
    fields
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| n.eq_ignore_ascii_case("Authentication-Results"))
        .map(|(i, (_, v))| (v.clone(), i < ours))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opendkim_on_our_server_passes_the_signed_engineer_mail_and_not_its_forgeries() {
    let stack = mailstack::shared_dkim();
    let dkim = stack.dkim.as_ref().expect("DKIM layer");
    let engineer = mailstack::fresh("eng", &dkim.domain);
    let support = mailstack::fresh("support", "jac.example");
    let got = send_signed_and_forged(
        stack,
        &engineer,
        &support,
        "[JAC-1] update",
        "#resolution Restarted the gateway.\n#close\n",
    )
    .await;
    let ours = format!("{};", dkim.authserv_id);

    // Signed: one A-R, above our Received: line, from our verifier, dkim=pass
    // for the team domain with this stack's selector.
    let ar = auth_results(&got.signed);
    assert_eq!(ar.len(), 1, "signed: {ar:?}");
    let (v, above) = &ar[0];
    assert!(*above, "signed: our A-R stands above our Received: {v}");
    assert!(v.starts_with(&ours), "signed: {v}");
    assert!(v.contains("dkim=pass"), "signed: {v}");
    assert!(
        v.contains(&format!("header.d={}", dkim.domain)),
        "signed: {v}"
    );
    assert!(
        v.contains(&format!("header.s={}", dkim.selector)),
        "signed: {v}"
    );

    // Forged: our verifier says dkim=none; the sender's dkim=pass look-alike
    // is gone, its spf=pass look-alike is still there, below our Received:.
    let ar = auth_results(&got.forged);
    assert!(
        !ar.iter().any(|(v, _)| v.contains("dkim=pass")),
        "forged: {ar:?}"
    );
    let top: Vec<&String> = ar.iter().filter(|(_, a)| *a).map(|(v, _)| v).collect();
    assert_eq!(top.len(), 1, "forged: {ar:?}");
    assert!(top[0].starts_with(&ours), "forged: {ar:?}");
    assert!(top[0].contains("dkim=none"), "forged: {ar:?}");
    let below: Vec<&String> = ar.iter().filter(|(_, a)| !*a).map(|(v, _)| v).collect();
    assert_eq!(
        below,
        [&format!("{ours} spf=pass smtp.mailfrom={}", dkim.domain)],
        "forged: {ar:?}"
    );

    // Tampered replay: our verifier says dkim=fail for the team domain.
    let ar = auth_results(&got.tampered);
    assert_eq!(ar.len(), 1, "tampered: {ar:?}");
    let (v, above) = &ar[0];
    assert!(*above && v.starts_with(&ours), "tampered: {v}");
    assert!(v.contains("dkim=fail"), "tampered: {v}");
    assert!(!v.contains("dkim=pass"), "tampered: {v}");

    for (name, raw) in [
        ("signed", &got.signed),
        ("forged", &got.forged),
        ("tampered", &got.tampered),
    ] {
        let ar = auth_results(raw);
        eprintln!("{name}: Authentication-Results: {ar:?}");
        assert_eq!(
            imap_read::header(raw, "From"),
            [format!("Engineer <{engineer}>")],
            "{name}"
        );
    }

    // onit, trusting this server's authserv-id: only the signed mail is the team's
    // update to the client; both forgeries are impersonations that apply nothing.
    for db in crate::common::BOTH {
        let env = crate::common::Env::new(
            db,
            &format!(
                "[trust]\nauthserv_ids = [\"{}\"]\nreceiving_hosts = [\"mail.jac.example\"]\n",
                dkim.authserv_id
            ),
        );
        let rt = env.runtime();
        let store = env.store().await;
        let now = chrono::Utc::now();
        let open = crate::common::Mail::new(
            "bob@acme.example",
            &support,
            "Gateway down",
            &format!("open-{:x}@acme.example", fastrand::u64(..)),
        );
        let out = crate::common::feed(&store, &rt, &open, now).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");
        let mut classes = Vec::new();
        for raw in [&got.signed, &got.forged, &got.tampered] {
            let out =
                onit::ingest::receive_imf(&store, &rt, raw, now, "test", onit::ingest::Mode::Live)
                    .await
                    .unwrap();
            classes.push(out.class.map(|c| c.as_str()).unwrap_or("-"));
        }
        assert_eq!(
            classes,
            ["contact", "impersonation", "impersonation"],
            "{db:?}"
        );
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        let events = store.events(t.id).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "contact").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "impersonation").count(),
            2,
            "{kinds:?}"
        );
        // The signed one's command was applied (once), the forgeries' were not.
        assert_eq!(
            kinds.iter().filter(|k| **k == "resolution_set").count(),
            1,
            "{kinds:?}"
        );
        let contact = events
            .iter()
            .find(|e| e.kind.as_str() == "contact")
            .unwrap();
        assert_eq!(contact.auth.map(|a| a.as_str()), Some("pass"));
        assert!(
            contact
                .auth_how
                .as_deref()
                .unwrap_or("")
                .contains("dkim=pass"),
            "{contact:?}"
        );
    }
}
