//! `next-update-stated` (POLICY "Additional protocols"; seed "Set
//! Expectations: always inform the client in the email when they can expect
//! the next update"): every contact says when the next update will come.
//!
//! Interpretations:
//! * The stated time is found when the message is stored and arrives as
//!   `Contact::promise`; a contact without one breaks the rule, once, at its
//!   own time. The acknowledgment is checked like any other contact (POLICY
//!   Standard 1: it states the time of the next update).
//! * Exempt: the closing report (`ContactKind::Report`), and the message
//!   that tells the client it is fixed: for each status change to `resolved`
//!   or `closed` that exists at `cx.at`, the last contact at or before it
//!   (no contact between that message and the change). Closing reports are
//!   skipped when finding that last contact: they are exempt anyway and are
//!   produced by the closing itself, so a report stamped at the close does
//!   not take the exemption away from the fixing message.
//! * The exemption is only known once the status change is recorded: an
//!   evaluation before the ticket is resolved reports the fixing message,
//!   and a later one no longer does. Consumers that store violations should
//!   expect this one rule to withdraw a violation.

use std::collections::HashSet;

use super::{kind_name, local, RuleContext, Seen};
use crate::policy::history::{ContactKind, Status, Violation};

/// The POLICY rule id.
pub const ID: &str = "next-update-stated";

/// One violation per non-exempt contact without a stated next update, at the
/// contact's time.
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let (h, contacts) = (s.h, &s.contacts);
    // Indices (into `contacts`) of the last non-report contact before each
    // resolve or close.
    let exempt: HashSet<usize> = h
        .status_changes
        .iter()
        .filter(|s| s.at <= cx.at && matches!(s.status, Status::Resolved | Status::Closed))
        .filter_map(|s| {
            contacts
                .iter()
                .enumerate()
                .filter(|(_, c)| c.at <= s.at && c.kind != ContactKind::Report)
                .map(|(i, _)| i)
                .next_back()
        })
        .collect();
    contacts
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            c.promise.is_none() && c.kind != ContactKind::Report && !exempt.contains(i)
        })
        .map(|(_, c)| Violation {
            ticket: h.id.clone(),
            rule: ID,
            at: c.at,
            detail: cx.detail(c.at, || {
                format!(
                    "{}: {} at {} does not say when the next update will come",
                    h.id,
                    kind_name(c.kind),
                    local(cx.cal, c.at)
                )
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;

    over_history!(check);

    #[test]
    fn stated_times_keep_it() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 16, 30)))
            .upd(lon(2026, 11, 26, 15, 0), Some(lon(2026, 11, 27, 10, 0)))
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 9, 0))).is_empty());
    }

    #[test]
    fn a_contact_without_a_stated_time_breaks_at_its_time() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .upd(lon(2026, 11, 26, 15, 0), Some(lon(2026, 11, 27, 10, 0)))
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 27, 9, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 10, 0))]);
        assert_eq!(
            v[0].detail,
            "JAC-7: the acknowledgment at Thu 26 Nov 2026 10:00 does not say when the next \
             update will come"
        );
    }

    #[test]
    fn the_fixing_message_and_the_report_are_exempt() {
        let fx = Fx::new();
        let t = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 12, 0)))
            .upd(lon(2026, 11, 26, 11, 0), None) // not the last: breaks
            .upd(lon(2026, 11, 26, 12, 0), None) // "it is fixed"
            .status(lon(2026, 11, 26, 12, 5), Status::Resolved)
            .report(lon(2026, 11, 27, 10, 0))
            .status(lon(2026, 11, 27, 10, 0), Status::Closed);
        let h = t.build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 27, 12, 0)))),
            vec![(ID, lon(2026, 11, 26, 11, 0))]
        );
        // Before the ticket is resolved, the fixing message is not yet known
        // as such.
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 12, 1)))),
            vec![
                (ID, lon(2026, 11, 26, 11, 0)),
                (ID, lon(2026, 11, 26, 12, 0))
            ]
        );
    }

    #[test]
    fn closing_straight_from_open_exempts_the_last_update_despite_the_report() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 12, 0)))
            .upd(lon(2026, 11, 26, 11, 30), None)
            .report(lon(2026, 11, 26, 11, 59))
            .status(lon(2026, 11, 26, 12, 0), Status::Closed)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 13, 0))).is_empty());
    }

    #[test]
    fn a_contact_after_resolving_is_not_exempt_unless_last_before_closing() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 12, 0)))
            .upd(lon(2026, 11, 26, 11, 0), None)
            .status(lon(2026, 11, 26, 11, 5), Status::Resolved)
            .upd(lon(2026, 11, 26, 14, 0), None)
            .build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 15, 0)))),
            vec![(ID, lon(2026, 11, 26, 14, 0))]
        );
        let h = T(h).status(lon(2026, 11, 27, 9, 0), Status::Closed).build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 10, 0))).is_empty());
    }
}
