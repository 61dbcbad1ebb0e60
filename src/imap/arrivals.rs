//! Mail that arrives while onit is busy with a folder. A server reports new
//! mail by an untagged EXISTS (RFC 3501 7.3.1) at the end of whatever command
//! is running then: during a sync that is a FETCH or STORE, not IDLE. Such an
//! EXISTS is reported once; a server does not repeat it when IDLE starts
//! (Cyrus and Dovecot do not). So a sync must notice it and go round again,
//! or the message waits for the next mail or the next IDLE renewal (up to 29
//! minutes) to be fetched.

use async_imap::types::UnsolicitedResponse;

use super::connect::ImapSession;

/// How many unsolicited responses async-imap keeps for the caller: its queue is
/// `bounded(100)` and what comes when it is full is dropped unseen.
const QUEUE_CAPACITY: usize = 100;

/// The selected folder's message count as the server last reported it, and
/// whether it grew since SELECT: an EXISTS above the count is new mail; an
/// EXPUNGE lowers it (so mail that arrives after `imap.after = "move"` moved
/// some away is still seen as growth); RECENT and the rest say nothing new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrivals {
    count: u32,
    grew: bool,
}

impl Arrivals {
    /// From the count that SELECT reported.
    pub fn new(selected: u32) -> Self {
        Self {
            count: selected,
            grew: false,
        }
    }

    /// Takes one unsolicited response into account.
    pub fn note(&mut self, r: &UnsolicitedResponse) {
        match r {
            UnsolicitedResponse::Exists(n) => {
                if *n > self.count {
                    self.grew = true;
                }
                self.count = *n;
            }
            UnsolicitedResponse::Expunge(_) => self.count = self.count.saturating_sub(1),
            _ => {}
        }
    }

    /// Reads everything the server said unasked since the last call. Call it
    /// after each command, so the queue never fills; a full queue may have lost
    /// an EXISTS, and counts as growth.
    pub fn absorb(&mut self, session: &mut ImapSession) {
        let queue = &session.unsolicited_responses;
        self.take(std::iter::from_fn(|| queue.try_recv().ok()));
    }

    /// What one read of the queue held, in order.
    fn take(&mut self, queued: impl Iterator<Item = UnsolicitedResponse>) {
        let mut n = 0;
        for r in queued {
            self.note(&r);
            n += 1;
        }
        if n >= QUEUE_CAPACITY {
            self.grew = true;
        }
    }

    /// Whether mail may have arrived since SELECT: the folder must be synced again.
    pub fn grew(&self) -> bool {
        self.grew
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UnsolicitedResponse::{Exists, Expunge, Recent};

    fn after(selected: u32, responses: &[UnsolicitedResponse]) -> bool {
        let mut a = Arrivals::new(selected);
        for r in responses {
            a.note(r);
        }
        a.grew()
    }

    #[test]
    fn an_exists_above_the_selected_count_is_new_mail() {
        assert!(after(40, &[Exists(41)]));
        assert!(!after(40, &[]));
    }

    #[test]
    fn a_repeated_count_or_recent_alone_is_not() {
        assert!(!after(40, &[Exists(40), Recent(3), Exists(40)]));
    }

    #[test]
    fn expunges_lower_the_count_so_a_later_arrival_still_shows() {
        // `imap.after = "move"` moved three away (three EXPUNGEs), then one arrived: 38.
        assert!(after(40, &[Expunge(1), Expunge(1), Expunge(1), Exists(38)]));
        // Only the moves: nothing new.
        assert!(!after(40, &[Expunge(1), Expunge(1)]));
    }

    #[test]
    fn a_full_queue_counts_as_growth() {
        // `imap.after = "move"` over a large batch: a hundred EXPUNGEs, and an
        // EXISTS after them that async-imap dropped.
        let mut a = Arrivals::new(500);
        a.take((0..QUEUE_CAPACITY).map(|_| Expunge(1)));
        assert!(a.grew());
        let mut a = Arrivals::new(500);
        a.take((0..QUEUE_CAPACITY - 1).map(|_| Expunge(1)));
        assert!(!a.grew());
    }

    #[test]
    fn growth_once_seen_stays_seen() {
        assert!(after(40, &[Exists(41), Expunge(1), Exists(40)]));
    }
}
