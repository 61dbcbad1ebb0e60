//! The time an archived message counts at (`onit import`). POLICY's window
//! ([`super::contact_time::effective_time`]: the Date header within 24 hours
//! before arrival) is for live mail, where the arrival time is the moment the
//! mailbox got it. An archive's files are written when it was exported, so a
//! 24-hour window would date last month's mail to the day of the export.
//!
//! Reading taken: the Date header is believed unless it is absent, unparsable or
//! after the arrival evidence (by more than the `future` tolerance POLICY allows
//! for a fast clock): a message cannot be written after it arrived. The arrival
//! evidence, best first: the mbox `From ` line, the topmost `Received:` header
//! (added by the server that delivered it), the file's modification time.

use chrono::{DateTime, Duration, Utc};

/// What a container and the message itself say about when it arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArrivalEvidence {
    /// The mbox `From ` separator's date.
    pub separator: Option<DateTime<Utc>>,
    /// The date of the topmost `Received:` header.
    pub received: Option<DateTime<Utc>>,
    /// The file's modification time (often the day of export).
    pub file_time: Option<DateTime<Utc>>,
}

impl ArrivalEvidence {
    /// The best arrival evidence there is, if any.
    pub fn best(&self) -> Option<DateTime<Utc>> {
        self.separator.or(self.received).or(self.file_time)
    }
}

/// The time an archived message counts at: `date` unless it is absent or later
/// than `arrival + future`; then `arrival`.
pub fn archive_time(
    date: Option<DateTime<Utc>>,
    arrival: DateTime<Utc>,
    future: Duration,
) -> DateTime<Utc> {
    match date {
        Some(d) if d <= arrival + future => d,
        _ => arrival,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, d, h, 0, 0).unwrap()
    }

    #[test]
    fn an_old_date_is_believed_and_a_date_after_arrival_is_not() {
        let five = Duration::minutes(5);
        // Written a month before the export: believed, whatever its age.
        assert_eq!(archive_time(Some(t(1, 9)), t(30, 12), five), t(1, 9));
        // Within the tolerance for a fast clock: believed.
        let fast = t(30, 12) + Duration::minutes(4);
        assert_eq!(archive_time(Some(fast), t(30, 12), five), fast);
        // After the message arrived: the arrival counts.
        assert_eq!(archive_time(Some(t(30, 13)), t(30, 12), five), t(30, 12));
        assert_eq!(archive_time(None, t(30, 12), five), t(30, 12));
    }

    #[test]
    fn received_is_better_evidence_than_the_file_time() {
        let e = ArrivalEvidence {
            separator: None,
            received: Some(t(2, 9)),
            file_time: Some(t(30, 12)),
        };
        assert_eq!(e.best(), Some(t(2, 9)));
        let mbox = ArrivalEvidence {
            separator: Some(t(2, 8)),
            ..e
        };
        assert_eq!(mbox.best(), Some(t(2, 8)));
        assert_eq!(ArrivalEvidence::default().best(), None);
    }
}
