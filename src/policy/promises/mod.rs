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

use chrono::{DateTime, NaiveTime, Utc};

use super::calendar::BusinessCalendar;
use super::history::Promise;
use super::quoting::own_text;

mod sentences;
mod times;
mod words;

pub use sentences::mask_quotations;
use sentences::*;
use times::*;
use words::*;

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
                        too_large: None,
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
                too_large: None,
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
