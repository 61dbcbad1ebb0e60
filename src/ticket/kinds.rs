//! The kinds of what happens on a ticket (events) and of the mail we queue
//! (outbox rows), as types. They are stored as their names, the names every
//! earlier version wrote, so no data migration is needed; an unknown name in
//! the database is a decode error naming it.

use std::fmt;

use crate::store::ClosingField;

/// What a queued message of ours is (`outbox.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// The "on it" acknowledgment to a new ticket's client.
    Ack,
    /// The incident response report of a closed ticket.
    Report,
    /// A notice to the PM that our mail did not arrive.
    DeliveryNotice,
    /// A reply to a team member about commands not applied.
    CommandReply,
    /// A reminder to the team that an update is due.
    Reminder,
    /// The 16:00 list of open tickets with no contact today.
    OpenList,
    /// An alert about onit itself, to the operators.
    Alert,
    DailyDigest,
    WeeklyDigest,
}

const OUTBOX_KINDS: [(OutboxKind, &str, &str); 9] = [
    (OutboxKind::Ack, "ack", "ack_sent"),
    (OutboxKind::Report, "report", "report_sent"),
    (
        OutboxKind::DeliveryNotice,
        "delivery_notice",
        "delivery_notice_sent",
    ),
    (
        OutboxKind::CommandReply,
        "command_reply",
        "command_reply_sent",
    ),
    (OutboxKind::Reminder, "reminder", "reminder_sent"),
    (OutboxKind::OpenList, "open_list", "open_list_sent"),
    (OutboxKind::Alert, "alert", "alert_sent"),
    (OutboxKind::DailyDigest, "digest_daily", "digest_daily_sent"),
    (
        OutboxKind::WeeklyDigest,
        "digest_weekly",
        "digest_weekly_sent",
    ),
];

impl OutboxKind {
    /// The stored name (`ack`, `delivery_notice`, `digest_daily`…).
    pub fn as_str(self) -> &'static str {
        OUTBOX_KINDS
            .iter()
            .find(|(k, _, _)| *k == self)
            .map_or("", |(_, name, _)| name)
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<OutboxKind> {
        OUTBOX_KINDS
            .iter()
            .find(|(_, name, _)| *name == s)
            .map(|(k, _, _)| *k)
    }

    fn sent_name(self) -> &'static str {
        OUTBOX_KINDS
            .iter()
            .find(|(k, _, _)| *k == self)
            .map_or("", |(_, _, sent)| sent)
    }
}

/// What an event on a ticket's timeline records (`events.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Opened,
    PriorityProposed,
    ClientMessage,
    Reopened,
    AckQueued,
    AckSuppressed,
    /// The acknowledgment was not sent because the sender is not proven
    /// (`trust.acknowledge = "authenticated"`); `onit ticket ID ack` releases it.
    AckHeld,
    AckFailed,
    /// Mail claiming a team address whose sender could not be proven: applied nothing, counts for no rule.
    Impersonation,
    /// Another issue noted by the team in a footnote (`Additional issue: …`,
    /// `#additional …`): the seed's "report additional issues" (POLICY Standard 6).
    AdditionalIssue,
    /// Client mail that signals frustration (the words that matched): focus on the
    /// problem and the questions, not the tone.
    Frustration,
    /// A person threaded a stored message onto the ticket (`onit mail attach`);
    /// the message itself counts by its own event (a contact, a client message…).
    Attached,
    /// The ticket was merged: on the one that stays, "JAC-3 merged into this";
    /// on the other (closed as merged), "merged into JAC-2".
    Merged,
    /// Mail from a monitoring sender on its alert's ticket (firing, or a resolved
    /// notification that could not resolve it): the detail says which, and
    /// whether the sender is proven (crate::monitoring).
    Alert,
    /// The monitoring source resolved the alert (a proven resolved notification):
    /// the ticket is `resolved`.
    AlertResolved,
    /// Someone took ownership of the ticket (`#owner`): ownership, never blame.
    Owner,
    /// A team message to the client: an update.
    Contact,
    /// A team message to the client that is an acknowledgment (sent by hand, or archived).
    Acknowledgment,
    InternalNote,
    /// A note from the command line.
    Note,
    /// Automated mail threaded onto the ticket.
    Automated,
    /// An auto-reply or out-of-office threaded onto the ticket.
    AutoReply,
    /// Our mail did not arrive (a DSN, or a permanent SMTP failure).
    DeliveryFailure,
    PrioritySet,
    SeveritySet,
    /// A closing fact recorded (`cause_set`, `impact_set`…).
    FactSet(ClosingField),
    /// A person set the status (the new status is `events.status`).
    Status,
    CommandInvalid,
    CommandIgnored,
    CloseRefused,
    ReportStored,
    ReportQueued,
    ReportFailed,
    /// The client's message was over `mailbox.max_message_bytes`: only its header was read.
    TooLarge,
    /// The outbox sent our mail of this kind.
    Sent(OutboxKind),
}

const SIMPLE: [(EventKind, &str); 33] = [
    (EventKind::Opened, "opened"),
    (EventKind::PriorityProposed, "priority_proposed"),
    (EventKind::ClientMessage, "client_message"),
    (EventKind::Reopened, "reopened"),
    (EventKind::AckQueued, "ack_queued"),
    (EventKind::AckSuppressed, "ack_suppressed"),
    (EventKind::AckHeld, "ack_held"),
    (EventKind::Impersonation, "impersonation"),
    (EventKind::AdditionalIssue, "additional_issue"),
    (EventKind::Merged, "merged"),
    (EventKind::Attached, "attached"),
    (EventKind::Frustration, "frustration"),
    (EventKind::AckFailed, "ack_failed"),
    (EventKind::Alert, "alert"),
    (EventKind::AlertResolved, "alert_resolved"),
    (EventKind::Owner, "owner"),
    (EventKind::Contact, "contact"),
    (EventKind::Acknowledgment, "acknowledgment"),
    (EventKind::InternalNote, "internal_note"),
    (EventKind::Note, "note"),
    (EventKind::Automated, "automated"),
    (EventKind::AutoReply, "auto_reply"),
    (EventKind::DeliveryFailure, "delivery_failure"),
    (EventKind::PrioritySet, "priority_set"),
    (EventKind::SeveritySet, "severity_set"),
    (EventKind::Status, "status"),
    (EventKind::CommandInvalid, "command_invalid"),
    (EventKind::CommandIgnored, "command_ignored"),
    (EventKind::CloseRefused, "close_refused"),
    (EventKind::ReportStored, "report_stored"),
    (EventKind::ReportQueued, "report_queued"),
    (EventKind::ReportFailed, "report_failed"),
    (EventKind::TooLarge, "too_large"),
];

const FACTS: [(ClosingField, &str); 4] = [
    (ClosingField::Cause, "cause_set"),
    (ClosingField::Impact, "impact_set"),
    (ClosingField::Resolution, "resolution_set"),
    (ClosingField::Prevention, "prevention_set"),
];

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Sent(k) => k.sent_name(),
            EventKind::FactSet(f) => FACTS.iter().find(|(g, _)| *g == f).map_or("", |(_, n)| n),
            other => SIMPLE
                .iter()
                .find(|(k, _)| *k == other)
                .map_or("", |(_, n)| n),
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<EventKind> {
        if let Some((k, _)) = SIMPLE.iter().find(|(_, n)| *n == s) {
            return Some(*k);
        }
        if let Some((f, _)) = FACTS.iter().find(|(_, n)| *n == s) {
            return Some(EventKind::FactSet(*f));
        }
        s.strip_suffix("_sent")
            .and_then(OutboxKind::parse)
            .map(EventKind::Sent)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for OutboxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name_that_parses_back() {
        let mut all: Vec<EventKind> = SIMPLE.iter().map(|(k, _)| *k).collect();
        all.extend(FACTS.iter().map(|(f, _)| EventKind::FactSet(*f)));
        all.extend(OUTBOX_KINDS.iter().map(|(k, _, _)| EventKind::Sent(*k)));
        let mut names = std::collections::HashSet::new();
        for k in all {
            let name = k.as_str();
            assert!(!name.is_empty(), "{k:?}");
            assert!(names.insert(name), "two kinds named {name}");
            assert_eq!(EventKind::parse(name), Some(k), "{name}");
        }
        for (k, name, _) in OUTBOX_KINDS {
            assert_eq!(OutboxKind::parse(name), Some(k));
        }
        assert_eq!(EventKind::parse("nonsense"), None);
        assert_eq!(EventKind::parse("nonsense_sent"), None);
    }
}
