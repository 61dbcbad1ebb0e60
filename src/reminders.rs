//! Reminders to the team, so rules are kept and not only reported: one mail
//! ahead of each due time (`policy.remind_before`, default 15 minutes), and on
//! business days at `policy.open_list_at` (16:00) one list of open tickets with
//! no contact yet today. They go through the outbox with a dedupe key per due
//! time (or per day), so each is sent once, across restarts too. They are
//! addressed to team addresses only and never reach a client.
//!
//! [`tick`] takes `now` as an argument: the daemon calls it with the clock,
//! tests with any instant they like.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tracing::info;

use crate::address::EmailAddress;
use crate::compliance::{load_histories, Rules};
use crate::config::Runtime;
use crate::notices::{queue, Notice};
use crate::policy::evaluate::evaluate;
use crate::store::Store;
use crate::ticket::OutboxKind;

/// What one tick queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub reminders: usize,
    pub open_list: bool,
}

/// Who reminders go to: `team.reminders_to`, else the engineers, else the support address.
/// Anything that is not a team address is dropped (a client must never get one).
pub fn recipients(rt: &Runtime) -> Vec<EmailAddress> {
    let list: Vec<EmailAddress> = if !rt.team.reminders_to.is_empty() {
        rt.team.reminders_to.clone()
    } else if !rt.team.engineers.is_empty() {
        rt.team.engineers.iter().cloned().collect()
    } else {
        vec![rt.team.from.clone()]
    };
    list.into_iter().filter(|a| rt.team.is_team(a)).collect()
}

/// Queues every reminder that is due at `now`.
pub async fn tick(store: &Store, rt: &Runtime, now: DateTime<Utc>) -> Result<TickReport> {
    tick_fenced(store, rt, now, &crate::leadership::Fence::none()).await
}

/// As [`tick`], committing only while `fence` (the scheduler's leadership) holds.
pub async fn tick_fenced(
    store: &Store,
    rt: &Runtime,
    now: DateTime<Utc>,
    fence: &crate::leadership::Fence,
) -> Result<TickReport> {
    let to = recipients(rt);
    if to.is_empty() {
        return Ok(TickReport::default());
    }
    let histories = load_histories(store, true).await?;
    if histories.is_empty() {
        return Ok(TickReport::default());
    }
    let tickets: HashMap<String, crate::store::TicketRow> = store
        .open_tickets()
        .await?
        .into_iter()
        .map(|t| (t.reference(), t))
        .collect();
    let rules = Rules::new(rt);
    let cx = rules.context(rt, now);
    let tz = rt.calendar.tz();
    let mut report = TickReport::default();
    // Evaluate first, outside any transaction: on SQLite the write transaction holds
    // the one writer, and ingest must not wait for a pass over every open ticket.
    let due_now: Vec<(
        &crate::policy::history::TicketHistory,
        crate::policy::cadence::Due,
    )> = histories
        .iter()
        .filter_map(|h| evaluate(h, &cx).next_due.map(|d| (h, d)))
        // The first response is the daemon's own job (the acknowledgment), not the team's.
        .filter(|(_, due)| {
            due.rule != crate::policy::rules::first_response::ID
                && due.at > now
                && due.at - rt.policy.remind_before <= now
        })
        .collect();
    let mut tx = store.begin().await?;
    for (h, due) in due_now {
        let (client, subject) = tickets
            .get(&h.id)
            .map(|t| {
                (
                    t.reporter.as_str(),
                    crate::message::subject_text(&t.subject),
                )
            })
            .unwrap_or_default();
        let local = due.at.with_timezone(&tz);
        let body = format!(
            "Ticket {id} ({priority}) needs a contact with the client by {time}.\n\n\
             Client:   {client}\n\
             Subject:  {subject}\n\
             Rule:     {rule}\n\
             Deadline: {full}\n\n\
             Reply to the client with the PM ({pm}) in Cc and say when the next update will come.\n\n\
             -- onit\n",
            id = h.id,
            priority = h.priority,
            time = local.format("%H:%M %Z"),
            rule = due.rule,
            full = local.format("%A %-d %B %Y, %H:%M %Z"),
            pm = h.pm,
        );
        let notice = Notice {
            kind: OutboxKind::Reminder,
            dedupe_key: format!("remind:{}:{}:{}", h.id, due.rule, due.at.timestamp()),
            ticket_id: tickets.get(&h.id).map(|t| t.id),
            ticket: Some(&h.id),
            to: &to,
            subject: format!("Update due by {} ({})", local.format("%H:%M"), due.rule),
            body,
        };
        if queue(&mut tx, rt, &notice, now).await? {
            report.reminders += 1;
        }
    }
    // The daily list: business days, from open_list_at until the end-of-day deadline.
    let today = rt.calendar.local_date(now);
    let list_from = rt.calendar.at_local(today, rt.policy.open_list_at);
    let list_until = rt.calendar.at_local(today, rt.policy.eod_time);
    if rt.calendar.is_business_day(today) && now >= list_from && now < list_until {
        let silent: Vec<&crate::policy::history::TicketHistory> = histories
            .iter()
            .filter(|h| {
                h.opened_at < list_from
                    && !h
                        .contacts
                        .iter()
                        .any(|c| rt.calendar.local_date(c.at) == today && c.at <= now)
            })
            .collect();
        if !silent.is_empty() {
            let mut body = format!("Open tickets with no contact yet today ({}); the end-of-day update is due by {}:\n\n", today.format("%A %-d %B"), rt.policy.eod_time.format("%H:%M"));
            for h in &silent {
                let (client, subject) = tickets
                    .get(&h.id)
                    .map(|t| {
                        (
                            t.reporter.as_str(),
                            crate::message::subject_text(&t.subject),
                        )
                    })
                    .unwrap_or_default();
                body.push_str(&format!(
                    "  {:<9} {:<7} {:<30} {}\n",
                    h.id,
                    h.priority.as_str(),
                    client,
                    subject
                ));
            }
            body.push_str("\n-- onit\n");
            let notice = Notice {
                kind: OutboxKind::OpenList,
                dedupe_key: format!("open-list:{today}"),
                ticket_id: None,
                ticket: None,
                to: &to,
                subject: format!("{} open ticket(s) still need today's update", silent.len()),
                body,
            };
            report.open_list = queue(&mut tx, rt, &notice, now).await?;
        }
    }
    fence.check(&mut tx).await?;
    tx.commit().await?;
    if report.reminders > 0 || report.open_list {
        info!(
            reminders = report.reminders,
            open_list = report.open_list,
            "reminders queued"
        );
    }
    Ok(report)
}
