//! What a PM reads first: per client project, one line per ticket, the
//! tickets that need attention first. Pure: the tickets' facts in, lines out.
//!
//! Interpretations:
//! * One line per ticket, its broken rules rolled up ("JAC-2: 3 rules broken
//!   since 09:00 — urgent-hourly, promise-kept, eod-update"): one silence that
//!   breaks several rules, or one rule that breaks twice, is one line, not
//!   several. The rules are named in the order they first broke, a rule that
//!   broke more than once with its count ("eod-update ×2"); "since" is the
//!   earliest break, in the calendar's zone (the clock time alone when it is
//!   the digest's day).
//! * Order: tickets with rules broken since the last digest first (earliest
//!   break first), then tickets whose next contact is due before the next daily
//!   digest ("due soon", soonest first), then the rest (by due time, then
//!   number). Projects with broken rules come first, then those with something
//!   due soon, then by name.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// What the roll-up needs to know of one ticket.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    /// `JAC-2`.
    pub id: String,
    /// The ticket's number (ties are broken by it).
    pub number: i64,
    /// The client project.
    pub project: String,
    pub subject: String,
    /// Rules broken since the last digest: (rule id, when).
    pub broken: Vec<(&'static str, DateTime<Utc>)>,
    /// The next contact due, and the rule that sets it (open tickets).
    pub next_due: Option<(DateTime<Utc>, String)>,
    /// `open` or `resolved` (or `closed`, for a ticket closed since the last
    /// digest with a rule broken before).
    pub status: String,
    /// The reply link, when one could be made (see `digest::mailto`).
    pub mailto: Option<String>,
}

/// How urgently a ticket needs the PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    Broken,
    DueSoon,
    Rest,
}

/// One ticket's line.
#[derive(Debug, Clone, Serialize)]
pub struct AttentionLine {
    pub ticket: String,
    pub need: Need,
    /// "JAC-2: 3 rules broken since 09:00 — urgent-hourly, promise-kept, eod-update".
    pub line: String,
    pub subject: String,
    pub mailto: Option<String>,
}

/// One project's lines, most urgent first.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectAttention {
    pub project: String,
    pub lines: Vec<AttentionLine>,
    /// Lines that need attention (broken or due soon).
    pub needing: usize,
}

/// `09:00` on the digest's local day, `Wed 25 Nov 16:30` otherwise.
fn when(tz: Tz, t: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let (l, a) = (t.with_timezone(&tz), at.with_timezone(&tz));
    if l.date_naive() == a.date_naive() {
        let mut s = String::with_capacity(5);
        super::push_clock(&mut s, &l);
        s
    } else {
        super::short_in(tz, t)
    }
}

/// The rolled-up line of one ticket, and its need and sort key.
fn line_of(
    t: &TicketFacts,
    tz: Tz,
    at: DateTime<Utc>,
    next_digest: DateTime<Utc>,
) -> (Need, DateTime<Utc>, String) {
    if let Some(since) = t.broken.iter().map(|(_, w)| *w).min() {
        let mut broken = t.broken.clone();
        broken.sort_by_key(|(_, w)| *w);
        // Rules in the order they first broke, each with its count.
        let mut rules: Vec<(&str, usize)> = Vec::new();
        for (r, _) in broken {
            match rules.iter_mut().find(|(x, _)| *x == r) {
                Some((_, n)) => *n += 1,
                None => rules.push((r, 1)),
            }
        }
        let names: Vec<String> = rules
            .iter()
            .map(|(r, n)| {
                if *n > 1 {
                    format!("{r} ×{n}")
                } else {
                    r.to_string()
                }
            })
            .collect();
        let line = format!(
            "{}: {} {} broken since {} — {}",
            t.id,
            rules.len(),
            if rules.len() == 1 { "rule" } else { "rules" },
            when(tz, since, at),
            names.join(", ")
        );
        return (Need::Broken, since, line);
    }
    match &t.next_due {
        Some((due, rule)) if *due <= next_digest => (
            Need::DueSoon,
            *due,
            format!("{}: due by {} — {rule}", t.id, when(tz, *due, at)),
        ),
        Some((due, rule)) => (
            Need::Rest,
            *due,
            format!("{}: next due {} — {rule}", t.id, when(tz, *due, at)),
        ),
        None => (
            Need::Rest,
            DateTime::<Utc>::MAX_UTC,
            format!(
                "{}: {}",
                t.id,
                match t.status.as_str() {
                    "resolved" =>
                        "resolved, nothing due; close it with cause, resolution and prevention",
                    "closed" => "closed since the last digest",
                    _ => "nothing due",
                }
            ),
        ),
    }
}

/// A line with its sort key: need, time (first break or due), number.
type Keyed = (Need, DateTime<Utc>, i64, AttentionLine);

/// The tickets per project, most urgent first (see the module documentation).
/// `at` is the digest's instant, `next_digest` the next daily digest's.
pub fn roll_up(
    tickets: Vec<TicketFacts>,
    tz: Tz,
    at: DateTime<Utc>,
    next_digest: DateTime<Utc>,
) -> Vec<ProjectAttention> {
    let mut by_project: BTreeMap<String, Vec<Keyed>> = BTreeMap::new();
    for t in tickets {
        let (need, key, line) = line_of(&t, tz, at, next_digest);
        let lines = match by_project.get_mut(t.project.as_str()) {
            Some(lines) => lines,
            None => by_project.entry(t.project).or_default(),
        };
        lines.push((
            need,
            key,
            t.number,
            AttentionLine {
                ticket: t.id,
                need,
                line,
                subject: t.subject,
                mailto: t.mailto,
            },
        ));
    }
    let mut out: Vec<ProjectAttention> = by_project
        .into_iter()
        .map(|(project, mut lines)| {
            lines.sort_by_key(|(need, key, number, _)| (*need, *key, *number));
            ProjectAttention {
                project,
                needing: lines.iter().filter(|l| l.0 != Need::Rest).count(),
                lines: lines.into_iter().map(|l| l.3).collect(),
            }
        })
        .collect();
    out.sort_by_key(|p| {
        (
            p.lines.first().map_or(Need::Rest, |l| l.need),
            p.project.clone(),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::London;

    fn lon(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        London
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn facts(id: &str, project: &str) -> TicketFacts {
        TicketFacts {
            id: id.into(),
            number: id[4..].parse().unwrap(),
            project: project.into(),
            subject: format!("subject of {id}"),
            broken: Vec::new(),
            next_due: None,
            status: "open".into(),
            mailto: None,
        }
    }

    #[test]
    fn one_line_per_ticket_grouped_and_ordered() {
        let at = lon(27, 17, 0);
        let next = lon(30, 17, 0);
        let mut two = facts("JAC-2", "acme");
        // One silence: three rules; the hourly one twice.
        two.broken = vec![
            ("eod-update", lon(27, 16, 30)),
            ("urgent-hourly", lon(27, 9, 0)),
            ("promise-kept", lon(27, 10, 0)),
            ("urgent-hourly", lon(27, 12, 0)),
        ];
        let mut five = facts("JAC-5", "acme");
        five.broken = vec![("first-response", lon(26, 18, 1))];
        let mut three = facts("JAC-3", "acme");
        three.next_due = Some((lon(30, 9, 30), "urgent-hourly".into()));
        let mut four = facts("JAC-4", "acme");
        four.next_due = Some((lon(30, 16, 30), "eod-update".into()));
        let mut six = facts("JAC-6", "acme");
        six.next_due = Some((lon(30, 18, 0), "promise-kept".into()));
        let mut seven = facts("JAC-7", "globex");
        seven.status = "resolved".into();
        let mut eight = facts("JAC-8", "beta");
        eight.next_due = Some((lon(30, 10, 0), "promise-kept".into()));
        let all = [
            seven.clone(),
            six.clone(),
            four.clone(),
            three.clone(),
            two.clone(),
            five.clone(),
            eight.clone(),
        ];
        let p = roll_up(all.to_vec(), London, at, next);
        let names: Vec<&str> = p.iter().map(|p| p.project.as_str()).collect();
        assert_eq!(names, vec!["acme", "beta", "globex"]);
        let acme: Vec<&str> = p[0].lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(
            acme,
            vec![
                "JAC-5: 1 rule broken since Thu 26 Nov 18:01 — first-response",
                "JAC-2: 3 rules broken since 09:00 — urgent-hourly ×2, promise-kept, eod-update",
                "JAC-3: due by Mon 30 Nov 09:30 — urgent-hourly",
                "JAC-4: due by Mon 30 Nov 16:30 — eod-update",
                "JAC-6: next due Mon 30 Nov 18:00 — promise-kept",
            ]
        );
        let needs: Vec<Need> = p[0].lines.iter().map(|l| l.need).collect();
        assert_eq!(
            needs,
            vec![
                Need::Broken,
                Need::Broken,
                Need::DueSoon,
                Need::DueSoon,
                Need::Rest
            ]
        );
        assert_eq!(p[0].needing, 4);
        assert_eq!(p[1].lines[0].need, Need::DueSoon);
        assert_eq!(
            p[2].lines[0].line,
            "JAC-7: resolved, nothing due; close it with cause, resolution and prevention"
        );
        assert_eq!(p[2].needing, 0);
        assert_eq!(
            serde_json::to_value(Need::DueSoon).unwrap(),
            serde_json::json!("due-soon")
        );
    }
}
