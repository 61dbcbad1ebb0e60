//! What `onit tickets` and `onit ticket` print. JSON field names are a contract.

use chrono::SecondsFormat;
use serde::Serialize;

use crate::store::{from_ms, EventRow, MessageRow, TicketRow};

fn rfc3339(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One ticket as listed by `onit tickets --json`.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: String,
    pub subject: String,
    pub reporter: String,
    pub project: String,
    pub pm: String,
    pub priority: String,
    pub priority_reason: String,
    pub severity: Option<String>,
    pub status: String,
    pub opened_at: String,
    pub last_contact_at: Option<String>,
    pub next_due_at: Option<String>,
    pub next_due_rule: Option<String>,
    pub acknowledgment: Option<String>,
    pub linked_ticket: Option<i64>,
}

impl From<&TicketRow> for TicketView {
    fn from(t: &TicketRow) -> Self {
        let open = t.status == "open";
        TicketView {
            id: t.reference(),
            subject: t.subject.clone(),
            reporter: t.reporter.clone(),
            project: t.project.clone(),
            pm: t.pm.clone(),
            priority: t.priority.clone(),
            priority_reason: t.priority_reason.clone(),
            severity: t.severity.clone(),
            status: t.status.clone(),
            opened_at: rfc3339(t.opened_at),
            last_contact_at: t.last_contact_at.map(rfc3339),
            // Cadence stops while a ticket is resolved or closed.
            next_due_at: if open {
                t.next_due_at.map(rfc3339)
            } else {
                None
            },
            next_due_rule: if open { t.next_due_rule.clone() } else { None },
            acknowledgment: t.ack_message_id.clone(),
            linked_ticket: t.linked_ticket_id,
        }
    }
}

impl TicketView {
    /// Uses the rules' next due time (from `onit compliance`'s evaluation) when the
    /// ticket is open; the stored estimate from ingest otherwise stays.
    pub fn with_due(mut self, due: Option<&crate::policy::cadence::Due>) -> TicketView {
        if self.status == "open" {
            if let Some(d) = due {
                self.next_due_at = Some(d.at.to_rfc3339_opts(SecondsFormat::Secs, true));
                self.next_due_rule = Some(d.rule.to_string());
            }
        }
        self
    }
}

/// A message on a ticket, for `onit ticket`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub message_id: String,
    pub class: String,
    pub from: Option<String>,
    pub subject: String,
    pub at: String,
}

impl From<&MessageRow> for MessageView {
    fn from(m: &MessageRow) -> Self {
        MessageView {
            message_id: m.message_id.clone(),
            class: m.class.clone(),
            from: m.from_addr.clone(),
            subject: m.subject.clone(),
            at: rfc3339(m.effective_at),
        }
    }
}

/// One ticket with its events and messages, for `onit ticket ID --json`.
#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketView,
    pub events: Vec<EventRow>,
    pub messages: Vec<MessageView>,
}

/// A table of tickets for people.
pub fn tickets_table(ts: &[TicketView]) -> String {
    let mut out = format!(
        "{:<9} {:<8} {:<9} {:<22} {:<26} {}\n",
        "ID", "PRIO", "STATUS", "NEXT DUE (UTC)", "REPORTER", "SUBJECT"
    );
    for t in ts {
        let due = t
            .next_due_at
            .as_deref()
            .map(|d| d.replace('T', " ").trim_end_matches('Z').to_string())
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<9} {:<8} {:<9} {:<22} {:<26} {}\n",
            t.id, t.priority, t.status, due, t.reporter, t.subject
        ));
    }
    out
}

/// One ticket for people.
pub fn ticket_text(d: &TicketDetail) -> String {
    let t = &d.ticket;
    let mut out = format!(
        "{} {}\n  reporter  {}\n  project   {} (PM {})\n  priority  {} ({})\n  status    {}\n  opened    {}\n  last contact {}\n  next due  {}{}\n\nTimeline:\n",
        t.id,
        t.subject,
        t.reporter,
        t.project,
        t.pm,
        t.priority,
        t.priority_reason,
        t.status,
        t.opened_at,
        t.last_contact_at.as_deref().unwrap_or("-"),
        t.next_due_at.as_deref().unwrap_or("-"),
        t.next_due_rule.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
    );
    for e in &d.events {
        out.push_str(&format!(
            "  {}  {:<18} {}{}\n",
            rfc3339(e.at),
            e.kind,
            e.detail,
            e.actor
                .as_deref()
                .map(|a| format!(" [{a}]"))
                .unwrap_or_default()
        ));
    }
    out
}
