//! Reminders to the team, so rules are kept and not only reported: one mail
//! ahead of each due time (`policy.remind_before`, default 15 minutes), and on
//! business days at `policy.open_list_at` (16:00) one list of open tickets with
//! no contact yet today; and a reminder for each monitoring alert nobody
//! attended to within `monitoring.own_within_mins` (crate::monitoring::ownership).
//! They go through the outbox with a dedupe key per due
//! time (or per day), so each is sent once, across restarts too. They are
//! addressed to team addresses only and never reach a client.
//!
//! [`tick`] takes `now` as an argument: the daemon calls it with the clock,
//! tests with any instant they like.

use anyhow::Result;
use chrono::{DateTime, Utc};
use tracing::info;

use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::notices::{queue, Notice};
use crate::policy::cadence::Due;
use crate::store::Store;
use crate::ticket::OutboxKind;

/// What one tick queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub reminders: usize,
    pub open_list: bool,
    /// Monitoring alerts nobody attended to in time (crate::monitoring::ownership).
    pub ownership: usize,
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

/// The outbox key of the reminder for `due` on ticket `id` (`JAC-7`): one per
/// deadline. The store builds the same key in SQL to leave out tickets already
/// reminded of (`Store::open_tickets_to_remind`).
fn reminder_key(id: &str, due: &Due) -> String {
    format!("remind:{id}:{}:{}", due.rule, due.at.timestamp())
}

/// As [`tick`], committing only while `fence` (the scheduler's leadership) holds.
pub async fn tick_fenced(
    store: &Store,
    rt: &Runtime,
    now: DateTime<Utc>,
    fence: &crate::leadership::Fence,
) -> Result<TickReport> {
    // Tickets whose due time passed are evaluated again first (a day turned, a
    // deadline broke); then only the tickets due within the reminder horizon are
    // read, through the index on the stored due time: the rules' own answer.
    crate::ticket::lifecycle::settle_dues(store, rt, now).await?;
    let to = recipients(rt);
    if to.is_empty() {
        return Ok(TickReport::default());
    }
    let tz = rt.calendar.tz();
    let mut report = TickReport::default();
    // Due within the horizon and not reminded of yet (the reminder is queued once
    // per deadline and the pass runs every 30 s); the first response is the
    // daemon's own job (the acknowledgment), not the team's.
    let due_now: Vec<(crate::store::TicketRow, Due)> = store
        .open_tickets_to_remind(
            now,
            now + rt.policy.remind_before,
            crate::policy::rules::first_response::ID,
        )
        .await?
        .into_iter()
        .filter_map(|t| {
            let at = crate::store::from_ms(t.next_due_at?);
            let rule = crate::policy::rules::RULE_IDS
                .iter()
                .copied()
                .find(|r| Some(*r) == t.next_due_rule.as_deref())?;
            Some((t, Due { at, rule }))
        })
        .collect();
    let today = rt.calendar.local_date(now);
    let list_from = rt.calendar.at_local(today, rt.policy.open_list_at);
    let list_until = rt.calendar.at_local(today, rt.policy.eod_time);
    let list_time = rt.calendar.is_business_day(today) && now >= list_from && now < list_until;
    // The list is queued once a day; for the rest of its window the pass would read
    // every silent open ticket again every 30 s only to have the insert skipped
    // (18,854 rows, ~120 ms a pass at 1,000,000 tickets).
    let list_key = format!("open-list:{today}");
    let silent = if list_time && !store.outbox_holds(&list_key).await? {
        let day_start = rt.calendar.at_local(today, chrono::NaiveTime::MIN);
        store.open_tickets_silent(list_from, day_start, now).await?
    } else {
        Vec::new()
    };
    let unowned = crate::monitoring::ownership::due(store, rt, now).await?;
    if due_now.is_empty() && silent.is_empty() && unowned.is_empty() {
        return Ok(report);
    }
    let mut tx = store.begin().await?;
    for (t, due) in &due_now {
        let (client, subject) = (
            t.reporter.as_str(),
            crate::message::subject_text(&t.subject),
        );
        let id = t.reference();
        let local = due.at.with_timezone(&tz);
        let body = format!(
            "Ticket {id} ({priority}) needs a contact with the client by {time}.\n\n\
             Client:   {client}\n\
             Subject:  {subject}\n\
             Rule:     {rule}\n\
             Deadline: {full}\n\n\
             Reply to the client with the PM ({pm}) in Cc and say when the next update will come.\n\n\
             -- onit\n",
            priority = t.priority,
            time = local.format("%H:%M %Z"),
            rule = due.rule,
            full = local.format("%A %-d %B %Y, %H:%M %Z"),
            pm = t.pm.to_lowercase(),
        );
        let notice = Notice {
            kind: OutboxKind::Reminder,
            dedupe_key: reminder_key(&id, due),
            ticket_id: Some(t.id),
            ticket: Some(&id),
            to: &to,
            subject: format!("Update due by {} ({})", local.format("%H:%M"), due.rule),
            body,
        };
        if queue(&mut tx, rt, &notice, now).await? {
            report.reminders += 1;
        }
    }
    report.ownership = crate::monitoring::ownership::queue(&mut tx, rt, &unowned, &to, now).await?;
    // The daily list: business days, from open_list_at until the end-of-day deadline.
    if !silent.is_empty() {
        let mut body = format!(
            "Open tickets with no contact yet today ({}); the end-of-day update is due by {}:\n\n",
            today.format("%A %-d %B"),
            rt.policy.eod_time.format("%H:%M")
        );
        for t in &silent {
            body.push_str(&format!(
                "  {:<9} {:<7} {:<30} {}\n",
                t.reference(),
                t.priority.as_str(),
                t.reporter,
                crate::message::subject_text(&t.subject)
            ));
        }
        body.push_str("\n-- onit\n");
        let notice = Notice {
            kind: OutboxKind::OpenList,
            dedupe_key: list_key,
            ticket_id: None,
            ticket: None,
            to: &to,
            subject: format!("{} open ticket(s) still need today's update", silent.len()),
            body,
        };
        report.open_list = queue(&mut tx, rt, &notice, now).await?;
    }
    fence.check(&mut tx).await?;
    tx.commit().await?;
    if report.reminders > 0 || report.open_list || report.ownership > 0 {
        info!(
            reminders = report.reminders,
            open_list = report.open_list,
            ownership = report.ownership,
            "reminders queued"
        );
    }
    Ok(report)
}
