//! `onit compliance`: load the tickets' histories (every one, or with `--since`
//! only the period's), run the pure rules at an instant, and report what broke and
//! what is due next. The same rules keep each ticket's stored due time
//! (`ticket::lifecycle`), which the reminders and `onit tickets` read.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use crate::config::Runtime;
use crate::policy::cadence::CadencePolicy;
use crate::policy::evaluate::{evaluate, Evaluation};
use crate::policy::history::{
    Contact, ContactKind, Promise, Status, StatusChange, TicketHistory, Violation,
};
use crate::policy::priority::Priority;
use crate::policy::rules::{Details, RuleContext};
use crate::store::{from_ms, to_ms, PolicyContactRow, PolicyStatusRow, PolicyTicketRow, Store};

/// Loads ticket histories (all tickets, or only the open ones).
pub async fn load_histories(store: &Store, open_only: bool) -> Result<Vec<TicketHistory>> {
    let tickets = store.policy_tickets(open_only).await?;
    let contacts = store.policy_contacts(open_only).await?;
    let changes = store.policy_status_changes().await?;
    Ok(histories_from_rows(tickets, contacts, changes))
}

/// Loads the histories a report of the period from `since` needs: the tickets not
/// closed, and those with a contact or a status change since then, each with its
/// whole history (the rules need what came before the period). A ticket closed
/// before `since` and silent since breaks no rule at or after it.
pub async fn load_histories_since(
    store: &Store,
    since: DateTime<Utc>,
) -> Result<Vec<TicketHistory>> {
    let (tickets, contacts, changes) = store.policy_rows_since(to_ms(since)).await?;
    Ok(histories_from_rows(tickets, contacts, changes))
}

/// The whole histories of the tickets `ids` (client work only).
pub async fn histories_of(store: &Store, ids: &[i64]) -> Result<Vec<TicketHistory>> {
    let (tickets, contacts, changes) = store.policy_rows_of_ids(ids).await?;
    Ok(histories_from_rows(tickets, contacts, changes))
}

/// Builds histories from policy rows (contacts and changes in time order per ticket;
/// rows of tickets not in `tickets` are skipped).
pub fn histories_from_rows(
    tickets: Vec<PolicyTicketRow>,
    contacts: Vec<PolicyContactRow>,
    changes: Vec<PolicyStatusRow>,
) -> Vec<TicketHistory> {
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(tickets.len());
    let mut out: Vec<TicketHistory> = Vec::with_capacity(tickets.len());
    for t in tickets {
        index.insert(t.id, out.len());
        out.push(TicketHistory {
            id: format!("{}-{}", t.prefix, t.number),
            priority: t.priority,
            opened_at: from_ms(t.opened_at),
            pm: t.pm.to_lowercase(),
            contacts: Vec::new(),
            status_changes: Vec::new(),
        });
    }
    for c in contacts {
        let Some(&i) = index.get(&c.ticket_id) else {
            continue;
        };
        let mut recipients: Vec<String> = Vec::new();
        for a in c.to_addrs.split(',').chain(c.cc_addrs.split(',')) {
            let a = a.trim().to_lowercase();
            if !a.is_empty() && !recipients.contains(&a) {
                recipients.push(a);
            }
        }
        out[i].contacts.push(Contact {
            at: from_ms(c.contact_at),
            message_id: c.message_id,
            kind: match c.contact_kind.as_deref() {
                Some("acknowledgment") => ContactKind::Acknowledgment,
                Some("report") => ContactKind::Report,
                _ => ContactKind::Update,
            },
            recipients,
            promise: c.promise_at.map(|p| Promise {
                at: from_ms(p),
                phrase: c.promise_text.unwrap_or_default(),
            }),
            dismissive: c.dismissive,
        });
    }
    for s in changes {
        let Some(&i) = index.get(&s.ticket_id) else {
            continue;
        };
        out[i].status_changes.push(StatusChange {
            at: from_ms(s.at),
            status: s.status,
        });
    }
    out
}

/// The rule settings of a configuration, at an instant.
pub struct Rules {
    cadence: CadencePolicy,
}

impl Rules {
    /// The cadence part of `rt`.
    pub fn new(rt: &Runtime) -> Rules {
        Rules {
            cadence: rt.cadence(),
        }
    }

    /// The context the pure rules run in, at `at`.
    pub fn context<'a>(&'a self, rt: &'a Runtime, at: DateTime<Utc>) -> RuleContext<'a> {
        RuleContext {
            cal: &rt.calendar,
            cadence: &self.cadence,
            first_response: rt.policy.first_response,
            urgent_max_silence: rt.policy.urgent_max_silence,
            promise_grace: rt.policy.promise_grace,
            at,
            details: Details::All,
        }
    }
}

/// The next due time of one open ticket.
#[derive(Debug, Clone, Serialize)]
pub struct DueView {
    pub ticket: String,
    pub priority: Priority,
    #[serde(serialize_with = "crate::views::ser_opt_time")]
    pub next_due_at: Option<DateTime<Utc>>,
    pub rule: Option<&'static str>,
}

/// What `onit compliance --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The instant evaluated (`--at`).
    #[serde(serialize_with = "crate::views::ser_time")]
    pub at: DateTime<Utc>,
    /// `--since`, when given: only violations at or after it are listed.
    #[serde(serialize_with = "crate::views::ser_opt_time")]
    pub since: Option<DateTime<Utc>>,
    /// Every rule broken up to `at`, ordered by time.
    pub violations: Vec<Violation>,
    /// For each open ticket, when the next contact is due and which rule sets it.
    pub open_tickets: Vec<DueView>,
}

/// Evaluates every history at `at`.
pub fn evaluate_all(
    histories: &[TicketHistory],
    rt: &Runtime,
    at: DateTime<Utc>,
) -> Vec<(usize, Evaluation)> {
    let rules = Rules::new(rt);
    evaluate_each(histories, &rules.context(rt, at))
}

/// How many threads work over `tickets` histories is worth splitting across:
/// the CPUs this process may use (at most 8; one for a command kept on one,
/// `cpu_placement`) from 2,000 tickets, else 1 (below that a thread costs
/// more than it saves). The rules are pure and tickets independent, so the
/// split needs no locking.
pub(crate) fn threads_for(tickets: usize) -> usize {
    if tickets < 2_000 {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// `f` over every item, each with its index, results in the items' order:
/// on up to `threads` scoped threads, each over one contiguous chunk, or on
/// this thread when `threads` is below 2 or there is one item. A panic on a
/// thread reaches the caller: a chunk dropped on a panic would leave tickets
/// out of a report (and misalign a digest's rates, which read in order).
pub(crate) fn map_on_threads<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    if threads < 2 || items.len() < 2 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, t)| f(n * chunk + i, t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Evaluates every history in `cx`, each with its index in `histories`, in
/// that order (large sets on several threads: [`threads_for`]). A panic in a
/// rule reaches the caller.
pub fn evaluate_each(histories: &[TicketHistory], cx: &RuleContext) -> Vec<(usize, Evaluation)> {
    map_on_threads(histories, threads_for(histories.len()), |i, h| {
        (i, evaluate(h, cx))
    })
}

/// Runs the compliance check over the whole store.
pub async fn compliance(
    store: &Store,
    rt: &Runtime,
    at: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
) -> Result<Report> {
    // With `--since`, only the period's tickets are read (what a violation at or
    // after `since` can come from); without it, every ticket, part by part.
    match since {
        Some(s) => {
            let histories = load_histories_since(store, s).await?;
            Ok(report(&histories, rt, at, since))
        }
        None => compliance_in_parts(store, rt, at, TICKETS_PER_PART).await,
    }
}

/// How many tickets' histories a whole-history report holds at once.
pub const TICKETS_PER_PART: u32 = 20_000;

/// The whole-history report at `at`, read and evaluated `per_part` tickets at
/// a time ([`each_part`]): only the report stays, not every history. A
/// ticket's rules read its own history alone, so the parts' violations and due
/// times are the whole load's; they come in ticket order, as the whole load's
/// did, and are sorted the same (a stable sort), so the report is the same,
/// byte for byte (`tests/it/compliance.rs`). At 1 M tickets the whole load held
/// 3.9 GB, the report alone 1.08 GB: `onit compliance` keeps the parts on disk
/// instead and merges them as it writes (`crate::compliance_parts`).
pub async fn compliance_in_parts(
    store: &Store,
    rt: &Runtime,
    at: DateTime<Utc>,
    per_part: u32,
) -> Result<Report> {
    let mut violations = Vec::new();
    let mut open_tickets = Vec::new();
    each_part(store, rt, at, per_part, |part| {
        violations.extend(part.violations);
        open_tickets.extend(part.open_tickets);
        Ok(())
    })
    .await?;
    sort_violations(&mut violations);
    Ok(Report {
        at,
        since: None,
        violations,
        open_tickets,
    })
}

/// Reads every ticket `per_part` at a time ([`Store::policy_rows_after`], by
/// id), evaluates each part at `at` and hands `f` the part's report (its
/// violations sorted, its open tickets in ticket order), parts in ticket order.
pub async fn each_part(
    store: &Store,
    rt: &Runtime,
    at: DateTime<Utc>,
    per_part: u32,
    mut f: impl FnMut(Report) -> Result<()>,
) -> Result<()> {
    let rules = Rules::new(rt);
    let cx = rules.context(rt, at).with_details(Details::All);
    let mut after = i64::MIN;
    loop {
        let (tickets, contacts, changes) = store.policy_rows_after(after, per_part.max(1)).await?;
        let Some(last) = tickets.last().map(|t| t.id) else {
            return Ok(());
        };
        after = last;
        let histories = histories_from_rows(tickets, contacts, changes);
        f(report_of(
            &histories,
            &evaluate_each(&histories, &cx),
            at,
            None,
        ))?;
    }
}

/// The report for loaded histories (pure; the benchmark times this part).
pub fn report(
    histories: &[TicketHistory],
    rt: &Runtime,
    at: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
) -> Report {
    // A violation before `since` is not listed: its detail is not written.
    let rules = Rules::new(rt);
    let details = since.map_or(Details::All, Details::From);
    let cx = rules.context(rt, at).with_details(details);
    report_of(histories, &evaluate_each(histories, &cx), at, since)
}

/// The report of `histories` evaluated at `at` (`evaluations`, each with its
/// history's index, as [`evaluate_each`] returns them; their details at least
/// from `since`): a digest evaluates once for its report and its rates.
pub fn report_of(
    histories: &[TicketHistory],
    evaluations: &[(usize, Evaluation)],
    at: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
) -> Report {
    let mut violations = Vec::new();
    let mut open_tickets = Vec::new();
    for (i, ev) in evaluations {
        let h = &histories[*i];
        violations.extend(
            ev.violations
                .iter()
                .filter(|v| since.is_none_or(|s| v.at >= s))
                .cloned(),
        );
        if h.opened_at <= at && h.status_at(at) == Status::Open {
            open_tickets.push(DueView {
                ticket: h.id.clone(),
                priority: h.priority,
                next_due_at: ev.next_due.map(|d| d.at),
                rule: ev.next_due.map(|d| d.rule),
            });
        }
    }
    sort_violations(&mut violations);
    Report {
        at,
        since,
        violations,
        open_tickets,
    }
}

/// A report's order: by time, then ticket, then rule; stable, so violations
/// equal in all three keep the order they were found in.
fn sort_violations(violations: &mut [Violation]) {
    violations.sort_by(report_order);
}

/// The report's order of violations: by time, then ticket, then rule.
pub fn report_order(a: &Violation, b: &Violation) -> std::cmp::Ordering {
    a.at.cmp(&b.at)
        .then_with(|| a.ticket.cmp(&b.ticket))
        .then_with(|| a.rule.cmp(b.rule))
}

/// Parses a `--at`/`--since` time: RFC 3339 (`2026-11-26T17:00:00Z`), or a local
/// time in the calendar's zone (`2026-11-26 17:00`, `2026-11-26T17:00`), or a
/// date (`2026-11-26`, meaning its start, 00:00 local).
pub fn parse_time(s: &str, rt: &Runtime) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let tz = rt.calendar.tz();
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return tz
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    anyhow::anyhow!("{s} does not exist in {tz} (a daylight-saving gap)")
                });
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(rt.calendar.at_local(d, chrono::NaiveTime::MIN));
    }
    anyhow::bail!("`{s}` is not a time: use RFC 3339 (2026-11-26T17:00:00Z), a local time (2026-11-26 17:00) or a date")
}

/// People's view of a report.
pub fn report_text(r: &Report, rt: &Runtime) -> String {
    let mut out = Vec::new();
    write_report_text(&mut out, r, rt).expect("writing into memory");
    String::from_utf8(out).expect("the report is text")
}

/// [`report_text`] written to `w` line by line: a whole-history report has a
/// line per violation ever (3.5 M at the scale bench's 1 M tickets), which
/// `onit compliance` no longer builds as one string before printing it.
pub fn write_report_text(
    w: &mut impl std::io::Write,
    r: &Report,
    rt: &Runtime,
) -> std::io::Result<()> {
    let violations = r.violations.iter().map(Ok);
    write_text_from(
        w,
        r.at,
        r.since,
        r.violations.len(),
        violations,
        &r.open_tickets,
        rt,
    )
}

/// [`write_report_text`] from its parts: `count` violations coming in the
/// report's order (`compliance_parts` merges them from disk as it writes).
pub fn write_text_from<V: std::borrow::Borrow<Violation>>(
    w: &mut impl std::io::Write,
    at: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    count: usize,
    violations: impl Iterator<Item = std::io::Result<V>>,
    open_tickets: &[DueView],
    rt: &Runtime,
) -> std::io::Result<()> {
    let tz = rt.calendar.tz();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %d %b %H:%M %Z").to_string();
    write!(
        w,
        "Compliance at {}{}\n\n",
        local(at),
        since
            .map(|s| format!(" (since {})", local(s)))
            .unwrap_or_default()
    )?;
    if count == 0 {
        writeln!(w, "No rule broken.")?;
    } else {
        writeln!(w, "{count} rule(s) broken:")?;
        for v in violations {
            let v = v?;
            let v = v.borrow();
            writeln!(
                w,
                "  {}  {:<8} {:<20} {}",
                v.at.with_timezone(&tz).format("%a %d %b %H:%M"),
                v.ticket,
                v.rule,
                v.detail
            )?;
        }
    }
    write!(w, "\nOpen tickets ({}):\n", open_tickets.len())?;
    for t in open_tickets {
        writeln!(
            w,
            "  {:<8} {:<7} next due {} ({})",
            t.ticket,
            t.priority,
            t.next_due_at.map(local).unwrap_or_else(|| "-".into()),
            t.rule.unwrap_or("-")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn evaluations_on_threads_come_back_in_order_as_one_by_one() {
        // 2,500 tickets (enough for threads where the machine has two CPUs),
        // silent since they opened: every one breaks rules, each at its own times.
        let rt = Runtime::load(None).expect("default config");
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let histories: Vec<TicketHistory> = (0..2_500_i64)
            .map(|i| TicketHistory {
                id: format!("JAC-{}", i + 1),
                priority: [Priority::Urgent, Priority::High, Priority::Medium][(i % 3) as usize],
                opened_at: start + Duration::minutes(i),
                pm: "pm@jac.example".into(),
                contacts: Vec::new(),
                status_changes: Vec::new(),
            })
            .collect();
        let rules = Rules::new(&rt);
        let cx = rules.context(&rt, start + Duration::days(3));
        let each = evaluate_each(&histories, &cx);
        assert_eq!(each.len(), histories.len());
        for (k, (i, ev)) in each.iter().enumerate() {
            assert_eq!(*i, k);
            assert!(!ev.violations.is_empty(), "{}", histories[k].id);
            assert_eq!(*ev, evaluate(&histories[k], &cx), "{}", histories[k].id);
        }
    }
}
