//! `urgent-hourly` (POLICY Standard 5, urgent tickets): an update every hour,
//! skipping at most two consecutive hours.
//!
//! Interpretations:
//! * Hours are elapsed business time (the business calendar, or the same zone
//!   around the clock when `cadence.urgent_around_the_clock`), measured from
//!   the last contact, not clock-hour slots. Before the first contact the
//!   clock runs from `opened_at`; after a reopen it runs from the reopen,
//!   whatever was sent before the ticket was resolved.
//! * The rule breaks when `cx.urgent_max_silence` (3 business hours) passes
//!   with no contact: one violation per silent gap, at
//!   `last + urgent_max_silence` in business time. A contact exactly at that
//!   instant still keeps it; the gap ends at the next contact, however late.
//! * A deadline that falls while the ticket is resolved or closed does not
//!   break: resolving ends the gap.
//! * Any contact ends a gap: acknowledgment, update or closing report.
//! * The history carries one priority, the current one; the rule applies to
//!   the whole history when that priority is urgent.
//! * `next_due`: the next contact is due `cadence.urgent_interval` (one
//!   business hour) after the last one and then every interval after that;
//!   `next_due` is the first of `last + k × interval` (k ≥ 1) that is after
//!   `cx.at`. So between the first due hour and the break it names the next
//!   hourly slot, which is still ahead.

use chrono::{DateTime, Duration, Utc};

use super::{between, span_text, RuleContext, Seen};
use crate::policy::history::Violation;
use crate::policy::priority::Priority;

/// The POLICY rule id.
pub const ID: &str = "urgent-hourly";

/// One violation per silent gap longer than `cx.urgent_max_silence` of
/// business time while the ticket was open (see the module documentation).
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let h = s.h;
    if h.priority != Priority::Urgent {
        return Vec::new();
    }
    let cal = cx.urgent_calendar();
    let mut out = Vec::new();
    for (i, span) in s.spans.iter().enumerate() {
        let mut from = span.from;
        let mut since = if i == 0 {
            "the ticket opened"
        } else {
            "the ticket reopened"
        };
        let inside = s
            .times
            .iter()
            .filter(|t| span.contains(**t))
            .map(|t| Some(*t));
        for next in inside.chain(std::iter::once(None)) {
            let deadline = cal.add_business(from, cx.urgent_max_silence);
            let broken = match next {
                Some(t) => t > deadline,
                None => deadline <= cx.at,
            } && span.contains(deadline);
            if broken {
                out.push(Violation {
                    ticket: h.id.clone(),
                    rule: ID,
                    at: deadline,
                    detail: cx.detail(deadline, || {
                        format!(
                            "{}: urgent ticket had no contact {} ({} since {})",
                            h.id,
                            between(cx.cal, from, deadline),
                            describe(cx.urgent_max_silence, cal.is_around_the_clock()),
                            since,
                        )
                    }),
                });
            }
            if let Some(t) = next {
                from = t;
                since = "the last contact";
            }
        }
    }
    out
}

/// `3 business hours` (`2 hours 30 minutes of business time`), or
/// `3 hours` around the clock.
fn describe(d: Duration, around_the_clock: bool) -> String {
    let text = span_text(d);
    if around_the_clock {
        text
    } else if d.num_minutes() % 60 == 0 && d >= Duration::hours(1) {
        text.replace("hour", "business hour")
    } else {
        format!("{text} of business time")
    }
}

/// The next hourly due time after `cx.at`: the first `last + k × interval`
/// (business time, k ≥ 1) after `cx.at`, counted from the last contact in
/// the current open span, or from its start. `None` for other priorities,
/// when the ticket is not open at `cx.at`, or with a non-positive interval.
pub fn next_due(s: &Seen, cx: &RuleContext) -> Option<DateTime<Utc>> {
    if s.h.priority != Priority::Urgent || cx.cadence.urgent_interval <= Duration::zero() {
        return None;
    }
    let span = s.current_span()?;
    let last = s
        .times
        .iter()
        .copied()
        .rfind(|t| span.contains(*t))
        .unwrap_or(span.from);
    let cal = cx.urgent_calendar();
    let interval = cx.cadence.urgent_interval;
    let elapsed = cal.business_between(last, cx.at);
    let step = interval.num_nanoseconds().unwrap_or(i64::MAX).max(1);
    let k = elapsed.num_nanoseconds().unwrap_or(i64::MAX) / step + 1;
    let k = i32::try_from(k).ok()?;
    let due = cal.add_business(last, interval * k);
    // Guard against rounding at the boundary: the result must be ahead.
    Some(if due > cx.at {
        due
    } else {
        cal.add_business(last, interval * (k + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::Status;
    use crate::policy::rules::fixtures::*;

    over_history!(check, next_due);

    #[test]
    fn hourly_contacts_keep_it() {
        let fx = Fx::new();
        let mut t = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .ack(lons(2026, 11, 26, 10, 0, 20), None);
        for h in 11..=16 {
            t = t.upd(lon(2026, 11, 26, h, 0), None);
        }
        for h in 9..=16 {
            t = t.upd(lon(2026, 11, 27, h, 30), None);
        }
        let h = t.build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 18, 0))).is_empty());
        // Two skipped hours are allowed: 10:00 then 13:00 exactly.
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .upd(lon(2026, 11, 26, 13, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 15, 0))).is_empty());
    }

    #[test]
    fn silent_ticket_breaks_at_exactly_opened_plus_three_hours() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Urgent, opened).build();
        assert!(check(&h, &fx.cx(lons(2026, 11, 26, 12, 59, 59))).is_empty());
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 13, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 13, 0))]);
        assert_eq!(
            v[0].detail,
            "JAC-7: urgent ticket had no contact between 10:00 and 13:00 on Thu 26 Nov 2026 \
             (3 business hours since the ticket opened)"
        );
    }

    #[test]
    fn breaks_at_last_contact_plus_three_hours() {
        let fx = Fx::new();
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 9, 30))
            .ack(lon(2026, 11, 26, 9, 30), None)
            .upd(lon(2026, 11, 26, 10, 0), None)
            .upd(lon(2026, 11, 26, 13, 1), None)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 14, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 13, 0))]);
        assert!(v[0].detail.contains("since the last contact"));
        // Not for other priorities.
        let mut high = h.clone();
        high.priority = Priority::High;
        assert!(check(&high, &fx.cx(lon(2026, 11, 26, 14, 0))).is_empty());
    }

    #[test]
    fn gap_across_a_weekend() {
        let fx = Fx::new();
        // Friday 4 Dec 16:00 last contact: 1 h Friday, then Monday 09:00-11:00.
        let h = ticket(Priority::Urgent, lon(2026, 12, 4, 15, 30))
            .ack(lon(2026, 12, 4, 15, 30), None)
            .upd(lon(2026, 12, 4, 16, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lons(2026, 12, 7, 10, 59, 59))).is_empty());
        let v = check(&h, &fx.cx(lon(2026, 12, 7, 11, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 12, 7, 11, 0))]);
        assert!(v[0]
            .detail
            .contains("between Fri 4 Dec 2026 16:00 and Mon 7 Dec 2026 11:00"));
    }

    #[test]
    fn around_the_clock_counts_the_weekend() {
        let mut fx = Fx::new();
        fx.cadence.urgent_around_the_clock = true;
        let h = ticket(Priority::Urgent, lon(2026, 12, 4, 15, 30))
            .ack(lon(2026, 12, 4, 15, 30), None)
            .upd(lon(2026, 12, 4, 16, 0), None)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 12, 7, 11, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 12, 4, 19, 0))]);
        assert!(v[0].detail.contains("(3 hours since the last contact)"));
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 12, 4, 16, 10))),
            Some(lon(2026, 12, 4, 17, 0))
        );
    }

    #[test]
    fn breaks_once_per_gap_not_once_per_minute() {
        let fx = Fx::new();
        // Silent from Thursday 10:00 to Tuesday; one contact Monday 12:00
        // ends the first gap, then a second long silence.
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 9, 59))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .upd(lon(2026, 11, 30, 12, 0), None)
            .build();
        let first = lon(2026, 11, 26, 13, 0);
        let second = lon(2026, 11, 30, 15, 0);
        let mut at = lon(2026, 11, 26, 10, 0);
        let end = lon(2026, 12, 1, 17, 0);
        let mut seen = 0;
        while at <= end {
            let v = check(&h, &fx.cx(at));
            let expected: Vec<_> = [first, second]
                .into_iter()
                .filter(|t| *t <= at)
                .map(|t| (ID, t))
                .collect();
            assert_eq!(keys(&v), expected, "at {at}");
            seen = seen.max(v.len());
            at += Duration::minutes(7);
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn resolving_stops_the_clock_and_reopening_restarts_it() {
        let fx = Fx::new();
        // Last contact 10:00; resolved at 12:30 before the 13:00 break.
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .status(lon(2026, 11, 26, 12, 30), Status::Resolved)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 30, 17, 0))).is_empty());
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 13, 0))), None);
        // Reopened at 15:00: the clock starts at the reopen, not at 10:00;
        // 2 h on Thursday and 1 h on Friday.
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .status(lon(2026, 11, 26, 12, 30), Status::Resolved)
            .status(lon(2026, 11, 26, 15, 0), Status::Open)
            .build();
        assert!(check(&h, &fx.cx(lons(2026, 11, 27, 9, 59, 59))).is_empty());
        let v = check(&h, &fx.cx(lon(2026, 11, 27, 12, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 27, 10, 0))]);
        assert!(v[0].detail.contains("since the ticket reopened"));
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 15, 10))),
            Some(lon(2026, 11, 26, 16, 0))
        );
    }

    #[test]
    fn next_due_is_one_business_hour_after_the_last_contact() {
        let fx = Fx::new();
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 9, 59))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 10, 30))),
            Some(lon(2026, 11, 26, 11, 0))
        );
        // Past the first due hour: the next hourly slot, still ahead.
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 11, 0))),
            Some(lon(2026, 11, 26, 12, 0))
        );
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 11, 30))),
            Some(lon(2026, 11, 26, 12, 0))
        );
        // Before any contact: from opening.
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0)).build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 10, 0))),
            Some(lon(2026, 11, 26, 11, 0))
        );
        // Friday 16:30: Monday 09:30.
        let h = ticket(Priority::Urgent, lon(2026, 11, 27, 16, 0))
            .ack(lon(2026, 11, 27, 16, 30), None)
            .build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 27, 18, 0))),
            Some(lon(2026, 11, 30, 9, 30))
        );
        // Other priorities: none.
        let mut medium = h.clone();
        medium.priority = Priority::Medium;
        assert_eq!(next_due(&medium, &fx.cx(lon(2026, 11, 27, 18, 0))), None);
    }
}
