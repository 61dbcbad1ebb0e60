//! The words a promise is read by: cues that talk about the next contact,
//! cadence words, event nouns, and the regular-expression pieces of times.

/// The longest [`Promise::phrase`], in characters.
pub(super) const PHRASE_MAX: usize = 80;

/// How a cue affects the reading of its sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CueKind {
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
pub(super) const CONTACT_VERBS: &str = r"update\s+(?:you|u|this\s+(?:thread|ticket|email)|the\s+(?:thread|ticket))|report\s+back|follow\s+up|(?:be|get)\s+in\s+touch|(?:get|come)\s+back|send|let\s+you\s+know|revert|write|e-?mail|reply|respond|confirm|share|provide|touch\s+base|check\s+in|circle\s+back|keep\s+you|contact\s+you|notify\s+you|inform\s+you|advise|give\s+you|have\s+(?:an?\s+|another\s+|more\s+|further\s+|some\s+)?(?:update|news)";

/// The cues, case-insensitive, with an example each. A `'` in a pattern also
/// matches the typographic apostrophes ’ and ‘.
///
/// "update" alone is not a cue ("Thanks for the update", "update: the server
/// restarted at 10:00"), nor is "update" as a future verb on its own ("we
/// will update the server at 10:00"): only updating *you* (or this ticket)
/// is.
pub(super) const CUES: &[(CueKind, &str, &str)] = &[
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
pub(super) const RECURRENCE: &str =
    r"\b(?:every|each|hourly|daily|regularly|periodically|at\s+least\s+once|throughout)\b";

/// Subjects of a future verb that do not make it our promise.
pub(super) const OTHER_SUBJECTS: &[&str] = &["you", "u", "they", "he", "she"];

/// Nouns that own a time given right after them ("the meeting at 3pm",
/// "our call on Monday"): such a time is when that event happens, not when
/// the next update comes.
pub(super) const EVENT_NOUNS: &[&str] = &[
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
pub(super) const EVENT_LINKS: &[&str] = &[
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
pub(super) const NOT_A_DEADLINE: &[&str] = &[
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
pub(super) const DEADLINE: &[&str] = &["by", "before", "latest", "than", "within"];

/// Abbreviations whose full stop does not end a sentence.
pub(super) const ABBREVIATIONS: &[&str] = &[
    "a.m", "p.m", "e.g", "i.e", "approx", "vs", "ca", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec",
];

pub(super) const WEEKDAY: &str = "monday|tuesday|wednesday|thursday|friday|saturday|sunday";
/// Month names; an abbreviation may carry its full stop ("27 Nov. at 10:00").
pub(super) const MONTH: &str = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)\b|(?:jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?";
pub(super) const AMPM: &str = r"(am|pm|a\.m\.?|p\.m\.?)";
pub(super) const ZONE: &str = r"(?:\s*\(?(?:(?:gmt|utc|bst|cet|cest|eet|eest|wet|west|ist|est|edt|cst|cdt|mst|mdt|pst|pdt)\b|[+-]\d{2}(?::?\d{2})?)\)?|\s+(?:uk|london|local)\s+time\b)?";
pub(super) const HOUR_WORD: &str = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve";
pub(super) const NUM: &str = r"\d{1,3}(?:\.\d+)?|a\s+couple\s+of|a\s+couple|couple\s+of|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty[\s-]five|forty|fifty|sixty|ninety";
pub(super) const UNIT: &str = r"(hours?|hrs?|h|minutes?|mins?)";
