//! POLICY `next-update-stated` and `promise-kept`: the time a contact states
//! for the next update, read from the author's own words.
//!
//! How a message is read (every choice below is an interpretation of POLICY's
//! "Reading times" paragraph, which gives examples rather than a grammar):
//!
//! * Only the author's own text counts: quotes and the signature are removed
//!   with [`own_text`] (POLICY: "Text quoted from earlier mail never counts"),
//!   and so is text in double quotes, which is someone else's words (onit's
//!   acknowledgment repeats the client's subject in quotes).
//! * The text is cut into sentences at `.` `!` `?` `;` and at line breaks
//!   that do not look like a hard-wrapped paragraph (see `sentences`).
//! * A sentence only states a promise when it contains a *cue* that it talks
//!   about the next contact (the `CUES` table). A time without a cue ("we
//!   deployed at 14:30", "the update from yesterday") is a fact, not a
//!   promise; so is a time that starts something ("after 3pm") or belongs to
//!   an event ("the meeting at 3pm"), and a time after a conditional ("once
//!   the deploy at 3pm is done").
//! * A sentence that describes a standing cadence ("every", "each",
//!   "hourly"…) is not a one-off promise and is skipped, unless it is labelled
//!   "next update". This keeps the cadence paragraph of onit's own
//!   acknowledgment ("you will hear from us … at lunchtime and at the end of
//!   each business day") from shadowing its `Next update: by …` line.
//! * The time belonging to a cue is the first time expression after it in the
//!   same sentence; failing that, the nearest one before it on the same line
//!   and in the same clause ("By 3pm we will send you an update").
//! * The FIRST promise in reading order is returned, not the earliest
//!   instant: the first stated time is what the client reads as "the next
//!   update", and a later time in the same message is usually a further step.
//!
//! How times are resolved against the message's time `sent_at`:
//!
//! * A time with no day, or with "today", is that day if still ahead of
//!   `sent_at`, else the next business day (POLICY's rule for a clock time).
//!   "today" is read the same way so that a promise never lies before the
//!   message that made it. This covers "end of day"/"EOD"/"COB" (16:30),
//!   "lunchtime" (13:30), "this afternoon" (end of day), "this morning"
//!   (noon, when a morning is over) and "in the morning" (10:00).
//! * "tomorrow" is the next business day, also with a time ("tomorrow at
//!   10:00" written on a Friday is Monday 10:00), as POLICY reads "tomorrow
//!   morning"; "the day after tomorrow" is the second business day.
//! * A weekday name is the next such day strictly after the day of sending:
//!   someone who means today says "today", so "by Friday" written on a Friday
//!   means a week later; "next Monday" is read like "Monday". Named days and
//!   dates are taken as written even when they are not business days.
//! * A date without a year is its next occurrence on or after the day of
//!   sending; a date with a year is taken as written. A date beats a
//!   relative day next to it ("tomorrow (Friday 27 November)").
//! * A day without a time is at end of day (16:30); "end of the week" is end
//!   of day on the week's last business day (next week's once that has
//!   passed).
//! * "within the hour", "in 2 hours", "in half an hour", "45 minutes from
//!   now" are wall-clock time from `sent_at`, business hours or not.
//! * Clock times: "3pm", "3 pm", "3:30pm", "15:00", "15.00", "9 a.m.", "noon",
//!   "midday", "4 o'clock", "half past two", "quarter to three". Without
//!   am/pm, an hour written as one digit from 1 to 7 ("at 3:30", "half past
//!   two") is in the afternoon, the only reading inside business hours; a
//!   two-digit hour ("07:30") is a 24-hour clock. A bare number ("at 3") is
//!   not read as a time: it is too often something else.
//! * Not read (no time is found, so `next-update-stated` applies): "soon",
//!   "shortly", "this evening", "tonight", "next week", numeric dates such
//!   as 27/11 (day and month order differ by country).
//!
//! Times are local to the calendar's zone. A zone abbreviation after a time
//! ("10:00 GMT", "3pm BST", "+04") is accepted and ignored: onit writes its
//! own acknowledgment in the calendar's zone, and a person writing "GMT" in a
//! British summer usually means UK time, so honouring the label would make
//! more promises wrong than right.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use regex::{Captures, Regex};

use super::calendar::BusinessCalendar;
use super::history::Promise;
use super::quoting::own_text;

/// Reading settings (POLICY defaults in [`Default`]): end of day 16:30,
/// lunchtime 13:30, morning 10:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromiseReading {
    /// "end of day", "EOD", "close of business", "this afternoon", and a day
    /// named without a time ("by Monday").
    pub eod: NaiveTime,
    /// "lunchtime", "by lunch".
    pub lunchtime: NaiveTime,
    /// "tomorrow morning", "first thing", "in the morning".
    pub morning: NaiveTime,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl Default for PromiseReading {
    fn default() -> Self {
        PromiseReading {
            eod: hm(16, 30),
            lunchtime: hm(13, 30),
            morning: hm(10, 0),
        }
    }
}

/// The longest [`Promise::phrase`], in characters.
const PHRASE_MAX: usize = 80;

/// How a cue affects the reading of its sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CueKind {
    /// An explicit label ("next update"): states a one-off time even in a
    /// sentence that also mentions a cadence.
    Label,
    /// A phrase about contacting the client.
    Contact,
    /// A future-tense verb of contact ("we will send", "I'll be in touch").
    /// Only counts when the subject is not the client or a third party
    /// ("you will send us the logs by 3pm" is not our promise).
    Future,
}

/// The verbs of contact that make "will …" / "'ll …" a promise. "call" is
/// deliberately absent: a phone call is not a contact the daemon can see, so
/// a promised call could only ever be reported as broken.
const CONTACT_VERBS: &str = r"update\s+(?:you|u|this\s+(?:thread|ticket|email)|the\s+(?:thread|ticket))|report\s+back|follow\s+up|(?:be|get)\s+in\s+touch|(?:get|come)\s+back|send|let\s+you\s+know|revert|write|e-?mail|reply|respond|confirm|share|provide|touch\s+base|check\s+in|circle\s+back|keep\s+you|contact\s+you|notify\s+you|inform\s+you|advise|give\s+you|have\s+(?:an?\s+|another\s+|more\s+|further\s+|some\s+)?(?:update|news)";

/// The cues, case-insensitive, with an example each. A `'` in a pattern also
/// matches the typographic apostrophes ’ and ‘.
///
/// "update" alone is not a cue ("Thanks for the update", "update: the server
/// restarted at 10:00"), nor is "update" as a future verb on its own ("we
/// will update the server at 10:00"): only updating *you* (or this ticket)
/// is.
const CUES: &[(CueKind, &str, &str)] = &[
    (
        CueKind::Label,
        "next update: by 3pm",
        r"\bnext\s+(?:status\s+)?update\b",
    ),
    (
        CueKind::Contact,
        "I'll update you at 14:30",
        r"\bupdate\s+(?:you|u)\b",
    ),
    (
        CueKind::Contact,
        "an update by 3pm",
        r"\bupdate\s+(?:for\s+you\s+)?(?:by|before|no\s+later\s+than)\b",
    ),
    (
        CueKind::Contact,
        "get back to you by Monday",
        r"\b(?:get|come|be)\s+back\s+to\s+(?:you|u)\b",
    ),
    (
        CueKind::Contact,
        "you'll hear from us by 3pm",
        r"\bhear\s+(?:back\s+)?from\s+(?:us|me)\b",
    ),
    (
        CueKind::Contact,
        "expect an update / expect to hear",
        r"\bexpect\s+(?:to\s+hear|(?:an?\s+|another\s+|our\s+|the\s+|a\s+further\s+|further\s+|more\s+)?(?:next\s+)?(?:update|news|reply|response|answer))\b",
    ),
    (
        CueKind::Contact,
        "you'll get an update",
        r"\byou(?:'ll|\s+will)\s+(?:get|receive|have)\s+(?:an?|another|our|the|a\s+further|further|more)\s+(?:[a-z]+\s+)?(?:update|reply|response|answer|news)\b",
    ),
    // "follow-up" (hyphenated) is a noun, as in "the follow-up meeting at 3pm".
    (
        CueKind::Contact,
        "follow up by 3pm",
        r"\bfollow(?:ing)?\s+up\b",
    ),
    (
        CueKind::Contact,
        "report back at 4pm",
        r"\breport(?:ing)?\s+back\b",
    ),
    (
        CueKind::Contact,
        "revert to you by 3pm",
        r"\brevert\s+(?:back\s+)?to\s+you\b",
    ),
    (
        CueKind::Contact,
        "be in touch tomorrow",
        r"\bbe\s+in\s+touch\b",
    ),
    (
        CueKind::Future,
        "I'll / we will / someone will (up to 3 words) send / let you know / …",
        // `{CONTACT_VERBS}` is substituted when the table is compiled.
        r"(?:\bwill|\bshall|'ll)\s+(?:[a-z]+\s+){0,3}?(?:{CONTACT_VERBS})\b",
    ),
];

/// Words that mark a standing cadence rather than a one-off promise.
const RECURRENCE: &str =
    r"\b(?:every|each|hourly|daily|regularly|periodically|at\s+least\s+once|throughout)\b";

/// Subjects of a future verb that do not make it our promise.
const OTHER_SUBJECTS: &[&str] = &["you", "u", "they", "he", "she"];

/// Nouns that own a time given right after them ("the meeting at 3pm",
/// "our call on Monday"): such a time is when that event happens, not when
/// the next update comes.
const EVENT_NOUNS: &[&str] = &[
    "meeting",
    "call",
    "standup",
    "stand-up",
    "session",
    "demo",
    "deployment",
    "deploy",
    "release",
    "maintenance",
    "window",
    "workshop",
    "review",
    "webinar",
    "appointment",
    "outage",
    "restart",
    "reboot",
    "migration",
    "incident",
    "backup",
    "cutover",
    "downtime",
    "interview",
    "conference",
];

/// Words between an event noun and its time ("the meeting scheduled for 3pm").
const EVENT_LINKS: &[&str] = &[
    "at",
    "on",
    "for",
    "scheduled",
    "planned",
    "booked",
    "set",
    "starting",
    "starts",
    "begins",
];

/// A word just before a time that makes it a start, not a deadline
/// ("after 3pm", "from Monday").
const NOT_A_DEADLINE: &[&str] = &[
    "after",
    "since",
    "from",
    "past",
    "until",
    "till",
    "til",
    "following",
];

/// A word just before a time that makes it a deadline whatever precedes it
/// ("the fix by 3pm").
const DEADLINE: &[&str] = &["by", "before", "latest", "than", "within"];

/// Abbreviations whose full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "a.m", "p.m", "e.g", "i.e", "approx", "vs", "ca", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec",
];

const WEEKDAY: &str = "monday|tuesday|wednesday|thursday|friday|saturday|sunday";
/// Month names; an abbreviation may carry its full stop ("27 Nov. at 10:00").
const MONTH: &str = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)\b|(?:jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?";
const AMPM: &str = r"(am|pm|a\.m\.?|p\.m\.?)";
const ZONE: &str = r"(?:\s*\(?(?:(?:gmt|utc|bst|cet|cest|eet|eest|wet|west|ist|est|edt|cst|cdt|mst|mdt|pst|pdt)\b|[+-]\d{2}(?::?\d{2})?)\)?|\s+(?:uk|london|local)\s+time\b)?";
const HOUR_WORD: &str = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve";
const NUM: &str = r"\d{1,3}(?:\.\d+)?|a\s+couple\s+of|a\s+couple|couple\s+of|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty[\s-]five|forty|fifty|sixty|ninety";
const UNIT: &str = r"(hours?|hrs?|h|minutes?|mins?)";

/// A day named in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
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
enum Tod {
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
struct Span {
    start: usize,
    end: usize,
    day: Option<Day>,
    tod: Option<Tod>,
    /// A wall-clock delay from the message ("in 2 hours").
    after: Option<Duration>,
}

type Parts = (Option<Day>, Option<Tod>, Option<Duration>);

/// A time-expression pattern, its reader, and whether it is a bare clock
/// time whose neighbours must be checked (so "v1.15.00" is not 15:00).
struct Pattern {
    re: Regex,
    read: fn(&Captures) -> Option<Parts>,
    clock: bool,
}

/// A pattern that matches nothing: a word boundary that is not one.
const NEVER: &str = r"\b\B";

fn compile(pattern: &str) -> Regex {
    let p = pattern.replace('\'', "['’‘]");
    // The patterns are constants checked by the tests; a typo must not take
    // the daemon down, so a bad one degrades to a pattern that never matches.
    Regex::new(&format!("(?i){p}"))
        .unwrap_or_else(|_| Regex::new(NEVER).expect("the never-matching pattern is valid"))
}

static CUE_RES: LazyLock<Vec<(CueKind, Regex)>> = LazyLock::new(|| {
    CUES.iter()
        .map(|(kind, _, p)| (*kind, compile(&p.replace("{CONTACT_VERBS}", CONTACT_VERBS))))
        .collect()
});

static RECURRENCE_RE: LazyLock<Regex> = LazyLock::new(|| compile(RECURRENCE));

/// What may stand between two pieces of one time expression: "tomorrow
/// (Friday 27 November) at 10:00", "Monday by 3pm", "9am tomorrow".
static FILLER_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^(?:[\s,()\[\]/–—-]+|(?:at|by|on|the|of|in|latest|around|about|approximately|approx|before|no\s+later\s+than|or\s+so|this|next|coming)\b)*$",
    )
});

/// Words that make a time after a cue conditional ("I'll update you once
/// the deploy at 3pm is done").
static CONDITIONAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\b(?:if|unless|when|whenever|once|after|as\s+soon\s+as|in\s+case)\b")
});

/// Words that put a time before a cue in another clause ("we deployed at
/// 14:30 and I'll update you").
static CLAUSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\b(?:and|but|so|because|since|when|once|after|if|while|although|though|which|whereas)\b",
    )
});

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
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

fn num(c: &Captures, i: usize) -> Option<u32> {
    c.get(i)?.as_str().parse().ok()
}

/// A clock time. Without am/pm, an hour written as one digit from 1 to 7
/// ("at 3:30", "4 o'clock") is read in business hours, i.e. as the
/// afternoon; a two-digit hour ("07:00", "15:00") is a 24-hour clock.
fn clock(h: u32, m: u32, ampm: Option<&str>, twenty_four: bool) -> Option<Parts> {
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

fn hour_word(s: &str) -> Option<u32> {
    let words = HOUR_WORD.split('|');
    let lower = s.to_ascii_lowercase();
    words
        .zip(1..)
        .find(|(w, _)| *w == lower)
        .map(|(_, n)| n)
        .or_else(|| s.parse().ok())
}

fn read_half_past(c: &Captures) -> Option<Parts> {
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

fn part_of_day(m: Option<regex::Match>) -> Option<Tod> {
    let s = m?.as_str().to_ascii_lowercase();
    Some(if s.starts_with("morning") {
        Tod::Morning
    } else if s.starts_with("afternoon") {
        Tod::Eod
    } else {
        Tod::Lunch
    })
}

fn weekday(s: &str) -> Option<Weekday> {
    s.parse().ok()
}

fn month(s: &str) -> Option<u32> {
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

fn date_parts(
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

fn delay(n: &str, unit: &str, and_a_half: bool) -> Option<Parts> {
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

/// The sentences of `text`, as byte ranges.
///
/// A line break continues the sentence when the line looks hard-wrapped (at
/// least 50 characters) or the next line starts in lower case ("I'll update
/// you again / within the hour."); it ends the sentence before a blank line,
/// a list item, or a short line followed by a capitalised one ("We deployed
/// at 14:30 / I'll update you soon" are two sentences).
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let next = chars.get(k + 1).map(|&(_, n)| n);
        let boundary = match c {
            '!' | '?' | ';' | '…' => true,
            '.' => next.is_none_or(char::is_whitespace) && !ends_with_abbreviation(&text[start..i]),
            '\n' => line_break_ends_sentence(text, i),
            _ => false,
        };
        if boundary {
            let end = i + c.len_utf8();
            if !text[start..end].trim().is_empty() {
                out.push((start, end));
            }
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push((start, text.len()));
    }
    out
}

fn ends_with_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_lowercase();
    ABBREVIATIONS.contains(&word.as_str())
}

fn line_break_ends_sentence(text: &str, i: usize) -> bool {
    let line = &text[text[..i].rfind('\n').map_or(0, |p| p + 1)..i];
    let rest = &text[i + 1..];
    let next_line = rest.split('\n').next().unwrap_or("").trim();
    let line = line.trim();
    let list_item = next_line.starts_with(['-', '*', '•', '>'])
        || next_line
            .split_once(['.', ')'])
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if next_line.is_empty() || list_item {
        return true;
    }
    let wrapped = line.chars().count() >= 50;
    let continues = next_line.chars().next().is_some_and(char::is_lowercase);
    !(wrapped || continues)
}

/// Blanks out text in double quotes ("…" or “…”), keeping byte offsets:
/// quoted words are someone else's, e.g. the client's subject that onit's
/// acknowledgment repeats (`Your request "Next update by 3pm?" is logged…`).
///
/// Per line, everything from the first opening quote to the last closing
/// quote is blanked: the repeated subject may itself contain quotes, nested
/// or unbalanced, and a cue standing between two quotations on one line is
/// rare enough to give up.
pub(crate) fn mask_quotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let open = line.find(['"', '“']);
        let close = line
            .char_indices()
            .filter(|&(_, c)| c == '"' || c == '”')
            .map(|(i, c)| i + c.len_utf8())
            .next_back();
        match (open, close) {
            (Some(o), Some(c)) if c > o + 1 => {
                out.push_str(&line[..o]);
                out.extend(std::iter::repeat_n(' ', c - o));
                out.push_str(&line[c..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// A cue found in a sentence (overlapping matches merged into one).
#[derive(Debug, Clone, Copy)]
struct FoundCue {
    start: usize,
    end: usize,
    /// One of the merged matches is a [`CueKind::Label`].
    label: bool,
    /// Where the words that said so begin: a future verb's subject is
    /// included ("I'll", "we will").
    phrase_start: usize,
}

/// The cues of one sentence, in order, overlapping matches merged.
fn find_cues(s: &str) -> Vec<FoundCue> {
    let mut cues: Vec<FoundCue> = Vec::new();
    for (kind, re) in CUE_RES.iter() {
        for m in re.find_iter(s) {
            if *kind == CueKind::Future && other_subject(&s[..m.start()]) {
                continue;
            }
            cues.push(FoundCue {
                start: m.start(),
                end: m.end(),
                label: *kind == CueKind::Label,
                phrase_start: if *kind == CueKind::Future {
                    subject_start(s, m.start())
                } else {
                    m.start()
                },
            });
        }
    }
    cues.sort_by_key(|c| (c.start, std::cmp::Reverse(c.end)));
    let mut merged: Vec<FoundCue> = Vec::new();
    for c in cues {
        match merged.last_mut() {
            Some(last) if c.start < last.end => {
                last.end = last.end.max(c.end);
                last.label |= c.label;
                last.phrase_start = last.phrase_start.min(c.phrase_start);
            }
            _ => merged.push(c),
        }
    }
    merged
}

/// The start of the word before `pos`: the subject glued to "'ll", or the
/// word before "will" (`pos` itself at the start of a sentence).
fn subject_start(s: &str, pos: usize) -> usize {
    let glued = s[pos..].starts_with(['\'', '’', '‘']);
    let lead = if glued {
        &s[..pos]
    } else {
        s[..pos].trim_end()
    };
    if !glued && lead.len() == pos {
        return pos;
    }
    word_start(lead).unwrap_or(pos)
}

/// Where the alphanumeric word that `lead` ends with begins, if it ends with one.
fn word_start(lead: &str) -> Option<usize> {
    lead.char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric())
        .last()
        .map(|(i, _)| i)
}

/// The last words before `pos`, nearest first, lower case.
fn words_before(before: &str, n: usize) -> Vec<String> {
    before
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty() && *w != "-")
        .rev()
        .take(n)
        .map(str::to_lowercase)
        .collect()
}

fn other_subject(before: &str) -> bool {
    // "you'll": the match starts at the apostrophe, so the subject is the
    // word the apostrophe is glued to, found the same way.
    words_before(before, 1)
        .first()
        .is_some_and(|w| OTHER_SUBJECTS.contains(&w.as_str()))
}

/// True when the time expression starting after `before` is not a deadline
/// for an update: it starts something ("after 3pm") or belongs to an event
/// ("the meeting at 3pm").
fn attached_elsewhere(before: &str) -> bool {
    let words = words_before(before, 4);
    let Some(first) = words.first() else {
        return false;
    };
    if NOT_A_DEADLINE.contains(&first.as_str()) {
        return true;
    }
    if DEADLINE.contains(&first.as_str()) {
        return false;
    }
    words
        .iter()
        .find(|w| !EVENT_LINKS.contains(&w.as_str()))
        .is_some_and(|w| EVENT_NOUNS.contains(&w.as_str()))
}

/// Every time expression of a sentence, pieces joined into groups.
fn time_groups(s: &str) -> Vec<Span> {
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
fn clock_stands_alone(s: &str, start: usize, end: usize) -> bool {
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
fn merge(a: &Span, b: &Span) -> Option<Span> {
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
fn resolve(
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
fn last_business_day_of_week(from: NaiveDate, cal: &BusinessCalendar) -> Option<NaiveDate> {
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
fn day_date(day: Day, today: NaiveDate, cal: &BusinessCalendar) -> Option<NaiveDate> {
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

/// Whitespace runs (line breaks included) as one space, trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words that said so: cue through time, or "cue … time" when that is
/// too long, never more than [`PHRASE_MAX`] characters.
fn phrase(s: &str, cue: &FoundCue, g: &Span) -> String {
    let cue_first = cue.start <= g.start;
    // Keep the deadline word with the time: "by 3pm", not "3pm".
    let lead = s[..g.start].trim_end();
    let g_start = word_start(lead)
        .filter(|&w| {
            ["by", "at", "on", "before", "within", "until"]
                .iter()
                .any(|p| lead[w..].eq_ignore_ascii_case(p))
                && (!cue_first || w >= cue.end)
        })
        .unwrap_or(g.start);
    let full = collapse(&s[cue.phrase_start.min(g_start)..cue.end.max(g.end)]);
    if full.chars().count() <= PHRASE_MAX {
        return full;
    }
    let time = collapse(&s[g_start..g.end]);
    let words = collapse(&s[cue.phrase_start..cue.end]);
    let short = if cue_first {
        format!("{words} … {time}")
    } else {
        format!("{time} … {words}")
    };
    if short.chars().count() <= PHRASE_MAX {
        short
    } else {
        let mut cut: String = short.chars().take(PHRASE_MAX - 1).collect();
        cut.push('…');
        cut
    }
}

/// The first stated time of the next update in the author's own words,
/// resolved against `sent_at` in the calendar's zone.
///
/// Quotes and signatures are removed here with [`own_text`] (harmless if the
/// caller already did). See the module documentation for how sentences,
/// cues and times are read; `None` when the message states no time for the
/// next update.
pub fn find_promise(
    text: &str,
    sent_at: DateTime<Utc>,
    cal: &BusinessCalendar,
    r: &PromiseReading,
) -> Option<Promise> {
    let own = mask_quotations(&own_text(text));
    for (a, b) in sentences(&own) {
        let s = &own[a..b];
        let cues = find_cues(s);
        if cues.is_empty() {
            continue;
        }
        if RECURRENCE_RE.is_match(s) && !cues.iter().any(|c| c.label) {
            continue;
        }
        let groups = time_groups(s);
        for cue in &cues {
            let (cs, ce) = (cue.start, cue.end);
            let forward = groups.iter().filter(|g| g.start >= cs).find(|g| {
                let gap = if g.start > ce { &s[ce..g.start] } else { "" };
                // A comma or dash ends a conditional aside: "I'll update you
                // when I know more, by 4pm at the latest".
                let last_clause = gap
                    .rsplit([',', ';', ':', '–', '—', '('])
                    .next()
                    .unwrap_or("");
                !CONDITIONAL_RE.is_match(last_clause) && !attached_elsewhere(&s[..g.start])
            });
            let backward = || {
                groups.iter().rev().find(|g| g.end <= cs).filter(|g| {
                    let gap = &s[g.end..cs];
                    // A time on an earlier line belongs to that line's news.
                    !gap.contains('\n')
                        && gap.split_whitespace().count() <= 8
                        && !CLAUSE_RE.is_match(gap)
                        && !attached_elsewhere(&s[..g.start])
                })
            };
            for g in forward.into_iter().chain(backward()) {
                if let Some(at) = resolve(g, sent_at, cal, r) {
                    return Some(Promise {
                        at,
                        phrase: phrase(s, cue, g),
                    });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acknowledgment::{ack_body, AckText};
    use crate::address::EmailAddress;
    use crate::policy::priority::Priority;
    use chrono::{NaiveDateTime, TimeZone};

    fn cal() -> BusinessCalendar {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        BusinessCalendar::from_config(
            "Europe/London",
            &s(&["Mon", "Tue", "Wed", "Thu", "Fri"]),
            "09:00",
            "17:00",
            &s(&["2026-12-25"]),
        )
        .unwrap()
    }

    /// "2026-11-26 10:00" London time as UTC.
    fn local(s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Europe::London
            .from_local_datetime(&naive)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn find(text: &str, sent: &str) -> Option<Promise> {
        find_promise(text, local(sent), &cal(), &PromiseReading::default())
    }

    // Thu 26 Nov 2026, Fri 27 Nov, Mon 30 Nov; Thu 24 Dec, Fri 25 Dec holiday.
    const THU: &str = "2026-11-26 10:00";

    /// (text, sent at (London), expected promise (London) or None)
    const ROWS: &[(&str, &str, Option<&str>)] = &[
        // Clock time with no day.
        ("Next update by 3pm.", THU, Some("2026-11-26 15:00")),
        ("Next update by 3pm.", "2026-11-26 16:00", Some("2026-11-27 15:00")),
        ("Next update by 3pm.", "2026-11-27 16:00", Some("2026-11-30 15:00")),
        ("Next update by 3pm.", "2026-11-26 15:00", Some("2026-11-27 15:00")),
        ("next update: 3 pm", THU, Some("2026-11-26 15:00")),
        ("I'll update you at 14:30", THU, Some("2026-11-26 14:30")),
        ("I’ll update you at 14:30.", THU, Some("2026-11-26 14:30")),
        ("I'll update you at 14:30", "2026-11-26 15:00", Some("2026-11-27 14:30")),
        ("We'll update you at 15.00", THU, Some("2026-11-26 15:00")),
        ("We will send an update by 3:30pm.", THU, Some("2026-11-26 15:30")),
        ("We will send an update by 3:30 PM GMT.", THU, Some("2026-11-26 15:30")),
        ("I'll get back to you by 9am", THU, Some("2026-11-27 09:00")),
        ("I'll get back to you by noon", THU, Some("2026-11-26 12:00")),
        ("We'll report back at midday.", THU, Some("2026-11-26 12:00")),
        ("I'll update you at half past two", THU, Some("2026-11-26 14:30")),
        ("I'll update you at quarter to three", THU, Some("2026-11-26 14:45")),
        ("I'll update you at 4 o'clock", THU, Some("2026-11-26 16:00")),
        ("Will update you at 3:30", THU, Some("2026-11-26 15:30")),
        ("Will update you at 07:30", THU, Some("2026-11-27 07:30")),
        // Saturday: "that day" if still ahead, as POLICY words it.
        ("Next update by 3pm", "2026-11-28 10:00", Some("2026-11-28 15:00")),
        // End of day, close of business.
        ("I'll update you by end of day.", "2026-11-26 11:00", Some("2026-11-26 16:30")),
        ("Next update: EOD", "2026-11-26 11:00", Some("2026-11-26 16:30")),
        ("Next update: EOD", "2026-11-26 17:30", Some("2026-11-27 16:30")),
        ("I'll update you by end of day.", "2026-11-26 17:30", Some("2026-11-27 16:30")),
        ("We will revert by COB.", THU, Some("2026-11-26 16:30")),
        ("You will hear from us by close of business", THU, Some("2026-11-26 16:30")),
        ("We'll be in touch by the end of the day", THU, Some("2026-11-26 16:30")),
        ("We'll be in touch this afternoon", THU, Some("2026-11-26 16:30")),
        ("I'll update you later today.", THU, Some("2026-11-26 16:30")),
        ("I'll update you today.", "2026-11-26 17:30", Some("2026-11-27 16:30")),
        ("I'll update you later this morning.", "2026-11-26 09:15", Some("2026-11-26 12:00")),
        // Lunchtime, morning.
        ("I'll update you by lunchtime", THU, Some("2026-11-26 13:30")),
        ("We'll get back to you by lunch.", THU, Some("2026-11-26 13:30")),
        ("We'll get back to you by lunch.", "2026-11-26 14:00", Some("2026-11-27 13:30")),
        ("We'll update you tomorrow morning.", THU, Some("2026-11-27 10:00")),
        ("We'll update you tomorrow morning.", "2026-11-27 10:00", Some("2026-11-30 10:00")),
        ("We'll update you tomorrow morning.", "2026-12-24 10:00", Some("2026-12-28 10:00")),
        ("I'll update you first thing tomorrow", THU, Some("2026-11-27 10:00")),
        ("I'll update you first thing in the morning", "2026-11-26 15:00", Some("2026-11-27 10:00")),
        ("We'll update you tomorrow at 11:00", THU, Some("2026-11-27 11:00")),
        ("We'll update you tomorrow afternoon", THU, Some("2026-11-27 16:30")),
        ("We'll update you by lunchtime tomorrow", THU, Some("2026-11-27 13:30")),
        ("We'll update you by end of day tomorrow", THU, Some("2026-11-27 16:30")),
        ("I'll send you an update the day after tomorrow", THU, Some("2026-11-30 16:30")),
        // Wall-clock delays.
        ("I'll update you within the hour.", THU, Some("2026-11-26 11:00")),
        ("I'll update you within the hour.", "2026-11-26 16:45", Some("2026-11-26 17:45")),
        ("I'll update you in 2 hours", "2026-11-26 16:00", Some("2026-11-26 18:00")),
        ("We'll be in touch in 30 minutes", THU, Some("2026-11-26 10:30")),
        ("Next update within 45 mins", THU, Some("2026-11-26 10:45")),
        ("I'll update you in an hour", THU, Some("2026-11-26 11:00")),
        ("I'll update you in half an hour", THU, Some("2026-11-26 10:30")),
        ("I'll update you in an hour and a half", THU, Some("2026-11-26 11:30")),
        ("I'll update you in a couple of hours", THU, Some("2026-11-26 12:00")),
        ("I'll update you in two hours", THU, Some("2026-11-26 12:00")),
        ("Next update in 1.5 hours", THU, Some("2026-11-26 11:30")),
        ("I'll update you 20 minutes from now", THU, Some("2026-11-26 10:20")),
        // A day with no time.
        ("We will get back to you tomorrow", THU, Some("2026-11-27 16:30")),
        ("We will get back to you tomorrow", "2026-11-27 10:00", Some("2026-11-30 16:30")),
        ("We'll be in touch by Monday", THU, Some("2026-11-30 16:30")),
        ("We'll be in touch by Monday", "2026-11-30 10:00", Some("2026-12-07 16:30")),
        ("I'll update you on Tuesday", THU, Some("2026-12-01 16:30")),
        ("Next update by Friday", THU, Some("2026-11-27 16:30")),
        ("Next update by Friday", "2026-11-27 10:00", Some("2026-12-04 16:30")),
        ("I'll update you next Monday morning", THU, Some("2026-11-30 10:00")),
        ("I'll update you on Monday by 3pm", THU, Some("2026-11-30 15:00")),
        ("I'll update you by 3pm on Monday", THU, Some("2026-11-30 15:00")),
        // Explicit dates.
        ("You'll hear from us by Friday 27 November at 10:00", THU, Some("2026-11-27 10:00")),
        ("Next update: 27 November 2026 at 10:00", THU, Some("2026-11-27 10:00")),
        ("We'll update you on 3 December", THU, Some("2026-12-03 16:30")),
        ("We'll update you on the 3rd of December at 9am", THU, Some("2026-12-03 09:00")),
        ("We'll update you on December 3rd, 2026", THU, Some("2026-12-03 16:30")),
        ("We'll update you on 2027-01-04 at 11:00", THU, Some("2027-01-04 11:00")),
        ("We'll update you on 2 January", "2026-12-30 10:00", Some("2027-01-02 16:30")),
        ("We'll update you by Fri 27 Nov. at 10:00", THU, Some("2026-11-27 10:00")),
        ("Next update by today at 11:00 GMT", THU, Some("2026-11-26 11:00")),
        ("Next update by tomorrow (Friday 27 November) at 10:00 GMT", THU, Some("2026-11-27 10:00")),
        ("Next update: by Friday 27 November 2026 at 10:00 GMT.", THU, Some("2026-11-27 10:00")),
        ("Next update by tomorrow (Monday 30 November) at 10:00 GMT", "2026-11-29 12:00", Some("2026-11-30 10:00")),
        ("I will respond by the end of the week", THU, Some("2026-11-27 16:30")),
        ("I will respond by the end of the week", "2026-11-27 17:00", Some("2026-12-04 16:30")),
        ("I will respond by end of week", "2026-12-24 10:00", Some("2026-12-24 16:30")),
        ("I will respond by end of week", "2026-11-28 10:00", Some("2026-12-04 16:30")),
        ("We'll update you by Monday 30 November.", THU, Some("2026-11-30 16:30")),
        ("Next update by tomorrow (Friday 1 January) at 10:00 GMT", "2026-12-31 12:00", Some("2027-01-01 10:00")),
        // Other cue forms, and the time before the cue.
        ("By 3pm we will send you an update.", THU, Some("2026-11-26 15:00")),
        ("Tomorrow morning I'll update you.", THU, Some("2026-11-27 10:00")),
        ("You can expect an update by 2pm.", THU, Some("2026-11-26 14:00")),
        ("Expect to hear from us at 2pm.", THU, Some("2026-11-26 14:00")),
        ("You'll receive our next update at 2pm.", THU, Some("2026-11-26 14:00")),
        ("Our engineer will follow up at 2pm", THU, Some("2026-11-26 14:00")),
        ("Someone from the team will be in touch by 2pm", THU, Some("2026-11-26 14:00")),
        ("I'll let you know by 2pm", THU, Some("2026-11-26 14:00")),
        ("We will keep you posted, next update by 4pm", THU, Some("2026-11-26 16:00")),
        ("I'll update you when I know more, by 4pm at the latest.", THU, Some("2026-11-26 16:00")),
        ("We deployed at 14:30 and I'll update you at 16:00.", THU, Some("2026-11-26 16:00")),
        ("I'll update you by 3pm and again at 5pm.", THU, Some("2026-11-26 15:00")),
        ("I'll update you at 5pm. Next update by 3pm.", THU, Some("2026-11-26 17:00")),
        (
            "Hi Bob,\n\nWe restarted the workers at 09:40.\nI'll update you again\nwithin the hour.\n",
            THU,
            Some("2026-11-26 11:00"),
        ),
        ("We deployed at 14:30\nI'll update you soon", THU, None),
        ("we deployed at 14:30\nwill update you soon", THU, None),
        ("Next update:\n\nTomorrow we deploy at 10:00.", THU, None),
        (
            "Hi Bob, we restarted the workers this morning and the queue is draining,\nso I'll update you again within the hour with the numbers.",
            THU,
            Some("2026-11-26 11:00"),
        ),
        // DST: Saturday before the spring change; Monday 09:00 BST is 08:00 UTC.
        ("I'll update you by 9am tomorrow", "2026-03-28 12:00", Some("2026-03-30 09:00")),
        // Not promises.
        ("Thanks for the update from yesterday.", THU, None),
        ("We deployed at 14:30.", THU, None),
        ("See you at the meeting at 3pm.", THU, None),
        ("Thanks for the update", THU, None),
        ("update: the server restarted at 10:00", THU, None),
        ("Update: the server restarted at 10:00.", THU, None),
        ("We will update the server at 10:00.", THU, None),
        ("We will send the notes after the meeting at 3pm.", THU, None),
        ("I'll update you after 3pm.", THU, None),
        ("We'll discuss it on our call at 3pm.", THU, None),
        ("I'll update you once the deploy at 3pm is done.", THU, None),
        ("We deployed at 14:30 and I'll update you soon.", THU, None),
        ("You will send us the logs by 3pm.", THU, None),
        ("Could you send the logs by 3pm?", THU, None),
        ("Just to let you know, we deployed at 14:30.", THU, None),
        ("Good morning, I'll update you soon.", THU, None),
        ("I'll update you soon.", THU, None),
        ("I will update you every hour.", THU, None),
        ("We upgraded to v1.15.00 and I'll update you later.", THU, None),
        ("> Next update by 3pm", THU, None),
        ("Thanks.\n\n> Next update by 3pm\n> Bob", THU, None),
        (
            "Thanks, looking now.\n\nOn Thu, 26 Nov 2026 at 09:00, Ann <ann@jac.example> wrote:\nNext update by 3pm.\n",
            THU,
            None,
        ),
        ("Looking into it.\n-- \nAnn\nI'll update you at 14:30", THU, None),
        ("The follow-up meeting is at 3pm.", THU, None),
    ];

    #[test]
    fn reading_table() {
        let mut failures = Vec::new();
        for (text, sent, want) in ROWS {
            let got = find(text, sent).map(|p| p.at);
            let want = want.map(local);
            if got != want {
                failures.push(format!(
                    "{text:?} sent {sent}: got {:?}, want {:?}",
                    got.map(|t| t.with_timezone(&chrono_tz::Europe::London).to_string()),
                    want.map(|t| t.with_timezone(&chrono_tz::Europe::London).to_string()),
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} rows failed:\n{}",
            failures.len(),
            ROWS.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn dst_promise_is_eight_utc() {
        let p = find("I'll update you by 9am tomorrow", "2026-03-28 12:00").unwrap();
        assert_eq!(p.at, utc("2026-03-30T08:00:00Z"));
        let winter = find("I'll update you by 9am tomorrow", "2026-03-27 12:00").unwrap();
        assert_eq!(winter.at, utc("2026-03-30T08:00:00Z"));
        let before = find("I'll update you by 9am tomorrow", "2026-03-26 12:00").unwrap();
        assert_eq!(before.at, utc("2026-03-27T09:00:00Z"));
    }

    #[test]
    fn phrase_is_the_matched_words() {
        let p = |t: &str| find(t, THU).unwrap().phrase;
        assert_eq!(p("Hello. Next update by 3pm. Thanks"), "Next update by 3pm");
        assert_eq!(
            p("OK, I'll update you at 14:30!"),
            "I'll update you at 14:30"
        );
        assert_eq!(
            p("We will get back to you tomorrow."),
            "We will get back to you tomorrow"
        );
        assert_eq!(
            p("Next update: by today at 11:00 GMT."),
            "Next update: by today at 11:00 GMT"
        );
        assert_eq!(
            p("By 3pm we will send you an update."),
            "By 3pm we will send"
        );
        assert_eq!(
            p("We'll update you by Monday 30 November."),
            "We'll update you by Monday 30 November"
        );
        assert_eq!(
            p("We'll update you by Mon 30 Nov. at 10:00, promise."),
            "We'll update you by Mon 30 Nov. at 10:00"
        );
        let long = p("We will send you a full written summary of what we found in the logs of the payment service tonight and tomorrow by 3pm");
        assert!(long.chars().count() <= PHRASE_MAX, "{long}");
        assert!(long.starts_with("We will send … "), "{long}");
        assert!(long.ends_with("by 3pm"), "{long}");
    }

    #[test]
    fn first_in_reading_order_not_earliest() {
        let p = find(
            "I'll update you tomorrow. If that slips, next update by 3pm today.",
            THU,
        )
        .unwrap();
        assert_eq!(p.at, local("2026-11-27 16:30"));
    }

    #[test]
    fn onit_acknowledgment_states_its_next_update() {
        let cal = cal();
        let pm = EmailAddress::parse("pm@jac.example").unwrap();
        let now = local("2026-11-26 09:12");
        let cases = [
            (local("2026-11-26 11:00"), "today at 11:00 GMT"),
            (
                local("2026-11-27 10:00"),
                "tomorrow (Friday 27 November) at 10:00 GMT",
            ),
            (
                local("2026-11-30 16:30"),
                "Monday 30 November 2026 at 16:30 GMT",
            ),
            (
                local("2026-12-04 10:00"),
                "Friday 4 December 2026 at 10:00 GMT",
            ),
        ];
        for (next_update, words) in cases {
            for priority in [Priority::Urgent, Priority::High, Priority::Medium] {
                let body = ack_body(
                    &cal,
                    &AckText {
                        ticket: "JAC-7",
                        client_name: Some("Bob"),
                        original_subject: "Checkout down since 9am, \"next update by 3pm\"?",
                        priority,
                        next_update,
                        pm: &pm,
                        team_name: "The JAC support team",
                        now,
                    },
                );
                assert!(body.contains(words), "{body}");
                let p = find_promise(&body, now, &cal, &PromiseReading::default())
                    .unwrap_or_else(|| panic!("no promise in {body}"));
                assert_eq!(p.at, next_update, "{priority:?}: {body}");
                assert_eq!(p.phrase, format!("Next update: by {words}"));
            }
        }
    }

    #[test]
    fn ack_in_summer_says_bst() {
        let cal = cal();
        let pm = EmailAddress::parse("pm@jac.example").unwrap();
        let now = local("2026-06-11 16:50");
        let next_update = local("2026-06-12 10:00");
        let body = ack_body(
            &cal,
            &AckText {
                ticket: "JAC-8",
                client_name: None,
                original_subject: "Slow",
                priority: Priority::High,
                next_update,
                pm: &pm,
                team_name: "JAC",
                now,
            },
        );
        assert!(body.contains("at 10:00 BST"), "{body}");
        let p = find_promise(&body, now, &cal, &PromiseReading::default()).unwrap();
        assert_eq!(p.at, next_update);
    }

    #[test]
    fn reading_settings_apply() {
        let r = PromiseReading {
            eod: hm(17, 0),
            lunchtime: hm(12, 30),
            morning: hm(9, 30),
        };
        let f = |t: &str| find_promise(t, local(THU), &cal(), &r).unwrap().at;
        assert_eq!(f("Next update by EOD"), local("2026-11-26 17:00"));
        assert_eq!(f("Next update by Monday"), local("2026-11-30 17:00"));
        assert_eq!(f("Next update by lunchtime"), local("2026-11-26 12:30"));
        assert_eq!(f("Next update tomorrow morning"), local("2026-11-27 09:30"));
    }

    #[test]
    fn every_cue_pattern_compiles() {
        assert_eq!(CUE_RES.len(), CUES.len());
        for (_, re) in CUE_RES.iter() {
            assert_ne!(re.as_str(), NEVER);
        }
        for p in PATTERNS.iter() {
            assert_ne!(p.re.as_str(), NEVER);
        }
    }
}
