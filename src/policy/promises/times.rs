//! Time expressions: the patterns ("3pm", "half past two", "in 2 hours",
//! "tomorrow morning"), their parts, and resolving them against the sending
//! time in the business calendar.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use regex::{Captures, Regex};

use crate::policy::calendar::BusinessCalendar;

use super::*;

/// A day named in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Day {
    Today,
    /// "tomorrow" (1), "the day after tomorrow" (2): counted in business
    /// days, so "tomorrow" on a Friday is Monday, as POLICY reads "tomorrow
    /// morning".
    BusinessDaysAhead(u32),
    Weekday(Weekday),
    /// "end of the week": the last business day of the current Monday–Sunday week.
    EndOfWeek,
    Date {
        month: u32,
        day: u32,
        year: Option<i32>,
    },
}

/// A time of day named in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tod {
    Clock(NaiveTime),
    Eod,
    Lunch,
    Morning,
}

impl Tod {
    fn time(self, r: &PromiseReading) -> NaiveTime {
        match self {
            Tod::Clock(t) => t,
            Tod::Eod => r.eod,
            Tod::Lunch => r.lunchtime,
            Tod::Morning => r.morning,
        }
    }
}

/// One time expression (or a piece of one) and where it is in its sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) day: Option<Day>,
    pub(super) tod: Option<Tod>,
    /// A wall-clock delay from the message ("in 2 hours").
    pub(super) after: Option<Duration>,
}

type Parts = (Option<Day>, Option<Tod>, Option<Duration>);

/// A time-expression pattern, its reader, and whether it is a bare clock
/// time whose neighbours must be checked (so "v1.15.00" is not 15:00).
pub(super) struct Pattern {
    pub(super) re: Regex,
    pub(super) read: fn(&Captures) -> Option<Parts>,
    pub(super) clock: bool,
}

/// A pattern that matches nothing: a word boundary that is not one.
pub(super) const NEVER: &str = r"\b\B";

pub(super) fn compile(pattern: &str) -> Regex {
    let p = pattern.replace('\'', "['’‘]");
    // The patterns are constants checked by the tests; a typo must not take
    // the daemon down, so a bad one degrades to a pattern that never matches.
    Regex::new(&format!("(?i){p}"))
        .unwrap_or_else(|_| Regex::new(NEVER).expect("the never-matching pattern is valid"))
}

pub(super) static CUE_RES: LazyLock<Vec<(CueKind, Regex)>> = LazyLock::new(|| {
    CUES.iter()
        .map(|(kind, _, p)| (*kind, compile(&p.replace("{CONTACT_VERBS}", CONTACT_VERBS))))
        .collect()
});

pub(super) static RECURRENCE_RE: LazyLock<Regex> = LazyLock::new(|| compile(RECURRENCE));

/// What may stand between two pieces of one time expression: "tomorrow
/// (Friday 27 November) at 10:00", "Monday by 3pm", "9am tomorrow".
pub(super) static FILLER_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^(?:[\s,()\[\]/–—-]+|(?:at|by|on|the|of|in|latest|around|about|approximately|approx|before|no\s+later\s+than|or\s+so|this|next|coming)\b)*$",
    )
});

/// Words that make a time after a cue conditional ("I'll update you once
/// the deploy at 3pm is done").
pub(super) static CONDITIONAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\b(?:if|unless|when|whenever|once|after|as\s+soon\s+as|in\s+case)\b")
});

/// Words that put a time before a cue in another clause ("we deployed at
/// 14:30 and I'll update you").
pub(super) static CLAUSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\b(?:and|but|so|because|since|when|once|after|if|while|although|though|which|whereas)\b",
    )
});

pub(super) static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: String, read: fn(&Captures) -> Option<Parts>, clock: bool| Pattern {
        re: compile(&re),
        read,
        clock,
    };
    vec![
        // Clock times.
        p(
            format!(r"\b(\d{{1,2}})[:.](\d{{2}})(?:\s*{AMPM})?{ZONE}"),
            |c| clock(num(c, 1)?, num(c, 2)?, c.get(3).map(|m| m.as_str()), c[1].len() == 2),
            true,
        ),
        p(
            format!(r"\b(\d{{1,2}})\s*{AMPM}{ZONE}"),
            |c| clock(num(c, 1)?, 0, Some(&c[2]), true),
            true,
        ),
        p(
            format!(r"\b(\d{{1,2}})\s*o'?\s*clock\b{ZONE}"),
            |c| clock(num(c, 1)?, 0, None, false),
            true,
        ),
        p(
            format!(r"\b(half|quarter)\s+(past|to)\s+(\d{{1,2}}|{HOUR_WORD})\b(?:\s*{AMPM})?{ZONE}"),
            read_half_past,
            true,
        ),
        p(
            r"\b(?:12\s+)?(?:noon|midday|mid-day)\b".into(),
            |_| Some((None, Some(Tod::Clock(hm(12, 0))), None)),
            false,
        ),
        // Named times of day.
        p(
            r"\b(?:(?:the\s+)?(?:end|close)\s+of\s+(?:the\s+)?(?:(?:business|working|work)\s+)?(?:day|business|play)|eod|cob|eob|eop)\b".into(),
            |_| Some((None, Some(Tod::Eod), None)),
            false,
        ),
        p(
            r"\b(?:the\s+)?(?:end|close)\s+of\s+(?:play\s+|business\s+)?today\b".into(),
            |_| Some((Some(Day::Today), Some(Tod::Eod), None)),
            false,
        ),
        p(
            r"\b(?:later\s+)?this\s+afternoon\b".into(),
            |_| Some((Some(Day::Today), Some(Tod::Eod), None)),
            false,
        ),
        p(
            r"\bin\s+the\s+afternoon\b".into(),
            |_| Some((None, Some(Tod::Eod), None)),
            false,
        ),
        // "later this morning": a morning is over at noon.
        p(
            r"\b(?:later\s+)?this\s+morning\b".into(),
            |_| Some((Some(Day::Today), Some(Tod::Clock(hm(12, 0))), None)),
            false,
        ),
        // Bare "lunch" only with a preposition of deadline: "after lunch" is not one.
        p(
            r"\b(?:lunch[\s-]*time|(?:by|before|at|around|over)\s+lunch)\b".into(),
            |_| Some((None, Some(Tod::Lunch), None)),
            false,
        ),
        // Bare "morning" is not a time ("Good morning"): only these forms are.
        p(
            r"\b(?:first\s+thing(?:\s+in\s+the\s+morning)?|(?:in|by)\s+the\s+morning|by\s+morning)\b".into(),
            |_| Some((None, Some(Tod::Morning), None)),
            false,
        ),
        // Days.
        p(
            r"\b(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?:working\s+|business\s+)?week\b".into(),
            |_| Some((Some(Day::EndOfWeek), None, None)),
            false,
        ),
        p(
            r"\b(?:later\s+)?today\b".into(),
            |_| Some((Some(Day::Today), None, None)),
            false,
        ),
        p(
            r"\b(the\s+day\s+after\s+)?(?:tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow)(?:\s+(morning|afternoon|lunch[\s-]*time))?\b".into(),
            |c| {
                let ahead = if c.get(1).is_some() { 2 } else { 1 };
                Some((Some(Day::BusinessDaysAhead(ahead)), part_of_day(c.get(2)), None))
            },
            false,
        ),
        // "next Monday" is read as the first Monday after today, like "Monday".
        p(
            format!(r"\b(?:(?:this|next|the\s+coming|this\s+coming|coming)\s+)?({WEEKDAY})(?:\s+(morning|afternoon|lunch[\s-]*time))?\b"),
            |c| Some((Some(Day::Weekday(weekday(&c[1])?)), part_of_day(c.get(2)), None)),
            false,
        ),
        // "Friday 27 November", "27th of November 2026".
        p(
            format!(r"\b(?:(?:{WEEKDAY})\s*,?\s+)?(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH})(?:\s*,?\s+(\d{{4}})\b)?(?:\s+(morning|afternoon))?"),
            |c| date_parts(num(c, 1)?, &c[2], c.get(3), c.get(4)),
            false,
        ),
        // "November 27", "Friday, November 27, 2026".
        p(
            format!(r"\b(?:(?:{WEEKDAY})\s*,?\s+)?({MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:\s*,?\s+(\d{{4}})\b)?(?:\s+(morning|afternoon))?"),
            |c| date_parts(num(c, 2)?, &c[1], c.get(3), c.get(4)),
            false,
        ),
        p(
            r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b".into(),
            |c| {
                let (year, month, day) = (num(c, 1)? as i32, num(c, 2)?, num(c, 3)?);
                NaiveDate::from_ymd_opt(year, month, day)?;
                Some((Some(Day::Date { month, day, year: Some(year) }), None, None))
            },
            false,
        ),
        // Wall-clock delays.
        p(
            r"\b(?:in|within|over)\s+the\s+(?:next\s+)?hour\b".into(),
            |_| Some((None, None, Some(Duration::hours(1)))),
            false,
        ),
        p(
            r"\b(?:in|within)\s+(?:about\s+|around\s+|roughly\s+|the\s+next\s+)?(?:half\s+an|a\s+half)\s+hour\b".into(),
            |_| Some((None, None, Some(Duration::minutes(30)))),
            false,
        ),
        p(
            format!(r"\b(?:in|within)\s+(?:the\s+next\s+|about\s+|around\s+|roughly\s+|approximately\s+|approx\.?\s+|less\s+than\s+|under\s+|no\s+more\s+than\s+)?({NUM})\s*{UNIT}\b(\s+and\s+a\s+half)?"),
            |c| delay(&c[1], &c[2], c.get(3).is_some()),
            false,
        ),
        p(
            format!(r"\b({NUM})\s*{UNIT}\s+from\s+now\b"),
            |c| delay(&c[1], &c[2], false),
            false,
        ),
    ]
});

pub(super) fn num(c: &Captures, i: usize) -> Option<u32> {
    c.get(i)?.as_str().parse().ok()
}

/// A clock time. Without am/pm, an hour written as one digit from 1 to 7
/// ("at 3:30", "4 o'clock") is read in business hours, i.e. as the
/// afternoon; a two-digit hour ("07:00", "15:00") is a 24-hour clock.
pub(super) fn clock(h: u32, m: u32, ampm: Option<&str>, twenty_four: bool) -> Option<Parts> {
    if m > 59 {
        return None;
    }
    let h = match ampm.map(|s| s.to_ascii_lowercase().starts_with('p')) {
        // "15:00pm" is a 24-hour time with a redundant suffix.
        Some(_) if (13..=23).contains(&h) => h,
        Some(_) if !(1..=12).contains(&h) => return None,
        Some(true) => h % 12 + 12,
        Some(false) => h % 12,
        None if !twenty_four && (1..=7).contains(&h) => h + 12,
        None => h,
    };
    Some((
        None,
        Some(Tod::Clock(NaiveTime::from_hms_opt(h, m, 0)?)),
        None,
    ))
}

pub(super) fn hour_word(s: &str) -> Option<u32> {
    let words = HOUR_WORD.split('|');
    let lower = s.to_ascii_lowercase();
    words
        .zip(1..)
        .find(|(w, _)| *w == lower)
        .map(|(_, n)| n)
        .or_else(|| s.parse().ok())
}

pub(super) fn read_half_past(c: &Captures) -> Option<Parts> {
    let h = hour_word(&c[3])?;
    if !(1..=12).contains(&h) {
        return None;
    }
    let to = c[2].eq_ignore_ascii_case("to");
    let (h, m) = match (c[1].to_ascii_lowercase().as_str(), to) {
        ("half", false) => (h, 30),
        ("quarter", false) => (h, 15),
        // "half to" is not English; "quarter to three" is 14:45.
        ("quarter", true) => (if h == 1 { 12 } else { h - 1 }, 45),
        _ => return None,
    };
    clock(h, m, c.get(4).map(|m| m.as_str()), false)
}

pub(super) fn part_of_day(m: Option<regex::Match>) -> Option<Tod> {
    let s = m?.as_str().to_ascii_lowercase();
    Some(if s.starts_with("morning") {
        Tod::Morning
    } else if s.starts_with("afternoon") {
        Tod::Eod
    } else {
        Tod::Lunch
    })
}

pub(super) fn weekday(s: &str) -> Option<Weekday> {
    s.parse().ok()
}

pub(super) fn month(s: &str) -> Option<u32> {
    let s = s.to_ascii_lowercase();
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    NAMES
        .iter()
        .zip(1..)
        .find(|(n, _)| s.starts_with(**n))
        .map(|(_, i)| i)
}

pub(super) fn date_parts(
    day: u32,
    month_name: &str,
    year: Option<regex::Match>,
    part: Option<regex::Match>,
) -> Option<Parts> {
    let month = month(month_name)?;
    let year = match year {
        Some(y) => Some(y.as_str().parse().ok()?),
        None => None,
    };
    // Reject "31 November" now; "29 February" without a year is checked when resolved.
    NaiveDate::from_ymd_opt(year.unwrap_or(2000), month, day)?;
    Some((
        Some(Day::Date { month, day, year }),
        part_of_day(part),
        None,
    ))
}

pub(super) fn delay(n: &str, unit: &str, and_a_half: bool) -> Option<Parts> {
    let n = n.to_ascii_lowercase();
    let n = n
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('-', " ");
    let count: f64 = match n.as_str() {
        "a" | "an" => 1.0,
        "a couple of" | "a couple" | "couple of" => 2.0,
        "fifteen" => 15.0,
        "twenty" => 20.0,
        "thirty" => 30.0,
        "forty" => 40.0,
        "forty five" => 45.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "ninety" => 90.0,
        other => match hour_word(other) {
            Some(h) => f64::from(h),
            None => other.parse().ok()?,
        },
    };
    let count = count + if and_a_half { 0.5 } else { 0.0 };
    let unit_secs = if unit.to_ascii_lowercase().starts_with('h') {
        3600.0
    } else {
        60.0
    };
    let secs = count * unit_secs;
    // A week is far beyond any "in N hours" promise; larger numbers are not times.
    if !(1.0..=7.0 * 86_400.0).contains(&secs) {
        return None;
    }
    Some((None, None, Some(Duration::seconds(secs.round() as i64))))
}

/// Every time expression of a sentence, pieces joined into groups.
pub(super) fn time_groups(s: &str) -> Vec<Span> {
    let mut atoms: Vec<Span> = Vec::new();
    for pat in PATTERNS.iter() {
        for c in pat.re.captures_iter(s) {
            let Some(m) = c.get(0) else { continue };
            if pat.clock && !clock_stands_alone(s, m.start(), m.end()) {
                continue;
            }
            if let Some((day, tod, after)) = (pat.read)(&c) {
                atoms.push(Span {
                    start: m.start(),
                    end: m.end(),
                    day,
                    tod,
                    after,
                });
            }
        }
    }
    // Longest match wins where patterns overlap ("Friday 27 November" over "Friday").
    atoms.sort_by_key(|a| (a.start, std::cmp::Reverse(a.end)));
    let mut kept: Vec<Span> = Vec::new();
    for a in atoms {
        if kept.last().is_none_or(|k| a.start >= k.end) {
            kept.push(a);
        }
    }
    let mut groups: Vec<Span> = Vec::new();
    for a in kept {
        if let Some(g) = groups.last_mut() {
            if FILLER_RE.is_match(&s[g.end..a.start]) {
                if let Some(merged) = merge(g, &a) {
                    *g = merged;
                    continue;
                }
            }
        }
        groups.push(a);
    }
    groups
}

/// A clock time that is not part of a version number, price or timestamp.
pub(super) fn clock_stands_alone(s: &str, start: usize, end: usize) -> bool {
    let before = s[..start].chars().next_back();
    if before.is_some_and(|c| ".:/£$€".contains(c)) {
        return false;
    }
    let mut after = s[end..].chars();
    match after.next() {
        Some(c) if c.is_alphanumeric() => false,
        Some(':' | '.') => !after.next().is_some_and(|c| c.is_ascii_digit()),
        _ => true,
    }
}

/// Joins two adjacent pieces of a time expression, or `None` when they name
/// two different times. An explicit date beats a relative day ("tomorrow
/// (Friday 27 November)") and a clock time beats a named part of the day
/// ("tomorrow morning at 9am").
pub(super) fn merge(a: &Span, b: &Span) -> Option<Span> {
    if a.after.is_some() || b.after.is_some() {
        return None;
    }
    let is_date = |d: &Day| matches!(d, Day::Date { .. });
    let day = match (a.day, b.day) {
        (Some(x), Some(y)) if is_date(&x) && !is_date(&y) => Some(x),
        (Some(x), Some(y)) if is_date(&y) && !is_date(&x) => Some(y),
        (Some(_), Some(_)) => return None,
        (x, y) => x.or(y),
    };
    let is_clock = |t: &Tod| matches!(t, Tod::Clock(_));
    let tod = match (a.tod, b.tod) {
        (Some(x), Some(y)) if is_clock(&x) && !is_clock(&y) => Some(x),
        (Some(x), Some(y)) if is_clock(&y) && !is_clock(&x) => Some(y),
        (Some(_), Some(_)) => return None,
        (x, y) => x.or(y),
    };
    Some(Span {
        start: a.start,
        end: b.end,
        day,
        tod,
        after: None,
    })
}

/// The instant a time expression names, read at `sent_at`.
///
/// No day, or "today": that day if the time is still ahead of `sent_at`,
/// else the next business day (POLICY's rule for a clock time with no day).
/// "today" is read the same way so that a promise never lies before the
/// message that made it ("I'll update you today" written at 17:30 means the
/// next business day's 16:30, like "by end of day").
pub(super) fn resolve(
    g: &Span,
    sent_at: DateTime<Utc>,
    cal: &BusinessCalendar,
    r: &PromiseReading,
) -> Option<DateTime<Utc>> {
    if let Some(d) = g.after {
        return sent_at.checked_add_signed(d);
    }
    let today = cal.local_date(sent_at);
    let time = g.tod.map_or(r.eod, |t| t.time(r));
    match g.day {
        None | Some(Day::Today) => {
            let same_day = cal.at_local(today, time);
            Some(if same_day > sent_at {
                same_day
            } else {
                cal.at_local(cal.next_business_day(today), time)
            })
        }
        Some(Day::EndOfWeek) => {
            // Once this week's last business day has passed, the writer can
            // only mean next week's.
            let this_week = last_business_day_of_week(today, cal)
                .map(|d| cal.at_local(d, time))
                .filter(|at| *at > sent_at);
            this_week.or_else(|| {
                let next_monday = today.checked_add_signed(Duration::days(
                    7 - i64::from(today.weekday().num_days_from_monday()),
                ))?;
                last_business_day_of_week(next_monday, cal).map(|d| cal.at_local(d, time))
            })
        }
        Some(day) => Some(cal.at_local(day_date(day, today, cal)?, time)),
    }
}

/// The last business day from `from` to the Sunday of its week, if any.
pub(super) fn last_business_day_of_week(
    from: NaiveDate,
    cal: &BusinessCalendar,
) -> Option<NaiveDate> {
    let left = 6 - from.weekday().num_days_from_monday();
    (0..=left)
        .rev()
        .filter_map(|n| from.checked_add_signed(Duration::days(i64::from(n))))
        .find(|d| cal.is_business_day(*d))
}

/// The date a named day means, seen from the local date `today`.
///
/// A weekday is the next such day strictly after today: someone who means
/// today says "today", and "by Friday" written on a Friday is read as a week
/// ahead. Named days and dates are taken as written even when they are not
/// business days: the writer chose them. A date without a year is its next
/// occurrence on or after today; a date with a year is taken as written,
/// even in the past.
pub(super) fn day_date(day: Day, today: NaiveDate, cal: &BusinessCalendar) -> Option<NaiveDate> {
    match day {
        Day::Today => Some(today),
        Day::EndOfWeek => last_business_day_of_week(today, cal),
        Day::BusinessDaysAhead(n) => Some((0..n).fold(today, |d, _| cal.next_business_day(d))),
        Day::Weekday(w) => {
            let ahead = (w.num_days_from_monday() + 7 - today.weekday().num_days_from_monday()) % 7;
            today.checked_add_signed(Duration::days(if ahead == 0 {
                7
            } else {
                i64::from(ahead)
            }))
        }
        Day::Date {
            month,
            day,
            year: Some(y),
        } => NaiveDate::from_ymd_opt(y, month, day),
        Day::Date {
            month,
            day,
            year: None,
        } => (today.year()..=today.year() + 8)
            .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
            .find(|d| *d >= today),
    }
}
