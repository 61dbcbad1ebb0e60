//! POLICY "Closing" and the seed's "Closing Tickets": when a ticket closes,
//! the incident response report with exactly the eight headings of
//! [`HEADINGS`], in Markdown and HTML. It is stored (`reports`, `onit report`)
//! and, for live mail, sent to the client (the reporter) and `team.maintainers`
//! with the PM in Cc; its Message-ID is a message of the ticket and counts as a
//! contact (`contact_kind = 'report'`).
//!
//! Interpretations:
//! * The timeline is built from the ticket's events (and any client or team
//!   message that has no event), in the calendar's time zone. It lists what
//!   happened and who did it; internal notes appear as "Internal team note"
//!   without their words (the report goes to the client), and machine noise
//!   (automated mail, ignored commands, refused closes) is left out.
//! * "Date of incident" is when the incident was reported to us (the ticket's
//!   opening time): the only time onit knows.
//! * The document has no heading other than the eight (its title is a bold
//!   line), so a reader can check them by parsing its headings.
//! * Mail imported as history (`Mode::Import`) closes the ticket and stores the
//!   report, but sends nothing and records no contact.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::message::{cut_chars, single_line, subject_text, MAX_SUBJECT_CHARS};
use crate::policy::calendar::BusinessCalendar;
use crate::store::{
    from_ms, ClosingFacts, ClosingField, ContactFacts, EventRow, MessageRow, NewReport, TicketRow,
    Tx,
};
use crate::ticket::our_mail::{self, Keep, OurMail};
use crate::ticket::{EventKind, Mode, OutboxKind, Status};

/// The report's headings, in order (seed: "An incident response report should have these headings").
pub const HEADINGS: [&str; 8] = [
    "Date of incident",
    "Reporter",
    "Severity (critical, high, medium, low)",
    "Timeline of response (times, actions, people)",
    "Exposure / impacts",
    "Suspected root cause",
    "Resolution of issue",
    "Mitigation steps / prevention in future",
];

/// What a close made.
#[derive(Debug, Clone)]
pub struct Made {
    /// The `reports` row.
    pub report_id: i64,
    /// The report mail's Message-ID, when it was queued (live mail only).
    pub message_id: Option<String>,
    /// Who it was queued to (To, then Cc).
    pub recipients: Vec<String>,
    pub markdown: String,
    /// The report mail could not be written (why); the report is stored all the same.
    pub not_written: Option<String>,
}

/// Everything the report is made of.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    pub ticket: &'a TicketRow,
    pub facts: &'a ClosingFacts,
    /// The ticket's events in time order (the close included).
    pub events: &'a [EventRow],
    /// The ticket's messages in time order.
    pub messages: &'a [MessageRow],
    pub closed_at: DateTime<Utc>,
    pub closed_by: &'a str,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub action: String,
    /// Who did it: an address, or `onit` for the daemon.
    pub people: String,
}

fn local(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.tz())
        .format("%a %d %b %Y %H:%M %Z")
        .to_string()
}

fn event_action(e: &EventRow, t: &TicketRow) -> Option<String> {
    let d = single_line(&e.detail);
    Some(match e.kind {
        EventKind::Opened => format!("Ticket {} {d}", t.reference()),
        EventKind::PriorityProposed => format!("Priority assessed: {d}"),
        EventKind::AckQueued => {
            "Acknowledgment to the reporter (PM in Cc), stating when the next update comes".into()
        }
        EventKind::Acknowledgment => format!(
            "Acknowledgment {}",
            d.strip_prefix("acknowledgment ").unwrap_or(&d)
        ),
        EventKind::Contact => format!("Update {}", d.strip_prefix("contact ").unwrap_or(&d)),
        EventKind::ClientMessage => format!("Message from the client: {d}"),
        EventKind::Reopened => "Reopened by a message from the client".into(),
        EventKind::InternalNote | EventKind::Note => "Internal team note".into(),
        EventKind::PrioritySet => format!("Priority set to {d}"),
        EventKind::SeveritySet => format!("Severity set to {d}"),
        EventKind::Status => match e.status {
            Some(Status::Resolved) => "Marked resolved".into(),
            Some(Status::Open) => "Reopened".into(),
            Some(Status::Closed) => "Closed".into(),
            None => format!("Status set to {d}"),
        },
        EventKind::FactSet(ClosingField::Cause) => "Suspected root cause recorded".into(),
        EventKind::FactSet(ClosingField::Impact) => "Exposure / impacts recorded".into(),
        EventKind::FactSet(ClosingField::Resolution) => "Resolution recorded".into(),
        EventKind::FactSet(ClosingField::Prevention) => "Prevention plan recorded".into(),
        EventKind::DeliveryFailure => format!("Delivery failure: {d}"),
        _ => return None,
    })
}

/// The timeline of response: times, actions, people.
pub fn timeline(input: &ReportInput<'_>) -> Vec<Entry> {
    let t = input.ticket;
    let mut out: Vec<Entry> = input
        .events
        .iter()
        .filter_map(|e| {
            event_action(e, t).map(|action| Entry {
                at: from_ms(e.at),
                action,
                people: e.actor.clone().unwrap_or_else(|| "onit".into()),
            })
        })
        .collect();
    // Messages with no event of their own (none, normally) still belong on it.
    let seen: std::collections::HashSet<&str> = input
        .events
        .iter()
        .filter_map(|e| e.message_id.as_deref())
        .collect();
    for m in input.messages {
        if seen.contains(m.message_id.as_str()) {
            continue;
        }
        let action = match m.class.as_str() {
            "client" => format!("Message from the client: {}", subject_text(&m.subject)),
            "contact" => format!("Update: {}", subject_text(&m.subject)),
            "acknowledgment" => format!("Acknowledgment: {}", subject_text(&m.subject)),
            _ => continue,
        };
        out.push(Entry {
            at: from_ms(m.effective_at),
            action,
            people: m.from_addr.clone().unwrap_or_else(|| "unknown".into()),
        });
    }
    out.sort_by_key(|e| e.at);
    out
}

/// The body of each section, in the order of [`HEADINGS`] (the timeline's is empty: it is a list).
fn sections(cal: &BusinessCalendar, input: &ReportInput<'_>) -> [String; 8] {
    let t = input.ticket;
    let fact = |f: ClosingField| {
        input
            .facts
            .get(f)
            .map(single_line)
            .unwrap_or_else(|| "Not recorded.".into())
    };
    let opened = from_ms(t.opened_at).with_timezone(&cal.tz());
    [
        format!(
            "{} (when it was reported to us; ticket {}).",
            opened.format("%A %-d %B %Y, %H:%M %Z"),
            t.reference()
        ),
        format!("{} (project {}, PM {}).", t.reporter, t.project, t.pm),
        match &t.severity {
            Some(s) => s.to_string(),
            None => format!("Not assessed (ticket priority: {}).", t.priority),
        },
        String::new(),
        exposure(fact(ClosingField::Impact), input.events),
        fact(ClosingField::Cause),
        fact(ClosingField::Resolution),
        fact(ClosingField::Prevention),
    ]
}

/// "Exposure / impacts": the recorded impact, then the additional issues the team
/// noted on the ticket (footnotes: the main problem first, the others not forgotten).
fn exposure(impact: String, events: &[EventRow]) -> String {
    let extra: Vec<String> = events
        .iter()
        .filter(|e| e.kind == EventKind::AdditionalIssue)
        .map(|e| single_line(&e.detail))
        .collect();
    if extra.is_empty() {
        return impact;
    }
    format!(
        "{impact} Additional issues noted: {}.",
        extra.join("; ").trim_end_matches('.')
    )
}

fn title(input: &ReportInput<'_>) -> String {
    format!(
        "Incident response report: {} — {}",
        input.ticket.reference(),
        subject_text(&input.ticket.subject)
    )
}

fn closed_line(cal: &BusinessCalendar, input: &ReportInput<'_>) -> String {
    format!(
        "Closed {} by {}.",
        local(cal, input.closed_at),
        single_line(input.closed_by)
    )
}

/// Text that must not start a Markdown block of its own (a heading, a quote, a list).
fn md_text(s: &str) -> String {
    let s = single_line(s);
    match s.chars().next() {
        Some('#' | '>' | '-' | '+' | '*' | '=' | '|') => format!("\\{s}"),
        _ => s,
    }
}

/// The report in Markdown: a bold title line, then the eight headings (`##`) in order.
pub fn markdown(cal: &BusinessCalendar, input: &ReportInput<'_>) -> String {
    let body = sections(cal, input);
    let mut out = format!(
        "**{}**\n\n{}\n",
        md_text(&title(input)),
        md_text(&closed_line(cal, input))
    );
    for (i, heading) in HEADINGS.iter().enumerate() {
        out.push_str(&format!("\n## {heading}\n\n"));
        if i == 3 {
            let entries = timeline(input);
            if entries.is_empty() {
                out.push_str("Nothing recorded.\n");
            }
            for e in entries {
                out.push_str(&format!(
                    "- {} — {} — {}\n",
                    local(cal, e.at),
                    single_line(&e.action),
                    single_line(&e.people)
                ));
            }
        } else {
            out.push_str(&md_text(&body[i]));
            out.push('\n');
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const H2: &str = "font-size:16px;margin:20px 0 6px 0;color:#1a3d5c;border-bottom:1px solid #d0d7de;padding-bottom:3px";
const CELL: &str = "border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left";

/// The report's HTML fragment (no document around it).
fn html_fragment(cal: &BusinessCalendar, input: &ReportInput<'_>) -> String {
    let body = sections(cal, input);
    let mut out = format!(
        "<p style=\"font-size:18px;margin:0 0 4px 0\"><strong>{}</strong></p>\n<p style=\"margin:0 0 12px 0;color:#555\">{}</p>\n",
        escape_html(&title(input)),
        escape_html(&closed_line(cal, input))
    );
    for (i, heading) in HEADINGS.iter().enumerate() {
        out.push_str(&format!(
            "<h2 style=\"{H2}\">{}</h2>\n",
            escape_html(heading)
        ));
        if i == 3 {
            let entries = timeline(input);
            if entries.is_empty() {
                out.push_str("<p>Nothing recorded.</p>\n");
                continue;
            }
            out.push_str(&format!(
                "<table style=\"border-collapse:collapse;width:100%;font-size:13px\">\n<tr><th style=\"{CELL};background:#f3f5f7\">Time</th><th style=\"{CELL};background:#f3f5f7\">Action</th><th style=\"{CELL};background:#f3f5f7\">People</th></tr>\n"
            ));
            for e in entries {
                out.push_str(&format!(
                    "<tr><td style=\"{CELL};white-space:nowrap\">{}</td><td style=\"{CELL}\">{}</td><td style=\"{CELL}\">{}</td></tr>\n",
                    escape_html(&local(cal, e.at)),
                    escape_html(&single_line(&e.action)),
                    escape_html(&single_line(&e.people))
                ));
            }
            out.push_str("</table>\n");
        } else {
            out.push_str(&format!(
                "<p style=\"margin:0\">{}</p>\n",
                escape_html(&single_line(&body[i]))
            ));
        }
    }
    out
}

fn html_document(title: &str, inner: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.4;color:#222;max-width:780px;margin:0 auto;padding:16px\">\n{inner}</body></html>\n",
        escape_html(title)
    )
}

/// The report as an HTML document (inline CSS only).
pub fn html(cal: &BusinessCalendar, input: &ReportInput<'_>) -> String {
    html_document(&title(input), &html_fragment(cal, input))
}

/// The report mail's subject: `Incident response report: <subject> [JAC-7]`.
pub fn subject(t: &TicketRow) -> String {
    let reference = t.reference();
    let tag = format!("[{reference}]");
    // Room for the prefix and the tag within the 200 characters a subject of ours may have.
    let room = MAX_SUBJECT_CHARS - "Incident response report: ".len() - tag.len() - 1;
    let s = cut_chars(&single_line(&t.subject), room);
    if s.to_ascii_uppercase().contains(&tag.to_ascii_uppercase()) {
        format!("Incident response report: {s}")
    } else {
        format!("Incident response report: {s} {tag}")
    }
}

/// Makes and stores the report of a ticket that was just closed (`t.status`
/// already `closed`, its `status` event recorded) in the caller's transaction,
/// and in live mode queues it as our mail to the reporter and the maintainers,
/// PM in Cc (a `report_queued` event). The ticket itself is not changed here:
/// `ticket::lifecycle::close` records the contact or the `report_stored` event.
pub async fn make(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    facts: &ClosingFacts,
    closed_by: &str,
    at: DateTime<Utc>,
    mode: Mode,
) -> Result<Made> {
    let events = tx.ticket_events(t.id).await?;
    let messages = tx.ticket_messages(t.id).await?;
    let input = ReportInput {
        ticket: t,
        facts,
        events: &events,
        messages: &messages,
        closed_at: at,
        closed_by,
    };
    let cal = &rt.calendar;
    let md = markdown(cal, &input);
    let html_doc = html(cal, &input);
    let reference = t.reference();

    // Who it goes to: the reporter and the maintainers, the PM in Cc.
    // A monitoring alert's reporter is the monitoring system: never mailed (crate::monitoring).
    let mut to: Vec<EmailAddress> = Vec::new();
    match EmailAddress::parse(&t.reporter) {
        Ok(_) if t.is_monitoring() => {}
        Ok(a) => to.push(a),
        Err(e) => {
            tracing::warn!(reporter = %t.reporter, error = %e, "reporter address unusable for the report")
        }
    }
    for m in &rt.team.maintainers {
        if !to.contains(m) {
            to.push(m.clone());
        }
    }
    let pm = crate::ticket::pm_of(rt, t);
    if to.is_empty() {
        to.push(pm.clone());
    }
    let cc: Vec<EmailAddress> = if to.contains(&pm) {
        Vec::new()
    } else {
        vec![pm.clone()]
    };
    let subject = subject(t);
    let mut references = vec![t.opening_message_id.clone()];
    if let Some(ack) = &t.ack_message_id {
        references.push(ack.clone());
    }
    let to_addrs = to.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
    let cc_addrs = cc.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
    let recipients: Vec<String> = to
        .iter()
        .chain(cc.iter())
        .map(|a| a.as_str().to_string())
        .collect();
    let to_named: Vec<(EmailAddress, Option<String>)> =
        to.iter().map(|a| (a.clone(), None)).collect();

    let mut made = Made {
        report_id: 0,
        message_id: None,
        recipients: Vec::new(),
        markdown: md.clone(),
        not_written: None,
    };
    let mut queued = None;
    if mode == Mode::Live && !to.is_empty() {
        let text = format!(
            "Hello,\n\nTicket {reference} is closed. Here is our incident response report; reply to this\nmessage if anything is still not right.\n\n{md}\nKind regards,\n{}\n",
            rt.team.from_name
        );
        let intro = format!(
            "<p>Hello,</p>\n<p>Ticket {} is closed. Here is our incident response report; reply to this message if anything is still not right.</p>\n",
            escape_html(&reference)
        );
        let outro = format!(
            "<p style=\"margin-top:20px\">Kind regards,<br>{}</p>\n",
            escape_html(&rt.team.from_name)
        );
        let html_mail = html_document(
            &title(&input),
            &format!("{intro}{}{outro}", html_fragment(cal, &input)),
        );
        let mail = OurMail {
            kind: OutboxKind::Report,
            dedupe_key: "",
            ticket_id: Some(t.id),
            ticket: Some(&reference),
            to: &to_named,
            cc: &cc,
            subject: &subject,
            in_reply_to: Some(&t.opening_message_id),
            references: &references,
            auto_submitted: "auto-generated",
            text,
            html: Some(html_mail),
            inline: &[],
            at,
            keep: Some(Keep {
                detail: "incident response report",
                body: &md,
                facts: ContactFacts {
                    contact_at: Some(at),
                    contact_kind: Some("report"),
                    ..ContactFacts::default()
                },
            }),
            event: Some((
                EventKind::ReportQueued,
                format!(
                    "incident response report queued to {to_addrs}{}",
                    if cc_addrs.is_empty() {
                        String::new()
                    } else {
                        format!(", PM {cc_addrs} in Cc")
                    }
                ),
            )),
        };
        match our_mail::compose(rt, &mail) {
            Ok(c) => queued = Some((mail, c)),
            Err(e) => {
                tracing::error!(ticket = %reference, error = format!("{e:#}"), "report mail could not be written");
                made.not_written = Some(format!("the report mail could not be written: {e:#}"));
            }
        }
    }
    made.report_id = tx
        .insert_report(&NewReport {
            ticket_id: t.id,
            created_at: at,
            markdown: &md,
            html: &html_doc,
            message_id: queued.as_ref().map(|(_, c)| c.message_id.as_str()),
        })
        .await?;
    let Some((mut mail, composed)) = queued else {
        return Ok(made);
    };
    let key = format!("report:{}", composed.message_id);
    mail.dedupe_key = &key;
    our_mail::queue(tx, rt, &mail, &composed).await?;
    tracing::info!(ticket = %reference, to = %to_addrs, "incident response report queued");
    made.message_id = Some(composed.message_id);
    made.recipients = recipients;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> TicketRow {
        TicketRow {
            project: "acme".into(),
            pm: "alice.pm@jac.example".into(),
            priority: crate::ticket::Priority::Urgent,
            priority_reason: "x".into(),
            status: crate::ticket::Status::Closed,
            opening_message_id: "c1@acme.example".into(),
            ..TicketRow::for_test(
                1,
                "Checkout <down>",
                DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            )
        }
    }

    fn event(at: &str, kind: &str, actor: Option<&str>, detail: &str) -> EventRow {
        EventRow {
            id: 0,
            ticket_id: 1,
            at: crate::store::to_ms(
                DateTime::parse_from_rfc3339(at)
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            kind: crate::ticket::EventKind::parse(kind).unwrap(),
            actor: actor.map(String::from),
            message_id: None,
            detail: detail.into(),
            status: (kind == "status").then(|| Status::parse(detail)).flatten(),
            auth: None,
            auth_how: None,
        }
    }

    fn cal() -> BusinessCalendar {
        BusinessCalendar::from_config(
            "Europe/London",
            &["Mon", "Tue", "Wed", "Thu", "Fri"].map(String::from),
            "09:00",
            "17:00",
            &[],
        )
        .unwrap()
    }

    #[test]
    fn eight_headings_in_order_and_escaped_text() {
        let t = ticket();
        let facts = ClosingFacts {
            cause: Some("# not a heading".into()),
            impact: None,
            resolution: Some("fixed <b>".into()),
            prevention: Some("alerts".into()),
        };
        let events = vec![
            event(
                "2026-11-26T10:00:00Z",
                "opened",
                Some("bob@acme.example"),
                "opened from bob@acme.example (Checkout <down>)",
            ),
            event(
                "2026-11-26T10:00:00Z",
                "command_ignored",
                Some("bob@acme.example"),
                "#close",
            ),
            event(
                "2026-11-26T11:30:00Z",
                "internal_note",
                Some("dan@jac.example"),
                "internal note: secret words",
            ),
            event(
                "2026-11-26T15:00:00Z",
                "status",
                Some("dan@jac.example"),
                "closed",
            ),
        ];
        let input = ReportInput {
            ticket: &t,
            facts: &facts,
            events: &events,
            messages: &[],
            closed_at: from_ms(events[3].at),
            closed_by: "dan@jac.example",
        };
        let md = markdown(&cal(), &input);
        let headings: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim())
            .collect();
        assert_eq!(headings, HEADINGS.to_vec(), "{md}");
        assert!(md.contains("\\# not a heading"), "{md}");
        assert!(
            md.contains("- Thu 26 Nov 2026 11:30 GMT — Internal team note — dan@jac.example"),
            "{md}"
        );
        assert!(!md.contains("secret words"), "{md}");
        assert!(!md.contains("#close"), "{md}");
        assert!(
            md.contains("Not assessed (ticket priority: urgent)."),
            "{md}"
        );
        let h = html(&cal(), &input);
        assert!(h.contains("fixed &lt;b&gt;"), "{h}");
        assert!(!h.contains("<down>"), "{h}");
        let mut pos = 0;
        for heading in HEADINGS {
            let at = h[pos..]
                .find(&format!(">{}</h2>", escape_html(heading)))
                .unwrap_or_else(|| panic!("{heading} missing or out of order"));
            pos += at;
        }
        assert_eq!(h.matches("<h2").count(), 8);
    }
}
