//! Short notices to people on the team (a delivery failure for the PM now;
//! reminders and command replies later). They go through the outbox like
//! everything else, never to a client, and each has a dedupe key so a notice
//! is sent once however often its cause is seen.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::compose::{new_message_id, render_plain, PlainMail};
use crate::config::Runtime;
use crate::store::{NewOutbox, Tx};

/// One notice to queue.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    /// Outbox kind, e.g. `delivery_notice`.
    pub kind: &'a str,
    /// Unique per cause: the notice is queued at most once per key.
    pub dedupe_key: String,
    pub ticket_id: Option<i64>,
    /// `JAC-7`, shown in the subject and header.
    pub ticket: Option<&'a str>,
    /// Team addresses only: notices never reach a client.
    pub to: &'a [EmailAddress],
    pub subject: String,
    pub body: String,
}

/// Queues a notice in the caller's transaction. Returns false when one with the same key exists.
pub async fn queue(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    n: &Notice<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let message_id = new_message_id(n.ticket.unwrap_or(n.kind), rt.team.from.domain());
    anyhow::ensure!(!n.to.is_empty(), "a notice needs a recipient");
    let to: Vec<(EmailAddress, Option<String>)> = n.to.iter().map(|a| (a.clone(), None)).collect();
    let rcpt =
        n.to.iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",");
    let subject = match n.ticket {
        Some(t) => format!("{} [{t}]", n.subject),
        None => n.subject.clone(),
    };
    let raw = render_plain(&PlainMail {
        message_id: &message_id,
        from: &rt.team.from,
        from_name: Some(&rt.team.from_name),
        to: &to,
        cc: &[],
        subject: &subject,
        in_reply_to: None,
        references: &[],
        date: now,
        auto_submitted: Some("auto-generated"),
        ticket: n.ticket,
        body: n.body.clone(),
    })?;
    tx.enqueue(&NewOutbox {
        kind: n.kind,
        dedupe_key: &n.dedupe_key,
        ticket_id: n.ticket_id,
        message_id: &message_id,
        mail_from: rt.team.from.as_str(),
        to_addr: n.to[0].as_str(),
        rcpt_to: &rcpt,
        raw: &raw,
        created_at: now,
    })
    .await
}

/// The PM's notice that mail to the client did not arrive.
pub fn delivery_failure_body(ticket: &str, what: &str, recipient: &str, reason: &str) -> String {
    format!(
        "{what} for ticket {ticket} could not be delivered to {recipient}.\n\n\
         Reason given: {reason}\n\n\
         The client may not know we are working on it. Please reach them another way\n\
         (phone, or a corrected address) and record it on the ticket.\n\n\
         -- onit\n"
    )
}
