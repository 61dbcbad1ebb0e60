//! Time as the code under a caller sees it. Code that tests drive with their own
//! times never reads the wall clock: the caller passes `now` in. Where an
//! operation takes real time (an SMTP exchange) and must stamp what happened
//! after it, it advances the caller's `now` by the monotonic time elapsed since,
//! so a test's fixed 2026-11-26 stays 2026-11-26 plus a few milliseconds, and in
//! the daemon, where `now` is the wall clock at the start of a pass, it is the
//! wall clock at that moment.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// A clock that starts at a given instant and runs with monotonic time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: DateTime<Utc>,
    started: Instant,
}

impl Clock {
    /// A clock that reads `start` now and advances with real (monotonic) time.
    pub fn starting_at(start: DateTime<Utc>) -> Clock {
        Clock {
            start,
            started: Instant::now(),
        }
    }

    /// The instant the clock was started at.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// `start` plus the monotonic time elapsed since the clock was made; never
    /// before `start`, whatever the wall clock does meanwhile.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Duration::from_std(self.started.elapsed()).unwrap_or(Duration::zero());
        self.start + elapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_clock_started_in_the_past_stays_there() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        let c = Clock::starting_at(t0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = c.now();
        assert!(now >= t0 + Duration::milliseconds(20), "{now}");
        assert!(now < t0 + Duration::seconds(60), "{now}");
        assert_eq!(c.start(), t0);
    }
}
