//! `pm-cc` (POLICY "Additional protocols"; seed: "Always CC the Project
//! Manager on all communications"): the ticket's PM is in To or Cc of every
//! contact.
//!
//! Interpretations:
//! * Every contact is checked: acknowledgment, update and closing report,
//!   whatever the ticket's status.
//! * Addresses compare case-insensitively after trimming; a recipient written
//!   as `Name <addr>` is reduced to `addr`. To and Cc are equivalent.
//! * A ticket without a PM (empty `pm`) can never satisfy the rule: every
//!   contact breaks it, which surfaces the missing project configuration.
//! * One violation per offending contact, at its time. The detail does not
//!   print the PM's address (it names the ticket and the message only).

use super::{kind_name, local, RuleContext, Seen};
use crate::policy::history::Violation;

/// The POLICY rule id.
pub const ID: &str = "pm-cc";

/// The bare, lower-case address of a recipient (`Name <a@b>` → `a@b`).
/// The address inside `Name <addr>`, trimmed; compared case-insensitively
/// without allocating (this runs for every recipient of every contact).
fn bare(r: &str) -> &str {
    let r = r.trim();
    let inner = match (r.rfind('<'), r.rfind('>')) {
        (Some(a), Some(b)) if a < b => &r[a + 1..b],
        _ => r,
    };
    inner.trim()
}

/// Whether recipient `r` is the address `pm` (bare, non-empty). Most
/// recipients are stored bare: one comparison settles those, and one `>`
/// search (for `Name <addr>`) plus a look at both ends rules out the others
/// before [`bare`] runs (this runs for every recipient of every contact of
/// every ticket a report or digest evaluates).
fn is_pm(r: &str, pm: &str) -> bool {
    if r.eq_ignore_ascii_case(pm) {
        return true;
    }
    let plain = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    if plain(r.as_bytes().first()) && plain(r.as_bytes().last()) && !r.contains('>') {
        // `bare(r)` is `r` itself, which is not `pm`.
        return false;
    }
    bare(r).eq_ignore_ascii_case(pm)
}

/// One violation per contact whose recipients lack the ticket's PM, at the
/// contact's time.
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let h = s.h;
    let pm = bare(&h.pm);
    s.contacts
        .iter()
        .filter(|c| pm.is_empty() || !c.recipients.iter().any(|r| is_pm(r, pm)))
        .map(|c| Violation {
            ticket: h.id.clone(),
            rule: ID,
            at: c.at,
            detail: cx.detail(c.at, || {
                if pm.is_empty() {
                    format!(
                        "{}: {} at {} could not copy the PM: the ticket has no PM configured",
                        h.id,
                        kind_name(c.kind),
                        local(cx.cal, c.at)
                    )
                } else {
                    format!(
                        "{}: {} at {} did not have the project's PM in To or Cc",
                        h.id,
                        kind_name(c.kind),
                        local(cx.cal, c.at)
                    )
                }
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::history::ContactKind;
    use crate::policy::priority::Priority;
    use crate::policy::rules::fixtures::*;

    over_history!(check);

    #[test]
    fn pm_in_to_or_cc_keeps_it() {
        let fx = Fx::new();
        let mut only_pm = contact(lon(2026, 11, 26, 11, 0), ContactKind::Update, None);
        only_pm.recipients = vec!["Project Manager <PM@JAC.example>".into()];
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .with(only_pm)
            .report(lon(2026, 11, 26, 12, 0))
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 13, 0))).is_empty());
    }

    #[test]
    fn a_contact_without_the_pm_breaks_at_its_time() {
        let fx = Fx::new();
        let mut no_pm = contact(lon(2026, 11, 26, 11, 0), ContactKind::Update, None);
        no_pm.recipients = vec![CLIENT.into(), "other@jac.example".into()];
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .with(no_pm)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 13, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 11, 0))]);
        assert_eq!(
            v[0].detail,
            "JAC-7: the update at Thu 26 Nov 2026 11:00 did not have the project's PM in To or Cc"
        );
        // Not before the message exists.
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 10, 59))).is_empty());
    }

    #[test]
    fn is_pm_is_bare_compared() {
        // Every form of recipient: the fast paths must answer as `bare` does.
        let pm = "pm@jac.example";
        for r in [
            "pm@jac.example",
            "PM@Jac.Example",
            " pm@jac.example ",
            "\tpm@jac.example",
            "Project Manager <pm@jac.example>",
            "<PM@jac.example>",
            "x <pm@jac.example> y",
            "pm@jac.example>",
            "ops@client.example",
            "Ops <ops@client.example>",
            "pm@jac.example.evil",
            "<pm@jac.example",
            "Zoë <pm@jac.example>",
            " ",
            "",
        ] {
            assert_eq!(is_pm(r, pm), bare(r).eq_ignore_ascii_case(pm), "{r:?}");
        }
    }

    #[test]
    fn a_ticket_without_a_pm_breaks_on_every_contact() {
        let fx = Fx::new();
        let mut h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .build();
        h.pm = String::new();
        assert_eq!(
            keys(&check(&h, &fx.cx(lon(2026, 11, 26, 13, 0)))),
            vec![(ID, lon(2026, 11, 26, 10, 0))]
        );
    }
}
