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
