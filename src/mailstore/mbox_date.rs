//! The date on an mbox `From ` separator line (asctime, with or without a
//! zone), parsed by hand: it is the arrival evidence of an archived message.

use chrono::{DateTime, NaiveDate, Utc};

/// The time is UTC unless a numeric offset is present; zone names are ignored.
pub(super) fn parse_separator_date(rest: &[u8]) -> Option<DateTime<Utc>> {
    let text = String::from_utf8_lossy(rest);
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    for i in 0..tokens.len() {
        let word = tokens[i];
        if !is_weekday(word.trim_end_matches(',')) {
            continue;
        }
        if let Some(dt) = parse_asctime(&tokens[i..]) {
            return Some(dt);
        }
        // Some tools write an RFC 2822 date on the separator line.
        if word.ends_with(',') {
            if let Ok(dt) = DateTime::parse_from_rfc2822(&tokens[i..].join(" ")) {
                return Some(dt.with_timezone(&Utc));
            }
        }
    }
    None
}

pub(super) fn is_weekday(s: &str) -> bool {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .any(|d| s.eq_ignore_ascii_case(d))
}

pub(super) fn month_number(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| s.eq_ignore_ascii_case(m))
        .map(|i| i as u32 + 1)
}

/// `Www Mmm dd hh:mm[:ss]` followed by a year and optional zone(s) in either
/// order, optionally ending with UUCP's `remote from host`.
pub(super) fn parse_asctime(t: &[&str]) -> Option<DateTime<Utc>> {
    if t.len() < 5 || !is_weekday(t[0]) {
        return None;
    }
    let month = month_number(t[1])?;
    if t[2].is_empty() || t[2].len() > 2 || !t[2].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u32 = t[2].parse().ok()?;
    let (h, m, s) = parse_clock(t[3])?;

    let mut year: Option<i32> = None;
    let mut offset_secs: Option<i64> = None;
    let mut zone_name = false;
    for &tok in &t[4..] {
        if tok.eq_ignore_ascii_case("remote") {
            break;
        }
        if tok.bytes().all(|b| b.is_ascii_digit()) && (tok.len() == 4 || tok.len() == 2) {
            if year.is_some() {
                return None;
            }
            let y: i32 = tok.parse().ok()?;
            // Two-digit years are rare; pivot them the way RFC 5322 does.
            year = Some(match tok.len() {
                2 if y < 50 => 2000 + y,
                2 => 1900 + y,
                _ => y,
            });
        } else if let Some(off) = parse_offset(tok) {
            if offset_secs.is_some() {
                return None;
            }
            offset_secs = Some(off);
        } else if (1..=5).contains(&tok.len())
            && tok.bytes().all(|b| b.is_ascii_uppercase())
            && !zone_name
        {
            // A zone name such as EST or CEST: without a table of their
            // offsets the time stays UTC, as documented.
            zone_name = true;
        } else {
            // Prose, not a separator date.
            return None;
        }
    }
    let naive = NaiveDate::from_ymd_opt(year?, month, day)?.and_hms_opt(h, m, s)?;
    let utc = naive - chrono::Duration::seconds(offset_secs.unwrap_or(0));
    Some(DateTime::from_naive_utc_and_offset(utc, Utc))
}

pub(super) fn parse_clock(s: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let num = |p: &str| -> Option<u32> {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let h = num(parts[0])?;
    let m = num(parts[1])?;
    // A leap second (60) is clamped rather than rejected.
    let s = if parts.len() == 3 {
        num(parts[2])?.min(59)
    } else {
        0
    };
    Some((h, m, s))
}

/// `+hhmm` / `-hhmm` as seconds east of UTC.
pub(super) fn parse_offset(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let hh: i64 = s[1..3].parse().ok()?;
    let mm: i64 = s[3..5].parse().ok()?;
    if hh > 23 || mm > 59 {
        return None;
    }
    let secs = hh * 3600 + mm * 60;
    Some(if b[0] == b'-' { -secs } else { secs })
}
