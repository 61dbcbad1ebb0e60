//! `promise-kept` (POLICY "Additional protocols"): when a contact promised a
//! time for the next update, the next contact is there by that time; a
//! contact up to `cx.promise_grace` (5 minutes) late still keeps it.
//!
//! Interpretations:
//! * The promised time is read when the message is stored and arrives as
//!   `Contact::promise`; the acknowledgment's stated time is a promise like
//!   any other.
//! * A promise is kept by the next contact of any kind (its own promise
//!   then replaces the old one): it must be at or before
//!   `promise.at + promise_grace`. A later contact's promise replaces an
//!   earlier one only once that later contact exists.
//! * Broken when the next contact is later than that, or when there is none
//!   and `cx.at` has reached `promise.at + promise_grace`: one violation per
//!   promise, at the promised time `promise.at`. A late contact does not move
//!   or add anything: its own promise is judged on its own.
//! * Not broken when the ticket was not open at the promised time (resolved
//!   or closed before the promise fell due).
//! * A promise that is not after its own message (a misread time in the
//!   past) is ignored: there is nothing to keep.
//! * `next_due`: the promised time of the pending promise (the last contact's,
//!   while it is still ahead of `cx.at`).

use chrono::{DateTime, Utc};

use super::{kind_name, local, RuleContext, Seen};
use crate::policy::history::{Contact, Promise, Violation};

/// The POLICY rule id.
pub const ID: &str = "promise-kept";

/// The promise a contact makes, if it is a real one (after the contact).
fn promise(c: &Contact) -> Option<&Promise> {
    c.promise.as_ref().filter(|p| p.at > c.at)
}

/// One violation per broken promise, at the promised time (see the module
/// documentation).
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let (h, contacts, spans) = (s.h, &s.contacts, &s.spans);
    let mut out = Vec::new();
    for (i, c) in contacts.iter().enumerate() {
        let Some(p) = promise(c) else { continue };
        let limit = p.at + cx.promise_grace;
        let next = contacts.get(i + 1);
        let broken = match next {
            Some(n) => n.at > limit,
            None => limit <= cx.at,
        };
        if !broken || !spans.iter().any(|s| s.contains(p.at)) {
            continue;
        }
        let detail = cx.detail(p.at, || {
            let outcome = match next {
                Some(n) => format!("the next contact came at {}", local(cx.cal, n.at)),
                None => "no contact has come since".to_string(),
            };
            format!(
                "{}: {} at {} promised the next update by {} (\"{}\"); {}",
                h.id,
                kind_name(c.kind),
                local(cx.cal, c.at),
                local(cx.cal, p.at),
                p.phrase.trim(),
                outcome,
            )
        });
        out.push(Violation {
            ticket: h.id.clone(),
            rule: ID,
            at: p.at,
            detail,
        });
    }
    out
}

/// The pending promise's time: the last contact's promise, while it is after
/// `cx.at`. `None` when the last contact promised nothing, when its time has
/// passed, or when the ticket is not open at `cx.at`.
pub fn next_due(s: &Seen, cx: &RuleContext) -> Option<DateTime<Utc>> {
    s.current_span()?;
    let last = s.contacts.last()?;
    promise(last).map(|p| p.at).filter(|t| *t > cx.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::Status;
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;

    over_history!(check, next_due);

    #[test]
    fn a_contact_four_minutes_late_keeps_it() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .upd(lon(2026, 11, 26, 15, 4), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 12, 0))).is_empty());
        // Exactly five minutes late still keeps it.
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .upd(lon(2026, 11, 26, 15, 5), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 12, 0))).is_empty());
    }

    #[test]
    fn a_contact_six_minutes_late_breaks_it_at_the_promised_time() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .upd(lon(2026, 11, 26, 15, 6), None)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 27, 12, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 15, 0))]);
        assert_eq!(
            v[0].detail,
            "JAC-7: the acknowledgment at Thu 26 Nov 2026 10:00 promised the next update by \
             Thu 26 Nov 2026 15:00 (\"next update by then\"); the next contact came at \
             Thu 26 Nov 2026 15:06"
        );
    }

    #[test]
    fn no_contact_breaks_once_the_grace_has_passed() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .build();
        assert!(check(&h, &fx.cx(lons(2026, 11, 26, 15, 4, 59))).is_empty());
        for at in [
            lon(2026, 11, 26, 15, 5),
            lon(2026, 11, 26, 15, 6),
            lon(2026, 11, 30, 9, 0),
        ] {
            assert_eq!(
                keys(&check(&h, &fx.cx(at))),
                vec![(ID, lon(2026, 11, 26, 15, 0))],
                "at {at}"
            );
        }
    }

    #[test]
    fn each_promise_is_judged_once_and_replaced_by_the_next_contact() {
        let fx = Fx::new();
        // 10:00 promises 11:00 (kept at 10:30); 10:30 promises 12:00
        // (broken: next contact 12:10); 12:10 promises 13:00 (kept at 12:55);
        // 12:55 promises 16:00 (pending).
        let h = ticket(Priority::Urgent, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 11, 0)))
            .upd(lon(2026, 11, 26, 10, 30), Some(lon(2026, 11, 26, 12, 0)))
            .upd(lon(2026, 11, 26, 12, 10), Some(lon(2026, 11, 26, 13, 0)))
            .upd(lon(2026, 11, 26, 12, 55), Some(lon(2026, 11, 26, 16, 0)))
            .build();
        let at = lon(2026, 11, 26, 14, 0);
        assert_eq!(
            keys(&check(&h, &fx.cx(at))),
            vec![(ID, lon(2026, 11, 26, 12, 0))]
        );
        assert_eq!(next_due(&h, &fx.cx(at)), Some(lon(2026, 11, 26, 16, 0)));
        // Before the 12:10 contact existed the 12:00 promise was already
        // broken (12:05 passed): same violation.
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 12, 6)))),
            vec![(ID, lon(2026, 11, 26, 12, 0))]
        );
    }

    #[test]
    fn a_promise_falling_due_while_resolved_does_not_break() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .status(lon(2026, 11, 26, 14, 0), Status::Resolved)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 12, 0))).is_empty());
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 14, 30))), None);
        // Reopened before the promised time: the promise still stands.
        let h = T(h).status(lon(2026, 11, 26, 14, 30), Status::Open).build();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 27, 12, 0)))),
            vec![(ID, lon(2026, 11, 26, 15, 0))]
        );
    }

    #[test]
    fn next_due_is_the_pending_promise() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .upd(lon(2026, 11, 26, 11, 0), None)
            .build();
        assert_eq!(
            next_due(&h, &fx.cx(lon(2026, 11, 26, 10, 30))),
            Some(lon(2026, 11, 26, 15, 0))
        );
        // The 11:00 contact kept it and promised nothing.
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 11, 30))), None);
        // Past the promised time: reported by `check`, not due.
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 15, 0)))
            .build();
        assert_eq!(next_due(&h, &fx.cx(lon(2026, 11, 26, 15, 2))), None);
    }

    #[test]
    fn a_promise_in_the_past_is_ignored() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), Some(lon(2026, 11, 26, 9, 0)))
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 27, 12, 0))).is_empty());
    }
}
