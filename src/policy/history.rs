//! What the rules read: one ticket's history as plain data, loaded by the
//! caller (the store, a test, a benchmark). Facts that need parsing (the
//! promise a message states, a dismissive phrase) are found once, when the
//! message is stored, and arrive here ready to use.

use chrono::{DateTime, Utc};

use super::priority::Priority;

/// Ticket status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Open,
    Resolved,
    Closed,
}

impl Status {
    /// Parses `open`, `resolved` or `closed`.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "open" => Some(Status::Open),
            "resolved" => Some(Status::Resolved),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of message to the client a contact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    /// The "on it" acknowledgment (ours, or one found in an archive).
    Acknowledgment,
    /// An engineer's (or PM's) update.
    Update,
    /// The closing incident report.
    Report,
}

/// A stated time for the next update, found in a contact's own text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    /// When the next update was promised for.
    pub at: DateTime<Utc>,
    /// The words that said so, for the report ("next update by 3pm").
    pub phrase: String,
}

/// One message to the client on the ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Its time (POLICY Standard 5: the Date header within the plausible window, else arrival;
    /// for our own acknowledgment, the time it was sent).
    pub at: DateTime<Utc>,
    pub message_id: String,
    pub kind: ContactKind,
    /// To and Cc, lower case.
    pub recipients: Vec<String>,
    /// The stated next update, if the text states one.
    pub promise: Option<Promise>,
    /// The first dismissive phrase found in the author's own text, if any.
    pub dismissive: Option<String>,
}

/// A change of status at a time (the ticket starts `Open` at `opened_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    pub status: Status,
}

/// One ticket, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketHistory {
    /// `JAC-7`: the name every violation carries.
    pub id: String,
    pub priority: Priority,
    /// When the client's first message counts as arrived (its effective time).
    pub opened_at: DateTime<Utc>,
    /// The ticket's PM (lower case).
    pub pm: String,
    /// Contacts in time order.
    pub contacts: Vec<Contact>,
    /// Status changes in time order (reopen, resolve, close).
    pub status_changes: Vec<StatusChange>,
}

impl TicketHistory {
    /// The status at instant `t` (open from `opened_at` until the first change).
    pub fn status_at(&self, t: DateTime<Utc>) -> Status {
        let mut s = Status::Open;
        for c in &self.status_changes {
            if c.at <= t {
                s = c.status;
            } else {
                break;
            }
        }
        s
    }

    /// The intervals `[from, to)` during which the ticket was open, up to `until`.
    pub fn open_intervals(&self, until: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        let mut start = Some(self.opened_at);
        for c in &self.status_changes {
            if c.at > until {
                break;
            }
            match (c.status, start) {
                (Status::Open, None) => start = Some(c.at),
                (Status::Resolved | Status::Closed, Some(s)) => {
                    if c.at > s {
                        out.push((s, c.at));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            if until > s {
                out.push((s, until));
            }
        }
        out
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// `JAC-3`.
    pub ticket: String,
    /// A POLICY rule id: `first-response`, `urgent-hourly`, `high-checkpoints`, `eod-update`,
    /// `pm-cc`, `next-update-stated`, `promise-kept`, `dismissive-language`.
    pub rule: &'static str,
    /// When it broke: the deadline that passed, or the offending message's time.
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    /// What happened, naming the ticket and the rule, never a person. Empty
    /// when the evaluation did not ask for it (`rules::Details`).
    pub detail: String,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
