//! Ownership of monitoring alerts: which alert needs the reminder to the team
//! (nobody attended to it within `monitoring.own_within_mins` of its firing),
//! and that reminder. The reminder pass (`crate::reminders::tick`) calls
//! [`due`] and [`queue`] with the team's addresses; nothing here goes to a client
//! or to the monitoring sender.
//!
//! Readings:
//! * An alert's *firing* is its ticket's latest `opened` or `reopened` event.
//! * The team *attended* to it when, since that firing, the ticket has a team
//!   act: an internal note, an update, a note from the command line, an owner,
//!   or any command applied (priority, severity, status, a closing fact, an
//!   additional issue, a merge) or refused as invalid. Automated mail and
//!   further alert mail are not acts of the team.
//! * One reminder per firing (its dedupe key holds the firing time), none once
//!   someone owns the alert or it is resolved.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::notices::Notice;
use crate::store::{from_ms, EventRow, Store, TicketRow, Tx};
use crate::ticket::{EventKind, OutboxKind, Status};

/// True when an event of this kind is an act of the team on the ticket.
pub fn attends(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::InternalNote
            | EventKind::Note
            | EventKind::Contact
            | EventKind::Owner
            | EventKind::PrioritySet
            | EventKind::SeveritySet
            | EventKind::FactSet(_)
            | EventKind::Status
            | EventKind::CommandInvalid
            | EventKind::AdditionalIssue
            | EventKind::Merged
    )
}

/// When the alert on `t` last fired: its latest `opened` or `reopened` event.
pub fn fired_at(events: &[EventRow]) -> Option<DateTime<Utc>> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Opened | EventKind::Reopened))
        .map(|e| from_ms(e.at))
        .max()
}

/// When the ownership reminder of monitoring ticket `t` is due, given its
/// events: `own_within` after its last firing, unless it is owned, not open, or
/// the team attended to it since. The firing time comes with it (the reminder's key).
pub fn reminder_due(
    t: &TicketRow,
    events: &[EventRow],
    own_within: Duration,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if t.alert_key.is_none() || t.owner.is_some() || t.status != Status::Open {
        return None;
    }
    let fired = fired_at(events)?;
    let attended = events
        .iter()
        .any(|e| attends(e.kind) && from_ms(e.at) >= fired);
    (!attended).then_some((fired, fired + own_within))
}

/// One alert whose ownership reminder is due.
#[derive(Debug, Clone)]
pub struct Due {
    pub ticket: TicketRow,
    pub fired: DateTime<Utc>,
    pub due: DateTime<Utc>,
}

/// The unowned open alerts whose reminder is due at `now` (read outside any
/// transaction: only open, unowned monitoring tickets are looked at).
pub async fn due(store: &Store, rt: &Runtime, now: DateTime<Utc>) -> Result<Vec<Due>> {
    let mut out = Vec::new();
    for t in store.unowned_alerts().await? {
        let events = store.events(t.id).await?;
        if let Some((fired, due)) = reminder_due(&t, &events, rt.monitoring.own_within) {
            if due <= now {
                out.push(Due {
                    ticket: t,
                    fired,
                    due,
                });
            }
        }
    }
    Ok(out)
}

/// Queues the reminder of each alert in `due` to `to` (team addresses only),
/// once per firing. Returns how many were queued now.
pub async fn queue(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    due: &[Due],
    to: &[EmailAddress],
    now: DateTime<Utc>,
) -> Result<usize> {
    let tz = rt.calendar.tz();
    let mut n = 0;
    for d in due {
        let t = &d.ticket;
        let id = t.reference();
        let fired = d.fired.with_timezone(&tz);
        let mins = rt.monitoring.own_within.num_minutes();
        let body = format!(
            "Monitoring alert {id} has no owner: it fired at {time} and nobody on the team \
             has noted or acted on it in {mins} minutes.\n\n\
             Source:  {source}\n\
             Alert:   {subject}\n\
             Fired:   {full}\n\n\
             Whoever takes it: reply to the team (not the monitoring system) with a note on \
             [{id}] holding the line `#owner` (or `#owner someone@…` for a colleague who \
             took it), then report and address it.\n\n\
             -- onit\n",
            time = fired.format("%H:%M %Z"),
            source = t.alert_source.as_deref().unwrap_or("-"),
            subject = crate::message::subject_text(&t.subject),
            full = fired.format("%A %-d %B %Y, %H:%M %Z"),
        );
        let notice = Notice {
            kind: OutboxKind::Reminder,
            dedupe_key: format!("own:{id}:{}", d.fired.timestamp()),
            ticket_id: Some(t.id),
            ticket: Some(&id),
            to,
            subject: "Monitoring alert needs an owner".into(),
            body,
        };
        if crate::notices::queue(tx, rt, &notice, now).await? {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::to_ms;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
    }

    fn ev(kind: EventKind, at: DateTime<Utc>) -> EventRow {
        EventRow {
            id: 0,
            ticket_id: 1,
            at: to_ms(at),
            kind,
            actor: None,
            message_id: None,
            detail: String::new(),
            status: None,
            auth: None,
            auth_how: None,
        }
    }

    #[test]
    fn due_after_the_last_firing_unless_attended_owned_or_resolved() {
        let within = Duration::minutes(30);
        let mut alert = TicketRow::for_test(1, "[FIRING:1] X", t(10, 0));
        alert.alert_key = Some("x".into());
        let fired = vec![
            ev(EventKind::Opened, t(10, 0)),
            ev(EventKind::Alert, t(10, 0)),
        ];
        assert_eq!(
            reminder_due(&alert, &fired, within),
            Some((t(10, 0), t(10, 30)))
        );
        // More alert mail and automated mail are not the team attending.
        let mut more = fired.clone();
        more.push(ev(EventKind::Alert, t(10, 5)));
        more.push(ev(EventKind::Automated, t(10, 6)));
        assert_eq!(
            reminder_due(&alert, &more, within),
            Some((t(10, 0), t(10, 30)))
        );
        for kind in [
            EventKind::InternalNote,
            EventKind::Note,
            EventKind::Contact,
            EventKind::PrioritySet,
            EventKind::CommandInvalid,
        ] {
            let mut noted = fired.clone();
            noted.push(ev(kind, t(10, 10)));
            assert_eq!(reminder_due(&alert, &noted, within), None, "{kind}");
        }
        // A note before the alert fired again does not count for the new firing.
        let mut again = fired.clone();
        again.push(ev(EventKind::InternalNote, t(10, 10)));
        again.push(ev(EventKind::Reopened, t(11, 0)));
        assert_eq!(
            reminder_due(&alert, &again, within),
            Some((t(11, 0), t(11, 30)))
        );
        let mut owned = alert.clone();
        owned.owner = Some("dan@jac.example".into());
        assert_eq!(reminder_due(&owned, &fired, within), None);
        let mut resolved = alert.clone();
        resolved.status = Status::Resolved;
        assert_eq!(reminder_due(&resolved, &fired, within), None);
        let client = TicketRow::for_test(2, "Checkout down", t(10, 0));
        assert_eq!(reminder_due(&client, &fired, within), None, "not an alert");
    }
}
