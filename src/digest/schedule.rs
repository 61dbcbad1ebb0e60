//! When digests are due: the daily and weekly periods in the business calendar,
//! the dedupe key of each, and the most recent and previous period of an instant.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::config::Runtime;

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
    pub fn outbox_kind(self) -> crate::ticket::OutboxKind {
        match self {
            Kind::Daily => crate::ticket::OutboxKind::DailyDigest,
            Kind::Weekly => crate::ticket::OutboxKind::WeeklyDigest,
        }
    }

    pub(super) fn title(self) -> &'static str {
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

/// One digest that was queued, read back from its outbox dedupe key (the
/// inverse of [`dedupe_key`]; the key is the record of which period and PM a
/// digest was for, so it is parsed in this one place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedDigest {
    pub date: NaiveDate,
    pub pm: String,
}

impl QueuedDigest {
    /// Parses a key [`dedupe_key`] wrote; `None` for anything else.
    pub fn parse(key: &str) -> Option<QueuedDigest> {
        let mut parts = key.splitn(4, ':');
        let (Some("digest"), Some(_kind), Some(date), Some(pm)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(QueuedDigest {
            date: date.parse().ok()?,
            pm: pm.to_string(),
        })
    }
}

/// The date of the weekly status in the week of `date`: `digest.weekly_day`, or
/// when that is not a business day, the last business day before it in the same
/// week (Monday on); the weekly day itself when the whole stretch is closed.
pub(super) fn weekly_date(rt: &Runtime, date: NaiveDate) -> NaiveDate {
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
pub(super) fn period_until(
    rt: &Runtime,
    kind: Kind,
    t: DateTime<Utc>,
    inclusive: bool,
) -> Option<Period> {
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

/// The first period of `kind` strictly after `t` (the next daily digest: what
/// "due soon" in a digest means).
pub fn next_period(rt: &Runtime, kind: Kind, t: DateTime<Utc>) -> Option<Period> {
    let mut date = rt.calendar.local_date(t);
    for _ in 0..400 {
        if let Some(p) = period_on(rt, kind, date).filter(|p| p.at > t) {
            return Some(p);
        }
        date = date.succ_opt()?;
    }
    None
}
