//! The only code that changes a ticket: open, thread a client's message in
//! (reopening it), record a contact, acknowledge, set priority / severity /
//! status / a closing fact, close, and record what the outbox did with our
//! mail. It is also the only caller of the cadence rules for a ticket's stored
//! due time (`tickets.next_due_at`), so every change that moves it goes
//! through [`due_after`].
//!
//! Everything runs inside the caller's transaction (ingest's, a command's, the
//! outbox's), and every change is an event on the ticket's timeline.
//!
//! The stored due time is the rules' own: after every change that can move it
//! (a contact, a status change, a new priority, our acknowledgment leaving),
//! [`settle_due`] evaluates the ticket's history with the same pure rules
//! `onit compliance` runs ([`crate::policy::evaluate`]) and stores its next due
//! time and rule. That answer holds until the due time passes with nothing new
//! (the rules' `next_due` is the earliest deadline strictly after the instant and
//! stays the same until then), so a calendar day passing needs only
//! [`settle_dues`]: the tickets whose stored due time has passed, found through an
//! index, are evaluated again at `now`.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

use super::our_mail::{self, Keep, OurMail};
use super::{EventKind, Mode, OutboxKind, Priority, Severity, Status};
use crate::address::EmailAddress;
use crate::compliance::{histories_from_rows, Rules};
use crate::config::Runtime;
use crate::policy::cadence::{next_due, Due};
use crate::policy::evaluate;
use crate::policy::history::TicketHistory;
use crate::store::{
    from_ms, to_ms, ClosingFacts, ClosingField, ContactFacts, NewEvent, NewTicket, OpeningEvent,
    OutboxRow, Store, TicketRow, Tx,
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

/// The cadence's next update time after `last` on open ticket `t`: the time
/// our acknowledgment states (its first promise). The stored due time is the
/// rules' ([`settle_due`]).
pub fn due_after(rt: &Runtime, t: &TicketRow, last: DateTime<Utc>) -> Due {
    next_due(
        &rt.calendar,
        &rt.cadence(),
        t.priority,
        from_ms(t.opened_at),
        last,
    )
}

/// The instant a ticket's due time is evaluated at: the change's time, or the
/// latest fact the history holds when that is later (an archive imported out of
/// order must not see the ticket as it stood before what is already known).
pub fn due_instant(h: &TicketHistory, at: DateTime<Utc>) -> DateTime<Utc> {
    let latest = h
        .contacts
        .iter()
        .map(|c| c.at)
        .chain(h.status_changes.iter().map(|c| c.at))
        .fold(h.opened_at, DateTime::max);
    at.max(latest)
}

/// What the rules say is due next on `h` after a change at `at` (pure).
pub fn due_of(rt: &Runtime, h: &TicketHistory, at: DateTime<Utc>) -> Option<Due> {
    let rules = Rules::new(rt);
    evaluate::next_due(h, &rules.context(rt, due_instant(h, at)))
}

/// Stores the rules' next due time of ticket `ticket_id` after a change at `at`
/// (nothing when it is not open).
pub async fn settle_due(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    ticket_id: i64,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(h) = history_in(tx, ticket_id).await? else {
        return Ok(());
    };
    let due = due_of(rt, &h, at);
    tx.set_contact_due(ticket_id, due.map(|d| (d.at, d.rule)))
        .await
}

/// One ticket's history as the rules read it, inside the transaction.
async fn history_in(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Option<TicketHistory>> {
    Ok(match tx.policy_rows_of(ticket_id).await? {
        Some((t, contacts, changes)) => histories_from_rows(vec![t], contacts, changes).pop(),
        None => None,
    })
}

/// The due pass: every open ticket whose stored due time is at or before `now`
/// (a deadline passed, a day turned) is evaluated again at `now`. It reads only
/// those tickets (the partial index `tickets_open_due`), outside any write
/// transaction (on SQLite the one writer is never held while rules run), then
/// stores the answers a few hundred per short transaction; a ticket that changed
/// meanwhile keeps what its own change stored. Its cost follows the open work.
/// Returns how many tickets were evaluated.
pub async fn settle_dues(store: &Store, rt: &Runtime, now: DateTime<Utc>) -> Result<usize> {
    // Histories are read a batch at a time (three statements per batch, not per
    // ticket: the first pass after the migration settles every open ticket).
    const BATCH: usize = 500;
    let due = store.open_due_by(to_ms(now), i64::MAX).await?;
    for part in due.chunks(BATCH) {
        let stored: HashMap<i64, (Option<i64>, Option<&str>)> = part
            .iter()
            .map(|(id, at, rule)| (*id, (*at, rule.as_deref())))
            .collect();
        let mut ids: Vec<i64> = stored.keys().copied().collect();
        ids.sort_unstable();
        let (tickets, contacts, changes) = store.policy_rows_of_ids(&ids).await?;
        // One history per ticket row, in the same order.
        let order: Vec<i64> = tickets.iter().map(|t| t.id).collect();
        let histories = histories_from_rows(tickets, contacts, changes);
        // A deadline already missed stays due (in the past) until a contact, so
        // such tickets come back every pass: only a due time that moved is written.
        let moved: Vec<(i64, Option<Due>)> = order
            .into_iter()
            .zip(&histories)
            .map(|(id, h)| (id, due_of(rt, h, now)))
            .filter(|(id, d)| stored.get(id) != Some(&(d.map(|d| to_ms(d.at)), d.map(|d| d.rule))))
            .collect();
        if moved.is_empty() {
            continue;
        }
        let mut tx = store.begin().await?;
        for (id, d) in moved {
            tx.set_due_if_past(id, to_ms(now), d.map(|d| (d.at, d.rule)))
                .await?;
        }
        tx.commit().await?;
    }
    Ok(due.len())
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
    open_marked(tx, rt, o, None).await
}

/// [`open`], for a monitoring alert's ticket when `alert` (source, key) is
/// given: marked in the same insert, and with nothing due (no client rule
/// applies to it).
pub(super) async fn open_marked(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    o: &Opening<'_>,
    alert: Option<(&str, &str)>,
) -> Result<TicketRow> {
    // A new ticket's history is its opening alone: until a contact (the
    // acknowledgment leaving), the rules say the first response is what is due.
    // Its number is taken by the insert itself; the rules use a history's id only
    // to label violations, and none is read here.
    let fresh = TicketHistory {
        id: String::new(),
        priority: o.priority,
        opened_at: o.at,
        pm: o.pm.as_str().to_lowercase(),
        contacts: Vec::new(),
        status_changes: Vec::new(),
    };
    let due = match alert {
        Some(_) => None,
        None => due_of(rt, &fresh, o.at),
    };
    let opened = match o.follows {
        Some(old) => format!(
            "opened from {} ({}), follows closed ticket {}",
            o.reporter,
            o.subject,
            old.reference()
        ),
        None => format!("opened from {} ({})", o.reporter, o.subject),
    };
    let events = [
        OpeningEvent {
            kind: EventKind::Opened.as_str(),
            actor: Some(o.reporter.as_str()),
            message_id: Some(o.message_id),
            detail: &opened,
        },
        OpeningEvent {
            kind: EventKind::PriorityProposed.as_str(),
            actor: None,
            message_id: None,
            detail: o.priority_reason,
        },
    ];
    let t = tx
        .insert_ticket(
            &NewTicket {
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
                next_due: due.as_ref().map(|d| (d.at, d.rule)),
                alert,
            },
            &events,
        )
        .await?;
    Ok(t)
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
        let event = (EventKind::Reopened, by, detail.as_str());
        change_status(tx, rt, t, Status::Open, event, at).await?;
    }
    record(tx, t.id, at, EventKind::ClientMessage, by, subject).await
}

/// A message of the team to the client on `t` (an update, or an
/// acknowledgment found in an archive or sent by hand); its contact facts are
/// already stored with the message, so the rules see it.
pub async fn contact(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    acknowledgment: bool,
    by: By<'_>,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    // The last contact time never moves back; the due time is the rules' over
    // every contact, whatever order they arrive in.
    tx.touch_contact(t.id, at).await?;
    settle_due(tx, rt, t.id, at).await?;
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
    /// The sender is proven well enough to be acknowledged and to have their
    /// own words (subject, display name) quoted back (crate::trust).
    pub verified: bool,
    /// A person released a held acknowledgment (`onit ticket ID ack`): neither
    /// the trust gate nor the rate caps apply.
    pub released_by: Option<&'a str>,
    /// The message was too large to read whole (its size): the acknowledgment says so.
    pub too_large: Option<u64>,
}

/// Queues the acknowledgment of new ticket `t` (POLICY Standard 1) at `now`:
/// our mail with the next update's time, PM in Cc. It is the ticket's first
/// contact and first promise. At most one per ticket (the outbox dedupe key).
/// Unless a person released it: held (`ack_held`) when the sender is not
/// verified and `trust.acknowledge = "authenticated"`; suppressed
/// (`ack_suppressed`) beyond `policy.ack_rate_per_hour` per sender (without
/// `+tag`), `ack_rate_per_domain_per_hour` per domain or `ack_rate_total_per_hour`
/// in all. Text of an unverified sender is never echoed back to them.
/// Returns whether one was queued.
pub async fn acknowledge(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    req: &AckRequest<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let reporter = req.reporter;
    if req.released_by.is_none() {
        if rt.trust.acknowledge == crate::trust::AckTrust::Authenticated && !req.verified {
            let detail = format!(
                "acknowledgment held: the sender {reporter} is not proven (trust.acknowledge = authenticated); `onit ticket {} ack` sends it",
                t.reference()
            );
            record(tx, t.id, now, EventKind::AckHeld, By::default(), &detail).await?;
            tracing::info!(%reporter, "acknowledgment held for an unproven sender");
            return Ok(false);
        }
        if let Some(detail) = ack_rate_reached(tx, rt, reporter, now).await? {
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
    }
    let reference = t.reference();
    let pm = pm_of(rt, t);
    let due = due_after(rt, t, now);
    let mut refs = req.references.to_vec();
    refs.push(req.message_id.to_string());
    // Never echo an unverified sender's words to their address (backscatter carries spam).
    let (client_name, original_subject) = if req.verified {
        (req.client_name, req.subject)
    } else {
        (None, "")
    };
    let text = crate::acknowledgment::ack_body(
        &rt.calendar,
        &crate::acknowledgment::AckText {
            ticket: &reference,
            client_name,
            original_subject,
            priority: t.priority,
            next_update: due.at,
            pm: &pm,
            team_name: &rt.team.from_name,
            now,
            too_large: req.too_large,
        },
    );
    let subject = crate::acknowledgment::ack_subject(
        if req.verified {
            req.subject
        } else {
            "your message"
        },
        &reference,
    );
    let to = [(reporter.clone(), client_name.map(str::to_string))];
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
        inline: &[],
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
    // The acknowledgment becomes a contact (POLICY Standard 5) when it leaves
    // ([`mail_sent`]); until then the rules still see the first response as due.
    tx.ack_queued(t.id, &composed.message_id, now).await?;
    Ok(true)
}

pub use super::pm_of;

mod attach;
mod merge;
mod monitoring;
pub use attach::attached;
pub use merge::{merge, reopen, Merge};
pub use monitoring::{alert_mail, open_alert, take_ownership, AlertChange, AlertMail};

/// Why no more acknowledgments may go to `to` now, if a rate cap is reached.
async fn ack_rate_reached(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    to: &EmailAddress,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    use crate::store::RateScope;
    let since = now - Duration::hours(1);
    let p = &rt.policy;
    let caps = [
        (
            RateScope::Address(to),
            p.ack_rate_per_hour,
            "ack_rate_per_hour",
            to.rate_key(),
        ),
        (
            RateScope::Domain(to),
            p.ack_rate_per_domain_per_hour,
            "ack_rate_per_domain_per_hour",
            to.domain().to_string(),
        ),
        (
            RateScope::All,
            p.ack_rate_total_per_hour,
            "ack_rate_total_per_hour",
            "everyone".into(),
        ),
    ];
    for (scope, cap, key, whom) in caps {
        let n = tx
            .queued_since(OutboxKind::Ack, scope, since, cap as i64)
            .await?;
        if n >= cap as i64 {
            return Ok(Some(format!(
                "no acknowledgment: {n} already sent to {whom} in the last hour ({key} = {cap})"
            )));
        }
    }
    Ok(None)
}

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
    settle_due(tx, rt, t.id, at).await?;
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

/// The status change itself: a reopened ticket's cadence starts again, and a
/// resolved or closed one owes nothing. The status event that records it is
/// written in the same call (`event`), before the due time is settled, since the
/// rules read the change from it.
async fn change_status(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    s: Status,
    (kind, by, detail): (EventKind, By<'_>, &str),
    at: DateTime<Utc>,
) -> Result<()> {
    tx.set_status(t.id, s, at).await?;
    t.status = s;
    t.closed_at = (s == Status::Closed).then(|| to_ms(at));
    status_event(tx, t.id, at, kind, s, by, detail).await?;
    if s == Status::Open {
        settle_due(tx, rt, t.id, at).await
    } else {
        // Cadence stops while a ticket is resolved or closed: nothing is due.
        tx.set_contact_due(t.id, None).await
    }
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
    change_status(tx, rt, t, s, (EventKind::Status, by, s.as_str()), at).await?;
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
    rt: &Runtime,
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
        settle_due(tx, rt, tid, at).await?;
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
