//! Runs every policy rule on one ticket at one instant.
//!
//! Pure: the evaluation instant is `cx.at`; nothing here reads the clock or
//! does I/O. See [`crate::policy::rules`] for the conventions the rules share.

use super::cadence::Due;
use super::history::{TicketHistory, Violation};
use super::rules::{
    dismissive_language, eod_update, first_response, high_checkpoints, next_update_stated, pm_cc,
    promise_kept, urgent_hourly, RuleContext, Seen,
};

/// The result of evaluating one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Every violation with `at <= cx.at`, sorted by `(at, rule)`.
    pub violations: Vec<Violation>,
    /// The earliest deadline after `cx.at` that is not yet met, and the rule
    /// that sets it; `None` when the ticket is not open at `cx.at`.
    pub next_due: Option<Due>,
}

/// A deadline rule's `next_due`.
pub type NextDue = fn(&Seen, &RuleContext) -> Option<chrono::DateTime<chrono::Utc>>;

/// The deadline rules, in the order that breaks ties between equal due
/// times: the most specific commitment first (the 60 s acknowledgment, then
/// what the client was told, then the priority's cadence, then the daily
/// floor). These are the rules about a contact being due (the compliance rate
/// counts their deadlines, `digest::compliance_rate`).
pub const DEADLINE_RULES: [(&str, NextDue); 5] = [
    (first_response::ID, first_response::next_due),
    (promise_kept::ID, promise_kept::next_due),
    (urgent_hourly::ID, urgent_hourly::next_due),
    (high_checkpoints::ID, high_checkpoints::next_due),
    (eod_update::ID, eod_update::next_due),
];

/// Evaluates all eight rules: violations sorted by `(at, rule)` (a stable
/// sort, so several violations of one rule at one instant keep the rule's
/// order); `next_due` is the earliest `next_due` of the deadline rules
/// (`first-response`, `promise-kept`, `urgent-hourly`, `high-checkpoints`,
/// `eod-update`) with its rule id, ties going to the earlier rule in that
/// list.
pub fn evaluate(h: &TicketHistory, cx: &RuleContext) -> Evaluation {
    let s = Seen::new(h, cx);
    let mut violations: Vec<Violation> = [
        first_response::check(&s, cx),
        urgent_hourly::check(&s, cx),
        high_checkpoints::check(&s, cx),
        eod_update::check(&s, cx),
        pm_cc::check(&s, cx),
        next_update_stated::check(&s, cx),
        promise_kept::check(&s, cx),
        dismissive_language::check(&s, cx),
    ]
    .into_iter()
    .flatten()
    .filter(|v| v.at <= cx.at)
    .collect();
    violations.sort_by(|a, b| (a.at, a.rule).cmp(&(b.at, b.rule)));
    Evaluation {
        violations,
        next_due: next_due_seen(&s, cx),
    }
}

/// [`Evaluation::next_due`] alone, without running the checks: what the stored
/// due time and the reminders need after a change.
pub fn next_due(h: &TicketHistory, cx: &RuleContext) -> Option<Due> {
    next_due_seen(&Seen::new(h, cx), cx)
}

/// [`next_due`] of a ticket already seen at `cx.at`.
fn next_due_seen(s: &Seen, cx: &RuleContext) -> Option<Due> {
    let mut next: Option<Due> = None;
    for (rule, due) in DEADLINE_RULES {
        if let Some(at) = due(s, cx) {
            if next.is_none_or(|d| at < d.at) {
                next = Some(Due { at, rule });
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::policy::history::{ContactKind, Status};
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;
    use crate::policy::rules::Details;

    #[test]
    fn an_urgent_ticket_over_two_business_days_keeps_every_rule() {
        let fx = Fx::new();
        // Thursday 26 Nov 10:00 to Friday 27 Nov: hourly updates, each
        // promising the next; the last one of each day promises the morning.
        let mut t = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0)).ack(
            lons(2026, 11, 26, 10, 0, 20),
            Some(lon(2026, 11, 26, 11, 0)),
        );
        for h in 11..16 {
            t = t.upd(lon(2026, 11, 26, h, 0), Some(lon(2026, 11, 26, h + 1, 0)));
        }
        t = t.upd(lon(2026, 11, 26, 16, 0), Some(lon(2026, 11, 27, 10, 0)));
        for h in 9..16 {
            t = t.upd(lon(2026, 11, 27, h, 30), Some(lon(2026, 11, 27, h + 1, 30)));
        }
        t = t.upd(lon(2026, 11, 27, 16, 30), Some(lon(2026, 11, 30, 10, 0)));
        let h = t.build();
        let mut at = lon(2026, 11, 26, 10, 0);
        while at <= lon(2026, 11, 27, 20, 0) {
            let e = evaluate(&h, &fx.cx(at));
            assert!(e.violations.is_empty(), "at {at}: {:?}", e.violations);
            at += Duration::minutes(5);
        }
        let e = evaluate(&h, &fx.cx(lon(2026, 11, 27, 20, 0)));
        // Friday 16:30 + 1 business hour is Monday 09:30; the promise is 10:00.
        assert_eq!(
            e.next_due,
            Some(Due {
                at: lon(2026, 11, 30, 9, 30),
                rule: urgent_hourly::ID
            })
        );
    }

    #[test]
    fn a_high_ticket_over_two_business_days_keeps_every_rule() {
        let fx = Fx::new();
        let h = ticket(Priority::High, lon(2026, 11, 25, 11, 0))
            .ack(
                lons(2026, 11, 25, 11, 0, 30),
                Some(lon(2026, 11, 25, 13, 30)),
            )
            .upd(lon(2026, 11, 25, 12, 30), Some(lon(2026, 11, 25, 15, 30)))
            .upd(lon(2026, 11, 25, 15, 30), Some(lon(2026, 11, 26, 10, 0)))
            .upd(lon(2026, 11, 26, 9, 30), Some(lon(2026, 11, 26, 13, 30)))
            .upd(lon(2026, 11, 26, 12, 45), Some(lon(2026, 11, 26, 16, 30)))
            .upd(lon(2026, 11, 26, 16, 0), Some(lon(2026, 11, 27, 10, 0)))
            .build();
        let mut at = lon(2026, 11, 25, 11, 0);
        while at <= lon(2026, 11, 26, 20, 0) {
            let e = evaluate(&h, &fx.cx(at));
            assert!(e.violations.is_empty(), "at {at}: {:?}", e.violations);
            at += Duration::minutes(5);
        }
        // Friday's morning window ends at 10:00, the promised time too: the
        // promise names it.
        assert_eq!(
            evaluate(&h, &fx.cx(lon(2026, 11, 26, 20, 0))).next_due,
            Some(Due {
                at: lon(2026, 11, 27, 10, 0),
                rule: promise_kept::ID
            })
        );
    }

    #[test]
    fn violations_are_sorted_and_one_silence_breaks_several_rules() {
        let fx = Fx::new();
        // Urgent, acknowledged late without the PM and without a time;
        // then silence.
        let mut ack = contact(
            lons(2026, 11, 26, 10, 2, 0),
            ContactKind::Acknowledgment,
            None,
        );
        ack.recipients = vec![CLIENT.into()];
        let mut upd = contact(
            lon(2026, 11, 26, 10, 30),
            ContactKind::Update,
            Some(lon(2026, 11, 26, 12, 0)),
        );
        upd.dismissive = Some("works for me".into());
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .with(ack)
            .with(upd)
            .build();
        let e = evaluate(&h, &fx.cx(lon(2026, 11, 26, 17, 0)));
        assert_eq!(
            keys(&e.violations),
            vec![
                (first_response::ID, lons(2026, 11, 26, 10, 1, 0)),
                (next_update_stated::ID, lon(2026, 11, 26, 10, 2)),
                (pm_cc::ID, lon(2026, 11, 26, 10, 2)),
                (dismissive_language::ID, lon(2026, 11, 26, 10, 30)),
                (promise_kept::ID, lon(2026, 11, 26, 12, 0)),
                (urgent_hourly::ID, lon(2026, 11, 26, 13, 30)),
            ]
        );
        assert!(e.violations.iter().all(|v| v.ticket == "JAC-7"));
        // 6.5 business hours have passed since 10:30: the next hourly slot
        // is 10:30 + 7 business hours, Friday 09:30.
        assert_eq!(
            e.next_due,
            Some(Due {
                at: lon(2026, 11, 27, 9, 30),
                rule: urgent_hourly::ID
            })
        );
    }

    #[test]
    fn a_long_silence_breaks_once_per_deadline() {
        let fx = Fx::new();
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .ack(
                lons(2026, 11, 26, 10, 0, 30),
                Some(lon(2026, 11, 26, 11, 0)),
            )
            .build();
        let mut at = lon(2026, 11, 26, 10, 1);
        let end = lon(2026, 11, 30, 18, 0);
        let mut last_len = 0;
        let mut first_seen: Vec<(&'static str, chrono::DateTime<chrono::Utc>)> = Vec::new();
        while at <= end {
            let e = evaluate(&h, &fx.cx(at));
            let k = keys(&e.violations);
            // Violations only accumulate; earlier ones never change.
            assert!(k.len() >= last_len);
            assert_eq!(&k[..last_len], &first_seen[..last_len], "at {at}");
            first_seen = k.clone();
            last_len = k.len();
            at += Duration::minutes(3);
        }
        assert_eq!(
            first_seen,
            vec![
                (promise_kept::ID, lon(2026, 11, 26, 11, 0)),
                (urgent_hourly::ID, lons(2026, 11, 26, 13, 0, 30)),
                (eod_update::ID, lon(2026, 11, 27, 16, 30)),
                (eod_update::ID, lon(2026, 11, 30, 16, 30)),
            ]
        );
    }

    #[test]
    fn combined_next_due_and_closed_tickets() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Medium, opened).build();
        assert_eq!(
            evaluate(&h, &fx.cx(opened)).next_due,
            Some(Due {
                at: lons(2026, 11, 26, 10, 1, 0),
                rule: first_response::ID
            })
        );
        let h = ticket(Priority::Medium, opened)
            .ack(
                lons(2026, 11, 26, 10, 0, 10),
                Some(lon(2026, 11, 26, 14, 0)),
            )
            .build();
        assert_eq!(
            evaluate(&h, &fx.cx(lon(2026, 11, 26, 10, 5))).next_due,
            Some(Due {
                at: lon(2026, 11, 26, 14, 0),
                rule: promise_kept::ID
            })
        );
        let h = ticket(Priority::Medium, opened)
            .ack(
                lons(2026, 11, 26, 10, 0, 10),
                Some(lon(2026, 11, 27, 14, 0)),
            )
            .build();
        assert_eq!(
            evaluate(&h, &fx.cx(lon(2026, 11, 26, 10, 5))).next_due,
            Some(Due {
                at: lon(2026, 11, 27, 14, 0),
                rule: promise_kept::ID
            })
        );
        assert_eq!(
            evaluate(&h, &fx.cx(lon(2026, 11, 27, 9, 0))).next_due,
            Some(Due {
                at: lon(2026, 11, 27, 14, 0),
                rule: promise_kept::ID
            })
        );
        let mut high = h.clone();
        high.priority = Priority::High;
        assert_eq!(
            evaluate(&high, &fx.cx(lon(2026, 11, 26, 10, 5))).next_due,
            Some(Due {
                at: lon(2026, 11, 26, 13, 30),
                rule: high_checkpoints::ID
            })
        );
        // Resolved: nothing is due, and no cadence rule breaks afterwards.
        let h = T(h)
            .upd(lon(2026, 11, 26, 11, 0), None)
            .status(lon(2026, 11, 26, 11, 5), Status::Resolved)
            .build();
        let e = evaluate(&h, &fx.cx(lon(2026, 12, 1, 12, 0)));
        assert_eq!(e.next_due, None);
        assert!(e.violations.is_empty(), "{:?}", e.violations);
    }

    /// A ticket of each priority that breaks most rules over a week: promises
    /// missed, an update without the PM and with dismissive words, resolved and
    /// reopened.
    fn a_bad_week() -> Vec<TicketHistory> {
        let mut out = Vec::new();
        for p in [Priority::Urgent, Priority::High, Priority::Medium] {
            let mut quiet = crate::policy::rules::fixtures::contact(
                lon(2026, 11, 24, 15, 0),
                ContactKind::Update,
                None,
            );
            quiet.recipients.retain(|r| r != PM);
            quiet.dismissive = Some("works for me".into());
            let h = ticket(p, lon(2026, 11, 23, 10, 0))
                .ack(lon(2026, 11, 23, 10, 5), Some(lon(2026, 11, 23, 12, 0)))
                .upd(lon(2026, 11, 23, 13, 0), Some(lon(2026, 11, 24, 11, 0)))
                .with(quiet)
                .status(lon(2026, 11, 26, 12, 0), Status::Resolved)
                .status(lon(2026, 11, 26, 15, 0), Status::Open)
                .build();
            out.push(h);
        }
        out
    }

    #[test]
    fn details_are_written_only_where_asked_and_nothing_else_changes() {
        let fx = Fx::new();
        let from = lon(2026, 11, 25, 12, 0);
        for h in a_bad_week() {
            let mut at = lon(2026, 11, 23, 10, 0);
            while at <= lon(2026, 11, 30, 18, 0) {
                let all = evaluate(&h, &fx.cx(at));
                let some = evaluate(&h, &fx.cx(at).with_details(Details::From(from)));
                let none = evaluate(&h, &fx.cx(at).with_details(Details::Off));
                assert_eq!(keys(&all.violations), keys(&some.violations), "at {at}");
                assert_eq!(keys(&all.violations), keys(&none.violations), "at {at}");
                for ((a, s), n) in all
                    .violations
                    .iter()
                    .zip(&some.violations)
                    .zip(&none.violations)
                {
                    assert!(!a.detail.is_empty(), "{a:?}");
                    let want = if a.at >= from { a.detail.as_str() } else { "" };
                    assert_eq!(s.detail, want, "at {at}");
                    assert_eq!(n.detail, "", "at {at}");
                }
                assert_eq!(all.next_due, some.next_due);
                assert_eq!(all.next_due, next_due(&h, &fx.cx(at)), "at {at}");
                at += Duration::minutes(20);
            }
            // The week breaks rules both before and after `from`.
            let week = evaluate(&h, &fx.cx(lon(2026, 11, 30, 18, 0)));
            assert!(
                week.violations.iter().any(|v| v.at < from),
                "{:?}",
                h.priority
            );
            assert!(
                week.violations.iter().any(|v| v.at >= from),
                "{:?}",
                h.priority
            );
            let rules: std::collections::BTreeSet<&str> =
                week.violations.iter().map(|v| v.rule).collect();
            assert!(rules.len() >= 5, "{rules:?}");
        }
    }
}
