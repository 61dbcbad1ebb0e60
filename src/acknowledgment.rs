//! POLICY Standard 1: the "on it" acknowledgment, in the seed's tone: prompt,
//! attentive, and clear about when the next update comes.

use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::message::{cut_chars, MAX_SUBJECT_CHARS};
use crate::policy::calendar::BusinessCalendar;
use crate::policy::priority::Priority;

/// Everything the acknowledgment says.
#[derive(Debug, Clone)]
pub struct AckText<'a> {
    pub ticket: &'a str,
    pub client_name: Option<&'a str>,
    pub original_subject: &'a str,
    pub priority: Priority,
    pub next_update: DateTime<Utc>,
    pub pm: &'a EmailAddress,
    pub team_name: &'a str,
    pub now: DateTime<Utc>,
    /// The client's message was this large, over what onit reads (`mailbox.max_message_bytes`).
    pub too_large: Option<u64>,
}

/// "Thursday 26 November 2026 at 13:30 GMT", or "today at 13:30 GMT" when it is the same local day.
pub fn human_time(cal: &BusinessCalendar, t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&cal.tz());
    let today = now.with_timezone(&cal.tz()).date_naive();
    let zone = local.format("%Z").to_string();
    if local.date_naive() == today {
        format!("today at {} {}", local.format("%H:%M"), zone)
    } else if Some(local.date_naive()) == today.succ_opt() {
        format!(
            "tomorrow ({}) at {} {}",
            local.format("%A %-d %B"),
            local.format("%H:%M"),
            zone
        )
    } else {
        format!(
            "{} at {} {}",
            local.format("%A %-d %B %Y"),
            local.format("%H:%M"),
            zone
        )
    }
}

/// The subject: `Re: <original subject> [JAC-7]` (no second `Re:`, and only this
/// ticket's tag: a tag of another ticket the client copied in is removed, so a
/// stranger's guessed `[JAC-1]` never labels their own ticket JAC-4). At most
/// [`MAX_SUBJECT_CHARS`] characters: a long subject is cut, the tag kept.
pub fn ack_subject(original: &str, ticket: &str) -> String {
    let full = ack_subject_uncut(original, ticket);
    if full.chars().count() <= MAX_SUBJECT_CHARS {
        return full;
    }
    let tag = format!("[{ticket}]");
    let room = MAX_SUBJECT_CHARS - tag.chars().count() - 1;
    let cut = cut_chars(&full, room);
    if cut.to_ascii_uppercase().contains(&tag.to_ascii_uppercase()) {
        cut
    } else {
        format!("{cut} {tag}")
    }
}

fn ack_subject_uncut(original: &str, ticket: &str) -> String {
    let o = strip_tags(&crate::message::single_line(original), ticket);
    let has_re = o.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    let base = if o.is_empty() {
        "(no subject)".to_string()
    } else {
        o
    };
    let base = if has_re { base } else { format!("Re: {base}") };
    let tag = format!("[{ticket}]");
    if base
        .to_ascii_uppercase()
        .contains(&tag.to_ascii_uppercase())
    {
        base
    } else {
        format!("{base} {tag}")
    }
}

fn strip_tags(subject: &str, keep: &str) -> String {
    let mut out = subject.to_string();
    if let Ok(keep) = crate::ticket_ref::TicketRef::parse(keep) {
        for (range, tag) in crate::ticket_ref::tags(subject, &keep.prefix)
            .into_iter()
            .rev()
        {
            if tag != keep {
                out.replace_range(range, "");
            }
        }
    }
    crate::message::single_line(&out)
}

/// The plain-text body.
pub fn ack_body(cal: &BusinessCalendar, a: &AckText<'_>) -> String {
    let greeting = match a.client_name {
        Some(n) if !n.trim().is_empty() => format!("Hello {},", crate::message::single_line(n)),
        _ => "Hello,".to_string(),
    };
    let cadence = match a.priority {
        Priority::Urgent => "We have treated this as urgent: until it is resolved you will hear from us at least every hour during business hours.",
        Priority::High => "We have treated this as high priority: until it is resolved you will hear from us first thing in the morning, at lunchtime and at the end of each business day.",
        Priority::Medium => "We have logged this with medium priority: until it is resolved you will hear from us at least once every business day, by 4:30 PM.",
    };
    format!(
        "{greeting}\n\n\
         Thank you for letting us know. We're on it.\n\n\
         Your request{subject} is logged as ticket {ticket}, and an engineer is looking at it.\n\
         {cadence}\n\n\
         {too_large}\
         Next update: by {next}.\n\n\
         Your project manager ({pm}) is copied on this message and on every update we send.\n\
         If anything changes or you have more details, simply reply to this email and keep\n\
         [{ticket}] in the subject, so it reaches the right people straight away.\n\n\
         Kind regards,\n\
         {team}\n",
        // An empty subject: the sender is not verified, and their words are not echoed.
        subject = match crate::message::subject_text(a.original_subject) {
            s if s.is_empty() => String::new(),
            s => format!(" \"{s}\""),
        },
        ticket = a.ticket,
        next = human_time(cal, a.next_update, a.now),
        too_large = match a.too_large {
            Some(bytes) => format!(
                "Your message ({} MB) was too large for us to process, so its attachments did\n\
                 not reach the team. Please send them as a download link, or in smaller parts.\n\n",
                bytes.div_ceil(1024 * 1024)
            ),
            None => String::new(),
        },
        pm = a.pm,
        team = a.team_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_gets_one_re_and_one_tag() {
        assert_eq!(
            ack_subject("Login broken", "JAC-7"),
            "Re: Login broken [JAC-7]"
        );
        assert_eq!(
            ack_subject("RE: Login broken", "JAC-7"),
            "RE: Login broken [JAC-7]"
        );
        assert_eq!(ack_subject("Re: x [jac-7]", "JAC-7"), "Re: x [jac-7]");
        assert_eq!(ack_subject("", "JAC-7"), "Re: (no subject) [JAC-7]");
        assert_eq!(ack_subject("a\r\nBcc: x", "JAC-7"), "Re: a Bcc: x [JAC-7]");
        assert_eq!(
            ack_subject("Re: Checkout [JAC-1]", "JAC-4"),
            "Re: Checkout [JAC-4]"
        );
        assert_eq!(ack_subject("[JAC-1] [JAC-2] x", "JAC-4"), "Re: x [JAC-4]");
        assert_eq!(
            ack_subject("[JAC-x] stays", "JAC-4"),
            "Re: [JAC-x] stays [JAC-4]"
        );
    }

    #[test]
    fn a_long_subject_is_cut_and_keeps_its_tag() {
        let long = "y".repeat(5000);
        let s = ack_subject(&long, "JAC-12");
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS, "{s}");
        assert!(s.starts_with("Re: yyy"));
        assert!(s.ends_with("… [JAC-12]"), "{s}");
        let tagged = format!("[JAC-12] {long}");
        let s = ack_subject(&tagged, "JAC-12");
        assert!(s.chars().count() <= MAX_SUBJECT_CHARS);
        assert_eq!(s.matches("[JAC-12]").count(), 1, "{s}");
        let rtl = ack_subject("Invoice \u{202E}fdp.exe", "JAC-1");
        assert_eq!(rtl, "Re: Invoice fdp.exe [JAC-1]");
    }
}
