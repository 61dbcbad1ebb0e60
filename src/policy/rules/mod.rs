//! The policy rules of POLICY.md ("Standard 1", "Standard 5 and 6", "When a
//! rule breaks, and how often", "Additional protocols"), one module per rule.
//!
//! Every rule is a pure function of a [`TicketHistory`] and a [`RuleContext`]:
//! no I/O, no clock reads. The evaluation instant is [`RuleContext::at`], and
//! the rules see the history exactly as it stood at that instant:
//!
//! * contacts whose time is after `cx.at` do not exist yet and are ignored;
//! * status changes after `cx.at` do not exist yet
//!   ([`TicketHistory::open_intervals`] is called with `cx.at`);
//! * a violation exists only once its deadline has passed with no qualifying
//!   contact, and only violations with `at <= cx.at` are reported. A deadline
//!   that is exactly `cx.at` is already decided: every contact at or before
//!   it is known.
//!
//! Shared conventions, used by every rule:
//!
//! * A violation's `at` is the deadline that passed, or for rules about one
//!   message, that message's time. Each rule breaks at most once per missed
//!   deadline, so evaluating again later yields the same violations with the
//!   same `at` (until a later status change exempts a message, see
//!   [`next_update_stated`]).
//! * Cadence deadlines (`first-response`, `urgent-hourly`,
//!   `high-checkpoints`, `eod-update`, `promise-kept`) only count while the
//!   ticket is open: a deadline that falls while it is resolved or closed does
//!   not break, and the clock starts again when it reopens.
//! * Details name the ticket and what happened, with times in the calendar's
//!   zone; they never name a person (POLICY "Team accountability").
//! * `next_due` returns the earliest deadline of the rule that is strictly
//!   after `cx.at` and not yet met, or `None` when the ticket is not open at
//!   `cx.at` (or the rule owes nothing more). A deadline already passed is
//!   not "next": the violation reports it.

use std::borrow::Cow;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::cadence::CadencePolicy;
use super::calendar::BusinessCalendar;
use super::history::{Contact, ContactKind, Status, TicketHistory};

pub mod dismissive_language;
pub mod eod_update;
pub mod first_response;
pub mod high_checkpoints;
pub mod next_update_stated;
pub mod pm_cc;
pub mod promise_kept;
pub mod urgent_hourly;

/// Every rule id, in POLICY.md's order.
pub const RULE_IDS: &[&str] = &[
    first_response::ID,
    urgent_hourly::ID,
    high_checkpoints::ID,
    eod_update::ID,
    pm_cc::ID,
    next_update_stated::ID,
    promise_kept::ID,
    dismissive_language::ID,
];

/// Everything a rule needs besides the ticket: the calendar, the cadence
/// settings, the rule limits and the evaluation instant.
#[derive(Debug, Clone)]
pub struct RuleContext<'a> {
    /// The business calendar (time zone, working days and hours, holidays).
    pub cal: &'a BusinessCalendar,
    /// Cadence settings: urgent interval, urgent around the clock, EOD time,
    /// high-priority windows.
    pub cadence: &'a CadencePolicy,
    /// first-response: 60 s
    pub first_response: chrono::Duration,
    /// urgent-hourly breaks after this much business time without a contact: 3 h
    pub urgent_max_silence: chrono::Duration,
    /// promise-kept: a contact up to 5 minutes late still keeps a promise
    pub promise_grace: chrono::Duration,
    /// evaluate everything up to this instant (violations whose `at` is after it do not exist yet)
    pub at: DateTime<Utc>,
    /// Which violations get their detail written (every one by default).
    pub details: Details,
}

/// Which violations an evaluation writes the detail of. Every violation is
/// still found, with its rule and time; only the sentence is left out (an
/// empty `detail`). Writing it (times in the calendar's zone, the ticket id)
/// was most of an evaluation's cost, and most callers read no detail: the
/// stored due time and the compliance rate read only rules and times, and a
/// report from an instant shows no violation before it (issue 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Details {
    /// Every violation's.
    All,
    /// Those at or after this instant.
    From(DateTime<Utc>),
    /// None.
    Off,
}

impl<'a> RuleContext<'a> {
    /// A context with POLICY's limits: first response within 60 s, urgent
    /// silence at most 3 business hours, promises kept up to 5 minutes late.
    pub fn new(cal: &'a BusinessCalendar, cadence: &'a CadencePolicy, at: DateTime<Utc>) -> Self {
        RuleContext {
            cal,
            cadence,
            first_response: Duration::seconds(60),
            urgent_max_silence: Duration::hours(3),
            promise_grace: Duration::minutes(5),
            at,
            details: Details::All,
        }
    }

    /// The same context evaluated at another instant.
    pub fn with_at(&self, at: DateTime<Utc>) -> Self {
        RuleContext { at, ..self.clone() }
    }

    /// The same context writing the details `details` asks for.
    pub fn with_details(&self, details: Details) -> Self {
        RuleContext {
            details,
            ..self.clone()
        }
    }

    /// The detail of a violation at `at`: `write()` when [`RuleContext::details`]
    /// asks for it, else empty.
    pub(crate) fn detail(&self, at: DateTime<Utc>, write: impl FnOnce() -> String) -> String {
        match self.details {
            Details::All => write(),
            Details::From(from) if at >= from => write(),
            Details::From(_) | Details::Off => String::new(),
        }
    }

    /// The calendar `urgent-hourly` counts in: the business calendar, or the
    /// same zone around the clock when `cadence.urgent_around_the_clock`.
    pub fn urgent_calendar(&self) -> Cow<'a, BusinessCalendar> {
        if self.cadence.urgent_around_the_clock {
            Cow::Owned(self.cal.around_the_clock())
        } else {
            Cow::Borrowed(self.cal)
        }
    }
}

/// The ticket as it stands at `cx.at`: its open spans, its contacts and
/// their times, worked out once for all the rules of one evaluation (each
/// rule used to work them out again, twice with its `next_due`: allocation
/// and sorting were a fifth of an evaluation's time, issue 17).
#[derive(Debug, Clone)]
pub struct Seen<'h> {
    /// The whole history (status changes, priority, PM, id).
    pub h: &'h TicketHistory,
    /// [`open_spans`] at `cx.at`.
    pub(crate) spans: Vec<Span>,
    /// [`contacts_until`] `cx.at`: the contacts that exist then, in time order.
    pub(crate) contacts: Vec<&'h Contact>,
    /// Their times, in the same order (sorted), for range look-ups.
    pub(crate) times: Vec<DateTime<Utc>>,
    /// The local date the ticket opened on.
    pub(crate) opened_day: NaiveDate,
    /// The local date of `cx.at`.
    pub(crate) today: NaiveDate,
}

impl<'h> Seen<'h> {
    /// `h` as it stands at `cx.at` (only `cx.at` is read from `cx`).
    pub fn new(h: &'h TicketHistory, cx: &RuleContext) -> Seen<'h> {
        let contacts = contacts_until(h, cx);
        let times = contacts.iter().map(|c| c.at).collect();
        Seen {
            h,
            spans: open_spans(h, cx),
            contacts,
            times,
            opened_day: cx.cal.local_date(h.opened_at),
            today: cx.cal.local_date(cx.at),
        }
    }

    /// The span still open at `cx.at`, if the ticket is open then.
    pub(crate) fn current_span(&self) -> Option<Span> {
        current_span(&self.spans)
    }
}

/// One stretch during which the ticket was open: `[from, to)`, with `to`
/// `None` while it is still open at the evaluation instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// When it opened or reopened.
    pub from: DateTime<Utc>,
    /// When it was resolved or closed; `None`: still open at `cx.at`.
    pub to: Option<DateTime<Utc>>,
}

impl Span {
    /// Whether the ticket was open at `t` during this span (for `t <= cx.at`).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && self.to.is_none_or(|e| t < e)
    }

    /// Whether the whole of `[a, b]` lies inside this span.
    pub fn covers(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        self.from <= a && self.contains(b)
    }
}

/// The ticket's open spans as seen at `cx.at`, from
/// [`TicketHistory::open_intervals`]; the span that is still open at `cx.at`
/// has `to: None`, so a deadline at exactly `cx.at` counts as inside it.
pub(crate) fn open_spans(h: &TicketHistory, cx: &RuleContext) -> Vec<Span> {
    if cx.at < h.opened_at {
        return Vec::new();
    }
    let mut spans: Vec<Span> = h
        .open_intervals(cx.at)
        .into_iter()
        .map(|(from, to)| Span { from, to: Some(to) })
        .collect();
    if h.status_at(cx.at) == Status::Open {
        match spans.last_mut() {
            // `open_intervals` ends the still-open interval at `until`.
            Some(last) if last.to == Some(cx.at) => last.to = None,
            // Opened or reopened at exactly `cx.at`: no interval yet.
            _ => spans.push(Span {
                from: cx.at,
                to: None,
            }),
        }
    }
    spans
}

/// The span still open at `cx.at`, if the ticket is open then.
pub(crate) fn current_span(spans: &[Span]) -> Option<Span> {
    spans.last().copied().filter(|s| s.to.is_none())
}

/// The contacts that exist at `cx.at` (time `<= cx.at`), in time order
/// (stable: contacts with equal times keep their stored order).
pub(crate) fn contacts_until<'h>(h: &'h TicketHistory, cx: &RuleContext) -> Vec<&'h Contact> {
    let mut v: Vec<&Contact> = h.contacts.iter().filter(|c| c.at <= cx.at).collect();
    v.sort_by_key(|c| c.at);
    v
}

/// Whether a sorted `times` has an element in `[a, b)`.
pub(crate) fn any_in(times: &[DateTime<Utc>], a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    let i = times.partition_point(|t| *t < a);
    i < times.len() && times[i] < b
}

/// Business days from `first` through `last` (inclusive), in order.
pub(crate) fn business_days(
    cal: &BusinessCalendar,
    first: NaiveDate,
    last: NaiveDate,
) -> impl Iterator<Item = NaiveDate> + '_ {
    let mut day = Some(cal.business_day_on_or_after(first));
    std::iter::from_fn(move || {
        let d = day.filter(|d| *d <= last && cal.is_business_day(*d))?;
        let next = cal.next_business_day(d);
        // The calendar's far-future fallback can return the same date.
        day = (next > d).then_some(next);
        Some(d)
    })
}

/// The first instant of local date `day`.
pub(crate) fn start_of_day(cal: &BusinessCalendar, day: NaiveDate) -> DateTime<Utc> {
    cal.at_local(day, NaiveTime::MIN)
}

/// `t` in the calendar's zone, e.g. `Thu 26 Nov 2026 10:00`.
pub(crate) fn local(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    // Written out by hand: this runs for every violation of a 100,000-ticket
    // report, and chrono's format string is parsed anew on every call.
    use chrono::{Datelike, Timelike};
    let l = t.with_timezone(&cal.tz());
    format!(
        "{} {} {} {} {:02}:{:02}",
        day_abbr(&l),
        l.day(),
        month_abbr(&l),
        l.year(),
        l.hour(),
        l.minute()
    )
}

/// Local date `day` as `Thu 26 Nov 2026` (`%a %-d %b %Y`, written by hand
/// like [`local`]: the day rules name a day in every violation's sentence).
pub(crate) fn date_text(day: NaiveDate) -> String {
    use chrono::Datelike;
    if !(0..=9999).contains(&day.year()) {
        // chrono signs a year outside four digits (`+12345`).
        return day.format("%a %-d %b %Y").to_string();
    }
    format!(
        "{} {} {} {:04}",
        day_abbr(&day),
        day.day(),
        month_abbr(&day),
        day.year()
    )
}

/// The English weekday's three letters (`%a`): `Thu`.
pub(crate) fn day_abbr(d: &impl chrono::Datelike) -> &'static str {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    DAYS[d.weekday().num_days_from_monday() as usize]
}

/// The English month's three letters (`%b`): `Nov`.
pub(crate) fn month_abbr(d: &impl chrono::Datelike) -> &'static str {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS[d.month0() as usize]
}

/// `t`'s local clock time, e.g. `10:00`.
pub(crate) fn clock(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let l = t.with_timezone(&cal.tz());
    format!("{:02}:{:02}", l.hour(), l.minute())
}

/// `between 10:00 and 13:00 on Thu 26 Nov 2026`, or with both dates when
/// the two instants fall on different local days.
pub(crate) fn between(cal: &BusinessCalendar, a: DateTime<Utc>, b: DateTime<Utc>) -> String {
    if cal.local_date(a) == cal.local_date(b) {
        format!(
            "between {} and {} on {}",
            clock(cal, a),
            clock(cal, b),
            date_text(cal.local_date(a))
        )
    } else {
        format!("between {} and {}", local(cal, a), local(cal, b))
    }
}

/// A duration as `3 hours`, `1 hour`, `2 hours 30 minutes`, `45 minutes`,
/// `1 minute 30 seconds` (seconds only under an hour).
pub(crate) fn span_text(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(plural(h, "hour"));
    }
    if m > 0 {
        parts.push(plural(m, "minute"));
    }
    if s > 0 && h == 0 {
        parts.push(plural(s, "second"));
    }
    if parts.is_empty() {
        parts.push(plural(0, "minute"));
    }
    parts.join(" ")
}

/// What a contact is called in a detail: `the acknowledgment`, `the update`,
/// `the closing report`.
pub(crate) fn kind_name(kind: ContactKind) -> &'static str {
    match kind {
        ContactKind::Acknowledgment => "the acknowledgment",
        ContactKind::Update => "the update",
        ContactKind::Report => "the closing report",
    }
}

/// Test helpers: the POLICY calendar (Europe/London, Mon–Fri 09:00–17:00,
/// holiday 2026-12-25) and a small builder for ticket histories.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
    use chrono_tz::Europe::London;

    use super::RuleContext;
    use crate::policy::cadence::CadencePolicy;
    use crate::policy::calendar::BusinessCalendar;
    use crate::policy::history::{
        Contact, ContactKind, Promise, Status, StatusChange, TicketHistory, Violation,
    };
    use crate::policy::priority::Priority;

    /// The ticket's PM.
    pub const PM: &str = "pm@jac.example";
    /// The reporter.
    pub const CLIENT: &str = "ops@client.example";

    /// Europe/London, Mon–Fri 09:00–17:00, holiday 2026-12-25.
    pub fn cal() -> BusinessCalendar {
        BusinessCalendar::new(
            London,
            &[
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            [NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        )
        .unwrap()
    }

    /// London local time (to the minute) as UTC.
    pub fn lon(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        lons(y, mo, d, h, mi, 0)
    }

    /// London local time (to the second) as UTC.
    pub fn lons(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        London
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("unambiguous London time")
            .with_timezone(&Utc)
    }

    /// A UTC instant from RFC 3339.
    pub fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339")
    }

    /// The calendar and cadence a context borrows.
    pub struct Fx {
        pub cal: BusinessCalendar,
        pub cadence: CadencePolicy,
    }

    impl Fx {
        /// POLICY defaults.
        pub fn new() -> Fx {
            Fx {
                cal: cal(),
                cadence: CadencePolicy::default(),
            }
        }

        /// A context with POLICY's limits, evaluated at `at`.
        pub fn cx(&self, at: DateTime<Utc>) -> RuleContext<'_> {
            RuleContext::new(&self.cal, &self.cadence, at)
        }
    }

    /// A builder for ticket histories (ticket `JAC-7`, PM [`PM`]).
    pub struct T(pub TicketHistory);

    /// A new open ticket.
    pub fn ticket(priority: Priority, opened_at: DateTime<Utc>) -> T {
        T(TicketHistory {
            id: "JAC-7".into(),
            priority,
            opened_at,
            pm: PM.into(),
            contacts: Vec::new(),
            status_changes: Vec::new(),
        })
    }

    /// A contact to the client with the PM in Cc.
    pub fn contact(
        at: DateTime<Utc>,
        kind: ContactKind,
        promise: Option<DateTime<Utc>>,
    ) -> Contact {
        Contact {
            at,
            message_id: format!("<{}@jac.example>", at.timestamp()),
            kind,
            recipients: vec![CLIENT.into(), PM.into()],
            promise: promise.map(|p| Promise {
                at: p,
                phrase: "next update by then".into(),
            }),
            dismissive: None,
        }
    }

    impl T {
        /// Adds the acknowledgment.
        pub fn ack(self, at: DateTime<Utc>, promise: Option<DateTime<Utc>>) -> T {
            self.with(contact(at, ContactKind::Acknowledgment, promise))
        }

        /// Adds an engineer's update.
        pub fn upd(self, at: DateTime<Utc>, promise: Option<DateTime<Utc>>) -> T {
            self.with(contact(at, ContactKind::Update, promise))
        }

        /// Adds the closing report.
        pub fn report(self, at: DateTime<Utc>) -> T {
            self.with(contact(at, ContactKind::Report, None))
        }

        /// Adds any contact (kept in time order).
        pub fn with(mut self, c: Contact) -> T {
            self.0.contacts.push(c);
            self.0.contacts.sort_by_key(|c| c.at);
            self
        }

        /// Adds a status change (kept in time order).
        pub fn status(mut self, at: DateTime<Utc>, status: Status) -> T {
            self.0.status_changes.push(StatusChange { at, status });
            self.0.status_changes.sort_by_key(|c| c.at);
            self
        }

        /// The history.
        pub fn build(self) -> TicketHistory {
            self.0
        }
    }

    /// A rule's `check` (and `next_due`) over a whole history, as the tests
    /// call them: the ticket seen at `cx.at` first ([`super::Seen`]).
    macro_rules! over_history {
        (check) => {
            fn check(
                h: &crate::policy::history::TicketHistory,
                cx: &crate::policy::rules::RuleContext,
            ) -> Vec<crate::policy::history::Violation> {
                super::check(&crate::policy::rules::Seen::new(h, cx), cx)
            }
        };
        (check, next_due) => {
            $crate::policy::rules::fixtures::over_history!(check);
            fn next_due(
                h: &crate::policy::history::TicketHistory,
                cx: &crate::policy::rules::RuleContext,
            ) -> Option<chrono::DateTime<chrono::Utc>> {
                super::next_due(&crate::policy::rules::Seen::new(h, cx), cx)
            }
        };
    }
    pub(crate) use over_history;

    /// `(rule, at)` of each violation, for exact assertions.
    pub fn keys(v: &[Violation]) -> Vec<(&'static str, DateTime<Utc>)> {
        v.iter().map(|v| (v.rule, v.at)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::policy::priority::Priority;

    #[test]
    fn spans_follow_status_changes_and_stay_open_at_cx_at() {
        let fx = Fx::new();
        let opened = lon(2026, 11, 26, 10, 0);
        let h = ticket(Priority::Medium, opened)
            .status(lon(2026, 11, 26, 11, 0), Status::Resolved)
            .status(lon(2026, 11, 26, 14, 0), Status::Open)
            .build();
        let at = lon(2026, 11, 26, 15, 0);
        let spans = open_spans(&h, &fx.cx(at));
        assert_eq!(
            spans,
            vec![
                Span {
                    from: opened,
                    to: Some(lon(2026, 11, 26, 11, 0))
                },
                Span {
                    from: lon(2026, 11, 26, 14, 0),
                    to: None
                }
            ]
        );
        assert!(spans[1].contains(at));
        assert!(!spans[0].contains(lon(2026, 11, 26, 11, 0)));
        // Reopened at exactly cx.at.
        let spans = open_spans(&h, &fx.cx(lon(2026, 11, 26, 14, 0)));
        assert_eq!(current_span(&spans).unwrap().from, lon(2026, 11, 26, 14, 0));
        // Resolved at cx.at: not open.
        let spans = open_spans(&h, &fx.cx(lon(2026, 11, 26, 11, 0)));
        assert_eq!(current_span(&spans), None);
        // Before the ticket opened: nothing.
        assert!(open_spans(&h, &fx.cx(lon(2026, 11, 26, 9, 0))).is_empty());
    }

    #[test]
    fn date_text_is_chrono_s_format() {
        use chrono::Datelike;
        let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        while day.year() == 2026 {
            assert_eq!(date_text(day), day.format("%a %-d %b %Y").to_string());
            day = day.succ_opt().unwrap();
        }
        for (y, m, d) in [(12345, 6, 7), (987, 6, 7), (-44, 3, 15)] {
            let far = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(date_text(far), far.format("%a %-d %b %Y").to_string());
        }
    }

    #[test]
    fn helpers() {
        let cal = cal();
        assert_eq!(
            between(&cal, lon(2026, 11, 26, 10, 0), lon(2026, 11, 26, 13, 0)),
            "between 10:00 and 13:00 on Thu 26 Nov 2026"
        );
        assert_eq!(
            between(&cal, lon(2026, 12, 4, 16, 0), lon(2026, 12, 7, 11, 0)),
            "between Fri 4 Dec 2026 16:00 and Mon 7 Dec 2026 11:00"
        );
        assert_eq!(span_text(Duration::hours(3)), "3 hours");
        assert_eq!(span_text(Duration::hours(1)), "1 hour");
        assert_eq!(span_text(Duration::minutes(90)), "1 hour 30 minutes");
        assert_eq!(span_text(Duration::seconds(60)), "1 minute");
        assert_eq!(span_text(Duration::seconds(30)), "30 seconds");
        assert_eq!(span_text(Duration::seconds(90)), "1 minute 30 seconds");
        assert_eq!(span_text(Duration::zero()), "0 minutes");
        let days: Vec<_> = business_days(
            &cal,
            NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 29).unwrap(),
        )
        .collect();
        assert_eq!(
            days,
            vec![
                NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 28).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 29).unwrap(),
            ]
        );
        let t = [lon(2026, 11, 26, 10, 0), lon(2026, 11, 26, 12, 0)];
        assert!(any_in(
            &t,
            lon(2026, 11, 26, 12, 0),
            lon(2026, 11, 26, 13, 0)
        ));
        assert!(!any_in(
            &t,
            lon(2026, 11, 26, 10, 1),
            lon(2026, 11, 26, 12, 0)
        ));
    }
}
