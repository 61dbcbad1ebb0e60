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

pub mod attention;
mod build;
pub mod compliance_rate;
pub mod mailto;
mod monitoring;
mod overview;
mod render;
mod schedule;
pub mod trend_chart;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::address::EmailAddress;
use crate::compliance::parse_time;
use crate::config::Runtime;
use crate::store::{Store, Tx};

pub use build::*;
pub use monitoring::UnownedAlert;
pub use overview::*;
pub use render::*;
pub use schedule::*;

/// How far back the last digest sent to a PM is looked up (a late digest covers
/// everything since then, but never more than this).
pub const CATCH_UP_DAYS: i64 = 35;

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
    let recipients = [(to.clone(), None)];
    crate::ticket::our_mail::send_ours(
        tx,
        rt,
        &crate::ticket::our_mail::OurMail {
            kind: kind.outbox_kind(),
            dedupe_key: key,
            ticket_id: None,
            ticket: None,
            to: &recipients,
            cc: &[],
            subject: &d.subject,
            in_reply_to: None,
            references: &[],
            auto_submitted: "auto-generated",
            text,
            html: Some(html),
            inline: &d.inline,
            at: now,
            keep: None,
            event: None,
        },
    )
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

/// The PM's address, when it is a team address.
fn team_pm(rt: &Runtime, pm: &str) -> Option<EmailAddress> {
    EmailAddress::parse(pm).ok().filter(|a| rt.team.is_team(a))
}

/// Where a PM's digest goes: the PM, when a team address; else the default PM
/// (a digest never reaches anyone outside the team).
fn recipient(rt: &Runtime, pm: &str) -> EmailAddress {
    team_pm(rt, pm).unwrap_or_else(|| {
        warn!(
            pm,
            "a ticket's PM is not a team address; their digest goes to team.default_pm"
        );
        rt.team.default_pm.clone()
    })
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
            let Some(QueuedDigest { date, pm }) = QueuedDigest::parse(&key) else {
                continue;
            };
            if date == period.date {
                done.insert(pm);
            } else if date < period.date {
                let t = period_on(rt, kind, date)
                    .map(|p| p.at)
                    .unwrap_or_else(|| rt.calendar.at_local(date, chrono::NaiveTime::MIN));
                let e = last.entry(pm).or_insert(t);
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
        let inputs = Inputs::load(store, rt, kind, earliest, period.at).await?;
        let sent_late = (now - period.at > late_after()).then_some(now);
        let reqs: Vec<Request> = todo
            .into_iter()
            .map(|(pm, since)| Request {
                kind,
                pm,
                at: period.at,
                since,
                sent_late,
            })
            .collect();
        let digests = build_each(&inputs, rt, &reqs);
        let mut tx = store.begin().await?;
        for (req, d) in reqs.iter().zip(digests) {
            let pm = &req.pm;
            let key = dedupe_key(kind, period.date, pm);
            if queue(&mut tx, rt, kind, &key, &recipient(rt, pm), &d, now).await? {
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
    let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
    let inputs = Inputs::load(&store, rt, kind, since, at).await;
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
    let reqs: Vec<Request> = pms
        .iter()
        .map(|pm| Request {
            kind,
            pm: pm.clone(),
            at,
            since,
            sent_late: None,
        })
        .collect();
    let digests = build_each(&inputs, rt, &reqs);
    for (i, (pm, mut d)) in pms.iter().zip(digests).enumerate() {
        d.embed_images();
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
    use crate::store::UnthreadedRow;
    use chrono::NaiveDate;
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

    /// A digest's inputs holding these histories of one PM, nothing else.
    fn inputs_of(hs: Vec<crate::policy::history::TicketHistory>, after: DateTime<Utc>) -> Inputs {
        Inputs {
            histories: [(hs[0].pm.clone(), hs)].into_iter().collect(),
            ..Inputs::empty(after)
        }
    }

    #[test]
    fn a_rule_broken_since_the_last_digest_is_listed_once() {
        use crate::policy::history::{Contact, ContactKind, Promise, TicketHistory};
        // JAC-1: opened Wed 25 Nov 10:00, acknowledged with a promise for Thu
        // 16:58 and silent since. The Thursday 17:00 digest lists Thursday's
        // missed 16:30 update; the promise is only broken at 17:03 (its grace),
        // after that digest, so Friday's lists it (at 16:58, before Friday's
        // `since`) with Friday's 16:30, and not Thursday's 16:30 again.
        // JAC-2: the same, but updated at Thu 16:57 without the PM (promising
        // Monday): `pm-cc` breaks at 16:57, inside the grace before Friday's
        // `since`, and was listed on Thursday, so not again on Friday.
        let rt = runtime("");
        let pm = "alice.pm@jac.example";
        let h = TicketHistory {
            id: "JAC-1".into(),
            priority: crate::policy::priority::Priority::Medium,
            opened_at: london(2026, 11, 25, 10, 0),
            pm: pm.into(),
            contacts: vec![Contact {
                at: london(2026, 11, 25, 10, 1),
                message_id: "<a1@jac.example>".into(),
                kind: ContactKind::Acknowledgment,
                recipients: vec!["c@acme.example".into(), pm.into()],
                promise: Some(Promise {
                    at: london(2026, 11, 26, 16, 58),
                    phrase: "by 16:58 tomorrow".into(),
                }),
                dismissive: None,
            }],
            status_changes: Vec::new(),
        };
        let mut h2 = h.clone();
        h2.id = "JAC-2".into();
        h2.contacts.push(Contact {
            at: london(2026, 11, 26, 16, 57),
            message_id: "<u2@jac.example>".into(),
            kind: ContactKind::Update,
            recipients: vec!["c@acme.example".into()],
            promise: Some(Promise {
                at: london(2026, 11, 30, 12, 0),
                phrase: "Monday noon".into(),
            }),
            dismissive: None,
        });
        let broken = |since: DateTime<Utc>, at: DateTime<Utc>| {
            let d = build(
                &inputs_of(vec![h.clone(), h2.clone()], since),
                &rt,
                &Request {
                    kind: Kind::Daily,
                    pm: pm.into(),
                    at,
                    since,
                    sent_late: None,
                },
            );
            d.broken
                .iter()
                .map(|b| (b.ticket.clone(), b.rule, b.at.clone()))
                .collect::<Vec<_>>()
        };
        let row = |t: &str, rule: &'static str, at: &str| (t.to_string(), rule, at.to_string());
        let (wed, thu, fri) = (
            london(2026, 11, 25, 17, 0),
            london(2026, 11, 26, 17, 0),
            london(2026, 11, 27, 17, 0),
        );
        assert_eq!(
            broken(wed, thu),
            vec![
                row("JAC-1", "eod-update", "Thu 26 Nov 16:30"),
                row("JAC-2", "eod-update", "Thu 26 Nov 16:30"),
                row("JAC-2", "pm-cc", "Thu 26 Nov 16:57"),
            ]
        );
        assert_eq!(
            broken(thu, fri),
            vec![
                row("JAC-1", "promise-kept", "Thu 26 Nov 16:58"),
                row("JAC-1", "eod-update", "Fri 27 Nov 16:30"),
                row("JAC-2", "eod-update", "Fri 27 Nov 16:30"),
            ]
        );
    }

    #[test]
    fn digests_built_side_by_side_are_the_ones_built_one_by_one() {
        use crate::policy::history::{Contact, ContactKind, TicketHistory};
        // Three PMs, 3,000 tickets (enough for `build_each` to use threads on
        // a machine with more than one CPU): some acknowledged, some silent,
        // a few resolved, so each digest lists open tickets and broken rules.
        let rt = runtime("");
        let pms = ["a.pm@jac.example", "b.pm@jac.example", "c.pm@jac.example"];
        let mut histories: std::collections::BTreeMap<String, Vec<TicketHistory>> =
            Default::default();
        for i in 0..3_000_i64 {
            let pm = pms[(i % 3) as usize];
            let opened = london(2026, 11, 23, 9, 0) + Duration::minutes(i);
            let acked = i % 4 != 0;
            let h = TicketHistory {
                id: format!("JAC-{}", i + 1),
                priority: match i % 5 {
                    0 => crate::policy::priority::Priority::Urgent,
                    1 | 2 => crate::policy::priority::Priority::High,
                    _ => crate::policy::priority::Priority::Medium,
                },
                opened_at: opened,
                pm: pm.into(),
                contacts: acked
                    .then(|| Contact {
                        at: opened + Duration::seconds(30),
                        message_id: format!("<a{i}@jac.example>"),
                        kind: ContactKind::Acknowledgment,
                        recipients: vec!["c@acme.example".into(), pm.into()],
                        promise: None,
                        dismissive: None,
                    })
                    .into_iter()
                    .collect(),
                status_changes: if i % 7 == 0 {
                    vec![crate::policy::history::StatusChange {
                        at: opened + Duration::hours(2),
                        status: crate::policy::history::Status::Resolved,
                    }]
                } else {
                    Vec::new()
                },
            };
            histories.entry(pm.to_string()).or_default().push(h);
        }
        let (since, at) = (london(2026, 11, 25, 17, 0), london(2026, 11, 26, 17, 0));
        let inputs = Inputs {
            histories,
            ..Inputs::empty(since)
        };
        let reqs: Vec<Request> = pms
            .iter()
            .map(|pm| Request {
                kind: Kind::Daily,
                pm: pm.to_string(),
                at,
                since,
                sent_late: None,
            })
            .collect();
        let together = build_each(&inputs, &rt, &reqs);
        assert_eq!(together.len(), 3);
        for (req, d) in reqs.iter().zip(&together) {
            let alone = build(&inputs, &rt, req);
            assert_eq!(d.pm, req.pm);
            assert!(
                !d.open_tickets.is_empty() && !d.broken.is_empty(),
                "{}",
                d.pm
            );
            assert_eq!(
                serde_json::to_string(d).unwrap(),
                serde_json::to_string(&alone).unwrap(),
                "{}",
                d.pm
            );
        }
    }

    #[test]
    fn short_times_read_as_chrono_writes_them() {
        // Written out by hand for speed: the same text as `%a %-d %b %H:%M` in the
        // calendar's zone, across a year (both clock changes) in 97-minute steps.
        let rt = runtime("");
        let mut t = london(2026, 1, 1, 0, 0);
        while t < london(2027, 1, 2, 0, 0) {
            let want = t
                .with_timezone(&rt.calendar.tz())
                .format("%a %-d %b %H:%M")
                .to_string();
            assert_eq!(build::short(&rt, t), want);
            t += Duration::minutes(97);
        }
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
        // In the file's order (issue 15: check-config lists errors as the file reads).
        assert_eq!(
            keys,
            vec!["digest.daily_at", "digest.weekly_day", "digest.weekly_at"],
            "{err}"
        );
    }

    #[test]
    fn wraps_and_indents() {
        assert_eq!(
            wrap("a bb ccc dddd".into(), 8, 2, None),
            "  a bb\n  ccc\n  dddd"
        );
        assert_eq!(wrap("one\ntwo".into(), 72, 0, None), "one\ntwo");
        assert_eq!(
            wrap("a bb ccc dddd\ne f".into(), 9, 2, Some(4)),
            "  a bb\n    ccc\n    dddd\n  e f"
        );
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
            unthreaded: vec![UnthreadedRow {
                message_id: "x@jac.example".into(),
                class: "contact".into(),
                from_addr: None,
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
            held: vec![crate::store::ListedMail {
                id: "bot1@flood.example".into(),
                from_addr: Some("bot@flood.example".into()),
                subject: "<b>held</b>".into(),
                at: crate::store::to_ms(at - Duration::hours(2)),
                reason: "sender".into(),
            }],
            ..Inputs::empty(at - Duration::days(1))
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
        // Held mail of the PM's clients is listed, escaped.
        assert_eq!(d.held_mail.len(), 1);
        assert!(text.contains("HELD MAIL (1)"), "{text}");
        assert!(html.contains("bot1@flood.example"), "{html}");
        assert!(!html.contains("<b>held"), "{html}");
    }

    #[test]
    fn per_pm_file_names() {
        assert_eq!(
            per_pm_path(Path::new("/tmp/d.html"), "a.pm@jac.example"),
            PathBuf::from("/tmp/d-a.pm@jac.example.html")
        );
    }
}
