//! `eod-update` (POLICY Standard 6, every open ticket): a contact on each
//! business day by 16:30 local time (`cadence.eod_time`); any contact that
//! day counts, the acknowledgment included.
//!
//! Interpretations:
//! * "Whatever its priority or status" (seed: "regardless of the issue's
//!   status") means whatever stage the work is at; tickets that are resolved
//!   or closed are outside the cadence (POLICY: "Cadence stops while a ticket
//!   is resolved or closed"). A day is owed when the ticket is open at that
//!   day's deadline.
//! * Business days come from the business calendar (never around the clock);
//!   holidays and weekends owe nothing. The deadline is
//!   `at_local(day, eod_time)`, so it follows DST (16:30 BST is 15:30 UTC).
//! * A day is owed only when its deadline is after the start of the open
//!   stretch that contains it: a ticket opened (or reopened) at or after 16:30
//!   owes nothing that day; one opened at 16:29 owes a contact by 16:30,
//!   which an acknowledgment inside the minute gives.
//! * The contact must be on that local date, at or before the deadline; a
//!   contact made earlier that day, before a reopen, counts too.
//! * A missed day breaks once, at the deadline, as soon as it is at or before
//!   `cx.at`.

use chrono::{DateTime, NaiveDate, Utc};

use super::{any_in, business_days, clock, date_text, start_of_day, RuleContext, Seen};
use crate::policy::history::Violation;

/// The POLICY rule id.
pub const ID: &str = "eod-update";

/// The deadline of local `day`.
fn deadline(cx: &RuleContext, day: NaiveDate) -> DateTime<Utc> {
    cx.cal.at_local(day, cx.cadence.eod_time)
}

/// Whether a contact exists on local `day` at or before its deadline.
fn met(cx: &RuleContext, times: &[DateTime<Utc>], day: NaiveDate) -> bool {
    let due = deadline(cx, day);
    let from = start_of_day(cx.cal, day);
    any_in(times, from, due) || times.binary_search(&due).is_ok()
}

/// One violation per owed business day without a contact by its deadline,
/// at the deadline (see the module documentation).
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let (h, spans, times) = (s.h, &s.spans, &s.times);
    if spans.is_empty() {
        return Vec::new();
    }
    let (first, last) = (s.opened_day, s.today);
    let mut out = Vec::new();
    for day in business_days(cx.cal, first, last) {
        let due = deadline(cx, day);
        if due > cx.at
            || !spans.iter().any(|s| s.from < due && s.contains(due))
            || met(cx, times, day)
        {
            continue;
        }
        out.push(Violation {
            ticket: h.id.clone(),
            rule: ID,
            at: due,
            detail: cx.detail(due, || {
                format!(
                    "{}: no contact on {} by {}",
                    h.id,
                    date_text(day),
                    clock(cx.cal, due),
                )
            }),
        });
    }
    out
}

/// Today's deadline if it is still ahead and today has no contact yet, else
/// the next business day's. `None` when the ticket is not open at `cx.at`.
pub fn next_due(s: &Seen, cx: &RuleContext) -> Option<DateTime<Utc>> {
    s.current_span()?;
    let today = s.today;
    if cx.cal.is_business_day(today) {
        let due = deadline(cx, today);
        if due > cx.at && !met(cx, &s.times, today) {
            return Some(due);
        }
        let next = cx.cal.next_business_day(today);
        return (next > today).then(|| deadline(cx, next));
    }
    let next = cx.cal.business_day_on_or_after(today);
    cx.cal.is_business_day(next).then(|| deadline(cx, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::Status;
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;

    over_history!(check, next_due);

    #[test]
    fn a_contact_each_day_keeps_it() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lons(2026, 11, 26, 10, 0, 30), None)
            .upd(lon(2026, 11, 27, 16, 30), None)
            .upd(lon(2026, 11, 30, 9, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 30, 23, 0))).is_empty());
    }

    #[test]
    fn a_day_without_a_contact_breaks_at_1630() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lons(2026, 11, 26, 10, 0, 30), None)
            .upd(lon(2026, 11, 27, 16, 31), None)
            .build();
        assert!(check(&h, &fx.cx(lons(2026, 11, 27, 16, 29, 59))).is_empty());
        let v = check(&h, &fx.cx(lon(2026, 11, 27, 16, 30)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 27, 16, 30))]);
        assert_eq!(v[0].detail, "JAC-7: no contact on Fri 27 Nov 2026 by 16:30");
        // The weekend owes nothing; Monday does.
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 30, 17, 0)))),
            vec![
                (ID, lon(2026, 11, 27, 16, 30)),
                (ID, lon(2026, 11, 30, 16, 30))
            ]
        );
    }

    #[test]
    fn opened_after_1630_owes_nothing_that_day() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 16, 45))
            .ack(lon(2026, 11, 26, 16, 45), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 16, 0))).is_empty());
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 16, 50))),
            Some(lon(2026, 11, 27, 16, 30))
        );
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 16, 30)).build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 16, 0))).is_empty());
    }

    #[test]
    fn a_holiday_owes_nothing() {
        let fx = Fx::new();
        // Thursday 24 Dec, then Christmas (holiday) and the weekend.
        let h = ticket(Priority::Medium, lon(2026, 12, 24, 10, 0))
            .ack(lon(2026, 12, 24, 10, 0), None)
            .upd(lon(2026, 12, 28, 10, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 12, 28, 17, 0))).is_empty());
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 12, 24, 17, 0))),
            Some(lon(2026, 12, 28, 16, 30))
        );
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 12, 25, 12, 0))),
            Some(lon(2026, 12, 28, 16, 30))
        );
    }

    #[test]
    fn dst_change_moves_the_utc_deadline() {
        let fx = Fx::new();
        // Friday 27 March 2026 is GMT, Monday 30 March BST.
        let opened = utc("2026-03-27T10:00:00Z");
        let base = ticket(Priority::Medium, opened).ack(utc("2026-03-27T10:00:30Z"), None);
        let h = base.0.clone();
        let v = check(&h, &fx.cx(utc("2026-03-30T18:00:00Z")));
        assert_eq!(keys(&v), vec![(ID, utc("2026-03-30T15:30:00Z"))]);
        assert_eq!(v[0].detail, "JAC-7: no contact on Mon 30 Mar 2026 by 16:30");
        assert_eq!(
            next_due(&h, &fx.cx(utc("2026-03-27T17:00:00Z"))),
            Some(utc("2026-03-30T15:30:00Z"))
        );
        // 15:29 UTC is 16:29 BST: kept. 15:31 UTC is 16:31 BST: broken.
        let kept = T(h.clone()).upd(utc("2026-03-30T15:29:00Z"), None).build();
        assert!(check(&kept, &fx.cx(utc("2026-03-30T18:00:00Z"))).is_empty());
        let late = T(h.clone()).upd(utc("2026-03-30T15:31:00Z"), None).build();
        assert_eq!(
            keys(&check(&late, &fx.cx(utc("2026-03-30T18:00:00Z")))),
            vec![(ID, utc("2026-03-30T15:30:00Z"))]
        );
        // 23:30 UTC on Sunday is 00:30 BST on Monday: it counts for Monday.
        let early = T(h).upd(utc("2026-03-29T23:30:00Z"), None).build();
        assert!(check(&early, &fx.cx(utc("2026-03-30T18:00:00Z"))).is_empty());
    }

    #[test]
    fn resolved_days_owe_nothing_and_reopening_restarts() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .status(lon(2026, 11, 26, 12, 0), Status::Resolved)
            .status(lon(2026, 11, 30, 9, 30), Status::Open)
            .build();
        // Friday was resolved; Monday reopened and silent.
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 30, 17, 0)))),
            vec![(ID, lon(2026, 11, 30, 16, 30))]
        );
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 27, 12, 0))), None);
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 30, 9, 30))),
            Some(lon(2026, 11, 30, 16, 30))
        );
        // Reopened at 16:45: nothing owed that day.
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .status(lon(2026, 11, 26, 12, 0), Status::Resolved)
            .status(lon(2026, 11, 30, 16, 45), Status::Open)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 12, 1, 12, 0))).is_empty());
    }

    #[test]
    fn next_due_today_or_the_next_business_day() {
        let fx = Fx::new();
        let h = ticket(Priority::High, lon(2026, 11, 26, 8, 0)).build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 8, 30))),
            Some(lon(2026, 11, 26, 16, 30))
        );
        // Friday with a contact already: Monday.
        let h = ticket(Priority::Urgent, lon(2026, 11, 27, 8, 0))
            .ack(lon(2026, 11, 27, 8, 0), None)
            .build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 27, 9, 0))),
            Some(lon(2026, 11, 30, 16, 30))
        );
        // Saturday: Monday.
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 28, 9, 0))),
            Some(lon(2026, 11, 30, 16, 30))
        );
    }
}
