//! What `onit tickets`, `onit ticket` and `onit status` print. JSON field names are a contract.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::ticket::{Priority, Severity, Status};

use crate::store::{from_ms, EventRow, MessageRow, TicketRow};

fn rfc3339(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Serialises an instant as RFC 3339 in UTC to the second, as every JSON output does.
pub fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// [`ser_time`] for an optional instant (`null` when absent).
pub fn ser_opt_time<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_none(),
    }
}

/// One ticket as listed by `onit tickets --json`.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: String,
    pub subject: String,
    pub reporter: String,
    pub project: String,
    pub pm: String,
    pub priority: Priority,
    pub priority_reason: String,
    pub severity: Option<Severity>,
    pub status: Status,
    pub opened_at: String,
    pub last_contact_at: Option<String>,
    pub next_due_at: Option<String>,
    pub next_due_rule: Option<String>,
    pub acknowledgment: Option<String>,
    pub linked_ticket: Option<i64>,
    /// A monitoring alert's internal ticket (crate::monitoring).
    pub monitoring: bool,
    /// The alert's key and the monitoring sender it came from (monitoring tickets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_source: Option<String>,
    /// Who took it (`#owner`); `null` while nobody has.
    pub owner: Option<String>,
}

impl From<&TicketRow> for TicketView {
    fn from(t: &TicketRow) -> Self {
        let open = t.status == Status::Open;
        TicketView {
            id: t.reference(),
            subject: t.subject.clone(),
            reporter: t.reporter.clone(),
            project: t.project.clone(),
            pm: t.pm.clone(),
            priority: t.priority,
            priority_reason: t.priority_reason.clone(),
            severity: t.severity,
            status: t.status,
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
            monitoring: t.is_monitoring(),
            alert_key: t.alert_key.clone(),
            alert_source: t.alert_source.clone(),
            owner: t.owner.clone(),
        }
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

/// An RFC 3339 instant shown in the calendar's zone, the zone's abbreviation
/// after it (`2026-11-26 17:00 GMT`); text that does not parse is shown as it is.
pub fn local_time(rfc3339: &str, tz: chrono_tz::Tz) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// A table of tickets for people, times in the calendar's zone `tz` (named in
/// the header), written a row at a time (`onit tickets` over a long history):
/// every column but the last has a fixed width, so no row waits for the others.
#[derive(Debug, Clone, Copy)]
pub struct TicketsTable {
    tz: chrono_tz::Tz,
    width: usize,
}

impl TicketsTable {
    /// The table in the calendar's zone `tz`.
    pub fn new(tz: chrono_tz::Tz) -> TicketsTable {
        let width = format!("NEXT DUE ({tz})").len().max(22);
        TicketsTable { tz, width }
    }

    /// The header line.
    pub fn write_header(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let width = self.width;
        writeln!(
            w,
            "{:<9} {:<8} {:<9} {:<width$} {:<26} SUBJECT",
            "ID",
            "PRIO",
            "STATUS",
            format!("NEXT DUE ({})", self.tz),
            "REPORTER"
        )
    }

    /// One ticket's line.
    pub fn write_row(&self, w: &mut impl std::io::Write, t: &TicketView) -> std::io::Result<()> {
        let width = self.width;
        let due = t
            .next_due_at
            .as_deref()
            .map(|d| local_time(d, self.tz))
            .unwrap_or_else(|| "-".into());
        writeln!(
            w,
            "{:<9} {:<8} {:<9} {:<width$} {:<26} {}",
            t.id,
            // Display impls ignore width: pad their text.
            t.priority.to_string(),
            t.status.to_string(),
            due,
            t.reporter,
            t.subject
        )
    }
}

/// One ticket for people, times in the calendar's zone `tz`.
pub fn ticket_text(d: &TicketDetail, tz: chrono_tz::Tz) -> String {
    let t = &d.ticket;
    let local = |s: &str| local_time(s, tz);
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
        local(&t.opened_at),
        t.last_contact_at.as_deref().map(local).unwrap_or_else(|| "-".into()),
        t.next_due_at.as_deref().map(local).unwrap_or_else(|| "-".into()),
        t.next_due_rule.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
    );
    for e in &d.events {
        out.push_str(&format!(
            "  {}  {:<18} {}{}\n",
            local(&rfc3339(e.at)),
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

/// A lease, and whether its holder renewed it within the takeover time (one that
/// was not is free for another instance to take).
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    #[serde(flatten)]
    pub lease: crate::leadership::LeaseRow,
    pub live: bool,
}

/// An instance, and whether its heartbeat is recent.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    #[serde(flatten)]
    pub instance: crate::leadership::InstanceRow,
    pub live: bool,
}

/// `onit status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub database: &'static str,
    pub outbox: crate::store::OutboxSummary,
    pub messages: std::collections::BTreeMap<String, i64>,
    pub folders: Vec<crate::store::FolderState>,
    pub ingest_failures: Vec<crate::store::IngestFailure>,
    pub leases: Vec<LeaseView>,
    pub instances: Vec<InstanceView>,
    pub alerts: Vec<crate::alerts::AlertRow>,
    /// Configuration risks the operator must know of (`trust.team = "header"`…).
    pub warnings: Vec<String>,
}

impl StatusView {
    /// Reads everything `onit status` shows; "live" is judged at `now` against `takeover`.
    pub async fn load(
        store: &crate::store::Store,
        now: chrono::DateTime<chrono::Utc>,
        takeover: std::time::Duration,
    ) -> anyhow::Result<StatusView> {
        let now_ms = crate::store::to_ms(now);
        let fresh = |ms: i64| now_ms - ms <= takeover.as_millis() as i64;
        let (leases, instances) = crate::leadership::leases(store).await?;
        Ok(StatusView {
            database: store.kind(),
            outbox: store.outbox_summary().await?,
            messages: store.message_counts().await?.into_iter().collect(),
            folders: store.folder_states().await?,
            ingest_failures: store.ingest_failures().await?,
            leases: leases
                .into_iter()
                .map(|l| LeaseView {
                    live: fresh(l.renewed_at),
                    lease: l,
                })
                .collect(),
            instances: instances
                .into_iter()
                .map(|i| InstanceView {
                    live: fresh(i.seen_at),
                    instance: i,
                })
                .collect(),
            alerts: crate::alerts::open(store).await?,
            warnings: Vec::new(),
        })
    }
}

/// `onit status` for people.
pub fn status_text(v: &StatusView) -> String {
    use std::fmt::Write;
    let at = |ms: i64| from_ms(ms).to_rfc3339();
    let mut s = String::new();
    let o = &v.outbox;
    for w in &v.warnings {
        let _ = writeln!(s, "WARNING   {w}");
    }
    let _ = writeln!(s, "database  {}", v.database);
    let _ = writeln!(
        s,
        "outbox    {} pending, {} in an unfinished attempt, {} sent, {} failed{}",
        o.pending,
        o.sending,
        o.sent,
        o.failed,
        o.oldest_unsent
            .map(|t| format!("; oldest unsent queued {}", at(t)))
            .unwrap_or_default()
    );
    for (class, n) in &v.messages {
        let _ = writeln!(s, "messages  {class:<15} {n}");
    }
    for f in &v.folders {
        let _ = writeln!(
            s,
            "folder    {} {}: UIDVALIDITY {}, next UID {}, last good sync {}{}",
            f.account,
            f.folder,
            f.uidvalidity,
            f.next_uid,
            f.last_sync_at.map(at).unwrap_or_else(|| "never".into()),
            f.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
    for InstanceView { instance: i, live } in &v.instances {
        let state = if *live {
            "running".to_string()
        } else {
            format!("silent since {}", at(i.seen_at))
        };
        let _ = writeln!(
            s,
            "instance  {} (pid {}, v{}) started {}, {state}",
            i.name,
            i.pid,
            i.version,
            at(i.started_at)
        );
    }
    for LeaseView { lease: l, live } in &v.leases {
        let _ = writeln!(
            s,
            "leads     {}: {} (epoch {}, since {}){}",
            l.role,
            l.holder,
            l.epoch,
            at(l.acquired_at),
            if *live {
                ""
            } else {
                " — not renewed lately: free for another instance"
            }
        );
    }
    for a in &v.alerts {
        let _ = writeln!(
            s,
            "ALERT     {} {} since {}: {}",
            a.kind,
            a.subject,
            at(a.opened_at),
            a.detail
        );
    }
    for f in &v.ingest_failures {
        let _ = writeln!(s, "set aside {} at {}: {}", f.source, at(f.at), f.error);
    }
    s
}
