//! POLICY "What arrives": an out-of-office answering our acknowledgment threads onto
//! its ticket as `auto_reply`; it is not a delivery failure and the PM hears nothing.

use chrono::Duration;

use onit::store::Store;

use crate::common::{at, feed, Env, Mail, BOTH};

/// The kinds of a ticket's events, in order.
pub async fn event_kinds(store: &Store, ticket_id: i64) -> Vec<String> {
    let events = store.events(ticket_id).await.unwrap();
    events
        .into_iter()
        .map(|e| e.kind.as_str().to_string())
        .collect()
}

#[tokio::test]
async fn out_of_office_reply_to_our_ack_is_an_auto_reply_not_a_bounce() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        let help = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Help",
            "c1@acme.example",
        );
        feed(&store, &rt, &help, t0).await;
        let outbox = store.outbox_all().await.unwrap();
        assert_eq!(outbox.len(), 1, "{db:?}: one acknowledgment");
        let ack_id = outbox[0].message_id.clone();
        // What Exchange, Gmail and Pigeonhole's vacation send: RFC 3834 header, threaded on our ack.
        let ooo = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Automatic reply: Re: Help [JAC-1]",
            "ooo1@acme.example",
        )
        .h("Auto-Submitted", "auto-replied")
        .h("In-Reply-To", &format!("<{ack_id}>"))
        .h("References", &format!("<c1@acme.example> <{ack_id}>"))
        .body("I am out of the office until Monday with limited access to email.\n");
        let out = feed(&store, &rt, &ooo, t0 + Duration::minutes(1)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");
        assert!(!out.ack_queued, "{db:?}");
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        let kinds = event_kinds(&store, t.id).await;
        assert!(kinds.iter().any(|k| k == "auto_reply"), "{db:?}: {kinds:?}");
        assert!(
            !kinds.iter().any(|k| k == "delivery_failure"),
            "{db:?}: {kinds:?}"
        );
        // Nothing new in the outbox: no notice to the PM, no second acknowledgment.
        assert_eq!(store.outbox_all().await.unwrap().len(), 1, "{db:?}");
        store.close().await;
    }
}
