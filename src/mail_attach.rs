//! `onit mail attach ID JAC-7`: a person threads a stored message that is on no
//! ticket onto a ticket: the digest's "Unthreaded team mail: thread it onto its
//! ticket" (issue 15, item 6).
//!
//! Readings taken:
//! * The message counts as it would have, had ingest threaded it there itself: it is
//!   taken through ingest again ([`crate::ingest::receive_onto`]) with the current
//!   configuration, so team mail to a client is a team update (its promise and any
//!   dismissive phrase read), a client's mail is a client message (reopening a
//!   resolved ticket), team mail among the team an internal note, automated mail
//!   an automated event. It counts at the time it was first stored with: an update
//!   sent on time but threaded by hand a day later was still sent on time, so the
//!   rule it kept reads as kept, and the ticket's next due time follows from it.
//! * It is history: nothing is sent (no acknowledgment, no command reply, no
//!   notice); commands in it are applied as ingest applies them.
//! * The person's act is an `attached` event at `now`, by the command line.
//! * Refused, changing nothing: an unknown message or ticket, a closed ticket
//!   (reopen it first) or one merged into another (attach to that one), a message
//!   already on a ticket, held mail (`onit mail release`), and mail that cannot
//!   count on a ticket: unparseable, our own, or claiming a team address that its
//!   sender could not prove (fix `trust` and `onit mail reprocess` it instead).

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::classify::MailClass;
use crate::config::Runtime;
use crate::ingest::{history_mode, receive_onto};
use crate::store::{from_ms, Store, StoredMail, Tx};
use crate::ticket::lifecycle::{self, By};
use crate::ticket::Status;

/// What `onit mail attach` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attached {
    pub message_id: String,
    /// `JAC-7`.
    pub ticket: String,
    /// The class it counts as: `contact`, `acknowledgment`, `client`, `internal_note`, `automated`.
    pub class: &'static str,
    /// The same, in words: "a team update", "a client message"…
    pub counted_as: &'static str,
    /// The ticket's next due time after it (UTC), and the rule it is due by.
    #[serde(serialize_with = "crate::store::ser_opt_ms")]
    pub next_due_at: Option<i64>,
    pub next_due_rule: Option<String>,
}

impl Attached {
    /// One line for the operator.
    pub fn text(&self, tz: chrono_tz::Tz) -> String {
        let due = match (self.next_due_at, &self.next_due_rule) {
            (Some(at), rule) => format!(
                "; next due {} {}{}",
                from_ms(at).with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                tz.name(),
                rule.as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            (None, _) => "; nothing due".to_string(),
        };
        format!(
            "attached {} to {}: counted as {}{due}",
            self.message_id, self.ticket, self.counted_as
        )
    }
}

/// What a stored message counts as on a ticket, for the operator.
fn counted_as(class: MailClass) -> Option<&'static str> {
    Some(match class {
        MailClass::Contact => "a team update",
        MailClass::Acknowledgment => "an acknowledgment",
        MailClass::Client => "a client message",
        MailClass::InternalNote => "an internal note",
        MailClass::Automated => "automated mail",
        MailClass::Monitoring => "a monitoring alert",
        MailClass::Own | MailClass::Impersonation => return None,
    })
}

/// Threads stored message `message_id` onto ticket number `number`, in one
/// transaction, by `actor` (`command line (dan)`) at `now`.
pub async fn attach(
    store: &Store,
    rt: &Runtime,
    message_id: &str,
    number: i64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Attached> {
    let id = crate::message::normalize_message_id(message_id)
        .with_context(|| format!("`{message_id}` is not a Message-ID"))?;
    let mut tx = store.begin().await?;
    let reference = format!("{}-{number}", rt.team.prefix.as_str());
    let Some(t) = tx.ticket_by_number(number).await? else {
        bail!("no ticket {reference}: nothing attached");
    };
    if let Some(into) = t.merged_into_id {
        let into = tx.ticket(into).await?.map(|i| i.reference());
        bail!(
            "{reference} was merged into {}: attach to that ticket",
            into.as_deref().unwrap_or("another ticket")
        );
    }
    if t.status == Status::Closed {
        bail!("{reference} is closed: `onit ticket {reference} reopen` first, then attach");
    }
    let stored = unticketed(&mut tx, &id).await?;
    let Some(raw) = stored.raw.clone() else {
        bail!("{id} has no stored bytes to take again");
    };
    let arrival = from_ms(stored.arrived_at);
    let mode = history_mode(
        rt,
        stored.date_header.map(from_ms),
        arrival,
        from_ms(stored.effective_at),
    );
    tx.forget_unticketed(&id).await?;
    let out = receive_onto(&mut tx, rt, &raw, arrival, &stored.origin, mode, t.clone()).await?;
    let counted = out.class.and_then(|c| Some((c, counted_as(c)?)));
    let Some((class, what)) = counted.filter(|_| out.ticket.as_deref() == Some(&reference)) else {
        // Dropping the transaction rolls back: the message stays as it was.
        bail!(
            "{id} cannot count on a ticket ({}): nothing attached",
            refusal(&stored.class)
        );
    };
    let detail = format!("message <{id}> threaded onto this ticket by hand: {what}");
    let by = By {
        actor: Some(actor),
        message_id: Some(&id),
    };
    lifecycle::attached(&mut tx, rt, &t, by, &detail, now).await?;
    let after = tx
        .ticket(t.id)
        .await?
        .with_context(|| format!("{reference} vanished in its own transaction"))?;
    tx.commit().await?;
    Ok(Attached {
        message_id: id,
        ticket: reference,
        class: class.as_str(),
        counted_as: what,
        next_due_at: after.next_due_at,
        next_due_rule: after.next_due_rule,
    })
}

/// The stored message `id`, when it is on no ticket and not held; else why not.
async fn unticketed(tx: &mut Tx<'_>, id: &str) -> Result<StoredMail> {
    let Some(stored) = tx.stored_mail(id).await? else {
        bail!("no stored message {id} (see `onit mail --kind automated`, or the digest)");
    };
    if let Some(tid) = stored.ticket_id {
        let on = tx.ticket(tid).await?.map(|t| t.reference());
        bail!(
            "{id} is already on {}: nothing attached",
            on.as_deref().unwrap_or("a ticket")
        );
    }
    if tx.is_held(id).await? {
        bail!("{id} is held by a flood limit: `onit mail release {id}` lets it through");
    }
    Ok(stored)
}

/// Why mail of a stored class cannot be attached.
fn refusal(class: &str) -> &'static str {
    match class {
        "impersonation" => "it claims a team address its sender could not prove; if it is genuine, fix `trust` and `onit mail reprocess` it",
        "own" => "it is our own mail",
        "unparseable" => "it could not be parsed",
        _ => "as the current configuration reads it, it is our own or unproven mail",
    }
}
