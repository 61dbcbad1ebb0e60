//! When the Maildir source records its pass (`imap_folders.last_sync_at`, the
//! heartbeat `/readyz` and the stall alert read).
//!
//! It recorded every pass: an idle daemon wrote its database at every poll
//! (every 2 s by default), each write a WAL commit that also reset every
//! reader connection's page cache, and the record after a pass that stored a
//! client's mail took the writer just as the sender, woken by that mail's
//! commit, wanted it to claim the acknowledgment. A good pass is now recorded
//! when the last record is half a readiness window old, so `/readyz` never
//! sees a working source as stale (a pass runs at least every poll, so the
//! record is at most half a window and one poll old, and the window is three
//! polls and 10 s). A failure is always recorded, and so is the first good
//! pass after one, which clears it: the record of a state change is never
//! delayed.

use chrono::{DateTime, Duration, Utc};

/// Whether each pass's outcome must be written, given what was written before.
#[derive(Debug, Clone)]
pub struct PassRecord {
    every: Duration,
    last_good: Option<DateTime<Utc>>,
    failing: bool,
}

impl PassRecord {
    /// Good passes recorded at most once per `every` (half the readiness window).
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last_good: None,
            failing: false,
        }
    }

    /// Whether a pass that ended at `now`, good or not, is to be recorded.
    pub fn due(&self, good: bool, now: DateTime<Utc>) -> bool {
        !good
            || self.failing
            || self
                .last_good
                .is_none_or(|last| now - last >= self.every || now < last)
    }

    /// The pass's record was written.
    pub fn written(&mut self, good: bool, now: DateTime<Utc>) {
        self.failing = !good;
        if good {
            self.last_good = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn good_passes_are_written_once_per_interval() {
        let mut r = PassRecord::new(Duration::seconds(8));
        assert!(r.due(true, at(0)), "the first pass");
        r.written(true, at(0));
        for s in [2, 4, 6] {
            assert!(!r.due(true, at(s)), "pass at {s} s");
        }
        assert!(r.due(true, at(8)));
        r.written(true, at(8));
        assert!(!r.due(true, at(10)));
    }

    #[test]
    fn a_failure_and_the_recovery_after_it_are_written_at_once() {
        let mut r = PassRecord::new(Duration::seconds(8));
        r.written(true, at(0));
        assert!(r.due(false, at(2)), "the failure");
        r.written(false, at(2));
        assert!(r.due(false, at(3)), "each failure");
        r.written(false, at(3));
        assert!(r.due(true, at(4)), "the recovery clears the error");
        r.written(true, at(4));
        assert!(!r.due(true, at(6)));
    }

    #[test]
    fn an_unwritten_record_is_tried_again_and_a_clock_set_back_writes() {
        let mut r = PassRecord::new(Duration::seconds(8));
        // The write failed: nothing marked written, so the next pass writes.
        assert!(r.due(true, at(0)));
        assert!(r.due(true, at(2)));
        r.written(true, at(2));
        assert!(r.due(true, at(-60)), "the clock went back");
    }

    #[test]
    fn within_the_readiness_window_for_every_poll_interval() {
        // The Maildir's window is three polls and 10 s (health::ready_window);
        // recorded every half window, a pass a poll apart, the record is never
        // older than the window when /readyz reads it.
        for poll in [1i64, 2, 30, 300] {
            let window = Duration::seconds(3 * poll + 10);
            let mut r = PassRecord::new(window / 2);
            let mut written = at(0);
            r.written(true, written);
            for k in 1..200 {
                let now = at(k * poll);
                assert!(now - written <= window, "poll {poll}: stale at {k}");
                if r.due(true, now) {
                    r.written(true, now);
                    written = now;
                }
            }
        }
    }
}
