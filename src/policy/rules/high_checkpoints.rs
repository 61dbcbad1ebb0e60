//! `high-checkpoints` (POLICY Standard 5, high tickets): on each business day
//! a contact in each checkpoint window that began after the ticket was
//! opened: first thing in the morning (09:00–10:00), lunchtime (12:00–13:30)
//! and end of day (15:00–16:30), as configured in `cadence.high_windows`.
//!
//! Interpretations:
//! * Windows exist on business days of the business calendar only (never
//!   around the clock); their bounds are local times (`at_local`), so they
//!   follow DST.
//! * A window is owed when the ticket was open throughout it: its start is at
//!   or after the start of an open stretch (`opened_at`, or a reopen: "a
//!   window that began before the ticket opened does not count" applies to a
//!   reopen too, since the clock starts again there) and the ticket is still
//!   open at its end. A window during which the ticket was resolved, even
//!   briefly, is not owed.
//! * A contact counts for the window it falls in, `start <= at < end`, and for
//!   no later window; any kind of contact counts.
//! * A missed window breaks once, at its end (`at_local(day, end)`), as soon
//!   as that end is at or before `cx.at`.
//! * The history carries one priority, the current one; the rule applies to
//!   the whole history when that priority is high.

use chrono::{DateTime, Utc};

use super::{any_in, business_days, clock, date_text, RuleContext, Seen};
use crate::policy::cadence::Window;
use crate::policy::history::Violation;
use crate::policy::priority::Priority;

/// The POLICY rule id.
pub const ID: &str = "high-checkpoints";

/// The UTC bounds of window `w` on local `day`, or `None` when it is empty.
fn bounds(
    cx: &RuleContext,
    day: chrono::NaiveDate,
    w: &Window,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = cx.cal.at_local(day, w.start);
    let end = cx.cal.at_local(day, w.end);
    (end > start).then_some((start, end))
}

/// One violation per owed window with no contact in it, at the window's end
/// (see the module documentation).
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let (h, spans, times) = (s.h, &s.spans, &s.times);
    if h.priority != Priority::High || spans.is_empty() {
        return Vec::new();
    }
    let (first, last) = (s.opened_day, s.today);
    let mut out = Vec::new();
    for day in business_days(cx.cal, first, last) {
        for w in &cx.cadence.high_windows {
            let Some((start, end)) = bounds(cx, day, w) else {
                continue;
            };
            if end > cx.at
                || !spans.iter().any(|s| s.covers(start, end))
                || any_in(times, start, end)
            {
                continue;
            }
            out.push(Violation {
                ticket: h.id.clone(),
                rule: ID,
                at: end,
                detail: cx.detail(end, || {
                    format!(
                        "{}: high-priority ticket had no contact in the {} window ({}–{}) on {}",
                        h.id,
                        w.name,
                        clock(cx.cal, start),
                        clock(cx.cal, end),
                        date_text(day),
                    )
                }),
            });
        }
    }
    out
}

/// The end of the first owed window that ends after `cx.at` and has no
/// contact yet (a window in progress that already has one is skipped).
/// `None` for other priorities, with no windows, or when the ticket is not
/// open at `cx.at`.
pub fn next_due(s: &Seen, cx: &RuleContext) -> Option<DateTime<Utc>> {
    if s.h.priority != Priority::High || cx.cadence.high_windows.is_empty() {
        return None;
    }
    let span = s.current_span()?;
    let times = &s.times;
    let mut day = cx.cal.business_day_on_or_after(s.today);
    for _ in 0..400 {
        if !cx.cal.is_business_day(day) {
            return None;
        }
        for w in &cx.cadence.high_windows {
            let Some((start, end)) = bounds(cx, day, w) else {
                continue;
            };
            if end <= cx.at || start < span.from || any_in(times, start, end) {
                continue;
            }
            return Some(end);
        }
        let next = cx.cal.next_business_day(day);
        if next <= day {
            return None;
        }
        day = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::Status;
    use crate::policy::rules::fixtures::*;

    over_history!(check, next_due);

    #[test]
    fn a_contact_in_every_window_keeps_it() {
        let fx = Fx::new();
        // Opened Wednesday 11:00: the morning window began before it.
        let h = ticket(Priority::High, lon(2026, 11, 25, 11, 0))
            .ack(lons(2026, 11, 25, 11, 0, 30), None)
            .upd(lon(2026, 11, 25, 12, 30), None)
            .upd(lon(2026, 11, 25, 15, 30), None)
            .upd(lon(2026, 11, 26, 9, 0), None)
            .upd(lons(2026, 11, 26, 13, 29, 59), None)
            .upd(lon(2026, 11, 26, 16, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 18, 0))).is_empty());
    }

    #[test]
    fn a_missed_window_breaks_at_its_end() {
        let fx = Fx::new();
        let h = ticket(Priority::High, lon(2026, 11, 26, 9, 0))
            .ack(lons(2026, 11, 26, 9, 0, 30), None)
            .upd(lon(2026, 11, 26, 15, 10), None)
            .build();
        assert!(check(&h, &fx.cx(lons(2026, 11, 26, 13, 29, 59))).is_empty());
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 13, 30)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 13, 30))]);
        assert_eq!(
            v[0].detail,
            "JAC-7: high-priority ticket had no contact in the lunchtime window \
             (12:00–13:30) on Thu 26 Nov 2026"
        );
        // Later evaluations keep the same single violation for that window.
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 17, 0)))),
            vec![(ID, lon(2026, 11, 26, 13, 30))]
        );
    }

    #[test]
    fn a_contact_counts_only_for_the_window_it_falls_in() {
        let fx = Fx::new();
        // 13:30 is the lunchtime window's (exclusive) end; 14:00 is in no
        // window; a lunchtime contact does not cover end of day.
        let h = ticket(Priority::High, lon(2026, 11, 26, 11, 0))
            .ack(lon(2026, 11, 26, 11, 0), None)
            .upd(lon(2026, 11, 26, 13, 30), None)
            .upd(lon(2026, 11, 26, 14, 0), None)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 17, 0)));
        assert_eq!(
            keys(&v),
            vec![
                (ID, lon(2026, 11, 26, 13, 30)),
                (ID, lon(2026, 11, 26, 16, 30))
            ]
        );
    }

    #[test]
    fn windows_that_began_before_opening_are_not_owed() {
        let fx = Fx::new();
        // Opened 09:15 Friday: no morning window that day; Monday's is owed.
        let h = ticket(Priority::High, lon(2026, 11, 27, 9, 15))
            .ack(lon(2026, 11, 27, 9, 15), None)
            .upd(lon(2026, 11, 27, 12, 5), None)
            .upd(lon(2026, 11, 27, 15, 5), None)
            .build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 30, 11, 0)))),
            vec![(ID, lon(2026, 11, 30, 10, 0))]
        );
        // Opened exactly at 09:00: the morning window is owed.
        let h = ticket(Priority::High, lon(2026, 11, 27, 9, 0)).build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 27, 10, 0)))),
            vec![(ID, lon(2026, 11, 27, 10, 0))]
        );
    }

    #[test]
    fn holidays_and_weekends_have_no_windows() {
        let fx = Fx::new();
        let h = ticket(Priority::High, lon(2026, 12, 24, 16, 45))
            .ack(lon(2026, 12, 24, 16, 45), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 12, 28, 9, 59))).is_empty());
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 12, 24, 17, 0))),
            Some(lon(2026, 12, 28, 10, 0))
        );
    }

    #[test]
    fn resolved_windows_are_not_owed_and_reopening_restarts() {
        let fx = Fx::new();
        // Resolved 11:00, reopened 12:15 (mid-lunchtime): lunchtime is not
        // owed; end of day is.
        let h = ticket(Priority::High, lon(2026, 11, 26, 9, 0))
            .ack(lon(2026, 11, 26, 9, 0), None)
            .status(lon(2026, 11, 26, 11, 0), Status::Resolved)
            .status(lon(2026, 11, 26, 12, 15), Status::Open)
            .build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 17, 0)))),
            vec![(ID, lon(2026, 11, 26, 16, 30))]
        );
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 12, 20))),
            Some(lon(2026, 11, 26, 16, 30))
        );
        // Resolved at 15:30 (inside end of day): nothing owed, nothing due.
        let h = ticket(Priority::High, lon(2026, 11, 26, 11, 0))
            .ack(lon(2026, 11, 26, 11, 0), None)
            .upd(lon(2026, 11, 26, 12, 30), None)
            .status(lon(2026, 11, 26, 15, 30), Status::Resolved)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 30, 17, 0))).is_empty());
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 16, 0))), None);
    }

    #[test]
    fn next_due_is_the_first_unmet_window_end() {
        let fx = Fx::new();
        let h = ticket(Priority::High, lon(2026, 11, 26, 10, 30))
            .ack(lon(2026, 11, 26, 10, 30), None)
            .build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 10, 31))),
            Some(lon(2026, 11, 26, 13, 30))
        );
        // Lunchtime met in progress: end of day.
        let h = ticket(Priority::High, lon(2026, 11, 26, 10, 30))
            .ack(lon(2026, 11, 26, 10, 30), None)
            .upd(lon(2026, 11, 26, 12, 15), None)
            .build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 12, 20))),
            Some(lon(2026, 11, 26, 16, 30))
        );
        // After lunchtime: end of day is next.
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 13, 40))),
            Some(lon(2026, 11, 26, 16, 30))
        );
        // Other priorities: none.
        let mut urgent = h.clone();
        urgent.priority = Priority::Urgent;
        assert_eq!(next_due(&urgent, &fx.cx(lon(2026, 11, 26, 12, 20))), None);
        assert!(check(&urgent, &fx.cx(lon(2026, 11, 27, 17, 0))).is_empty());
    }
}
