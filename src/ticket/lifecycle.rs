//! The only code that changes a ticket: open, thread a client's message in
//! (reopening it), record a contact, acknowledge, set priority / severity /
//! status / a closing fact, close, and record what the outbox did with our
//! mail. It is also the only caller of the cadence rules for a ticket's stored
//! due time (`tickets.next_due_at`), so every change that moves it goes
//! through [`due_after`].
//!
//! Everything runs inside the caller's transaction (ingest's, a command's, the
//! outbox's), and every change is an event on the ticket's timeline.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

use super::our_mail::{self, Keep, OurMail};
use super::{EventKind, Mode, OutboxKind, Priority, Severity, Status};
use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::policy::cadence::{next_due, Due};
use crate::store::{
    from_ms, to_ms, ClosingFacts, ClosingField, ContactFacts, NewEvent, NewTicket, OutboxRow,
    TicketRow, Tx,
};

/// Who or what made a change, as the event records it.
#[derive(Debug, Clone, Copy, Default)]
pub struct By<'a> {
    /// The sender's address, `command line (dan)`, or none for onit itself.
    pub actor: Option<&'a str>,
    /// The message the change came in.
    pub message_id: Option<&'a str>,
}

/// Appends an event that changes no state (a note, an ignored command, an
/// automated message) to a ticket's timeline.
pub async fn record(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    at: DateTime<Utc>,
    kind: EventKind,
    by: By<'_>,
    detail: &str,
) -> Result<()> {
    tx.insert_event(
        ticket_id,
        at,
        kind.as_str(),
        by.actor,
        by.message_id,
        detail,
    )
    .await
}

/// Appends an event that leaves the ticket in status `status`.
async fn status_event(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    at: DateTime<Utc>,
    kind: EventKind,
    status: Status,
    by: By<'_>,
    detail: &str,
) -> Result<()> {
    tx.append_event(&NewEvent {
        ticket_id,
        at,
        kind: kind.as_str(),
        actor: by.actor,
        message_id: by.message_id,
        detail,
        status: Some(status),
    })
    .await
}

/// When the next contact is due on open ticket `t` after a contact (or a
/// reopening, or a new priority) at `last`.
pub fn due_after(rt: &Runtime, t: &TicketRow, last: DateTime<Utc>) -> Due {
    next_due(
        &rt.calendar,
        &rt.cadence(),
        t.priority,
        from_ms(t.opened_at),
        last,
    )
}

/// What a new ticket is opened with.
#[derive(Debug, Clone)]
pub struct Opening<'a> {
    pub reporter: &'a EmailAddress,
    pub subject: &'a str,
    pub normalized_subject: &'a str,
    pub project: &'a str,
    pub pm: &'a EmailAddress,
    pub priority: Priority,
    pub priority_reason: &'a str,
    /// The client's message that opens it.
    pub message_id: &'a str,
    /// A closed ticket this one follows (a client writing again after `reopen_days`).
    pub follows: Option<&'a TicketRow>,
    pub at: DateTime<Utc>,
}

/// Opens a ticket: its row, the `opened` and `priority_proposed` events, and
/// the first response as what is due until the acknowledgment leaves.
pub async fn open(tx: &mut Tx<'_>, rt: &Runtime, o: &Opening<'_>) -> Result<TicketRow> {
    let number = tx.next_ticket_number().await?;
    let id = tx
        .insert_ticket(&NewTicket {
            number,
            prefix: rt.team.prefix.as_str(),
            subject: o.subject,
            normalized_subject: o.normalized_subject,
            reporter: o.reporter.as_str(),
            project: o.project,
            pm: o.pm.as_str(),
            priority: o.priority,
            priority_reason: o.priority_reason,
            opened_at: o.at,
            linked_ticket_id: o.follows.map(|t| t.id),
            opening_message_id: o.message_id,
        })
        .await?;
    let opened = match o.follows {
        Some(old) => format!(
            "opened from {} ({}), follows closed ticket {}",
            o.reporter,
            o.subject,
            old.reference()
        ),
        None => format!("opened from {} ({})", o.reporter, o.subject),
    };
    let by = By {
        actor: Some(o.reporter.as_str()),
        message_id: Some(o.message_id),
    };
    record(tx, id, o.at, EventKind::Opened, by, &opened).await?;
    record(
        tx,
        id,
        o.at,
        EventKind::PriorityProposed,
        By::default(),
        o.priority_reason,
    )
    .await?;
    // Until the acknowledgment leaves, the first response is what is due.
    tx.set_contact_due(
        id,
        Some((o.at + rt.policy.first_response, "first-response")),
    )
    .await?;
    tx.ticket(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("ticket {id} vanished in its own transaction"))
}

/// True when a client's message at `at` on `t` opens a new ticket instead:
/// `t` was closed more than `policy.reopen_days` before.
pub fn closed_too_long(rt: &Runtime, t: &TicketRow, at: DateTime<Utc>) -> bool {
    let limit = Duration::days(rt.policy.reopen_days as i64);
    t.status == Status::Closed && t.closed_at.is_some_and(|c| at - from_ms(c) > limit)
}

/// A client's message threaded onto `t`: reopens it when it is not open, and
/// records the `client_message` event.
pub async fn client_message(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    by: By<'_>,
    subject: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    if t.status != Status::Open {
        let detail = format!("reopened by a client message (was {})", t.status);
        change_status(tx, rt, t, Status::Open, at).await?;
        status_event(tx, t.id, at, EventKind::Reopened, Status::Open, by, &detail).await?;
    }
    record(tx, t.id, at, EventKind::ClientMessage, by, subject).await
}

/// A message of the team to the client on `t` (an update, or an
/// acknowledgment found in an archive or sent by hand). The cadence runs from
/// the latest contact: an older one (an archive imported out of order, a Sent
/// copy read late) is recorded but moves nothing.
pub async fn contact(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    acknowledgment: bool,
    by: By<'_>,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let latest = t.last_contact_at.map(from_ms).is_none_or(|l| at >= l);
    if latest {
        let due = (t.status == Status::Open).then(|| due_after(rt, t, at));
        tx.set_contact(t.id, at, due.map(|d| (d.at, d.rule)))
            .await?;
    }
    let kind = if acknowledgment {
        if let Some(mid) = by.message_id {
            tx.set_ack(t.id, mid).await?;
        }
        EventKind::Acknowledgment
    } else {
        EventKind::Contact
    };
    record(tx, t.id, at, kind, by, detail).await
}

/// The client's message that a new ticket answers.
#[derive(Debug, Clone)]
pub struct AckRequest<'a> {
    pub reporter: &'a EmailAddress,
    pub client_name: Option<&'a str>,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub references: &'a [String],
    /// The message was too large to read whole (its size): the acknowledgment says so.
    pub too_large: Option<u64>,
}

/// Queues the acknowledgment of new ticket `t` (POLICY Standard 1) at `now`:
/// our mail with the next update's time, PM in Cc. It is the ticket's first
/// contact and first promise. At most one per ticket (the outbox dedupe key)
/// and `policy.ack_rate_per_hour` per sender. Returns whether one was queued.
pub async fn acknowledge(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    req: &AckRequest<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let reporter = req.reporter;
    let recent = tx
        .acks_to_since(reporter.as_str(), now - Duration::hours(1))
        .await?;
    if recent >= rt.policy.ack_rate_per_hour as i64 {
        let detail = format!("no acknowledgment: {recent} already sent to {reporter} in the last hour (ack_rate_per_hour = {})", rt.policy.ack_rate_per_hour);
        record(
            tx,
            t.id,
            now,
            EventKind::AckSuppressed,
            By::default(),
            &detail,
        )
        .await?;
        tracing::warn!(%reporter, "acknowledgment rate limit reached");
        return Ok(false);
    }
    let reference = t.reference();
    let pm = pm_of(rt, t);
    let due = due_after(rt, t, now);
    let mut refs = req.references.to_vec();
    refs.push(req.message_id.to_string());
    let text = crate::acknowledgment::ack_body(
        &rt.calendar,
        &crate::acknowledgment::AckText {
            ticket: &reference,
            client_name: req.client_name,
            original_subject: req.subject,
            priority: t.priority,
            next_update: due.at,
            pm: &pm,
            team_name: &rt.team.from_name,
            now,
            too_large: req.too_large,
        },
    );
    let subject = crate::acknowledgment::ack_subject(req.subject, &reference);
    let to = [(reporter.clone(), req.client_name.map(str::to_string))];
    let cc = [pm.clone()];
    // The stated next update is this ticket's first promise; the acknowledgment
    // becomes a contact when it is sent (the outbox sets contact_at).
    let promise_text = format!(
        "Next update: by {}",
        crate::acknowledgment::human_time(&rt.calendar, due.at, now)
    );
    let dedupe_key = format!("ack:{}", t.id);
    let mail = OurMail {
        kind: OutboxKind::Ack,
        dedupe_key: &dedupe_key,
        ticket_id: Some(t.id),
        ticket: Some(&reference),
        to: &to,
        cc: &cc,
        subject: &subject,
        in_reply_to: Some(req.message_id),
        references: &refs,
        auto_submitted: "auto-replied",
        text,
        html: None,
        at: now,
        keep: Some(Keep {
            detail: "acknowledgment",
            body: "",
            facts: ContactFacts {
                contact_at: None,
                contact_kind: Some("acknowledgment"),
                promise_at: Some(due.at),
                promise_text: Some(&promise_text),
                dismissive: None,
            },
        }),
        event: Some((
            EventKind::AckQueued,
            format!(
                "acknowledgment queued to {reporter}, PM {pm} in Cc; next update stated for {}",
                due.at.to_rfc3339()
            ),
        )),
    };
    // A message we cannot render is recorded, never retried forever as an ingest error.
    let composed = match our_mail::compose(rt, &mail) {
        Ok(c) => c,
        Err(e) => {
            let detail = format!("acknowledgment could not be written: {e:#}");
            record(tx, t.id, now, EventKind::AckFailed, By::default(), &detail).await?;
            tracing::error!(
                error = format!("{e:#}"),
                "acknowledgment could not be written"
            );
            return Ok(false);
        }
    };
    if !our_mail::queue(tx, rt, &mail, &composed).await? {
        return Ok(false);
    }
    tx.set_ack(t.id, &composed.message_id).await?;
    // The acknowledgment is a contact (POLICY Standard 5); its send time refines this when it leaves.
    tx.set_contact(t.id, now, Some((due.at, due.rule))).await?;
    Ok(true)
}

pub use super::pm_of;

/// Sets the priority; the stored due time follows it. `None` when it already was.
pub async fn set_priority(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    p: Priority,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<Option<String>> {
    if t.priority == p {
        return Ok(None);
    }
    let reason = format!("set by {}", by.actor.unwrap_or("onit"));
    tx.set_priority(t.id, p, &reason).await?;
    let detail = format!("{p} (was {})", t.priority);
    t.priority = p;
    if t.status == Status::Open {
        let last = t.last_contact_at.map(from_ms).unwrap_or(at);
        let due = due_after(rt, t, last);
        tx.set_contact_due(t.id, Some((due.at, due.rule))).await?;
    }
    record(tx, t.id, at, EventKind::PrioritySet, by, &detail).await?;
    Ok(Some(detail))
}

/// Sets the severity. `None` when it already was.
pub async fn set_severity(
    tx: &mut Tx<'_>,
    t: &mut TicketRow,
    s: Severity,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<Option<String>> {
    if t.severity == Some(s) {
        return Ok(None);
    }
    tx.set_severity(t.id, s).await?;
    let detail = match t.severity {
        Some(old) => format!("{s} (was {old})"),
        None => s.to_string(),
    };
    t.severity = Some(s);
    record(tx, t.id, at, EventKind::SeveritySet, by, &detail).await?;
    Ok(Some(detail))
}

/// The status change itself, without its event: a reopened ticket's cadence starts again.
async fn change_status(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    s: Status,
    at: DateTime<Utc>,
) -> Result<()> {
    tx.set_status(t.id, s, at).await?;
    t.status = s;
    t.closed_at = (s == Status::Closed).then(|| to_ms(at));
    if s == Status::Open {
        let due = due_after(rt, t, at);
        tx.set_contact_due(t.id, Some((due.at, due.rule))).await?;
    }
    Ok(())
}

/// Sets the status by a person's command (a `status` event whose detail is the
/// new status name). False when it already was. Closing goes through [`close`].
pub async fn set_status(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    s: Status,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<bool> {
    if t.status == s {
        return Ok(false);
    }
    change_status(tx, rt, t, s, at).await?;
    status_event(tx, t.id, at, EventKind::Status, s, by, s.as_str()).await?;
    Ok(true)
}

/// Records a closing fact (cause, impact, resolution, prevention), one line.
pub async fn set_fact(
    tx: &mut Tx<'_>,
    t: &TicketRow,
    facts: &mut ClosingFacts,
    field: ClosingField,
    text: &str,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<()> {
    let text = crate::message::single_line(text);
    tx.set_closing_fact(t.id, field, &text).await?;
    record(tx, t.id, at, EventKind::FactSet(field), by, &text).await?;
    facts.set(field, text);
    Ok(())
}

/// Names fact fields for people: `cause, resolution and prevention`.
pub fn name_fields(fields: &[ClosingField]) -> String {
    let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The facts a ticket needs before it may close, in the order they are named.
pub const REQUIRED_TO_CLOSE: [ClosingField; 3] = [
    ClosingField::Cause,
    ClosingField::Resolution,
    ClosingField::Prevention,
];

/// What [`close`] did.
#[derive(Debug, Clone)]
pub enum Closing {
    AlreadyClosed,
    /// Refused (`close_refused` event): these facts are missing.
    Refused(Vec<ClosingField>),
    Closed(crate::report::Made),
}

/// Closes `t` when cause, resolution and prevention are recorded: the status
/// change, the incident response report stored and (live) queued to the
/// reporter and the maintainers, PM in Cc, which counts as a contact.
pub async fn close(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    facts: &ClosingFacts,
    by: By<'_>,
    at: DateTime<Utc>,
    mode: Mode,
) -> Result<Closing> {
    if t.status == Status::Closed {
        return Ok(Closing::AlreadyClosed);
    }
    let missing: Vec<ClosingField> = REQUIRED_TO_CLOSE
        .into_iter()
        .filter(|f| facts.get(*f).is_none())
        .collect();
    if !missing.is_empty() {
        let detail = format!("closure-incomplete: missing {}", name_fields(&missing));
        record(tx, t.id, at, EventKind::CloseRefused, by, &detail).await?;
        return Ok(Closing::Refused(missing));
    }
    set_status(tx, rt, t, Status::Closed, by, at).await?;
    let closed_by = by.actor.unwrap_or("onit");
    let made = crate::report::make(tx, rt, t, facts, closed_by, at, mode).await?;
    let reference = t.reference();
    match &made.message_id {
        // The report is a contact (POLICY Standard 5).
        Some(_) => tx.touch_contact(t.id, at).await?,
        None => {
            let detail =
                format!("incident response report stored (onit report {reference}); not sent");
            let by = By {
                actor: Some(closed_by),
                message_id: None,
            };
            record(tx, t.id, at, EventKind::ReportStored, by, &detail).await?;
        }
    }
    Ok(Closing::Closed(made))
}

/// The outbox sent `item` at `at`: an acknowledgment becomes a contact at its
/// send time. Returns the acknowledgment's latency from the client's mail.
pub async fn mail_sent(
    tx: &mut Tx<'_>,
    item: &OutboxRow,
    at: DateTime<Utc>,
) -> Result<Option<std::time::Duration>> {
    let Some(tid) = item.ticket_id else {
        return Ok(None);
    };
    let mut latency = None;
    if item.kind == OutboxKind::Ack {
        latency = tx
            .ticket_arrival(tid)
            .await?
            .and_then(|a| (at - a).to_std().ok());
        tx.touch_contact(tid, at).await?;
        tx.set_contact_at(&item.message_id, at).await?;
    }
    let by = By {
        actor: Some(&item.mail_from),
        message_id: Some(&item.message_id),
    };
    let detail = format!("sent to {}", item.rcpt_to);
    record(tx, tid, at, EventKind::Sent(item.kind), by, &detail).await?;
    Ok(latency)
}

/// The outbox gave up on `item` (a permanent failure): recorded on its ticket,
/// and (POLICY) the PM hears of it at once, unless the failed mail was itself
/// such a notice.
pub async fn mail_failed(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    item: &OutboxRow,
    error: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(tid) = item.ticket_id else {
        return Ok(());
    };
    if item.kind != OutboxKind::DeliveryNotice {
        if let Some(t) = tx.ticket(tid).await? {
            let what = if item.kind == OutboxKind::Ack {
                "The acknowledgment".to_string()
            } else {
                format!("A message ({})", item.kind)
            };
            let body =
                crate::notices::delivery_failure_body(&t.reference(), &what, &item.to_addr, error);
            let key = format!("failed:{}", item.id);
            let pm = pm_of(rt, &t);
            let notice = crate::notices::ToPm {
                pm: &pm,
                dedupe_key: &key,
                subject: "Delivery failed",
                body,
            };
            crate::notices::to_pm(tx, rt, &t, notice, at).await?;
        }
    }
    let by = By {
        actor: Some(&item.mail_from),
        message_id: Some(&item.message_id),
    };
    let detail = format!(
        "{} could not be delivered to {}: {error}",
        item.kind, item.rcpt_to
    );
    record(tx, tid, at, EventKind::DeliveryFailure, by, &detail).await
}
