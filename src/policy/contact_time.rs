//! POLICY Standard 5: the time a message counts at. Its `Date:` header, unless
//! that is implausible against the time the message reached the mailbox.

use chrono::{DateTime, Duration, Utc};

/// The effective time of a message: `date` when it lies within
/// [`arrival - past`, `arrival + future`], else `arrival`.
///
/// A client's clock that runs fast must not let a late acknowledgment look
/// early, and a message held in a queue for days must not count at its write time.
pub fn effective_time(
    date: Option<DateTime<Utc>>,
    arrival: DateTime<Utc>,
    past: Duration,
    future: Duration,
) -> DateTime<Utc> {
    match date {
        Some(d) if d >= arrival - past && d <= arrival + future => d,
        _ => arrival,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn window_is_24h_back_5min_forward() {
        let arrival = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let (p, f) = (Duration::hours(24), Duration::minutes(5));
        let t = |h: i64, m: i64| arrival + Duration::hours(h) + Duration::minutes(m);
        assert_eq!(effective_time(Some(t(-2, 0)), arrival, p, f), t(-2, 0));
        assert_eq!(effective_time(Some(t(-24, 0)), arrival, p, f), t(-24, 0));
        assert_eq!(effective_time(Some(t(-24, -1)), arrival, p, f), arrival);
        assert_eq!(effective_time(Some(t(0, 5)), arrival, p, f), t(0, 5));
        assert_eq!(effective_time(Some(t(0, 6)), arrival, p, f), arrival);
        assert_eq!(effective_time(None, arrival, p, f), arrival);
    }
}
