//! `dismissive-language` (POLICY "Additional protocols"; seed Standard 3,
//! "Issue Reproduction and Respect"): a contact contains a phrase from the
//! configured list (can't reproduce, works for me, …).
//!
//! Interpretations:
//! * The phrase is found when the message is stored, in the author's own
//!   text only (quoted earlier mail never counts), and arrives as
//!   `Contact::dismissive`; this rule only reports it.
//! * One violation per offending contact, at its time, whatever its kind.
//! * The detail quotes the phrase and suggests the respectful form:
//!   acknowledge the problem and propose a screenshare. It names the ticket
//!   and the message, never its author.

use super::{kind_name, local, RuleContext, Seen};
use crate::policy::history::Violation;

/// The POLICY rule id.
pub const ID: &str = "dismissive-language";

/// One violation per contact with a dismissive phrase, at the contact's time.
pub fn check(s: &Seen, cx: &RuleContext) -> Vec<Violation> {
    let h = s.h;
    s.contacts
        .iter()
        .filter_map(|c| {
            let phrase = c.dismissive.as_deref()?;
            Some(Violation {
                ticket: h.id.clone(),
                rule: ID,
                at: c.at,
                detail: cx.detail(c.at, || {
                    format!(
                        "{}: {} at {} says \"{}\"; acknowledge the problem the client sees \
                         and propose a screenshare instead",
                        h.id,
                        kind_name(c.kind),
                        local(cx.cal, c.at),
                        phrase.trim(),
                    )
                }),
            })
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
    fn respectful_updates_keep_it() {
        let fx = Fx::new();
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .upd(lon(2026, 11, 26, 11, 0), None)
            .build();
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 13, 0))).is_empty());
    }

    #[test]
    fn a_dismissive_phrase_breaks_at_the_message() {
        let fx = Fx::new();
        let mut c = contact(lon(2026, 11, 26, 11, 0), ContactKind::Update, None);
        c.dismissive = Some("can't reproduce".into());
        let h = ticket(Priority::Medium, lon(2026, 11, 26, 10, 0))
            .ack(lon(2026, 11, 26, 10, 0), None)
            .with(c)
            .build();
        let v = check(&h, &fx.cx(lon(2026, 11, 26, 13, 0)));
        assert_eq!(keys(&v), vec![(ID, lon(2026, 11, 26, 11, 0))]);
        assert_eq!(
            v[0].detail,
            "JAC-7: the update at Thu 26 Nov 2026 11:00 says \"can't reproduce\"; acknowledge \
             the problem the client sees and propose a screenshare instead"
        );
        assert!(check(&h, &fx.cx(lon(2026, 11, 26, 10, 30))).is_empty());
    }
}
