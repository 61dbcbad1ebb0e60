//! The top of a digest, what a PM reads in one minute: the compliance rates
//! (this period and a week earlier), the weekly status's trend charts, and per
//! client project the tickets that need attention first, each with its reply
//! link. Pure: built from the loaded inputs (`compliance_rate`, `attention`,
//! `mailto`, `trend_chart` do the work); the templates `overview.txt` and
//! `overview.html` show it.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::attention::{roll_up, ProjectAttention, TicketFacts};
use super::compliance_rate::{rates, rates_given, Rate, Rates, Window};
use super::mailto::{mailto, Reply};
use super::*;
use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::policy::history::{TicketHistory, Violation};

/// How many weeks the weekly status's trend chart shows.
pub const TREND_WEEKS: usize = 8;

/// One rate as a digest shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RateCell {
    /// `80%`, or `—` when nothing was due.
    pub label: String,
    pub kept: usize,
    pub due: usize,
}

impl From<Rate> for RateCell {
    fn from(r: Rate) -> RateCell {
        RateCell {
            label: r.label(),
            kept: r.kept,
            due: r.due,
        }
    }
}

/// A rate and the same window's a week earlier.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    /// The project (`Overall` for the total).
    pub name: String,
    pub now: RateCell,
    pub last_week: RateCell,
}

/// The compliance rates at a digest's top.
#[derive(Debug, Clone, Serialize)]
pub struct Compliance {
    pub overall: RateRow,
    pub projects: Vec<RateRow>,
}

/// One week of a trend.
#[derive(Debug, Clone, Serialize)]
pub struct TrendWeek {
    /// The week's last day ("27 Nov").
    pub ending: String,
    pub rate: RateCell,
}

/// One project's trend chart.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub project: String,
    /// `cid:…` in the mail; a `data:` URI in `onit digest --html`.
    pub src: String,
    /// The weeks, oldest first.
    pub weeks: Vec<TrendWeek>,
    /// The weeks in words, for the plain text and the image's alt text:
    /// "2 Oct 50%, 9 Oct —, …".
    pub summary: String,
    #[serde(skip)]
    png: Vec<u8>,
}

impl Digest {
    /// The trend charts as `data:` URIs instead of `cid:` references: a page
    /// that shows them on its own (`onit digest --html`).
    pub fn embed_images(&mut self) {
        use base64::Engine;
        for t in &mut self.trends {
            t.src = format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&t.png)
            );
        }
    }
}

/// A ticket's client project (the default project when its row is not loaded).
fn project_of<'i>(inputs: &'i Inputs, h: &TicketHistory) -> &'i str {
    inputs
        .tickets
        .get(&h.id)
        .map_or(crate::team::DEFAULT_PROJECT, |t| t.project.as_str())
}

/// The rates of the period `(since, at]` and of the same window a week earlier.
///
/// `at_end`: each of `mine`'s violations at `at`, in the same order (the
/// digest's own evaluation).
pub(super) fn compliance_of(
    inputs: &Inputs,
    rt: &Runtime,
    mine: &[TicketHistory],
    at_end: &[&[Violation]],
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Compliance {
    let rules = crate::compliance::Rules::new(rt);
    let cx = rules.context(rt, at);
    let window = Window {
        from: since,
        to: at,
    };
    let now = rates_given(
        mine.iter().zip(at_end.iter().map(|v| Some(*v))),
        |h| project_of(inputs, h),
        &cx,
        window,
    );
    let before = rates(
        mine,
        |h| project_of(inputs, h),
        &cx,
        window.weeks_earlier(1),
    );
    let row = |name: &str, a: Rate, b: Rate| RateRow {
        name: name.to_string(),
        now: a.into(),
        last_week: b.into(),
    };
    Compliance {
        overall: row("Overall", now.overall, before.overall),
        projects: now
            .by_project
            .iter()
            .map(|(p, r)| row(p, *r, before.by_project.get(p).copied().unwrap_or_default()))
            .collect(),
    }
}

/// The attention lists: every ticket not closed, and every ticket with a rule
/// broken since the last digest, each with its reply link.
pub(super) fn attention_of(
    inputs: &Inputs,
    rt: &Runtime,
    pm: &str,
    fresh: &[&Violation],
    open_tickets: &[OpenTicket],
    dues: &HashMap<&str, &crate::compliance::DueView>,
    at: DateTime<Utc>,
) -> Vec<ProjectAttention> {
    // The reply copies the PM the digest goes to (warned about once, when queued).
    let pm_address = team_pm(rt, pm).unwrap_or_else(|| rt.team.default_pm.clone());
    let support = rt.team.support.first().unwrap_or(&rt.team.from);
    // Looked up by id, not searched: a digest can list thousands of open tickets
    // (a linear search per ticket made this quadratic: issue 17).
    let status_of: HashMap<&str, &str> = open_tickets
        .iter()
        .map(|t| (t.id.as_str(), t.status.as_str()))
        .collect();
    let mut broken_of: HashMap<&str, Vec<(&'static str, DateTime<Utc>)>> = HashMap::new();
    let mut ids: Vec<&str> = open_tickets.iter().map(|t| t.id.as_str()).collect();
    for v in fresh {
        let broken = broken_of.entry(v.ticket.as_str()).or_default();
        if broken.is_empty() && !status_of.contains_key(v.ticket.as_str()) {
            ids.push(&v.ticket);
        }
        broken.push((v.rule, v.at));
    }
    let facts: Vec<TicketFacts> = ids
        .into_iter()
        .map(|id| {
            let row = inputs.tickets.get(id);
            let mailto = row.and_then(|t| {
                let client = EmailAddress::parse(&t.reporter).ok()?;
                Some(mailto(&Reply {
                    to: &client,
                    cc: &[&pm_address, support],
                    subject: &t.subject,
                    tag: id,
                    in_reply_to: inputs.thread_last.get(&t.id).map(String::as_str),
                }))
            });
            let status = status_of.get(id).copied().unwrap_or("closed");
            TicketFacts {
                id: id.to_string(),
                number: number_of(id),
                project: row.map_or_else(
                    || crate::team::DEFAULT_PROJECT.to_string(),
                    |t| t.project.clone(),
                ),
                subject: row.map(|t| t.subject.clone()).unwrap_or_default(),
                broken: broken_of.get(id).cloned().unwrap_or_default(),
                next_due: dues
                    .get(id)
                    .filter(|_| status == "open")
                    .and_then(|d| Some((d.next_due_at?, d.rule?.to_string()))),
                status: status.to_string(),
                mailto,
            }
        })
        .collect();
    let next_digest = next_period(rt, Kind::Daily, at)
        .map(|p| p.at)
        .unwrap_or(at + Duration::days(1));
    roll_up(facts, rt.calendar.tz(), at, next_digest)
}

/// Each project's weekly rates over the last [`TREND_WEEKS`] weeks up to `at`,
/// with its chart (a `cid:` image) and the inline parts for the mail.
pub(super) fn trends_of(
    inputs: &Inputs,
    rt: &Runtime,
    mine: &[TicketHistory],
    at: DateTime<Utc>,
) -> (Vec<Trend>, Vec<crate::compose::InlineImage>) {
    let rules = crate::compliance::Rules::new(rt);
    let cx = rules.context(rt, at);
    let last = Window {
        from: at - Duration::weeks(1),
        to: at,
    };
    // Oldest first.
    let weeks: Vec<(Window, Rates)> = (0..TREND_WEEKS as i64)
        .rev()
        .map(|k| {
            let w = last.weeks_earlier(k);
            (w, rates(mine, |h| project_of(inputs, h), &cx, w))
        })
        .collect();
    let projects: BTreeSet<&String> = weeks
        .iter()
        .flat_map(|(_, r)| r.by_project.keys())
        .collect();
    let day = at.with_timezone(&rt.calendar.tz()).format("%Y%m%d");
    let mut trends = Vec::new();
    let mut inline = Vec::new();
    for (i, p) in projects.into_iter().enumerate() {
        let series: Vec<Rate> = weeks
            .iter()
            .map(|(_, r)| r.by_project.get(p).copied().unwrap_or_default())
            .collect();
        let png = trend_chart::render(&series);
        let content_id = format!("trend-{}.{day}@{}", i + 1, rt.team.from.domain());
        inline.push(crate::compose::InlineImage {
            content_id: content_id.clone(),
            content_type: "image/png",
            bytes: png.clone(),
        });
        let points: Vec<TrendWeek> = weeks
            .iter()
            .zip(&series)
            .map(|((w, _), r)| TrendWeek {
                ending: w
                    .to
                    .with_timezone(&rt.calendar.tz())
                    .format("%-d %b")
                    .to_string(),
                rate: (*r).into(),
            })
            .collect();
        trends.push(Trend {
            project: p.clone(),
            src: format!("cid:{content_id}"),
            summary: points
                .iter()
                .map(|w| format!("{} {}", w.ending, w.rate.label))
                .collect::<Vec<_>>()
                .join(", "),
            weeks: points,
            png,
        });
    }
    (trends, inline)
}
