//! The business calendar used to measure update cadences.
//!
//! The incident-communication policy counts time only while the support desk
//! is open: the clock stops at the end of the business day, over weekends and
//! on holidays. Everything here is pure — no I/O, and the current time is
//! always passed in — so the policy engine can be tested deterministically.
//!
//! Model: every business day `d` has exactly one business window, the real
//! (UTC) interval `[at_local(d, start), at_local(d, end))`. All business-time
//! arithmetic is the sum of real elapsed time inside those windows. On an
//! ordinary day the window is exactly `end - start` long; only a day whose
//! DST change falls *inside* business hours gets a window one hour shorter
//! (spring) or longer (autumn), because that is the time that actually passes.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

/// If no business window opens within this many consecutive days the
/// calendar is treated as never opening again, so walks terminate even for a
/// calendar whose every workday is a holiday. 100 years comfortably exceeds
/// any realistic holiday run (a decade of holidays still resolves exactly).
const MAX_CLOSED_RUN_DAYS: u32 = 36_600;

/// Hard bound on the total number of days a single `add_business` walk may
/// visit (about 1000 years), so absurd durations cannot stall the daemon.
const MAX_WALK_DAYS: u32 = 366_000;

/// Why a business calendar could not be built from its configuration.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    /// The timezone is not a known IANA zone name.
    #[error("unknown IANA timezone {0:?}")]
    BadTimezone(String),
    /// A workday is not a recognisable weekday name.
    #[error("unknown weekday {0:?} (expected e.g. \"Mon\" or \"Monday\")")]
    BadWeekday(String),
    /// A time of day is not `HH:MM` or `HH:MM:SS`.
    #[error("invalid time of day {0:?} (expected HH:MM or HH:MM:SS)")]
    BadTime(String),
    /// A holiday is not a valid `YYYY-MM-DD` date.
    #[error("invalid date {0:?} (expected YYYY-MM-DD)")]
    BadDate(String),
    /// Business hours are empty: the end time is not after the start time.
    #[error("business hours are empty: end time must be after start time")]
    EmptyHours,
    /// No workdays were configured, so the desk would never open.
    #[error("no workdays configured")]
    NoWorkdays,
}

/// Business hours in one timezone: which local weekdays are worked, the
/// local opening hours, and the local-date holidays.
///
/// A calendar can also be switched into "around the clock" mode (see
/// [`BusinessCalendar::around_the_clock`]), in which it is always open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Indexed by `Weekday::num_days_from_monday()`.
    workdays: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
    around_the_clock: bool,
}

/// Parses a weekday name: three-letter abbreviations ("Mon"), full names
/// ("Monday") and the common variants "Tues", "Wednes", "Thur", "Thurs";
/// case-insensitive, surrounding whitespace ignored.
pub fn parse_weekday(s: &str) -> Result<Weekday, CalendarError> {
    let day = match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tues" | "tuesday" => Weekday::Tue,
        "wed" | "wednes" | "wednesday" => Weekday::Wed,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return Err(CalendarError::BadWeekday(s.to_string())),
    };
    Ok(day)
}

/// Parses a time of day as `HH:MM` or `HH:MM:SS` (24-hour clock).
pub fn parse_time(s: &str) -> Result<NaiveTime, CalendarError> {
    let trimmed = s.trim();
    let parsed = NaiveTime::parse_from_str(trimmed, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(trimmed, "%H:%M:%S"))
        .map_err(|_| CalendarError::BadTime(s.to_string()))?;
    // chrono accepts ":60" as a leap second; a business day cannot start or
    // end on one, and it would make the hours ambiguous.
    if parsed.nanosecond() >= 1_000_000_000 {
        return Err(CalendarError::BadTime(s.to_string()));
    }
    Ok(parsed)
}

/// Parses a calendar date as `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| CalendarError::BadDate(s.to_string()))
}

/// `t + d`, clamped to the representable range instead of panicking.
fn saturating_add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

impl BusinessCalendar {
    /// Builds a calendar from configuration strings: an IANA zone
    /// ("Europe/London"), weekday names ("Mon", "Tue", … or full names,
    /// case-insensitive), opening and closing times ("09:00", "17:00") and
    /// holiday dates ("2026-12-25").
    ///
    /// Duplicate weekdays or holidays are harmless.
    pub fn from_config(
        timezone: &str,
        workdays: &[String],
        start: &str,
        end: &str,
        holidays: &[String],
    ) -> Result<Self, CalendarError> {
        let tz: Tz = timezone
            .trim()
            .parse()
            .map_err(|_| CalendarError::BadTimezone(timezone.to_string()))?;
        let days = workdays
            .iter()
            .map(|s| parse_weekday(s))
            .collect::<Result<Vec<_>, _>>()?;
        let start = parse_time(start)?;
        let end = parse_time(end)?;
        let holidays = holidays
            .iter()
            .map(|s| parse_date(s))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(tz, &days, start, end, holidays)
    }

    /// Builds a calendar from typed values.
    ///
    /// Refuses an empty workday list ([`CalendarError::NoWorkdays`]) and
    /// hours whose end is not after their start ([`CalendarError::EmptyHours`]);
    /// overnight shifts are therefore not representable.
    pub fn new(
        tz: Tz,
        workdays: &[Weekday],
        start: NaiveTime,
        end: NaiveTime,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        if workdays.is_empty() {
            return Err(CalendarError::NoWorkdays);
        }
        if end <= start {
            return Err(CalendarError::EmptyHours);
        }
        let mut days = [false; 7];
        for d in workdays {
            days[d.num_days_from_monday() as usize] = true;
        }
        Ok(Self {
            tz,
            workdays: days,
            start,
            end,
            holidays: holidays.into_iter().collect(),
            around_the_clock: false,
        })
    }

    /// The calendar's timezone; workdays, hours and holidays are local to it.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Local opening time.
    pub fn start(&self) -> NaiveTime {
        self.start
    }

    /// Local closing time (exclusive).
    pub fn end(&self) -> NaiveTime {
        self.end
    }

    /// The configured workdays, Monday first.
    pub fn workdays(&self) -> Vec<Weekday> {
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ]
        .into_iter()
        .filter(|d| self.workdays[d.num_days_from_monday() as usize])
        .collect()
    }

    /// The configured holidays (local dates).
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// A workday that is not a holiday.
    ///
    /// In around-the-clock mode every date is a business day, so "next
    /// business day" means "tomorrow" for priorities that never stop.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        if self.around_the_clock {
            return true;
        }
        self.workdays[date.weekday().num_days_from_monday() as usize]
            && !self.holidays.contains(&date)
    }

    /// The real business window of `date` as `[open, close)` in UTC, or
    /// `None` if `date` is not a business day. In around-the-clock mode the
    /// window is the whole local day.
    ///
    /// The window can be shorter or longer than `end - start` when a DST
    /// change falls inside business hours, and can even be empty if both
    /// ends fall in the same spring-forward gap.
    pub fn business_hours_on(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.around_the_clock {
            let open = self.at_local(date, NaiveTime::MIN);
            let close = date
                .succ_opt()
                .map(|next| self.at_local(next, NaiveTime::MIN))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            return Some((open, close));
        }
        self.window(date)
    }

    /// True when `t` falls inside business hours on a business day (start
    /// inclusive, end exclusive), in the calendar's zone.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        if self.around_the_clock {
            return true;
        }
        // The previous day is checked too: if a closing time falls in a gap
        // that spans local midnight, the previous day's window extends into
        // this local date.
        let today = self.local_date(t);
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.window(d))
            .any(|(open, close)| open <= t && t < close)
    }

    /// The local date of `t` in the calendar's zone.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant of local `date` at local `time`.
    ///
    /// DST: a time in a spring-forward gap maps to the first valid instant
    /// after the gap (e.g. 02:30 on a US gap day -> 03:00 local); a time in
    /// an autumn fold maps to the EARLIER of the two instants. Both rules
    /// keep the mapping monotone, so business windows never overlap or run
    /// backwards.
    ///
    /// Remembered per thread: the rules ask for the same few instants (each
    /// business day's 16:30, its opening and checkpoints) for every ticket,
    /// and chrono-tz finds each by searching the zone's transitions (a quarter
    /// of the samples of `onit compliance` over 100,000 tickets). The answer
    /// depends on the zone, the date and the time alone.
    pub fn at_local(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        /// A direct-mapped table: each key has one slot, a new key takes it
        /// over. A `HashMap` with the standard hasher cost a fifth of the
        /// rules' time in hashing and probing; this costs one multiply.
        const SLOTS: usize = 1024;
        type Slot = Option<((Tz, NaiveDate, NaiveTime), DateTime<Utc>)>;
        thread_local! {
            static MEMO: std::cell::RefCell<[Slot; SLOTS]> =
                const { std::cell::RefCell::new([None; SLOTS]) };
        }
        let key = (self.tz, date, time);
        let mix = (date.num_days_from_ce() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(time.num_seconds_from_midnight()))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.tz as u64);
        let slot = (mix.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize % SLOTS;
        if let Some(t) = MEMO.with(|m| match m.borrow()[slot] {
            Some((k, t)) if k == key => Some(t),
            _ => None,
        }) {
            return t;
        }
        let t = self.find_local(date, time);
        MEMO.with(|m| m.borrow_mut()[slot] = Some((key, t)));
        t
    }

    /// [`BusinessCalendar::at_local`], found in the zone's rules.
    fn find_local(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(time);
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(dt) => dt.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
            LocalResult::None => self.end_of_gap(naive),
        }
    }

    /// The transition instant that ends the gap containing `naive`, i.e. the
    /// earliest instant whose local time is later than `naive`.
    ///
    /// chrono-tz exposes no transition lookup, so this binary-searches UTC
    /// seconds. Offsets are well under 48 hours, so local time is below
    /// `naive` at the lower bound and above it at the upper bound; within a
    /// window that small there is no fold to break monotonicity. Searching
    /// (rather than assuming a one-hour gap) also handles half-hour gaps and
    /// whole skipped days such as Samoa's 2011-12-30.
    fn end_of_gap(&self, naive: NaiveDateTime) -> DateTime<Utc> {
        const SPAN: i64 = 48 * 3600;
        let fallback = naive.and_utc();
        let guess = fallback.timestamp();
        let local_after = |secs: i64| -> Option<bool> {
            let instant = DateTime::<Utc>::from_timestamp(secs, 0)?;
            Some(instant.with_timezone(&self.tz).naive_local() > naive)
        };
        let (mut lo, mut hi) = (guess - SPAN, guess + SPAN);
        if local_after(lo) != Some(false) || local_after(hi) != Some(true) {
            return fallback;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match local_after(mid) {
                Some(true) => hi = mid,
                Some(false) => lo = mid,
                None => return fallback,
            }
        }
        DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or(fallback)
    }

    /// The first business day strictly after `date`.
    ///
    /// If none exists within about a century (every workday a holiday), the
    /// date where the search stopped is returned: a far-future sentinel
    /// rather than a hang.
    pub fn next_business_day(&self, date: NaiveDate) -> NaiveDate {
        match date.succ_opt() {
            Some(next) => self.business_day_on_or_after(next),
            None => date,
        }
    }

    /// The first business day on or after `date` (same far-future fallback
    /// as [`BusinessCalendar::next_business_day`]).
    pub fn business_day_on_or_after(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        for _ in 0..MAX_CLOSED_RUN_DAYS {
            if self.is_business_day(d) {
                return d;
            }
            match d.succ_opt() {
                Some(next) => d = next,
                None => return d,
            }
        }
        d
    }

    /// `t` if open, else the start of the next business period.
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.add_business(t, Duration::zero())
    }

    /// Adds `d` of business time to `t`; the clock runs only while open.
    ///
    /// From a closed time counting starts at the next opening, so adding zero
    /// to a closed time returns [`BusinessCalendar::next_open`]. A duration
    /// that exactly exhausts a window ends AT that window's close (16:00 + 1h
    /// on a 09:00–17:00 day is 17:00 the same day, not 09:00 the next
    /// business day); both instants are equivalent in business time and the
    /// close is the earliest such instant. The result is the earliest instant
    /// `r` with `business_between(t, r) == d`, exact to the nanosecond across
    /// DST changes because windows are measured in real elapsed time.
    ///
    /// Negative durations are treated as zero (business time is never
    /// subtracted), except in around-the-clock mode, which is plain
    /// addition. Runs in O(calendar days spanned), skipping whole days. If
    /// the calendar never opens again within about a century, or the walk
    /// exceeds about 1000 years, the remaining duration is added as plain
    /// time to the point reached: a far-future value instead of a hang.
    pub fn add_business(&self, t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
        if self.around_the_clock {
            return saturating_add(t, d);
        }
        let mut remaining = d.max(Duration::zero());
        let mut date = self.first_day_to_scan(t);
        let mut closed_run = 0u32;
        for _ in 0..MAX_WALK_DAYS {
            match self.window(date) {
                Some((open, close)) if close > t => {
                    closed_run = 0;
                    let cur = open.max(t);
                    let available = close - cur;
                    if remaining <= available {
                        return cur + remaining;
                    }
                    remaining -= available;
                }
                _ => {
                    closed_run += 1;
                    if closed_run >= MAX_CLOSED_RUN_DAYS {
                        break;
                    }
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
        let reached = self.at_local(date, self.start).max(t);
        saturating_add(reached, remaining)
    }

    /// Business time elapsed between `a` and `b` (zero if `b <= a`).
    ///
    /// Exact inverse of [`BusinessCalendar::add_business`]: for `d >= 0`,
    /// `business_between(t, add_business(t, d)) == d` whenever the addition
    /// did not hit its far-future fallback. Runs in O(calendar days between
    /// `a` and `b`).
    pub fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        if self.around_the_clock {
            return b - a;
        }
        let last = self.local_date(b);
        let mut date = self.first_day_to_scan(a);
        let mut total = Duration::zero();
        while date <= last {
            if let Some((open, close)) = self.window(date) {
                if open >= b {
                    break;
                }
                let from = open.max(a);
                let to = close.min(b);
                if to > from {
                    total += to - from;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// A calendar that is open 24/7 in the same zone (for priorities set to
    /// run around the clock): `is_open` is always true, `add_business` is
    /// plain addition and `business_between` is plain difference.
    pub fn around_the_clock(&self) -> Self {
        Self {
            around_the_clock: true,
            ..self.clone()
        }
    }

    /// Whether this calendar is in around-the-clock mode.
    pub fn is_around_the_clock(&self) -> bool {
        self.around_the_clock
    }

    /// The non-empty business window of `date`, ignoring around-the-clock
    /// mode (callers handle that first).
    fn window(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.workdays[date.weekday().num_days_from_monday() as usize]
            || self.holidays.contains(&date)
        {
            return None;
        }
        let open = self.at_local(date, self.start);
        let close = self.at_local(date, self.end);
        // Both ends inside one spring-forward gap collapse to the same
        // instant; such a day contributes no business time and must not be
        // reported as an opening.
        (close > open).then_some((open, close))
    }

    /// Walks start one local day early so that a window stretched past
    /// local midnight by a DST gap is not missed.
    fn first_day_to_scan(&self, t: DateTime<Utc>) -> NaiveDate {
        let today = self.local_date(t);
        today.pred_opt().unwrap_or(today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().expect("valid RFC 3339 timestamp")
    }

    fn date(ymd: &str) -> NaiveDate {
        parse_date(ymd).unwrap()
    }

    fn time(hm: &str) -> NaiveTime {
        parse_time(hm).unwrap()
    }

    fn london() -> BusinessCalendar {
        BusinessCalendar::from_config(
            "Europe/London",
            &s(&["Mon", "Tue", "Wed", "Thu", "Fri"]),
            "09:00",
            "17:00",
            &s(&["2026-12-25"]),
        )
        .unwrap()
    }

    fn new_york() -> BusinessCalendar {
        BusinessCalendar::from_config(
            "America/New_York",
            &s(&["monday", "TUESDAY", "Wed", "thu", "Friday"]),
            "09:00",
            "17:00",
            &s(&["2026-12-25"]),
        )
        .unwrap()
    }

    /// London, Sundays only, 00:00–06:00: both 2026 DST changes (01:00 local
    /// on Sunday 29 March and Sunday 25 October) fall inside business hours.
    fn london_sunday_night() -> BusinessCalendar {
        BusinessCalendar::new(
            chrono_tz::Europe::London,
            &[Weekday::Sun],
            time("00:00"),
            time("06:00"),
            [],
        )
        .unwrap()
    }

    #[test]
    fn open_and_closed_at_boundaries() {
        let cal = london();
        // Wednesday 2 December 2026, GMT so local == UTC.
        assert!(!cal.is_open(utc("2026-12-02T08:59:59Z")));
        assert!(cal.is_open(utc("2026-12-02T09:00:00Z")));
        assert!(cal.is_open(utc("2026-12-02T16:59:59Z")));
        assert!(!cal.is_open(utc("2026-12-02T17:00:00Z")));
        // Saturday.
        assert!(!cal.is_open(utc("2026-12-05T12:00:00Z")));
        // Christmas Day (a Friday) is a holiday.
        assert!(!cal.is_open(utc("2026-12-25T12:00:00Z")));
        // Summer: hours are local BST, one hour ahead of UTC.
        assert!(!cal.is_open(utc("2026-07-01T07:59:59Z")));
        assert!(cal.is_open(utc("2026-07-01T08:00:00Z")));
        assert!(cal.is_open(utc("2026-07-01T15:59:59Z")));
        assert!(!cal.is_open(utc("2026-07-01T16:00:00Z")));
    }

    #[test]
    fn business_days_and_navigation() {
        let cal = london();
        assert!(cal.is_business_day(date("2026-12-24")));
        assert!(!cal.is_business_day(date("2026-12-25")));
        assert!(!cal.is_business_day(date("2026-12-26")));
        assert_eq!(
            cal.next_business_day(date("2026-12-24")),
            date("2026-12-28")
        );
        assert_eq!(
            cal.next_business_day(date("2026-12-28")),
            date("2026-12-29")
        );
        assert_eq!(
            cal.business_day_on_or_after(date("2026-12-24")),
            date("2026-12-24")
        );
        assert_eq!(
            cal.business_day_on_or_after(date("2026-12-25")),
            date("2026-12-28")
        );
        assert_eq!(
            cal.workdays(),
            vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri
            ]
        );
        assert!(cal.holidays().contains(&date("2026-12-25")));
        assert_eq!(cal.start(), time("09:00"));
        assert_eq!(cal.end(), time("17:00"));
        assert_eq!(cal.tz(), chrono_tz::Europe::London);
    }

    #[test]
    fn local_date_uses_calendar_zone() {
        let cal = london();
        // 23:30 UTC on 30 June is 00:30 BST on 1 July.
        assert_eq!(
            cal.local_date(utc("2026-06-30T23:30:00Z")),
            date("2026-07-01")
        );
        assert_eq!(
            cal.local_date(utc("2026-12-31T23:30:00Z")),
            date("2026-12-31")
        );
        let ny = new_york();
        assert_eq!(
            ny.local_date(utc("2026-03-07T03:00:00Z")),
            date("2026-03-06")
        );
    }

    #[test]
    fn friday_afternoon_rolls_to_monday() {
        let cal = london();
        assert_eq!(
            cal.add_business(utc("2026-12-04T16:30:00Z"), Duration::hours(1)),
            utc("2026-12-07T09:30:00Z")
        );
    }

    #[test]
    fn christmas_eve_skips_holiday_and_weekend() {
        let cal = london();
        assert_eq!(
            cal.add_business(utc("2026-12-24T16:30:00Z"), Duration::hours(1)),
            utc("2026-12-28T09:30:00Z")
        );
    }

    #[test]
    fn counting_from_a_closed_time_starts_at_next_opening() {
        let cal = london();
        // Saturday 03:00 -> Monday 09:00 + 2h.
        assert_eq!(
            cal.add_business(utc("2026-12-05T03:00:00Z"), Duration::hours(2)),
            utc("2026-12-07T11:00:00Z")
        );
        // Early morning on a workday waits for 09:00 the same day.
        assert_eq!(
            cal.add_business(utc("2026-12-02T06:00:00Z"), Duration::minutes(30)),
            utc("2026-12-02T09:30:00Z")
        );
    }

    #[test]
    fn adding_zero() {
        let cal = london();
        // Closed (Saturday): next opening.
        let sat = utc("2026-12-05T03:00:00Z");
        assert_eq!(
            cal.add_business(sat, Duration::zero()),
            utc("2026-12-07T09:00:00Z")
        );
        assert_eq!(cal.add_business(sat, Duration::zero()), cal.next_open(sat));
        // Exactly at closing time is closed: next morning.
        let close = utc("2026-12-02T17:00:00Z");
        assert_eq!(
            cal.add_business(close, Duration::zero()),
            utc("2026-12-03T09:00:00Z")
        );
        // Open: unchanged.
        let open = utc("2026-12-02T11:11:11Z");
        assert_eq!(cal.add_business(open, Duration::zero()), open);
        assert_eq!(cal.next_open(open), open);
        // Negative durations are clamped to zero.
        assert_eq!(
            cal.add_business(sat, Duration::hours(-5)),
            utc("2026-12-07T09:00:00Z")
        );
    }

    #[test]
    fn exactly_filling_a_day_ends_at_close() {
        let cal = london();
        assert_eq!(
            cal.add_business(utc("2026-12-02T16:00:00Z"), Duration::hours(1)),
            utc("2026-12-02T17:00:00Z")
        );
        assert_eq!(
            cal.add_business(
                utc("2026-12-02T16:00:00Z"),
                Duration::hours(1) + Duration::seconds(1)
            ),
            utc("2026-12-03T09:00:01Z")
        );
    }

    #[test]
    fn dst_spring_gap_inside_business_hours() {
        let cal = london_sunday_night();
        let day = date("2026-03-29");
        // 00:00 GMT == 00:00 UTC; 06:00 BST == 05:00 UTC: five real hours.
        assert_eq!(
            cal.business_hours_on(day),
            Some((utc("2026-03-29T00:00:00Z"), utc("2026-03-29T05:00:00Z")))
        );
        // 00:30 local + 3 real hours = 03:30 UTC (04:30 BST), not 03:30 BST.
        let from = utc("2026-03-29T00:30:00Z");
        let to = cal.add_business(from, Duration::hours(3));
        assert_eq!(to, utc("2026-03-29T03:30:00Z"));
        assert_eq!(to.with_timezone(&cal.tz()).time(), time("04:30"));
        assert_eq!(cal.business_between(from, to), Duration::hours(3));
        // Only 4.5h remain that night; the last 30 min spill to the next
        // Sunday, which starts at 00:00 BST == 23:00 UTC Saturday.
        assert_eq!(
            cal.add_business(from, Duration::hours(5)),
            utc("2026-04-04T23:30:00Z")
        );
        assert!(cal.is_open(utc("2026-03-29T00:59:59Z")));
        assert!(cal.is_open(utc("2026-03-29T01:00:00Z")));
        assert!(cal.is_open(utc("2026-03-29T04:59:59Z")));
        assert!(!cal.is_open(utc("2026-03-29T05:00:00Z")));
        // Standard hours across the spring weekend: Friday is GMT, Monday BST.
        assert_eq!(
            london().add_business(utc("2026-03-27T16:30:00Z"), Duration::hours(1)),
            utc("2026-03-30T08:30:00Z")
        );
    }

    #[test]
    fn dst_autumn_fold_inside_business_hours() {
        let cal = london_sunday_night();
        let day = date("2026-10-25");
        // 00:00 BST == 23:00 UTC Saturday; 06:00 GMT == 06:00 UTC: seven hours.
        let (open, close) = cal.business_hours_on(day).unwrap();
        assert_eq!(open, utc("2026-10-24T23:00:00Z"));
        assert_eq!(close, utc("2026-10-25T06:00:00Z"));
        assert_eq!(cal.business_between(open, close), Duration::hours(7));
        // 00:30 BST + 3 real hours = 02:30 UTC == 02:30 GMT.
        let from = utc("2026-10-24T23:30:00Z");
        assert_eq!(
            cal.add_business(from, Duration::hours(3)),
            utc("2026-10-25T02:30:00Z")
        );
        // The UTC date is Saturday, but locally it is already Sunday.
        assert!(!cal.is_open(utc("2026-10-24T22:59:59Z")));
        assert!(cal.is_open(utc("2026-10-24T23:00:00Z")));
        assert!(cal.is_open(utc("2026-10-25T05:59:59Z")));
        assert!(!cal.is_open(utc("2026-10-25T06:00:00Z")));
        // Standard hours across the autumn weekend: Friday BST, Monday GMT.
        assert_eq!(
            london().add_business(utc("2026-10-23T15:30:00Z"), Duration::hours(1)),
            utc("2026-10-26T09:30:00Z")
        );
    }

    #[test]
    fn at_local_remembered_is_at_local_found_in_either_zone() {
        // Two zones on one thread, every day of 2026 (both clock changes in
        // each) at times in and out of the gaps and folds, twice: the second
        // pass answers from the memo, which must key on the zone too.
        let (london, ny) = (london(), new_york());
        let times = ["00:00", "01:30", "02:30", "09:00", "16:30", "23:59"];
        for _ in 0..2 {
            let mut day = date("2026-01-01");
            while day <= date("2026-12-31") {
                for t in times {
                    for cal in [&london, &ny] {
                        assert_eq!(
                            cal.at_local(day, time(t)),
                            cal.find_local(day, time(t)),
                            "{day} {t}"
                        );
                    }
                }
                day = day.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn at_local_in_gap_and_fold() {
        let london = london();
        // London gap 01:00–02:00 GMT: 01:30 -> 02:00 BST == 01:00 UTC.
        assert_eq!(
            london.at_local(date("2026-03-29"), time("01:30")),
            utc("2026-03-29T01:00:00Z")
        );
        // London fold 01:00–02:00: earlier instance is BST.
        assert_eq!(
            london.at_local(date("2026-10-25"), time("01:30")),
            utc("2026-10-25T00:30:00Z")
        );
        // Ordinary instants either side.
        assert_eq!(
            london.at_local(date("2026-10-25"), time("02:00")),
            utc("2026-10-25T02:00:00Z")
        );
        assert_eq!(
            london.at_local(date("2026-03-29"), time("00:59")),
            utc("2026-03-29T00:59:00Z")
        );

        let ny = new_york();
        // 2026-03-08 02:30 does not exist in New York: -> 03:00 EDT.
        let gap = ny.at_local(date("2026-03-08"), time("02:30"));
        assert_eq!(gap, utc("2026-03-08T07:00:00Z"));
        assert_eq!(gap.with_timezone(&ny.tz()).time(), time("03:00"));
        // 2026-11-01 01:30 happens twice: EDT (05:30Z) then EST (06:30Z).
        assert_eq!(
            ny.at_local(date("2026-11-01"), time("01:30")),
            utc("2026-11-01T05:30:00Z")
        );
    }

    #[test]
    fn at_local_in_a_half_hour_gap() {
        // Lord Howe Island springs forward 30 minutes at 02:00 local
        // (2026-10-04), so 02:15 maps to 02:30 (+11:00) == 15:30 UTC.
        let cal = BusinessCalendar::new(
            chrono_tz::Australia::Lord_Howe,
            &[Weekday::Sun],
            time("00:00"),
            time("06:00"),
            [],
        )
        .unwrap();
        let t = cal.at_local(date("2026-10-04"), time("02:15"));
        assert_eq!(t.with_timezone(&cal.tz()).time(), time("02:30"));
        assert_eq!(t, utc("2026-10-03T15:30:00Z"));
    }

    #[test]
    fn new_york_across_spring_forward() {
        let cal = new_york();
        // Friday 16:30 EST (21:30Z) + 1h -> Monday 09:30 EDT (13:30Z).
        assert_eq!(
            cal.add_business(utc("2026-03-06T21:30:00Z"), Duration::hours(1)),
            utc("2026-03-09T13:30:00Z")
        );
        assert!(!cal.is_open(utc("2026-03-09T12:59:59Z")));
        assert!(cal.is_open(utc("2026-03-09T13:00:00Z")));
        assert!(!cal.is_open(utc("2026-03-06T22:00:00Z")));
        assert_eq!(
            cal.business_between(utc("2026-03-06T21:30:00Z"), utc("2026-03-09T13:30:00Z")),
            Duration::hours(1)
        );
    }

    #[test]
    fn business_between_weekends_and_holidays() {
        let cal = london();
        // Thu 24 Dec 16:00 -> Mon 28 Dec 10:00: 1h Thursday + 1h Monday.
        assert_eq!(
            cal.business_between(utc("2026-12-24T16:00:00Z"), utc("2026-12-28T10:00:00Z")),
            Duration::hours(2)
        );
        // An ordinary week is 40h; Christmas week loses a day.
        assert_eq!(
            cal.business_between(utc("2026-12-07T00:00:00Z"), utc("2026-12-14T00:00:00Z")),
            Duration::hours(40)
        );
        assert_eq!(
            cal.business_between(utc("2026-12-21T00:00:00Z"), utc("2026-12-28T00:00:00Z")),
            Duration::hours(32)
        );
        // Entirely closed span and reversed span are zero.
        assert_eq!(
            cal.business_between(utc("2026-12-04T17:00:00Z"), utc("2026-12-07T09:00:00Z")),
            Duration::zero()
        );
        assert_eq!(
            cal.business_between(utc("2026-12-08T12:00:00Z"), utc("2026-12-07T12:00:00Z")),
            Duration::zero()
        );
    }

    #[test]
    fn add_and_between_are_inverse_over_a_grid() {
        let durations = [
            Duration::zero(),
            Duration::seconds(1),
            Duration::minutes(59),
            Duration::hours(1),
            Duration::hours(8) - Duration::seconds(1),
            Duration::hours(8),
            Duration::hours(8) + Duration::seconds(1),
            Duration::hours(40),
            Duration::hours(123) + Duration::minutes(17),
        ];
        let ranges = [
            ("2026-03-20T00:00:00Z", 18),
            ("2026-10-16T00:00:00Z", 22),
            ("2026-12-18T00:00:00Z", 16),
        ];
        let mut checked = 0;
        for cal in [london(), new_york(), london_sunday_night()] {
            for (first, days) in ranges {
                let mut t = utc(first);
                let stop = t + Duration::days(days);
                while t < stop {
                    let mut previous = None;
                    for &d in &durations {
                        let r = cal.add_business(t, d);
                        assert!(r >= t, "{t} + {d} went backwards to {r}");
                        assert_eq!(
                            cal.business_between(t, r),
                            d,
                            "{:?} {t} + {d} -> {r}",
                            cal.tz()
                        );
                        if d > Duration::zero() {
                            // r is the earliest such instant: the second
                            // before it was still business time.
                            let just_before = r - Duration::seconds(1);
                            assert_eq!(
                                cal.business_between(t, just_before),
                                d - Duration::seconds(1)
                            );
                        } else {
                            assert!(cal.is_open(r));
                            assert_eq!(r, cal.next_open(t));
                        }
                        if let Some(p) = previous {
                            assert!(r >= p, "not monotone in d at {t}");
                        }
                        previous = Some(r);
                        checked += 1;
                    }
                    t += Duration::minutes(97);
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn long_additions_are_exact() {
        let cal = london();
        // 1000h = 125 eight-hour days = 25 weeks: ends Friday 26 June at
        // 17:00 BST.
        let from = utc("2026-01-05T09:00:00Z");
        let to = cal.add_business(from, Duration::hours(1000));
        assert_eq!(to, utc("2026-06-26T16:00:00Z"));
        assert_eq!(cal.business_between(from, to), Duration::hours(1000));
        // Across Christmas the holiday adds a day.
        let year = cal.add_business(utc("2026-12-21T09:00:00Z"), Duration::hours(40));
        assert_eq!(year, utc("2026-12-28T17:00:00Z"));
    }

    #[test]
    fn a_decade_of_holidays_is_walked_exactly() {
        let mut holidays = Vec::new();
        let mut d = date("2026-01-01");
        while d <= date("2035-12-31") {
            holidays.push(d);
            d = d.succ_opt().unwrap();
        }
        let weekdays = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ];
        let cal = BusinessCalendar::new(
            chrono_tz::Europe::London,
            &weekdays,
            time("09:00"),
            time("17:00"),
            holidays,
        )
        .unwrap();
        let from = utc("2026-01-05T09:00:00Z");
        // 1 January 2036 is a Tuesday.
        assert_eq!(
            cal.add_business(from, Duration::hours(1)),
            utc("2036-01-01T10:00:00Z")
        );
        assert_eq!(
            cal.next_business_day(date("2026-01-01")),
            date("2036-01-01")
        );
        assert!(!cal.is_open(utc("2030-06-05T12:00:00Z")));
    }

    #[test]
    fn a_calendar_that_never_opens_terminates() {
        // Every date for 110 years is a holiday: beyond the search horizon.
        let mut holidays = Vec::new();
        let mut d = date("2026-01-01");
        while d <= date("2135-12-31") {
            holidays.push(d);
            d = d.succ_opt().unwrap();
        }
        let cal = BusinessCalendar::new(
            chrono_tz::Europe::London,
            &[Weekday::Mon],
            time("09:00"),
            time("17:00"),
            holidays,
        )
        .unwrap();
        let from = utc("2026-01-05T09:00:00Z");
        let r = cal.add_business(from, Duration::hours(1));
        assert!(
            r > from + Duration::days(365 * 90),
            "expected far future, got {r}"
        );
        assert!(cal.next_open(from) > from + Duration::days(365 * 90));
        assert!(cal.next_business_day(date("2026-01-01")) > date("2116-01-01"));
    }

    #[test]
    fn huge_durations_do_not_hang_or_panic() {
        let cal = london();
        let from = utc("2026-01-05T09:00:00Z");
        let r = cal.add_business(from, Duration::MAX);
        assert!(r > from + Duration::days(365 * 900));
        assert_eq!(
            cal.around_the_clock().add_business(from, Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn from_config_errors() {
        let wd = s(&["Mon", "Tue"]);
        assert_eq!(
            BusinessCalendar::from_config("Mars/Base", &wd, "09:00", "17:00", &[]),
            Err(CalendarError::BadTimezone("Mars/Base".into()))
        );
        assert_eq!(
            BusinessCalendar::from_config(
                "Europe/London",
                &s(&["Mon", "Funday"]),
                "09:00",
                "17:00",
                &[]
            ),
            Err(CalendarError::BadWeekday("Funday".into()))
        );
        assert_eq!(
            BusinessCalendar::from_config("Europe/London", &wd, "25:00", "17:00", &[]),
            Err(CalendarError::BadTime("25:00".into()))
        );
        assert_eq!(
            BusinessCalendar::from_config("Europe/London", &wd, "09:00", "9am", &[]),
            Err(CalendarError::BadTime("9am".into()))
        );
        assert_eq!(
            BusinessCalendar::from_config("Europe/London", &wd, "17:00", "09:00", &[]),
            Err(CalendarError::EmptyHours)
        );
        assert_eq!(
            BusinessCalendar::from_config("Europe/London", &wd, "09:00", "09:00", &[]),
            Err(CalendarError::EmptyHours)
        );
        assert_eq!(
            BusinessCalendar::from_config("Europe/London", &[], "09:00", "17:00", &[]),
            Err(CalendarError::NoWorkdays)
        );
        assert_eq!(
            BusinessCalendar::from_config(
                "Europe/London",
                &wd,
                "09:00",
                "17:00",
                &s(&["2026-13-01"])
            ),
            Err(CalendarError::BadDate("2026-13-01".into()))
        );
        assert_eq!(
            BusinessCalendar::new(chrono_tz::UTC, &[], time("09:00"), time("17:00"), []),
            Err(CalendarError::NoWorkdays)
        );
    }

    #[test]
    fn from_config_accepts_variants() {
        let cal = BusinessCalendar::from_config(
            " Europe/London ",
            &s(&["MON", "tuesday", "Wed", "thurs", "FRIDAY", "mon"]),
            "08:30",
            "17:45:30",
            &s(&["2026-12-25", "2026-12-28", "2026-12-25"]),
        )
        .unwrap();
        assert_eq!(cal.workdays().len(), 5);
        assert_eq!(cal.end(), NaiveTime::from_hms_opt(17, 45, 30).unwrap());
        assert_eq!(cal.holidays().len(), 2);
        assert!(!cal.is_business_day(date("2026-12-28")));
        assert_eq!(parse_weekday("Sun"), Ok(Weekday::Sun));
        assert_eq!(parse_weekday("Saturday"), Ok(Weekday::Sat));
        assert!(parse_time("23:59:60").is_err());
    }

    #[test]
    fn around_the_clock_is_plain_time() {
        let cal = london();
        let always = cal.around_the_clock();
        assert!(always.is_around_the_clock());
        assert!(!cal.is_around_the_clock());
        assert_eq!(always.tz(), cal.tz());
        assert_ne!(always, cal);
        let sat = utc("2026-12-05T03:00:00Z");
        assert!(always.is_open(sat));
        assert!(always.is_open(utc("2026-12-25T12:00:00Z")));
        assert_eq!(
            always.add_business(sat, Duration::hours(30)),
            utc("2026-12-06T09:00:00Z")
        );
        assert_eq!(always.next_open(sat), sat);
        assert_eq!(
            always.business_between(sat, utc("2026-12-07T09:30:00Z")),
            Duration::hours(54) + Duration::minutes(30)
        );
        assert!(always.is_business_day(date("2026-12-25")));
        assert_eq!(
            always.next_business_day(date("2026-12-24")),
            date("2026-12-25")
        );
        // Whole local day, 23 hours on the spring-forward Sunday.
        let (open, close) = always.business_hours_on(date("2026-03-29")).unwrap();
        assert_eq!(close - open, Duration::hours(23));
    }
}
