//! Our own mail: the one way onit queues a message it sends (acknowledgments,
//! incident reports, notices, reminders, digests). Outbox pattern: the message
//! is rendered and written to the outbox inside the caller's transaction, with
//! our Message-ID (lettre sets none), so every attempt sends the same bytes and
//! a reply to it threads even before it leaves. A message that goes to a client
//! on a ticket is also kept as a message of ours with its contact facts, and
//! its queueing is an event on the ticket.
//!
//! Nothing here changes a ticket's state: the caller (`lifecycle`) records the
//! contact, the acknowledgment or the closing that the mail belongs to.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::compose::{new_message_id, render_alternative, render_plain, PlainMail};
use crate::config::Runtime;
use crate::store::{ContactFacts, NewMessage, NewOutbox, Tx};
use crate::ticket::{EventKind, OutboxKind};

/// One message of ours to queue.
#[derive(Debug, Clone)]
pub struct OurMail<'a> {
    /// Outbox kind (`ack`, `report`, `delivery_notice`, `reminder`, `daily_digest`…).
    pub kind: OutboxKind,
    /// Unique per cause: the mail is queued at most once per key.
    pub dedupe_key: &'a str,
    pub ticket_id: Option<i64>,
    /// `JAC-7`: in the Message-ID, the `X-Onit-Ticket` header, and the subject's tag.
    pub ticket: Option<&'a str>,
    pub to: &'a [(EmailAddress, Option<String>)],
    pub cc: &'a [EmailAddress],
    pub subject: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// `auto-replied` (an answer to the client's mail) or `auto-generated`.
    pub auto_submitted: &'static str,
    pub text: String,
    /// With an HTML part: `multipart/alternative`.
    pub html: Option<String>,
    /// Images the HTML part shows by `cid:` (the HTML part becomes `multipart/related`).
    pub inline: &'a [crate::compose::InlineImage],
    pub at: DateTime<Utc>,
    /// Kept as a message of the ticket, so replies thread and it counts as a contact.
    pub keep: Option<Keep<'a>>,
    /// The ticket event that records the queueing (kind, detail).
    pub event: Option<(EventKind, String)>,
}

/// How a message of ours is kept on its ticket.
#[derive(Debug, Clone, Default)]
pub struct Keep<'a> {
    /// `acknowledgment`, `incident response report`.
    pub detail: &'a str,
    /// The text kept for the timeline (may be empty).
    pub body: &'a str,
    pub facts: ContactFacts<'a>,
}

/// A rendered message with its Message-ID, ready to queue.
#[derive(Debug, Clone)]
pub struct Composed {
    pub message_id: String,
    raw: Vec<u8>,
}

/// Renders `m` with a fresh Message-ID of ours. Pure: nothing is written.
pub fn compose(rt: &Runtime, m: &OurMail<'_>) -> Result<Composed> {
    let seed = m
        .ticket
        .map_or_else(|| m.kind.as_str().replace('_', "-"), str::to_string);
    let message_id = new_message_id(&seed, rt.team.from.domain());
    let plain = PlainMail {
        message_id: &message_id,
        from: &rt.team.from,
        from_name: Some(&rt.team.from_name),
        to: m.to,
        cc: m.cc,
        subject: m.subject,
        in_reply_to: m.in_reply_to,
        references: m.references,
        date: m.at,
        auto_submitted: Some(m.auto_submitted),
        ticket: m.ticket,
        body: m.text.clone(),
    };
    let raw = match &m.html {
        Some(html) => render_alternative(&plain, html.clone(), m.inline),
        None => render_plain(&plain),
    }
    .with_context(|| format!("writing the {} mail", m.kind))?;
    Ok(Composed { message_id, raw })
}

/// Queues a composed message in the caller's transaction: the outbox row, and
/// (as `m` asks) our message on the ticket with its contact facts, and the
/// event. Returns false, writing nothing, when the dedupe key is already queued.
pub async fn queue(tx: &mut Tx<'_>, rt: &Runtime, m: &OurMail<'_>, c: &Composed) -> Result<bool> {
    anyhow::ensure!(!m.to.is_empty(), "a {} mail needs a recipient", m.kind);
    let rcpt =
        m.to.iter()
            .map(|(a, _)| a)
            .chain(m.cc.iter())
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",");
    let queued = tx
        .enqueue(&NewOutbox {
            kind: m.kind,
            dedupe_key: m.dedupe_key,
            ticket_id: m.ticket_id,
            message_id: &c.message_id,
            mail_from: rt.team.from.as_str(),
            to_addr: m.to[0].0.as_str(),
            rcpt_to: &rcpt,
            raw: &c.raw,
            created_at: m.at,
        })
        .await?;
    if !queued {
        return Ok(false);
    }
    let Some(ticket_id) = m.ticket_id else {
        return Ok(true);
    };
    if let Some(keep) = &m.keep {
        let join = |a: &mut dyn Iterator<Item = &EmailAddress>| {
            a.map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        };
        tx.insert_message_with_facts(
            &NewMessage {
                message_id: &c.message_id,
                ticket_id: Some(ticket_id),
                class: "own",
                detail: Some(keep.detail),
                from_addr: Some(rt.team.from.as_str()),
                to_addrs: &join(&mut m.to.iter().map(|(a, _)| a)),
                cc_addrs: &join(&mut m.cc.iter()),
                subject: m.subject,
                date_header: Some(m.at),
                arrived_at: m.at,
                effective_at: m.at,
                in_reply_to: m.in_reply_to.unwrap_or(""),
                refs: &m.references.join(" "),
                body: keep.body,
                origin: "outbox",
                raw: None,
                auth: Some(&crate::trust::Authentication {
                    verdict: crate::trust::Verdict::Pass,
                    how: "written by onit".into(),
                    spf_aligned: false,
                }),
                recipients_omitted: 0,
            },
            &keep.facts,
        )
        .await?;
    }
    if let Some((kind, detail)) = &m.event {
        tx.insert_event(
            ticket_id,
            m.at,
            kind.as_str(),
            Some(rt.team.from.as_str()),
            Some(&c.message_id),
            detail,
        )
        .await?;
    }
    Ok(true)
}

/// [`compose`] then [`queue`]: for mail whose failure to render is the caller's error.
pub async fn send_ours(tx: &mut Tx<'_>, rt: &Runtime, m: &OurMail<'_>) -> Result<bool> {
    let c = compose(rt, m)?;
    queue(tx, rt, m, &c).await
}
