//! The compliance rate a digest shows at its top: contacts made on time ÷
//! contacts due, in the digest's period, overall and per client project, with
//! the same window a week earlier beside it. Pure: histories, the rules'
//! context and the window in, counts out.
//!
//! Interpretations (a POLICY reading):
//! * A "contact due" is a deadline of a rule about a contact being due:
//!   `first-response`, `urgent-hourly`, `high-checkpoints`, `eod-update` and
//!   `promise-kept` ([`DEADLINE_RULES`]). `pm-cc`, `next-update-stated` and
//!   `dismissive-language` judge what a contact says or whom it copies, not
//!   whether it came on time, so they are not in the rate (the digest lists
//!   their breaks all the same).
//! * A deadline counts in the period in which it was decided: **kept** when a
//!   contact in the period met it (the rule's next due time moved on with that
//!   contact), **missed** when the rule broke for it in the period (the
//!   violation's time is in the window). A contact meeting a promise for
//!   tomorrow counts today; a deadline still ahead counts nowhere yet.
//! * One contact can meet several deadlines at once (the hour, the day's
//!   16:30 and a promise): each counts, as each was due. A contact up to the
//!   promise grace late still keeps a promise, as `promise-kept` says.
//! * `urgent-hourly` allows two skipped hours: a contact inside that allowance
//!   keeps the hour it was due in; a contact that ends a silence the rule
//!   already reported broken counts as that one miss, not also as kept.
//! * A contact made as the ticket is resolved or closed (the closing report)
//!   meets nothing: cadence stops there, so what was due is no longer due.
//! * A window is `(from, to]`; "last week" is the same window 7 days earlier.
//!   A rate with nothing due is no rate: it shows as "—", never as 100 %.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::policy::evaluate::{evaluate, DEADLINE_RULES};
use crate::policy::history::{Status, TicketHistory, Violation};
use crate::policy::rules::{promise_kept, urgent_hourly, Details, RuleContext, Seen};

/// A period `(from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// The same window `weeks` weeks earlier.
    pub fn weeks_earlier(self, weeks: i64) -> Window {
        Window {
            from: self.from - Duration::weeks(weeks),
            to: self.to - Duration::weeks(weeks),
        }
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from < t && t <= self.to
    }
}

/// Contacts made on time out of contacts due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub kept: usize,
    pub due: usize,
}

impl Rate {
    /// The rate in whole percent (rounded), or `None` when nothing was due.
    pub fn percent(&self) -> Option<u32> {
        (self.due > 0).then(|| ((self.kept * 200 + self.due) / (self.due * 2)) as u32)
    }

    /// `83%`, or `—` when nothing was due.
    pub fn label(&self) -> String {
        self.percent()
            .map_or_else(|| "—".to_string(), |p| format!("{p}%"))
    }

    fn add(&mut self, other: Rate) {
        self.kept += other.kept;
        self.due += other.due;
    }
}

/// The rate of one ticket in `w`. `cx` gives the calendar and limits; its `at` is not used.
pub fn ticket_rate(h: &TicketHistory, cx: &RuleContext, w: Window) -> Rate {
    ticket_rate_given(h, cx, w, None)
}

/// [`ticket_rate`], given the ticket's violations at the window's end when they
/// are known (an evaluation at `w.to`, details or not): a digest's report has them.
pub fn ticket_rate_given(
    h: &TicketHistory,
    cx: &RuleContext,
    w: Window,
    at_end: Option<&[Violation]>,
) -> Rate {
    // Nothing can fall due in the window for a ticket opened after it, or one
    // not open at its start that neither changed status nor had a contact in it.
    let quiet = h.status_at(w.from) != Status::Open
        && !h.status_changes.iter().any(|c| w.contains(c.at))
        && !h.contacts.iter().any(|c| w.contains(c.at));
    if h.opened_at > w.to || (h.opened_at <= w.from && quiet) {
        return Rate::default();
    }
    let is_deadline_rule = |r: &str| DEADLINE_RULES.iter().any(|(id, _)| *id == r);
    // Every break of a deadline rule up to the window's end (the earlier ones
    // tell whether a late contact ended a silence already reported).
    let evaluated;
    let at_end = match at_end {
        Some(v) => v,
        None => {
            evaluated = evaluate(h, &cx.with_at(w.to).with_details(Details::Off)).violations;
            &evaluated
        }
    };
    let broken: Vec<(&'static str, DateTime<Utc>)> = at_end
        .iter()
        .filter(|v| is_deadline_rule(v.rule))
        .map(|v| (v.rule, v.at))
        .collect();
    let missed = broken.iter().filter(|(_, at)| w.contains(*at)).count();

    let mut times: Vec<DateTime<Utc>> = h
        .contacts
        .iter()
        .map(|c| c.at)
        .filter(|t| *t <= w.to)
        .collect();
    times.sort();
    times.dedup();
    let mut kept: HashSet<(&'static str, DateTime<Utc>)> = HashSet::new();
    for (i, &c) in times.iter().enumerate() {
        if !w.contains(c) {
            continue;
        }
        // A contact as the ticket is resolved or closed (the closing report)
        // ends what was due rather than meeting it: cadence stops there.
        if h.status_at(c) != Status::Open {
            continue;
        }
        let prev = i.checked_sub(1).map(|j| times[j]);
        let after = cx.with_at(c);
        let seen_after = Seen::new(h, &after);
        // What was due just before this contact (a promise: up to its grace
        // before, as a contact that late still keeps it), never looking back
        // past the previous contact, which would have met it. The ticket as it
        // stood then is seen once for the rules that share the instant.
        let just_before = |t: DateTime<Utc>| {
            let at = prev.map_or(t, |p| t.max(p));
            let before = cx.with_at(at);
            (Seen::new(h, &before), before)
        };
        let before_any = just_before(c - Duration::milliseconds(1));
        let before_promise = just_before(c - Duration::milliseconds(1) - cx.promise_grace);
        for (rule, next_due) in DEADLINE_RULES {
            let (seen, before) = if rule == promise_kept::ID {
                &before_promise
            } else {
                &before_any
            };
            let Some(due) = next_due(seen, before) else {
                continue;
            };
            if next_due(&seen_after, &after) == Some(due) || broken.contains(&(rule, due)) {
                continue;
            }
            let gap_start = prev.unwrap_or(h.opened_at);
            if rule == urgent_hourly::ID
                && broken
                    .iter()
                    .any(|(r, at)| *r == rule && gap_start < *at && *at <= c)
            {
                continue;
            }
            kept.insert((rule, due));
        }
    }
    Rate {
        kept: kept.len(),
        due: kept.len() + missed,
    }
}

/// The rate overall and per project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates {
    pub overall: Rate,
    pub by_project: BTreeMap<String, Rate>,
}

/// The rates of `histories` in `w`, per project as `project_of` names it.
pub fn rates<'h, 'p>(
    histories: impl IntoIterator<Item = &'h TicketHistory>,
    project_of: impl Fn(&TicketHistory) -> &'p str,
    cx: &RuleContext,
    w: Window,
) -> Rates {
    rates_given(histories.into_iter().map(|h| (h, None)), project_of, cx, w)
}

/// [`rates`], each history with its violations at `w.to` when known
/// ([`ticket_rate_given`]).
pub fn rates_given<'h, 'p>(
    histories: impl IntoIterator<Item = (&'h TicketHistory, Option<&'h [Violation]>)>,
    project_of: impl Fn(&TicketHistory) -> &'p str,
    cx: &RuleContext,
    w: Window,
) -> Rates {
    let mut out = Rates::default();
    for (h, at_end) in histories {
        let r = ticket_rate_given(h, cx, w, at_end);
        out.overall.add(r);
        // The project's name is copied once, with its first ticket.
        let project = project_of(h);
        match out.by_project.get_mut(project) {
            Some(rate) => rate.add(r),
            None => out
                .by_project
                .entry(project.to_string())
                .or_default()
                .add(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::ContactKind;
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;

    /// Wed 25 Nov 17:00 to Thu 26 Nov 17:00 (London): one daily digest's period.
    fn thursday() -> Window {
        Window {
            from: lon(2026, 11, 25, 17, 0),
            to: lon(2026, 11, 26, 17, 0),
        }
    }

    /// Ticket A (medium, project acme), opened Thu 10:00:
    /// * acknowledged at 10:00:30, promising 14:00: `first-response` kept (due
    ///   10:01), `eod-update` kept (due 16:30, the day's first contact);
    /// * update at 13:50 promising 16:00: the 14:00 promise kept;
    /// * nothing after: the 16:00 promise missed (broken at 16:00).
    ///
    /// 3 kept of 4 due = 75%.
    fn ticket_a() -> TicketHistory {
        let mut h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(
                lons(2026, 11, 26, 10, 0, 30),
                Some(lon(2026, 11, 26, 14, 0)),
            )
            .upd(lon(2026, 11, 26, 13, 50), Some(lon(2026, 11, 26, 16, 0)))
            .build();
        h.id = "JAC-1".into();
        h
    }

    /// Ticket B (urgent, project globex), opened Thu 09:00:
    /// * acknowledged at 09:00:20 (no time stated: `next-update-stated`
    ///   breaks, which the rate leaves out): `first-response` kept, the first
    ///   hour (due 10:00) kept, `eod-update` kept;
    /// * updates at 10:00:20 and 11:00 (without the PM in Cc: `pm-cc`
    ///   breaks, left out too): the hours due 10:00:20 and 11:00:20 kept;
    /// * silence until 15:00: `urgent-hourly` broken at 14:00 (3 business
    ///   hours after 11:00); the 15:00 update ends that broken silence and is
    ///   not counted again; by 17:00 two hours have passed, not yet a break.
    ///
    /// 5 kept of 6 due = 83% (5/6 = 83.3).
    fn ticket_b() -> TicketHistory {
        let mut no_pm = contact(lon(2026, 11, 26, 11, 0), ContactKind::Update, None);
        no_pm.recipients = vec![CLIENT.into()];
        let mut h = ticket(Priority::Urgent, lon(2026, 11, 26, 9, 0))
            .ack(lons(2026, 11, 26, 9, 0, 20), None)
            .upd(lons(2026, 11, 26, 10, 0, 20), None)
            .with(no_pm)
            .upd(lon(2026, 11, 26, 15, 0), None)
            .build();
        h.id = "JAC-2".into();
        h
    }

    /// Ticket C (medium, project acme), a week earlier: opened Thu 19 Nov
    /// 10:00, acknowledged at 10:02 (`first-response` missed: due 10:01),
    /// which is the day's contact (`eod-update` kept); resolved at 15:00, so
    /// nothing is due after. Last week: 1 kept of 2 due = 50%.
    fn ticket_c() -> TicketHistory {
        let mut h = ticket(Priority::Medium, lon(2026, 11, 19, 10, 0))
            .ack(lon(2026, 11, 19, 10, 2), None)
            .status(lon(2026, 11, 19, 15, 0), Status::Resolved)
            .build();
        h.id = "JAC-3".into();
        h
    }

    fn project(h: &TicketHistory) -> &'static str {
        if h.id == "JAC-2" {
            "globex"
        } else {
            "acme"
        }
    }

    #[test]
    fn a_day_computed_by_hand() {
        let fx = Fx::new();
        let cx = fx.cx(lon(2026, 11, 26, 17, 0));
        assert_eq!(
            ticket_rate(&ticket_a(), &cx, thursday()),
            Rate { kept: 3, due: 4 }
        );
        assert_eq!(
            ticket_rate(&ticket_b(), &cx, thursday()),
            Rate { kept: 5, due: 6 }
        );
        let all = [ticket_a(), ticket_b(), ticket_c()];
        let r = rates(&all, project, &cx, thursday());
        // 8 of 10: C is resolved and owes nothing this week.
        assert_eq!(r.overall, Rate { kept: 8, due: 10 });
        assert_eq!(r.overall.label(), "80%");
        assert_eq!(r.by_project["acme"].label(), "75%");
        assert_eq!(r.by_project["globex"].label(), "83%");

        let last = rates(&all, project, &cx, thursday().weeks_earlier(1));
        assert_eq!(last.overall, Rate { kept: 1, due: 2 });
        assert_eq!(last.by_project["acme"].label(), "50%");
        // Globex had nothing due a week earlier: no rate, not 100%.
        assert_eq!(last.by_project["globex"], Rate::default());
        assert_eq!(last.by_project["globex"].label(), "—");
    }

    #[test]
    fn a_promise_kept_within_its_grace_counts_as_kept() {
        let fx = Fx::new();
        let cx = fx.cx(lon(2026, 11, 26, 17, 0));
        // Promise 14:00, next contact 14:04 (grace 5 minutes): kept. With the
        // acknowledgment (first response, the day's 16:30): 3 of 3.
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(
                lons(2026, 11, 26, 10, 0, 30),
                Some(lon(2026, 11, 26, 14, 0)),
            )
            .upd(lon(2026, 11, 26, 14, 4), None)
            .build();
        assert_eq!(ticket_rate(&h, &cx, thursday()), Rate { kept: 3, due: 3 });
        // At 14:06 it is broken, and counted once, as missed.
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(
                lons(2026, 11, 26, 10, 0, 30),
                Some(lon(2026, 11, 26, 14, 0)),
            )
            .upd(lon(2026, 11, 26, 14, 6), None)
            .build();
        assert_eq!(ticket_rate(&h, &cx, thursday()), Rate { kept: 2, due: 3 });
    }

    #[test]
    fn high_windows_count_only_the_window_a_contact_falls_in() {
        let fx = Fx::new();
        let cx = fx.cx(lon(2026, 11, 26, 17, 0));
        // High, opened Wed 25 Nov 16:50 (acknowledged then, before the window).
        // Thursday: a contact at 11:00 (between windows: no window kept, but the
        // day's 16:30 kept) and at 12:30 (lunchtime kept). Morning (10:00) and
        // end of day (16:30) windows missed. 2 kept of 4 due.
        let h = ticket(Priority::High, lon(2026, 11, 25, 16, 50))
            .ack(lons(2026, 11, 25, 16, 50, 10), None)
            .upd(lon(2026, 11, 26, 11, 0), None)
            .upd(lon(2026, 11, 26, 12, 30), None)
            .build();
        assert_eq!(ticket_rate(&h, &cx, thursday()), Rate { kept: 2, due: 4 });
    }

    #[test]
    fn the_closing_report_meets_nothing() {
        let fx = Fx::new();
        let cx = fx.cx(lon(2026, 11, 26, 17, 0));
        // Acknowledged on time (first response and the day's 16:30 kept), then
        // closed at 12:00 with the report sent at that instant: still 2 of 2.
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(
                lons(2026, 11, 26, 10, 0, 30),
                Some(lon(2026, 11, 27, 10, 0)),
            )
            .report(lon(2026, 11, 26, 12, 0))
            .status(lon(2026, 11, 26, 12, 0), Status::Closed)
            .build();
        assert_eq!(ticket_rate(&h, &cx, thursday()), Rate { kept: 2, due: 2 });
    }

    #[test]
    fn nothing_due_is_no_rate() {
        assert_eq!(Rate::default().percent(), None);
        assert_eq!(Rate::default().label(), "—");
        assert_eq!(Rate { kept: 2, due: 3 }.label(), "67%");
        assert_eq!(Rate { kept: 1, due: 1 }.label(), "100%");
        let fx = Fx::new();
        let cx = fx.cx(lon(2026, 11, 26, 17, 0));
        // Opened after the window: nothing.
        let h = ticket(Priority::Urgent, lon(2026, 11, 27, 9, 0)).build();
        assert_eq!(ticket_rate(&h, &cx, thursday()), Rate::default());
    }
}
