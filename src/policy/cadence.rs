//! POLICY Standards 5 and 6: when the next contact on an open ticket is due,
//! and which rule sets that time. The acknowledgment states this time, so it
//! becomes the ticket's first promise.

use chrono::{DateTime, Duration, NaiveTime, Utc};

use super::calendar::BusinessCalendar;
use super::priority::Priority;

/// A checkpoint window of the `high-checkpoints` rule, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub name: &'static str,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// The name of the `i`-th `high-checkpoints` window, for reports.
pub fn window_name(i: usize) -> &'static str {
    [
        "morning",
        "lunchtime",
        "end of day",
        "fourth window",
        "fifth window",
    ]
    .get(i)
    .copied()
    .unwrap_or("checkpoint")
}

/// Cadence settings (POLICY defaults in [`CadencePolicy::default`]).
#[derive(Debug, Clone)]
pub struct CadencePolicy {
    pub urgent_interval: Duration,
    pub urgent_around_the_clock: bool,
    pub eod_time: NaiveTime,
    pub high_windows: Vec<Window>,
}

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl Default for CadencePolicy {
    fn default() -> Self {
        CadencePolicy {
            urgent_interval: Duration::hours(1),
            urgent_around_the_clock: false,
            eod_time: t(16, 30),
            high_windows: vec![
                Window {
                    name: "morning",
                    start: t(9, 0),
                    end: t(10, 0),
                },
                Window {
                    name: "lunchtime",
                    start: t(12, 0),
                    end: t(13, 30),
                },
                Window {
                    name: "end of day",
                    start: t(15, 0),
                    end: t(16, 30),
                },
            ],
        }
    }
}

/// When the next contact is due and the rule id that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub at: DateTime<Utc>,
    pub rule: &'static str,
}

/// The next `eod-update` deadline after a contact at `last`: a contact on a
/// business day before the EOD time satisfies that day, so the next deadline is
/// the next business day's; a contact after it, or on a closed day, leaves the
/// next business day's deadline (the missed one is reported by the rule, not here).
pub fn next_eod(cal: &BusinessCalendar, eod: NaiveTime, last: DateTime<Utc>) -> DateTime<Utc> {
    let day = cal.local_date(last);
    let next = if cal.is_business_day(day) {
        cal.next_business_day(day)
    } else {
        cal.business_day_on_or_after(day)
    };
    cal.at_local(next, eod)
}

/// The end of the first `high-checkpoints` window that has no contact yet:
/// windows that began before the ticket opened do not count, and the contact at
/// `last` satisfies the window it falls in.
pub fn next_high_checkpoint(
    cal: &BusinessCalendar,
    windows: &[Window],
    opened: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if windows.is_empty() {
        return None;
    }
    let mut day = cal.business_day_on_or_after(cal.local_date(last.max(opened)));
    for _ in 0..400 {
        for w in windows {
            let start = cal.at_local(day, w.start);
            let end = cal.at_local(day, w.end);
            if start < opened {
                continue;
            }
            if last >= start && last < end {
                continue; // satisfied by this contact
            }
            if end > last {
                return Some(end);
            }
        }
        day = cal.next_business_day(day);
    }
    None
}

/// When the next contact is due on an open ticket whose last contact was at `last`.
pub fn next_due(
    cal: &BusinessCalendar,
    policy: &CadencePolicy,
    priority: Priority,
    opened: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Due {
    let eod = Due {
        at: next_eod(cal, policy.eod_time, last),
        rule: "eod-update",
    };
    let specific = match priority {
        Priority::Urgent => {
            let at = if policy.urgent_around_the_clock {
                last + policy.urgent_interval
            } else {
                cal.add_business(last, policy.urgent_interval)
            };
            Some(Due {
                at,
                rule: "urgent-hourly",
            })
        }
        Priority::High => {
            next_high_checkpoint(cal, &policy.high_windows, opened, last).map(|at| Due {
                at,
                rule: "high-checkpoints",
            })
        }
        Priority::Medium => None,
    };
    match specific {
        Some(s) if s.at <= eod.at => s,
        _ => eod,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Weekday};
    use chrono_tz::Europe::London;

    fn cal() -> BusinessCalendar {
        BusinessCalendar::new(
            London,
            &[
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            t(9, 0),
            t(17, 0),
            [NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        )
        .unwrap()
    }

    fn lon(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        London
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn medium_is_next_business_day_eod_after_a_contact_today() {
        let c = cal();
        let p = CadencePolicy::default();
        // Thursday 26 Nov 2026 10:00: today's EOD is satisfied by this contact.
        let due = next_due(
            &c,
            &p,
            Priority::Medium,
            lon(2026, 11, 26, 10, 0),
            lon(2026, 11, 26, 10, 0),
        );
        assert_eq!(
            due,
            Due {
                at: lon(2026, 11, 27, 16, 30),
                rule: "eod-update"
            }
        );
        // Friday after 16:30: Monday.
        let due = next_due(
            &c,
            &p,
            Priority::Medium,
            lon(2026, 11, 27, 17, 0),
            lon(2026, 11, 27, 17, 0),
        );
        assert_eq!(due.at, lon(2026, 11, 30, 16, 30));
        // Saturday: Monday.
        let due = next_due(
            &c,
            &p,
            Priority::Medium,
            lon(2026, 11, 28, 11, 0),
            lon(2026, 11, 28, 11, 0),
        );
        assert_eq!(due.at, lon(2026, 11, 30, 16, 30));
    }

    #[test]
    fn urgent_is_one_business_hour() {
        let c = cal();
        let p = CadencePolicy::default();
        let due = next_due(
            &c,
            &p,
            Priority::Urgent,
            lon(2026, 11, 26, 10, 0),
            lon(2026, 11, 26, 10, 0),
        );
        assert_eq!(
            due,
            Due {
                at: lon(2026, 11, 26, 11, 0),
                rule: "urgent-hourly"
            }
        );
        let due = next_due(
            &c,
            &p,
            Priority::Urgent,
            lon(2026, 11, 27, 16, 30),
            lon(2026, 11, 27, 16, 30),
        );
        assert_eq!(due.at, lon(2026, 11, 30, 9, 30));
        let mut around = p.clone();
        around.urgent_around_the_clock = true;
        let due = next_due(
            &c,
            &around,
            Priority::Urgent,
            lon(2026, 11, 28, 3, 0),
            lon(2026, 11, 28, 3, 0),
        );
        assert_eq!(due.at, lon(2026, 11, 28, 4, 0));
    }

    #[test]
    fn high_uses_the_next_window_that_began_after_opening() {
        let c = cal();
        let p = CadencePolicy::default();
        // Opened 10:30: morning window already began; lunchtime is next, due 13:30.
        let due = next_due(
            &c,
            &p,
            Priority::High,
            lon(2026, 11, 26, 10, 30),
            lon(2026, 11, 26, 10, 30),
        );
        assert_eq!(
            due,
            Due {
                at: lon(2026, 11, 26, 13, 30),
                rule: "high-checkpoints"
            }
        );
        // A contact inside the lunchtime window satisfies it: end of day is next.
        let due = next_due(
            &c,
            &p,
            Priority::High,
            lon(2026, 11, 26, 10, 30),
            lon(2026, 11, 26, 12, 15),
        );
        assert_eq!(due.at, lon(2026, 11, 26, 16, 30));
        // Opened at 16:45 on Thursday: Friday morning.
        let due = next_due(
            &c,
            &p,
            Priority::High,
            lon(2026, 11, 26, 16, 45),
            lon(2026, 11, 26, 16, 45),
        );
        assert_eq!(due.at, lon(2026, 11, 27, 10, 0));
        // Christmas Eve evening: the 25th is a holiday, then the weekend.
        let due = next_due(
            &c,
            &p,
            Priority::High,
            lon(2026, 12, 24, 18, 0),
            lon(2026, 12, 24, 18, 0),
        );
        assert_eq!(due.at, lon(2026, 12, 28, 10, 0));
    }
}
