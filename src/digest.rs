//! The PM digests (POLICY "Digests for the PM"): per PM, for that PM's
//! projects only (a ticket's `pm`),
//!
//! * the **daily compliance digest**, on business days at `digest.daily_at`
//!   (17:00): every ticket not closed (priority, age, last contact, next due
//!   time and rule, status), every rule broken since the previous digest, and
//!   mail that needs a person (bounces of our mail, unthreaded team mail,
//!   ignored commands);
//! * the **weekly status**, on `digest.weekly_day` at `digest.weekly_at`
//!   (Friday 15:00; on a holiday, the last business day before it in the same
//!   week): every ticket still open, with the week in numbers.
//!
//! Each is one multipart/alternative mail (plain text and HTML, both from the
//! minijinja templates in `src/digest/`), queued in the outbox once per period
//! and PM with the dedupe key `digest:<daily|weekly>:<local date>:<pm>`, so a
//! restart never sends one twice.
//!
//! [`digest_tick`] takes `now` as an argument (the daemon passes the clock,
//! tests any instant). It looks at the most recent period of each kind only:
//! a period missed while onit was down is sent when onit comes back, marked
//! late ("late: due Thu 26 Nov 17:00") when it goes out more than
//! [`late_after`] after its time; older missed periods are not sent (no
//! backlog of stale digests), but the one that is sent covers everything since
//! the last digest that went out to that PM (looked up to [`CATCH_UP_DAYS`]
//! back).
//!
//! Interpretations:
//! * "Rules broken since the last digest" are the violations the rules report
//!   at the digest's instant that they did not report at the previous one
//!   (both evaluated now, with [`crate::compliance::report`]). A promise that
//!   falls due just before a digest but is only broken once its grace has
//!   passed is in the next digest, not lost between the two.
//! * "Open tickets" are the tickets not closed at the digest's instant:
//!   `open` ones with their next due time, and `resolved` ones (cadence
//!   paused, waiting to be closed with cause, resolution and prevention).
//! * A digest goes to a PM who has a ticket that was opened by the period and
//!   is not closed (or closed since the previous period), or mail that needs
//!   them; it is never sent to anyone outside the team: a ticket PM that is no
//!   longer a team address gets routed to `team.default_pm`.
//! * Unthreaded team mail has no ticket: it belongs to the PM of the project
//!   of its first client recipient (`team.default_pm` when none matches).
//! * Team accountability: the digest names tickets, rules and clients, never
//!   a team member: not the author of a broken rule's message, not the sender
//!   of unthreaded team mail.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::address::EmailAddress;
use crate::compliance::{load_histories, parse_time, report};
use crate::compose::{new_message_id, render_alternative, PlainMail};
use crate::config::Runtime;
use crate::policy::dismissive::respectful_suggestion;
use crate::policy::history::{Status, TicketHistory, Violation};
use crate::store::{from_ms, DigestEventRow, NewOutbox, Store, TicketRow, Tx, UnthreadedRow};

/// How far back the last digest sent to a PM is looked up (a late digest covers
/// everything since then, but never more than this).
pub const CATCH_UP_DAYS: i64 = 35;

/// A digest that goes out more than this after its time is marked late.
pub fn late_after() -> Duration {
    Duration::minutes(10)
}

/// Which digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Kind {
    /// The daily compliance digest.
    Daily,
    /// The weekly status.
    Weekly,
}

impl Kind {
    /// `daily` or `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
        }
    }

    /// The outbox kind: `digest_daily` or `digest_weekly`.
    pub fn outbox_kind(self) -> &'static str {
        match self {
            Kind::Daily => "digest_daily",
            Kind::Weekly => "digest_weekly",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Daily => "Daily compliance digest",
            Kind::Weekly => "Weekly status",
        }
    }
}

/// One scheduled digest: its local date and its instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: Kind,
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
}

/// The outbox dedupe key of one digest: `digest:daily:2026-11-26:alice.pm@jac.example`.
pub fn dedupe_key(kind: Kind, date: NaiveDate, pm: &str) -> String {
    format!("digest:{}:{date}:{pm}", kind.as_str())
}

/// The date of the weekly status in the week of `date`: `digest.weekly_day`, or
/// when that is not a business day, the last business day before it in the same
/// week (Monday on); the weekly day itself when the whole stretch is closed.
fn weekly_date(rt: &Runtime, date: NaiveDate) -> NaiveDate {
    let monday = date - Duration::days(date.weekday().num_days_from_monday() as i64);
    let nominal = monday + Duration::days(rt.digest.weekly_day.num_days_from_monday() as i64);
    let mut d = nominal;
    loop {
        if rt.calendar.is_business_day(d) {
            return d;
        }
        if d <= monday {
            return nominal;
        }
        d -= Duration::days(1);
    }
}

/// The period of `kind` on local `date`, if one falls on it.
pub fn period_on(rt: &Runtime, kind: Kind, date: NaiveDate) -> Option<Period> {
    let time = match kind {
        Kind::Daily if rt.calendar.is_business_day(date) => rt.digest.daily_at,
        Kind::Weekly if weekly_date(rt, date) == date => rt.digest.weekly_at,
        _ => return None,
    };
    Some(Period {
        kind,
        date,
        at: rt.calendar.at_local(date, time),
    })
}

/// The latest period of `kind` at or before `t` (`inclusive`), or strictly before it.
fn period_until(rt: &Runtime, kind: Kind, t: DateTime<Utc>, inclusive: bool) -> Option<Period> {
    let mut date = rt.calendar.local_date(t) + Duration::days(1);
    // A year back is more than any calendar closes for.
    for _ in 0..400 {
        if let Some(p) = period_on(rt, kind, date) {
            if p.at < t || (inclusive && p.at == t) {
                return Some(p);
            }
        }
        date = date.pred_opt()?;
    }
    None
}

/// The most recent period of `kind` at or before `now`: the one a tick at `now` sends.
pub fn latest_period(rt: &Runtime, kind: Kind, now: DateTime<Utc>) -> Option<Period> {
    period_until(rt, kind, now, true)
}

/// The period of `kind` before `t` (strictly): where a digest at `t` starts counting.
pub fn previous_period(rt: &Runtime, kind: Kind, t: DateTime<Utc>) -> Option<Period> {
    period_until(rt, kind, t, false)
}

/// One ticket not closed, as a digest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OpenTicket {
    /// `JAC-3`, as the client sees it.
    pub id: String,
    pub subject: String,
    /// The reporter.
    pub client: String,
    pub priority: String,
    /// `open` or `resolved`.
    pub status: String,
    /// Since it opened ("2d 4h").
    pub age: String,
    pub opened: String,
    /// The last contact with the client, if any.
    pub last_contact: Option<String>,
    /// When the next contact is due and the rule that sets it (open tickets).
    pub next_due: Option<String>,
    pub next_due_rule: Option<String>,
    #[serde(skip)]
    sort: (u8, u8, Option<DateTime<Utc>>, i64),
}

/// One broken rule.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenRule {
    pub ticket: String,
    pub subject: String,
    /// The POLICY rule id.
    pub rule: &'static str,
    /// When it broke (local).
    pub at: String,
    /// What happened (the rule's own words, without the leading ticket id).
    pub detail: String,
    /// For `dismissive-language`: the respectful form.
    pub suggestion: Option<&'static str>,
}

/// Mail that needs a person.
#[derive(Debug, Clone, Serialize)]
pub struct NeedsPerson {
    /// `bounce`, `unthreaded` or `ignored-command`.
    pub kind: &'static str,
    /// What people call it: "Bounce", "Unthreaded team mail", "Ignored command".
    pub label: &'static str,
    pub at: String,
    pub ticket: Option<String>,
    pub subject: String,
    pub detail: String,
    #[serde(skip)]
    sort: DateTime<Utc>,
}

/// A count by rule id (weekly).
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: &'static str,
    pub count: usize,
}

/// The week in numbers (weekly status).
#[derive(Debug, Clone, Serialize)]
pub struct Week {
    pub opened: usize,
    pub resolved_or_closed: usize,
    pub broken: usize,
    pub by_rule: Vec<RuleCount>,
}

/// One PM's digest, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    /// `daily` or `weekly`.
    pub kind: &'static str,
    pub title: &'static str,
    /// The PM it is for (lower case).
    pub pm: String,
    pub subject: String,
    /// The digest's instant, long form ("Thu 26 Nov 2026, 17:00 GMT").
    pub at_label: String,
    /// Where "since the last digest" starts ("Wed 25 Nov 17:00").
    pub since_label: String,
    /// When late: the due time ("Thu 26 Nov 17:00").
    pub late: Option<String>,
    /// When late: when it was sent.
    pub late_sent: Option<String>,
    pub open_tickets: Vec<OpenTicket>,
    pub broken: Vec<BrokenRule>,
    pub needs_person: Vec<NeedsPerson>,
    /// Weekly only.
    pub week: Option<Week>,
    /// Alerts about onit itself in the period (a stalled mailbox, a failing
    /// sign-in): while one is open, client mail may go unanswered, so the PM hears too.
    pub onit_alerts: Vec<OnitAlert>,
}

/// One alert about onit itself, as the digest shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OnitAlert {
    /// `mailbox-stalled`, `sign-in-failed`, `token-expiring`.
    pub kind: String,
    /// What it is about (`imap:support@… /INBOX`).
    pub subject: String,
    pub since: String,
    /// None while open.
    pub resolved: Option<String>,
    pub detail: String,
}

impl Digest {
    /// Nothing open, nothing broken, nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.open_tickets.is_empty()
            && self.broken.is_empty()
            && self.needs_person.is_empty()
            && self.onit_alerts.is_empty()
    }
}

/// What digests are made from, loaded once for every PM.
pub struct Inputs {
    histories: Vec<TicketHistory>,
    tickets: HashMap<String, TicketRow>,
    events: Vec<DigestEventRow>,
    unthreaded: Vec<UnthreadedRow>,
    alerts: Vec<crate::alerts::AlertRow>,
}

impl Inputs {
    /// Every ticket's history, and the mail that needs a person with a time in `(after, until]`.
    pub async fn load(store: &Store, after: DateTime<Utc>, until: DateTime<Utc>) -> Result<Inputs> {
        Ok(Inputs {
            histories: load_histories(store, false).await?,
            tickets: store
                .tickets()
                .await?
                .into_iter()
                .map(|t| (t.reference(), t))
                .collect(),
            events: store.digest_events(after, until).await?,
            unthreaded: store.unthreaded_team_mail(after, until).await?,
            alerts: crate::alerts::during(store, after, until).await?,
        })
    }

    /// Every PM that has tickets (lower case, sorted).
    pub fn pms(&self) -> Vec<String> {
        self.histories
            .iter()
            .map(|h| h.pm.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Which digest to build.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: Kind,
    /// The PM (any case).
    pub pm: String,
    /// The digest's instant.
    pub at: DateTime<Utc>,
    /// The previous digest's instant: what "since" counts from.
    pub since: DateTime<Utc>,
    /// When the digest is late: when it is sent.
    pub sent_late: Option<DateTime<Utc>>,
}

fn short(rt: &Runtime, t: DateTime<Utc>) -> String {
    t.with_timezone(&rt.calendar.tz())
        .format("%a %-d %b %H:%M")
        .to_string()
}

fn long(rt: &Runtime, t: DateTime<Utc>) -> String {
    t.with_timezone(&rt.calendar.tz())
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// "3d 4h", "5h 20m", "12m".
fn age(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, m) = (mins / 1440, mins / 60 % 24, mins % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 && m == 0 {
        format!("{hours}h")
    } else if hours > 0 {
        format!("{hours}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// The first letter in upper case (a rule's detail, once its leading ticket id is cut).
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn number_of(id: &str) -> i64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The PM a piece of unthreaded team mail belongs to.
fn pm_of_unthreaded(rt: &Runtime, u: &UnthreadedRow) -> (String, Vec<String>) {
    let clients: Vec<EmailAddress> = u
        .to_addrs
        .split(',')
        .chain(u.cc_addrs.split(','))
        .filter_map(|a| EmailAddress::parse(a.trim()).ok())
        .filter(|a| !rt.team.is_team(a))
        .collect();
    let pm = clients
        .first()
        .map(|c| rt.team.project_for(c).1)
        .unwrap_or(&rt.team.default_pm);
    (
        pm.as_str().to_lowercase(),
        clients.iter().map(|c| c.as_str().to_string()).collect(),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Builds one PM's digest (pure: everything comes from `inputs`).
pub fn build(inputs: &Inputs, rt: &Runtime, req: &Request) -> Digest {
    let pm = req.pm.trim().to_lowercase();
    let (at, since) = (req.at, req.since.min(req.at));
    let mine: Vec<TicketHistory> = inputs
        .histories
        .iter()
        .filter(|h| h.pm == pm)
        .cloned()
        .collect();
    // Violations the rules report at `at` and did not at `since`. The window starts a
    // promise grace early: a promise due just before `since` breaks only after it.
    let from = since - rt.policy.promise_grace;
    let now = report(&mine, rt, at, Some(from));
    let before: HashSet<(String, &'static str, DateTime<Utc>)> =
        report(&mine, rt, since, Some(from))
            .violations
            .into_iter()
            .map(|v| (v.ticket, v.rule, v.at))
            .collect();
    let subject_of = |id: &str| {
        inputs
            .tickets
            .get(id)
            .map(|t| t.subject.clone())
            .unwrap_or_default()
    };
    let fresh: Vec<&Violation> = now
        .violations
        .iter()
        .filter(|v| !before.contains(&(v.ticket.clone(), v.rule, v.at)))
        .collect();
    let broken: Vec<BrokenRule> = fresh
        .iter()
        .map(|v| {
            let prefix = format!("{}: ", v.ticket);
            BrokenRule {
                ticket: v.ticket.clone(),
                subject: subject_of(&v.ticket),
                rule: v.rule,
                at: short(rt, v.at),
                detail: capitalized(v.detail.strip_prefix(&prefix).unwrap_or(&v.detail)),
                suggestion: (v.rule == crate::policy::rules::dismissive_language::ID)
                    .then(respectful_suggestion),
            }
        })
        .collect();

    let dues: HashMap<&str, &crate::compliance::DueView> = now
        .open_tickets
        .iter()
        .map(|d| (d.ticket.as_str(), d))
        .collect();
    let mut open_tickets: Vec<OpenTicket> = mine
        .iter()
        .filter(|h| h.opened_at <= at && h.status_at(at) != Status::Closed)
        .map(|h| {
            let status = h.status_at(at);
            let due = dues.get(h.id.as_str()).filter(|_| status == Status::Open);
            let next_due_at = due
                .and_then(|d| d.next_due_at.as_deref())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            let row = inputs.tickets.get(&h.id);
            OpenTicket {
                id: h.id.clone(),
                subject: row.map(|t| t.subject.clone()).unwrap_or_default(),
                client: row.map(|t| t.reporter.clone()).unwrap_or_default(),
                priority: h.priority.as_str().to_string(),
                status: status.as_str().to_string(),
                age: age(at - h.opened_at),
                opened: short(rt, h.opened_at),
                last_contact: h
                    .contacts
                    .iter()
                    .filter(|c| c.at <= at)
                    .map(|c| c.at)
                    .max()
                    .map(|t| short(rt, t)),
                next_due: next_due_at.map(|t| short(rt, t)),
                next_due_rule: due.and_then(|d| d.rule).map(str::to_string),
                sort: (
                    match h.priority.as_str() {
                        "urgent" => 0,
                        "high" => 1,
                        _ => 2,
                    },
                    u8::from(status != Status::Open),
                    next_due_at,
                    number_of(&h.id),
                ),
            }
        })
        .collect();
    open_tickets.sort_by(|a, b| {
        (a.sort.0, a.sort.1)
            .cmp(&(b.sort.0, b.sort.1))
            .then_with(|| match (a.sort.2, b.sort.2) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.sort.3.cmp(&b.sort.3))
    });

    let in_window = |t: DateTime<Utc>| t > since && t <= at;
    let mut needs_person: Vec<NeedsPerson> = Vec::new();
    if req.kind == Kind::Daily {
        for e in &inputs.events {
            let t = from_ms(e.at);
            if e.pm.to_lowercase() != pm || !in_window(t) {
                continue;
            }
            let ticket = format!("{}-{}", e.prefix, e.number);
            let (kind, label, detail) = if e.kind == "command_ignored" {
                // The sender is outside the team (that is why it was ignored): naming them is no blame.
                let from = e
                    .actor
                    .as_deref()
                    .and_then(|a| EmailAddress::parse(a).ok())
                    .filter(|a| !rt.team.is_team(a))
                    .map(|a| format!(" (from {a})"))
                    .unwrap_or_default();
                (
                    "ignored-command",
                    "Ignored command",
                    format!(
                        "\"{}\"{from} was not applied: commands count only from the team.",
                        e.detail.trim()
                    ),
                )
            } else {
                (
                    "bounce",
                    "Bounce",
                    format!(
                        "{}. Our mail did not reach the client, who may not know we are on it: reach them another way.",
                        capitalized(e.detail.trim()).trim_end_matches('.')
                    ),
                )
            };
            needs_person.push(NeedsPerson {
                kind,
                label,
                at: short(rt, t),
                ticket: Some(ticket),
                subject: e.subject.clone(),
                detail,
                sort: t,
            });
        }
        for u in &inputs.unthreaded {
            let t = from_ms(u.effective_at);
            let (owner, clients) = pm_of_unthreaded(rt, u);
            if owner != pm || !in_window(t) {
                continue;
            }
            needs_person.push(NeedsPerson {
                kind: "unthreaded",
                label: "Unthreaded team mail",
                at: short(rt, t),
                ticket: None,
                subject: u.subject.clone(),
                detail: format!(
                    "Mail to {} matches no ticket (Message-ID <{}>): thread it onto its ticket, or tell the client.",
                    if clients.is_empty() { "a client".to_string() } else { clients.join(", ") },
                    u.message_id
                ),
                sort: t,
            });
        }
        needs_person.sort_by_key(|n| n.sort);
    }

    let week = (req.kind == Kind::Weekly).then(|| {
        let mut by_rule: BTreeMap<&'static str, usize> = BTreeMap::new();
        for v in &fresh {
            *by_rule.entry(v.rule).or_default() += 1;
        }
        Week {
            opened: mine.iter().filter(|h| in_window(h.opened_at)).count(),
            resolved_or_closed: mine
                .iter()
                .filter(|h| {
                    h.status_changes
                        .iter()
                        .any(|c| c.status != Status::Open && in_window(c.at))
                })
                .count(),
            broken: fresh.len(),
            by_rule: by_rule
                .into_iter()
                .map(|(rule, count)| RuleCount { rule, count })
                .collect(),
        }
    });

    let late = req.sent_late.map(|_| short(rt, at));
    let when = match &late {
        Some(due) => format!(" (late: due {due})"),
        None => format!(
            ", {}",
            at.with_timezone(&rt.calendar.tz()).format("%a %-d %b")
        ),
    };
    let mut counts = Vec::new();
    if req.kind == Kind::Daily {
        counts.push(plural(broken.len(), "rule broken", "rules broken"));
    }
    counts.push(plural(open_tickets.len(), "open ticket", "open tickets"));
    if !needs_person.is_empty() {
        counts.push(format!(
            "{} needing a person",
            plural(needs_person.len(), "mail", "mails")
        ));
    }
    Digest {
        kind: req.kind.as_str(),
        title: req.kind.title(),
        subject: format!("{}{when}: {}", req.kind.title(), counts.join(", ")),
        pm,
        at_label: long(rt, at),
        since_label: short(rt, since),
        late,
        late_sent: req.sent_late.map(|t| short(rt, t)),
        open_tickets,
        broken,
        needs_person,
        week,
        onit_alerts: inputs
            .alerts
            .iter()
            .filter(|a| {
                a.opened_at < crate::store::to_ms(at)
                    && a.resolved_at
                        .is_none_or(|r| r >= crate::store::to_ms(since))
            })
            .map(|a| OnitAlert {
                kind: a.kind.clone(),
                subject: a.subject.clone(),
                since: short(rt, a.opened()),
                resolved: a.resolved_at.map(|r| short(rt, crate::store::from_ms(r))),
                detail: a.detail.clone(),
            })
            .collect(),
    }
}

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("digest/layout.html")),
    ("tickets.html", include_str!("digest/tickets.html")),
    ("daily.html", include_str!("digest/daily.html")),
    ("weekly.html", include_str!("digest/weekly.html")),
    ("tickets.txt", include_str!("digest/tickets.txt")),
    ("daily.txt", include_str!("digest/daily.txt")),
    ("weekly.txt", include_str!("digest/weekly.txt")),
];

/// `text|wrap(width, indent)`: words wrapped to `width` columns, every line indented.
fn wrap(text: String, width: usize, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out: Vec<String> = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width
            {
                out.push(format!("{pad}{line}"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(format!("{pad}{line}"));
    }
    out.join("\n")
}

fn environment() -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .context("digest template syntax")?,
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("wrap", wrap);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .with_context(|| format!("digest template {name}"))?;
    }
    Ok(env)
}

/// The plain text and the HTML of a digest (HTML escaped by the template engine).
pub fn render(d: &Digest) -> Result<(String, String)> {
    let env = environment()?;
    let text = env
        .get_template(&format!("{}.txt", d.kind))?
        .render(minijinja::value::Serde(d))
        .with_context(|| format!("rendering the {} digest (text)", d.kind))?;
    let html = env
        .get_template(&format!("{}.html", d.kind))?
        .render(minijinja::value::Serde(d))
        .with_context(|| format!("rendering the {} digest (HTML)", d.kind))?;
    Ok((text, html))
}

/// Queues one rendered digest. False when this period's digest for this PM is already queued.
async fn queue(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    kind: Kind,
    key: &str,
    to: &EmailAddress,
    d: &Digest,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (text, html) = render(d)?;
    let message_id = new_message_id(&kind.outbox_kind().replace('_', "-"), rt.team.from.domain());
    let recipients = [(to.clone(), None)];
    let raw = render_alternative(
        &PlainMail {
            message_id: &message_id,
            from: &rt.team.from,
            from_name: Some(&rt.team.from_name),
            to: &recipients,
            cc: &[],
            subject: &d.subject,
            in_reply_to: None,
            references: &[],
            date: now,
            auto_submitted: Some("auto-generated"),
            ticket: None,
            body: text,
        },
        html,
    )?;
    tx.enqueue(&NewOutbox {
        kind: kind.outbox_kind(),
        dedupe_key: key,
        ticket_id: None,
        message_id: &message_id,
        mail_from: rt.team.from.as_str(),
        to_addr: to.as_str(),
        rcpt_to: to.as_str(),
        raw: &raw,
        created_at: now,
    })
    .await
}

/// What one tick queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub daily: usize,
    pub weekly: usize,
    /// Of those, how many were late.
    pub late: usize,
}

impl TickReport {
    /// Digests queued in all.
    pub fn queued(&self) -> usize {
        self.daily + self.weekly
    }
}

/// Where a PM's digest goes: the PM, when a team address; else the default PM
/// (a digest never reaches anyone outside the team).
fn recipient(rt: &Runtime, pm: &str) -> EmailAddress {
    match EmailAddress::parse(pm) {
        Ok(a) if rt.team.is_team(&a) => a,
        _ => {
            warn!(
                pm,
                "a ticket's PM is not a team address; their digest goes to team.default_pm"
            );
            rt.team.default_pm.clone()
        }
    }
}

/// Queues every digest due at `now`: for each kind, the most recent period (sent
/// late when onit was down at its time), once per PM (see the module documentation).
pub async fn digest_tick(store: &Store, rt: &Runtime, now: DateTime<Utc>) -> Result<TickReport> {
    digest_tick_fenced(store, rt, now, &crate::leadership::Fence::none()).await
}

/// As [`digest_tick`], committing only while `fence` (the scheduler's leadership) holds.
pub async fn digest_tick_fenced(
    store: &Store,
    rt: &Runtime,
    now: DateTime<Utc>,
    fence: &crate::leadership::Fence,
) -> Result<TickReport> {
    let mut out = TickReport::default();
    for kind in [Kind::Daily, Kind::Weekly] {
        let Some(period) = latest_period(rt, kind, now) else {
            continue;
        };
        let prev = previous_period(rt, kind, period.at)
            .map(|p| p.at)
            .unwrap_or(period.at - Duration::days(7));
        // What went out already: this period's keys, and each PM's last digest.
        let mut done: HashSet<String> = HashSet::new();
        let mut last: HashMap<String, DateTime<Utc>> = HashMap::new();
        for key in store
            .outbox_keys_since(kind.outbox_kind(), now - Duration::days(CATCH_UP_DAYS))
            .await?
        {
            let mut parts = key.splitn(4, ':');
            let (Some(_), Some(_), Some(date), Some(pm)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(date) = date.parse::<NaiveDate>() else {
                continue;
            };
            if date == period.date {
                done.insert(pm.to_string());
            } else if date < period.date {
                let t = period_on(rt, kind, date)
                    .map(|p| p.at)
                    .unwrap_or_else(|| rt.calendar.at_local(date, chrono::NaiveTime::MIN));
                let e = last.entry(pm.to_string()).or_insert(t);
                *e = (*e).max(t);
            }
        }
        // Who has something: a ticket opened by the period and not closed before the
        // previous one, or mail that needs them (daily).
        let mut pms: BTreeSet<String> = store
            .digest_pms(period.at, prev)
            .await?
            .into_iter()
            .map(|p| p.to_lowercase())
            .collect();
        if kind == Kind::Daily {
            for e in store.digest_events(prev, period.at).await? {
                pms.insert(e.pm.to_lowercase());
            }
            for u in store.unthreaded_team_mail(prev, period.at).await? {
                pms.insert(pm_of_unthreaded(rt, &u).0);
            }
        }
        let todo: Vec<(String, DateTime<Utc>)> = pms
            .into_iter()
            .filter(|pm| !done.contains(pm))
            .map(|pm| {
                let since = last.get(&pm).copied().filter(|t| *t < prev).unwrap_or(prev);
                (pm, since)
            })
            .collect();
        if todo.is_empty() {
            continue;
        }
        let earliest = todo.iter().map(|(_, s)| *s).min().unwrap_or(prev);
        let inputs = Inputs::load(store, earliest, period.at).await?;
        let sent_late = (now - period.at > late_after()).then_some(now);
        let mut tx = store.begin().await?;
        for (pm, since) in todo {
            let d = build(
                &inputs,
                rt,
                &Request {
                    kind,
                    pm: pm.clone(),
                    at: period.at,
                    since,
                    sent_late,
                },
            );
            let key = dedupe_key(kind, period.date, &pm);
            if queue(&mut tx, rt, kind, &key, &recipient(rt, &pm), &d, now).await? {
                match kind {
                    Kind::Daily => out.daily += 1,
                    Kind::Weekly => out.weekly += 1,
                }
                if sent_late.is_some() {
                    out.late += 1;
                }
            }
        }
        fence.check(&mut tx).await?;
        tx.commit().await?;
    }
    if out.queued() > 0 {
        info!(
            daily = out.daily,
            weekly = out.weekly,
            late = out.late,
            "digests queued"
        );
    }
    Ok(out)
}

/// `onit digest daily|weekly [--at TIME] [--pm ADDRESS] [--print | --html FILE]`:
/// renders without sending. Without `--pm`, one digest for every PM that has tickets.
pub async fn command(
    rt: &Runtime,
    kind: Kind,
    at: Option<&str>,
    pm: Option<&str>,
    html: Option<&Path>,
) -> Result<()> {
    let at = match at {
        Some(t) => parse_time(t, rt).context("--at")?,
        None => Utc::now(),
    };
    let since = previous_period(rt, kind, at)
        .map(|p| p.at)
        .unwrap_or(at - Duration::days(7));
    let store = Store::open(&rt.database_url, rt.max_connections).await?;
    let inputs = Inputs::load(&store, since, at).await;
    store.close().await;
    let inputs = inputs?;
    let pms = match pm {
        Some(p) => vec![p.trim().to_lowercase()],
        None => inputs.pms(),
    };
    if pms.is_empty() {
        eprintln!("onit: no tickets yet, so no PM to write a digest for");
        return Ok(());
    }
    for (i, pm) in pms.iter().enumerate() {
        let d = build(
            &inputs,
            rt,
            &Request {
                kind,
                pm: pm.clone(),
                at,
                since,
                sent_late: None,
            },
        );
        let (text, page) = render(&d)?;
        match html {
            Some(file) => {
                let path = if pms.len() == 1 {
                    file.to_path_buf()
                } else {
                    per_pm_path(file, pm)
                };
                std::fs::write(&path, page)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
            None => {
                if i > 0 {
                    println!("\n{}\n", "=".repeat(72));
                }
                print!("{text}");
            }
        }
    }
    Ok(())
}

/// `digest.html` for PM `a@b` → `digest-a@b.html`.
fn per_pm_path(file: &Path, pm: &str) -> PathBuf {
    let safe: String = pm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "digest".into());
    let name = match file.extension() {
        Some(ext) => format!("{stem}-{safe}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{safe}"),
    };
    file.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn runtime(extra: &str) -> Runtime {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            format!(
                "[calendar]\ntimezone = \"Europe/London\"\nholidays = [\"2026-12-25\"]\n{extra}"
            ),
        )
        .unwrap();
        Runtime::load(Some(&p)).unwrap()
    }

    fn london(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Europe::London
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_periods_are_business_days_at_daily_at() {
        let rt = runtime("");
        // Thursday 26 Nov 2026, before and after 17:00.
        let p = latest_period(&rt, Kind::Daily, london(2026, 11, 26, 16, 59)).unwrap();
        assert_eq!(p.at, london(2026, 11, 25, 17, 0));
        let p = latest_period(&rt, Kind::Daily, london(2026, 11, 26, 17, 0)).unwrap();
        assert_eq!(p.at, london(2026, 11, 26, 17, 0));
        assert_eq!(p.date.to_string(), "2026-11-26");
        // The weekend: Friday's.
        let p = latest_period(&rt, Kind::Daily, london(2026, 11, 29, 12, 0)).unwrap();
        assert_eq!(p.at, london(2026, 11, 27, 17, 0));
        // Before Monday's: Friday's is the previous one.
        let prev = previous_period(&rt, Kind::Daily, london(2026, 11, 30, 17, 0)).unwrap();
        assert_eq!(prev.at, london(2026, 11, 27, 17, 0));
        // Christmas (a holiday) has none.
        assert!(period_on(
            &rt,
            Kind::Daily,
            NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()
        )
        .is_none());
        // Summer time: 17:00 local is 16:00 UTC.
        let p = latest_period(&rt, Kind::Daily, london(2026, 7, 1, 18, 0)).unwrap();
        assert_eq!(p.at, Utc.with_ymd_and_hms(2026, 7, 1, 16, 0, 0).unwrap());
    }

    #[test]
    fn weekly_is_friday_or_the_business_day_before_a_holiday() {
        let rt = runtime("");
        let p = latest_period(&rt, Kind::Weekly, london(2026, 11, 30, 9, 0)).unwrap();
        assert_eq!(p.at, london(2026, 11, 27, 15, 0));
        // Friday 25 Dec 2026 is a holiday: the weekly status goes on Thursday 24th.
        let p = latest_period(&rt, Kind::Weekly, london(2026, 12, 26, 9, 0)).unwrap();
        assert_eq!(p.at, london(2026, 12, 24, 15, 0));
        let prev = previous_period(&rt, Kind::Weekly, p.at).unwrap();
        assert_eq!(prev.at, london(2026, 12, 18, 15, 0));
        // Configurable.
        let rt = runtime(
            "[digest]\nweekly_day = \"Monday\"\nweekly_at = \"09:30\"\ndaily_at = \"16:45\"\n",
        );
        let p = latest_period(&rt, Kind::Weekly, london(2026, 11, 26, 9, 0)).unwrap();
        assert_eq!(p.at, london(2026, 11, 23, 9, 30));
        let p = latest_period(&rt, Kind::Daily, london(2026, 11, 26, 16, 50)).unwrap();
        assert_eq!(p.at, london(2026, 11, 26, 16, 45));
    }

    #[test]
    fn bad_digest_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[digest]\ndaily_at = \"5pm\"\nweekly_day = \"Caturday\"\nweekly_at = \"25:00\"\n",
        )
        .unwrap();
        let err = Runtime::load(Some(&p)).unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["digest.daily_at", "digest.weekly_at", "digest.weekly_day"],
            "{err}"
        );
    }

    #[test]
    fn wraps_and_indents() {
        assert_eq!(wrap("a bb ccc dddd".into(), 8, 2), "  a bb\n  ccc\n  dddd");
        assert_eq!(wrap("one\ntwo".into(), 72, 0), "one\ntwo");
        assert_eq!(age(Duration::minutes(12)), "12m");
        assert_eq!(age(Duration::minutes(125)), "2h 5m");
        assert_eq!(age(Duration::minutes(3 * 1440 + 61)), "3d 1h");
    }

    #[test]
    fn templates_parse_and_escape() {
        let env = environment().unwrap();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
        let rt = runtime("");
        let at = london(2026, 11, 26, 17, 0);
        let inputs = Inputs {
            histories: Vec::new(),
            tickets: HashMap::new(),
            events: Vec::new(),
            unthreaded: vec![UnthreadedRow {
                message_id: "x@jac.example".into(),
                to_addrs: "<b>bob</b>@acme.example".into(),
                cc_addrs: String::new(),
                subject: "<script>alert(1)</script>".into(),
                effective_at: crate::store::to_ms(at - Duration::hours(1)),
            }],
            alerts: vec![crate::alerts::AlertRow {
                id: 1,
                kind: "sign-in-failed".into(),
                subject: "imap:support@jac.example@imap.example:993".into(),
                detail: "server said <img src=x onerror=alert(2)>".into(),
                opened_at: crate::store::to_ms(at - Duration::hours(3)),
                last_seen_at: crate::store::to_ms(at - Duration::hours(1)),
                resolved_at: None,
            }],
        };
        let d = build(
            &inputs,
            &rt,
            &Request {
                kind: Kind::Daily,
                pm: "PM@jac.example".into(),
                at,
                since: at - Duration::days(1),
                sent_late: None,
            },
        );
        assert_eq!(d.needs_person.len(), 1, "routed to the default PM");
        let (text, html) = render(&d).unwrap();
        assert!(text.contains("<script>alert(1)</script>"), "{text}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        // onit's own alerts reach the PM too, escaped like everything else.
        assert_eq!(d.onit_alerts.len(), 1);
        assert!(text.contains("ONIT ITSELF NEEDS ATTENTION (1)"), "{text}");
        assert!(text.contains("sign-in-failed"), "{text}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("still open"), "{html}");
    }

    #[test]
    fn per_pm_file_names() {
        assert_eq!(
            per_pm_path(Path::new("/tmp/d.html"), "a.pm@jac.example"),
            PathBuf::from("/tmp/d-a.pm@jac.example.html")
        );
    }
}
