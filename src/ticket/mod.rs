//! The ticket: its typed state (status, priority, severity), and the only code
//! that changes it ([`lifecycle`]) or sends our mail about it ([`our_mail`]).
//!
//! Ingest classifies and threads, then hands the ticket work to `lifecycle`;
//! commands (from mail and from the CLI alike) are parsed in `commands` and
//! applied through `lifecycle`; acknowledgments, reports, notices, reminders
//! and digests produce texts and queue them through `our_mail`.

mod kinds;
pub mod lifecycle;
pub mod our_mail;
mod severity;

pub use crate::policy::history::Status;
pub use crate::policy::priority::Priority;
pub use kinds::{EventKind, OutboxKind};
pub use severity::Severity;

/// The PM of `t`, or the default PM when the stored one is unusable.
pub fn pm_of(
    rt: &crate::config::Runtime,
    t: &crate::store::TicketRow,
) -> crate::address::EmailAddress {
    crate::address::EmailAddress::parse(&t.pm).unwrap_or_else(|_| rt.team.default_pm.clone())
}

/// Live mail (acknowledge new tickets, reply to commands) or an archive
/// (history: never send anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Import,
    /// `onit import`: history like `Import`, and the Date header is believed back to any
    /// age (crate::policy::archive_time); the arrival is the best evidence the archive has.
    Archive,
}

/// Serialises a state enum as its stored name (`"open"`, `"urgent"`), as the
/// JSON of `onit tickets --json` and the digest templates have always read it.
macro_rules! serialize_as_name {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_name!(Status, Severity, EventKind, OutboxKind);
