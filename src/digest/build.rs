//! What a digest says: the open tickets, the rules broken since the previous
//! digest, the mail that needs a person and the week in numbers, built from the
//! loaded inputs at the digest's instant. Pure: no I/O, `at` passed in.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::address::EmailAddress;
use crate::compliance::{evaluate_each, histories_from_rows, report, report_of};
use crate::config::Runtime;
use crate::policy::dismissive::respectful_suggestion;
use crate::policy::history::{Status, TicketHistory, Violation};
use crate::policy::rules::Details;
use crate::store::{from_ms, DigestEventRow, ListedTicket, Store, TicketRow, UnthreadedRow};

use super::attention::ProjectAttention;
use super::overview::{attention_of, compliance_of, trends_of};
use super::*;

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
    /// `bounce`, `unthreaded`, `ignored-command`, `impersonation`, `ack-held` or `additional-issue`.
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
    /// Set while the team is trusted by header (`trust.team = "header"`): the risk, in words.
    pub trust_warning: Option<&'static str>,
    /// Mail of this PM's clients held by a flood limit in the period, still held
    /// (src/flood.rs): no ticket, no acknowledgment until released.
    pub held_mail: Vec<HeldMail>,
    /// The period's compliance rate, overall and per project, with the same
    /// window a week earlier (see `compliance_rate`).
    pub compliance: Compliance,
    /// Per client project, one line per ticket, most urgent first (see `attention`).
    pub attention: Vec<ProjectAttention>,
    /// Weekly only: each project's rate over the last [`TREND_WEEKS`] weeks.
    pub trends: Vec<Trend>,
    /// The images the HTML shows by `cid:` (the trend charts), sent as inline parts.
    #[serde(skip)]
    pub inline: Vec<crate::compose::InlineImage>,
    /// Monitoring alerts nobody owns yet: the digest's first section (super::monitoring).
    pub unowned_alerts: Vec<super::UnownedAlert>,
}

/// One held message, as the digest shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldMail {
    /// The Message-ID, for `onit mail release ID`.
    pub id: String,
    pub from: String,
    pub subject: String,
    pub at: String,
}

/// At most this many held messages are listed in one digest (the rest are counted).
const HELD_LISTED: i64 = 50;

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
            && self.held_mail.is_empty()
            && self.unowned_alerts.is_empty()
    }
}

/// What digests are made from, loaded once for every PM.
pub struct Inputs {
    /// The period's histories by PM (lower case): a digest reads its PM's only.
    pub(super) histories: BTreeMap<String, Vec<TicketHistory>>,
    pub(super) tickets: HashMap<String, ListedTicket>,
    pub(super) events: Vec<DigestEventRow>,
    pub(super) unthreaded: Vec<UnthreadedRow>,
    pub(super) alerts: Vec<crate::alerts::AlertRow>,
    pub(super) held: Vec<crate::store::ListedMail>,
    /// Ticket id → the Message-ID of its thread's last message (the reply links).
    pub(super) thread_last: HashMap<i64, String>,
    /// Where the period starts (`after`): which histories [`Inputs::pms`] counts.
    pub(super) after: DateTime<Utc>,
    /// Open monitoring alerts nobody owns (crate::monitoring).
    pub(super) unowned_alerts: Vec<TicketRow>,
}

impl Inputs {
    /// The histories of the tickets digests of `kind` from `after` report (those
    /// not closed, and those with a contact or status change since `after` less the
    /// promise grace: see `compliance::load_histories_since`; for the compliance
    /// rates, from a week earlier, or for the weekly status's trend from
    /// [`TREND_WEEKS`] weeks before `until`), and the mail that needs a person with
    /// a time in `(after, until]`.
    pub async fn load(
        store: &Store,
        rt: &Runtime,
        kind: Kind,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Inputs> {
        let back = match kind {
            Kind::Daily => after - Duration::weeks(1),
            Kind::Weekly => {
                (after - Duration::weeks(1)).min(until - Duration::weeks(TREND_WEEKS as i64))
            }
        };
        let from = back - rt.policy.promise_grace;
        // One read gives each period ticket with its whole history and its
        // thread's last message (`Store::digest_period`).
        let period = store.digest_period(from, until).await?;
        let mut policy = Vec::with_capacity(period.len());
        let mut contacts = Vec::with_capacity(period.len() * 2);
        let mut changes = Vec::new();
        let mut tickets = HashMap::with_capacity(period.len());
        let mut thread_last = HashMap::with_capacity(period.len());
        for t in period {
            let listed = t.listed();
            tickets.insert(listed.reference(), listed);
            if let Some(m) = t.last_message_id {
                thread_last.insert(t.policy.id, m);
            }
            contacts.extend(t.contacts);
            changes.extend(t.changes);
            policy.push(t.policy);
        }
        Ok(Inputs {
            histories: by_pm(histories_from_rows(policy, contacts, changes)),
            tickets,
            events: store.digest_events(after, until).await?,
            unthreaded: store.unthreaded_team_mail(after, until).await?,
            alerts: crate::alerts::during(store, after, until).await?,
            held: store.held_since(after, HELD_LISTED * 10).await?,
            thread_last,
            after,
            unowned_alerts: store.unowned_alerts().await?,
        })
    }

    /// Every PM that has tickets in the period (not closed, or with a contact or
    /// status change since its start), lower case, sorted.
    pub fn pms(&self) -> Vec<String> {
        let from = self.after - Duration::minutes(5);
        self.histories
            .iter()
            .filter(|(_, hs)| {
                hs.iter().any(|h| {
                    h.status_changes
                        .last()
                        .is_none_or(|c| c.status != Status::Closed)
                        || h.contacts.iter().any(|c| c.at >= from)
                        || h.status_changes.iter().any(|c| c.at >= from)
                })
            })
            .map(|(pm, _)| pm.clone())
            .collect()
    }

    /// A daily or weekly digest at `at` from `since` for each of [`Inputs::pms`].
    pub fn requests(&self, kind: Kind, at: DateTime<Utc>, since: DateTime<Utc>) -> Vec<Request> {
        self.pms()
            .into_iter()
            .map(|pm| Request {
                kind,
                pm,
                at,
                since,
                sent_late: None,
            })
            .collect()
    }

    /// The histories of `pm`'s tickets (lower case).
    fn of_pm(&self, pm: &str) -> &[TicketHistory] {
        self.histories.get(pm).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
impl Inputs {
    /// Inputs with nothing in them, for the period from `after` (tests fill in
    /// what they need with struct update syntax).
    pub(super) fn empty(after: DateTime<Utc>) -> Inputs {
        Inputs {
            histories: BTreeMap::new(),
            tickets: HashMap::new(),
            events: Vec::new(),
            unthreaded: Vec::new(),
            alerts: Vec::new(),
            held: Vec::new(),
            thread_last: HashMap::new(),
            after,
            unowned_alerts: Vec::new(),
        }
    }
}

/// Histories grouped by their PM (`TicketHistory::pm` is lower case).
fn by_pm(histories: Vec<TicketHistory>) -> BTreeMap<String, Vec<TicketHistory>> {
    let mut out: BTreeMap<String, Vec<TicketHistory>> = BTreeMap::new();
    for h in histories {
        match out.get_mut(&h.pm) {
            Some(v) => v.push(h),
            None => {
                out.insert(h.pm.clone(), vec![h]);
            }
        }
    }
    out
}

/// The digests `reqs` (one per PM), in order, built over the same inputs. Each
/// build is pure and reads only its PM's histories, so with several PMs and a
/// large period they are built side by side, the requests split across the
/// CPUs the process may use.
pub fn build_each(inputs: &Inputs, rt: &Runtime, reqs: &[Request]) -> Vec<Digest> {
    let tickets: usize = inputs.histories.values().map(Vec::len).sum();
    let threads = crate::compliance::threads_for(tickets);
    crate::compliance::map_on_threads(reqs, threads, |_, r| build(inputs, rt, r))
}

/// `a` and `b`, `a` on a scoped thread beside `b` when `tickets` are worth a
/// thread ([`threads_for`](crate::compliance::threads_for): never for a
/// command kept on one CPU); a panic in either propagates.
fn side_by_side<A: Send, B>(
    tickets: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B,
) -> (A, B) {
    if crate::compliance::threads_for(tickets) < 2 {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = b();
        let a = a.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (a, b)
    })
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

/// `Thu 26 Nov 17:00` in the calendar's zone (`%a %-d %b %H:%M`, written out:
/// a digest formats three per open ticket, and chrono parses its format string
/// on every call).
pub(super) fn short(rt: &Runtime, t: DateTime<Utc>) -> String {
    short_in(rt.calendar.tz(), t)
}

/// [`short`] in the zone `tz`.
pub(super) fn short_in(tz: chrono_tz::Tz, t: DateTime<Utc>) -> String {
    use crate::policy::rules::{day_abbr, month_abbr};
    use chrono::Datelike;
    let l = t.with_timezone(&tz);
    let mut s = String::with_capacity(16);
    s.push_str(day_abbr(&l));
    s.push(' ');
    let day = l.day();
    if day >= 10 {
        s.push(char::from(b'0' + (day / 10) as u8));
    }
    s.push(char::from(b'0' + (day % 10) as u8));
    s.push(' ');
    s.push_str(month_abbr(&l));
    s.push(' ');
    push_clock(&mut s, &l);
    s
}

/// Appends `l`'s `%H:%M`.
pub(super) fn push_clock(s: &mut String, l: &impl chrono::Timelike) {
    let two = |s: &mut String, n: u32| {
        s.push(char::from(b'0' + (n / 10) as u8));
        s.push(char::from(b'0' + (n % 10) as u8));
    };
    two(s, l.hour());
    s.push(':');
    two(s, l.minute());
}

pub(super) fn long(rt: &Runtime, t: DateTime<Utc>) -> String {
    t.with_timezone(&rt.calendar.tz())
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// "3d 4h", "5h 20m", "12m".
pub(super) fn age(d: Duration) -> String {
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
pub(super) fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn number_of(id: &str) -> i64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The PM a piece of unthreaded team mail belongs to.
pub(super) fn pm_of_unthreaded(rt: &Runtime, u: &UnthreadedRow) -> (String, Vec<String>) {
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

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Builds one PM's digest (pure: everything comes from `inputs`).
pub fn build(inputs: &Inputs, rt: &Runtime, req: &Request) -> Digest {
    let pm = req.pm.trim().to_lowercase();
    let (at, since) = (req.at, req.since.min(req.at));
    let mine = inputs.of_pm(&pm);
    // Violations the rules report at `at` and did not at `since`. The window starts a
    // promise grace early: a promise due just before `since` breaks only after it.
    let from = since - rt.policy.promise_grace;
    // One evaluation at `at` serves the report and this period's rates; a
    // violation before the window is counted by the rates, not shown.
    let rules = crate::compliance::Rules::new(rt);
    let cx = rules.context(rt, at).with_details(Details::From(from));
    let evaluations = evaluate_each(mine, &cx);
    let now = report_of(mine, &evaluations, at, Some(from));
    let at_end: Vec<&[Violation]> = evaluations
        .iter()
        .map(|(_, e)| e.violations.as_slice())
        .collect();
    // Only a violation at or before `since` can have been reported at `since` (an
    // evaluation reports none after its instant: `policy::rules`), so only a ticket
    // with one is evaluated again; the rules read each history alone.
    let flagged: HashSet<&str> = now
        .violations
        .iter()
        .filter(|v| v.at <= since)
        .map(|v| v.ticket.as_str())
        .collect();
    let flagged: Vec<TicketHistory> = mine
        .iter()
        .filter(|h| flagged.contains(h.id.as_str()))
        .cloned()
        .collect();
    let before: HashSet<(String, &'static str, DateTime<Utc>)> =
        report(&flagged, rt, since, Some(from))
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
            let next_due_at = due.and_then(|d| d.next_due_at);
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
            let (kind, label, detail) = if e.kind == crate::ticket::EventKind::Impersonation {
                (
                    "impersonation",
                    "Forged team mail",
                    format!(
                        "Mail claiming to be {} could not be proven to come from the team: nothing in it was applied, counted or answered. If it was genuine, the sender's domain needs DKIM or DMARC.",
                        e.actor.as_deref().unwrap_or("a team member")
                    ),
                )
            } else if e.kind == crate::ticket::EventKind::Frustration {
                (
                    "frustration",
                    "Client frustrated",
                    format!(
                        "{}. Answer their problem and their questions first, not the tone: say what is being done and when they hear next.",
                        capitalized(e.detail.trim()).trim_end_matches('.')
                    ),
                )
            } else if e.kind == crate::ticket::EventKind::AdditionalIssue {
                (
                    "additional-issue",
                    "Additional issue",
                    format!(
                        "Noted by the team as another issue beside the main problem: \"{}\". Make sure it is followed up on its own, so it is not forgotten.",
                        e.detail.trim()
                    ),
                )
            } else if e.kind == crate::ticket::EventKind::AckHeld {
                (
                    "ack-held",
                    "Acknowledgment held",
                    format!(
                        "The sender is not proven, so no acknowledgment went out (it would make the support address a spam relay). If the mail is genuine: `onit ticket {ticket} ack`."
                    ),
                )
            } else if e.kind == crate::ticket::EventKind::CommandIgnored {
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
            if u.class == "impersonation" {
                // The forger's subject is not repeated to the PM; the Message-ID finds it.
                needs_person.push(NeedsPerson {
                    kind: "impersonation",
                    label: "Forged team mail",
                    at: short(rt, t),
                    ticket: None,
                    subject: "(subject withheld: unproven sender)".into(),
                    detail: format!(
                        "Mail claiming to be {} (Message-ID <{}>) could not be proven to come from the team: nothing in it was applied or answered.",
                        u.from_addr.as_deref().unwrap_or("a team member"),
                        u.message_id
                    ),
                    sort: t,
                });
                continue;
            }
            needs_person.push(NeedsPerson {
                kind: "unthreaded",
                label: "Unthreaded team mail",
                at: short(rt, t),
                ticket: None,
                subject: u.subject.clone(),
                detail: format!(
                    "Mail to {} matches no ticket (Message-ID <{}>): thread it onto its ticket (`onit mail attach {} {}-n`), or tell the client.",
                    if clients.is_empty() { "a client".to_string() } else { clients.join(", ") },
                    u.message_id,
                    u.message_id,
                    rt.team.prefix.as_str()
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
    let held_mail = inputs
        .held
        .iter()
        .filter(|h| h.at < crate::store::to_ms(at))
        .filter(|h| {
            let sender = h.from_addr.as_deref().map(EmailAddress::parse);
            let their_pm = match &sender {
                Some(Ok(a)) => rt.team.project_for(a).1.as_str().to_lowercase(),
                _ => rt.team.default_pm.as_str().to_lowercase(),
            };
            their_pm == pm
        })
        .take(HELD_LISTED as usize)
        .map(|h| HeldMail {
            id: h.id.clone(),
            from: h.from_addr.clone().unwrap_or_default(),
            subject: crate::message::subject_text(&h.subject),
            at: short(rt, crate::store::from_ms(h.at)),
        })
        .collect();
    // The rates a week earlier evaluate every ticket again: beside the
    // attention lines (a reply link per ticket) they cost no time of their own.
    let (compliance, attention) = side_by_side(
        mine.len(),
        || compliance_of(inputs, rt, mine, &at_end, since, at),
        || attention_of(inputs, rt, &pm, &fresh, &open_tickets, &dues, at),
    );
    let (trends, inline) = if req.kind == Kind::Weekly {
        trends_of(inputs, rt, mine, at)
    } else {
        (Vec::new(), Vec::new())
    };
    let unowned_alerts =
        super::monitoring::unowned_alerts(&inputs.unowned_alerts, &pm, at, |t| short(rt, t), age);
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
            // Forged team mail is listed as mail that needs a person, not as onit's own trouble.
            .filter(|a| a.kind != crate::alerts::AlertKind::Impersonation.as_str())
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
        trust_warning: rt.trust.header_trust_warning(),
        held_mail,
        compliance,
        attention,
        trends,
        inline,
        unowned_alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::side_by_side;

    #[test]
    fn side_by_side_returns_both_results_either_way() {
        for tickets in [10, 10_000] {
            let data = [1, 2, 3];
            let (a, b) = side_by_side(tickets, || data.iter().sum::<i32>(), || data.len());
            assert_eq!((a, b), (6, 3), "tickets: {tickets}");
        }
    }

    #[test]
    #[should_panic(expected = "the side thread's panic")]
    fn a_panic_beside_reaches_the_caller() {
        let _ = side_by_side(10_000, || panic!("the side thread's panic"), || 1);
    }
}
