//! `first-response` (POLICY Standard 1): every new ticket gets an "on it"
//! reply within 60 s of arrival, 24/7.
//!
//! Interpretations:
//! * The deadline is `opened_at + cx.first_response` in plain time (not
//!   business time): the acknowledgment is automatic and runs 24/7.
//! * Any contact counts as the first response: our acknowledgment, one found
//!   in an archive, or an engineer's reply that came before it. A contact
//!   stamped before `opened_at` (clock skew) counts too.
//! * A contact exactly at the deadline is on time. The rule breaks when the
//!   first contact is later than the deadline, or when there is none and
//!   `cx.at` has reached the deadline; one violation, at the deadline.
//! * Like every cadence deadline it only counts while the ticket is open: a
//!   ticket resolved or closed at the deadline (within its first 60 s) owes
//!   nothing.
//! * Applies to every priority.

use chrono::{DateTime, Utc};

use super::{kind_name, local, span_text, RuleContext, Seen};
use crate::policy::history::{TicketHistory, Violation};

/// The POLICY rule id.
pub const ID: &str = "first-response";

/// The first-response deadline: arrival plus `cx.first_response`.
fn deadline(h: &TicketHistory, cx: &RuleContext) -> DateTime<Utc> {
    h.opened_at + cx.first_response
}

/// At most one violation, at `opened_at + first_response`, when no contact
/// came by then (see the module documentation).
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let h = s.h;
    let due = deadline(h, cx);
    if due > cx.at || !s.spans.iter().any(|s| s.contains(due)) {
        return Vec::new();
    }
    let first = s.contacts.first().copied();
    if first.is_some_and(|c| c.at <= due) {
        return Vec::new();
    }
    let detail = cx.detail(due, || match first {
        Some(c) => format!(
            "{}: {} went out at {}, {} after the ticket arrived at {} (limit {})",
            h.id,
            kind_name(c.kind),
            local(cx.cal, c.at),
            span_text(c.at - h.opened_at),
            local(cx.cal, h.opened_at),
            span_text(cx.first_response),
        ),
        None => format!(
            "{}: no acknowledgment or reply within {} of the ticket arriving at {}",
            h.id,
            span_text(cx.first_response),
            local(cx.cal, h.opened_at),
        ),
    });
    vec![Violation {
        ticket: h.id.clone(),
        rule: ID,
        at: due,
        detail,
    }]
}

/// `opened_at + first_response` while it is still ahead of `cx.at` and no
/// contact exists yet; `None` once anything was sent, once the deadline has
/// passed, or when the ticket is not open at `cx.at`.
pub fn next_due(s: &Seen, cx: &RuleContext) -> Option<DateTime<Utc>> {
    s.current_span()?;
    if !s.contacts.is_empty() {
        return None;
    }
    let due = deadline(s.h, cx);
    (due > cx.at).then_some(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::Status;
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;

    over_history!(check, next_due);

    #[test]
    fn acknowledgment_within_a_minute_keeps_it() {
        let fx = Fx::new();
        let opened = lons(2026, 11, 28, 3, 0, 0); // a Saturday night: 24/7
        let h = ticket(Priority::Medium, opened)
            .ack(lons(2026, 11, 28, 3, 0, 40), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 30, 12, 0))).is_empty());
        // Exactly 60 s is on time.
        let h = ticket(Priority::Medium, opened)
            .ack(lons(2026, 11, 28, 3, 1, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 30, 12, 0))).is_empty());
    }

    #[test]
    fn an_engineers_reply_first_counts() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Urgent, opened)
            .upd(lons(2026, 11, 26, 10, 0, 30), None)
            .ack(lons(2026, 11, 26, 10, 5, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 12, 0))).is_empty());
    }

    #[test]
    fn late_acknowledgment_breaks_at_arrival_plus_60s() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Medium, opened)
            .ack(lons(2026, 11, 26, 10, 1, 30), None)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 12, 0)));
        assert_eq!(keys(&v), vec![(ID, lons(2026, 11, 26, 10, 1, 0))]);
        assert_eq!(v[0].ticket, "JAC-7");
        assert_eq!(
            v[0].detail,
            "JAC-7: the acknowledgment went out at Thu 26 Nov 2026 10:01, 1 minute 30 seconds \
             after the ticket arrived at Thu 26 Nov 2026 10:00 (limit 1 minute)"
        );
    }

    #[test]
    fn no_contact_breaks_once_the_deadline_passes() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Medium, opened).build();
        assert!(check(&h, &fx.cx(lons(2026, 11, 26, 10, 0, 59))).is_empty());
        let due = lons(2026, 11, 26, 10, 1, 0);
        for at in [due, lon(2026, 11, 26, 10, 2), lon(2026, 11, 30, 10, 0)] {
            assert_eq!(keys(&check(&h, &fx.cx(at))), vec![(ID, due)]);
        }
        // A contact that comes later does not move the violation.
        let h = ticket(Priority::Medium, opened)
            .upd(lon(2026, 11, 26, 11, 0), None)
            .build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 12, 0)))),
            vec![(ID, due)]
        );
        // Seen from before that contact existed: the same violation.
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 10, 30)))),
            vec![(ID, due)]
        );
    }

    #[test]
    fn resolved_within_the_minute_owes_nothing() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Medium, opened)
            .status(lons(2026, 11, 26, 10, 0, 30), Status::Resolved)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 12, 0))).is_empty());
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 12, 0))), None);
    }

    #[test]
    fn next_due_is_arrival_plus_60s_until_something_is_sent() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Medium, opened).build();
        assert_eq!(
            next_due(&h, &fx.cx(lons(2026, 11, 26, 10, 0, 10))),
            Some(lons(2026, 11, 26, 10, 1, 0))
        );
        // Passed: reported as a violation, not as due.
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 10, 5))), None);
        let h = ticket(Priority::Medium, opened)
            .ack(lons(2026, 11, 26, 10, 0, 5), None)
            .build();
        assert_eq!(next_due(&h, &fx.cx(lons(2026, 11, 26, 10, 0, 10))), None);
        // The acknowledgment does not exist yet at 10:00:02.
        assert_eq!(
            next_due(&h, &fx.cx(lons(2026, 11, 26, 10, 0, 2))),
            Some(lons(2026, 11, 26, 10, 1, 0))
        );
    }
}
