//! Short notices to people on the team (a delivery failure for the PM now;
//! reminders and command replies later). They go through the outbox like
//! everything else, never to a client, and each has a dedupe key so a notice
//! is sent once however often its cause is seen.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::store::{TicketRow, Tx};
use crate::ticket::our_mail::{self, OurMail};
use crate::ticket::OutboxKind;

/// One notice to queue.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    /// Outbox kind, e.g. `delivery_notice`.
    pub kind: OutboxKind,
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
    let to: Vec<(EmailAddress, Option<String>)> = n.to.iter().map(|a| (a.clone(), None)).collect();
    let subject = match n.ticket {
        Some(t) => format!("{} [{t}]", n.subject),
        None => n.subject.clone(),
    };
    our_mail::send_ours(
        tx,
        rt,
        &OurMail {
            kind: n.kind,
            dedupe_key: &n.dedupe_key,
            ticket_id: n.ticket_id,
            ticket: n.ticket,
            to: &to,
            cc: &[],
            subject: &subject,
            in_reply_to: None,
            references: &[],
            auto_submitted: "auto-generated",
            text: n.body.clone(),
            html: None,
            inline: &[],
            at: now,
            keep: None,
            event: None,
        },
    )
    .await
}

/// A notice to a ticket's PM.
#[derive(Debug, Clone)]
pub struct ToPm<'a> {
    pub pm: &'a EmailAddress,
    /// Unique per cause.
    pub dedupe_key: &'a str,
    pub subject: &'a str,
    pub body: String,
}

/// Queues a `delivery_notice` about ticket `t` to its PM, once per dedupe key.
pub async fn to_pm(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    n: ToPm<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let reference = t.reference();
    let notice = Notice {
        kind: OutboxKind::DeliveryNotice,
        dedupe_key: n.dedupe_key.to_string(),
        ticket_id: Some(t.id),
        ticket: Some(&reference),
        to: std::slice::from_ref(n.pm),
        subject: n.subject.into(),
        body: n.body,
    };
    queue(tx, rt, &notice, now).await
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
