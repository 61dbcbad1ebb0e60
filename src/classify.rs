//! POLICY "What arrives": which of the five kinds a message is. Pure: the
//! caller says whether the Message-ID is one of ours.

use crate::address::EmailAddress;
use crate::message::MailView;
use crate::monitoring::senders::Monitoring;
use crate::team::Team;

/// The kinds of mail, in the order POLICY checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailClass {
    /// A message onit generated itself (a copy coming back, e.g. via a Sent folder or Bcc).
    Own,
    /// Bounces, auto-replies, list mail and other machine-sent mail from outside the team.
    Automated,
    /// Team or support mail with a client among To/Cc: an update to the client.
    Contact,
    /// Like a contact, but auto-submitted: an acknowledgment (e.g. one sent before onit ran).
    Acknowledgment,
    /// Team mail with only team/support recipients.
    InternalNote,
    /// Mail from a client.
    Client,
    /// Mail from a `[monitoring] senders` entry: an alert, on an internal
    /// ticket of its own (crate::monitoring), never answered.
    Monitoring,
    /// Mail claiming a team address whose sender is not proven (`trust.team =
    /// "authenticated"`): recorded, applied nowhere, counted for no rule.
    Impersonation,
}

impl MailClass {
    /// The name stored in the database and printed in counts.
    pub fn as_str(self) -> &'static str {
        match self {
            MailClass::Own => "own",
            MailClass::Automated => "automated",
            MailClass::Contact => "contact",
            MailClass::Acknowledgment => "acknowledgment",
            MailClass::InternalNote => "internal_note",
            MailClass::Client => "client",
            MailClass::Impersonation => "impersonation",
            MailClass::Monitoring => "monitoring",
        }
    }
}

/// Configurable heuristics beyond the header signals POLICY lists.
#[derive(Debug, Clone, Default)]
pub struct AutomatedSignals {
    /// Local parts such as `mailer-daemon` (lower case).
    pub sender_local_parts: Vec<String>,
    /// Local-part endings of list and bounce managers such as `-bounces` (lower case).
    pub sender_local_suffixes: Vec<String>,
    /// Subject beginnings such as `undeliverable` (lower case), after Re:/Fwd: prefixes.
    pub subject_prefixes: Vec<String>,
    /// Phrases that mark a subject as machine-made wherever they stand (lower case).
    pub subject_phrases: Vec<String>,
    /// Phrases in the first part of the body that mark challenge-response and similar robots (lower case).
    pub body_phrases: Vec<String>,
}

/// How much of the body is searched for [`AutomatedSignals::body_phrases`].
const BODY_SCAN_BYTES: usize = 4096;

impl AutomatedSignals {
    fn robot_local(&self, local: &str) -> Option<String> {
        if let Some(l) = self.sender_local_parts.iter().find(|l| {
            local == l.as_str()
                || local.starts_with(&format!("{l}+"))
                || local.starts_with(&format!("{l}-"))
        }) {
            return Some(format!("{l}@"));
        }
        if local.starts_with("owner-") {
            return Some("owner-…@".into());
        }
        self.sender_local_suffixes
            .iter()
            .find(|s| local.ends_with(s.as_str()) && local.len() > s.len())
            .map(|s| format!("…{s}@"))
    }
}

/// Why a message counts as automated: the first signal that matched, for the record.
pub fn automated_signal(v: &MailView, signals: &AutomatedSignals) -> Option<String> {
    if let Some(a) = &v.auto_submitted {
        // RFC 3834: any value but "no" (parameters after ';' ignored).
        let token = a.split(';').next().unwrap_or("").trim();
        if token != "no" && !token.is_empty() {
            return Some(format!("Auto-Submitted: {token}"));
        }
    }
    if let Some(p) = &v.precedence {
        let p = p.trim();
        if ["bulk", "junk", "list", "auto_reply", "auto-reply"].contains(&p) {
            return Some(format!("Precedence: {p}"));
        }
    }
    if v.list_headers {
        return Some("List-Id/List-Unsubscribe".into());
    }
    if v.x_autoreply {
        return Some("X-Autoreply".into());
    }
    if v.return_path_empty {
        return Some("empty return path".into());
    }
    if v.is_report {
        return Some("multipart/report".into());
    }
    if v.failed_recipients_header {
        return Some("X-Failed-Recipients".into());
    }
    if v.spam_flag {
        return Some("spam verdict (X-Spam-Flag/X-Spam-Status)".into());
    }
    match &v.from {
        Some(from) => {
            if let Some(l) = signals.robot_local(from.local_part()) {
                return Some(format!("sender {l}"));
            }
        }
        // No usable From at all: nobody to acknowledge, and very likely machine-made.
        None => return Some("no sender address".into()),
    }
    // VERP and bulk senders: the envelope sender is a bounce handler.
    if let Some(rp) = &v.return_path {
        let local = rp.local_part();
        if local.starts_with("bounce") || signals.robot_local(local).is_some() {
            return Some(format!("return path {rp}"));
        }
    }
    let lower = v.subject.to_lowercase();
    let subject = crate::threading::strip_reply_prefixes(
        lower.trim_start_matches(|c: char| c == '*' || c.is_whitespace()),
    );
    if let Some(p) = signals
        .subject_prefixes
        .iter()
        .find(|p| subject.starts_with(p.as_str()))
    {
        return Some(format!("subject `{p}`"));
    }
    if let Some(p) = signals
        .subject_phrases
        .iter()
        .find(|p| subject.contains(p.as_str()))
    {
        return Some(format!("subject `{p}`"));
    }
    let mut end = v.body.len().min(BODY_SCAN_BYTES);
    while !v.body.is_char_boundary(end) {
        end -= 1;
    }
    let head = v.body[..end].to_lowercase();
    if let Some(p) = signals
        .body_phrases
        .iter()
        .find(|p| head.contains(p.as_str()))
    {
        return Some(format!("body `{p}`"));
    }
    None
}

/// Classifies a parsed message. `is_ours` says whether its Message-ID is one onit
/// generated; `team_proven` whether a team address in `From:` may be believed
/// (crate::trust); `monitoring` the monitoring senders. Returns the class and,
/// for automated mail, the signal that matched.
///
/// Mail from a monitoring sender is `Monitoring` before any other rule but our
/// own: monitoring systems send with robot signals (no-reply senders,
/// `Auto-Submitted`), and one at a team subdomain must not count as team mail.
/// Whether it is proven is judged where it is used (crate::monitoring).
pub fn classify(
    v: &MailView,
    team: &Team,
    signals: &AutomatedSignals,
    monitoring: &Monitoring,
    is_ours: bool,
    team_proven: bool,
) -> (MailClass, Option<String>) {
    if is_ours {
        return (MailClass::Own, None);
    }
    if let Some(source) = v.from.as_ref().and_then(|f| monitoring.source_of(f)) {
        return (MailClass::Monitoring, Some(source.as_str().to_string()));
    }
    let from_team = v.from.as_ref().is_some_and(|f| team.is_team(f));
    if from_team && !team_proven {
        return (MailClass::Impersonation, None);
    }
    if !from_team {
        if let Some(sig) = automated_signal(v, signals) {
            return (MailClass::Automated, Some(sig));
        }
        return (MailClass::Client, None);
    }
    let has_client = v.recipients().iter().any(|r| is_client(team, r));
    if has_client {
        let auto = v
            .auto_submitted
            .as_deref()
            .map(|a| a.split(';').next().unwrap_or("").trim().to_string());
        if auto.as_deref().is_some_and(|a| !a.is_empty() && a != "no") {
            (MailClass::Acknowledgment, None)
        } else {
            (MailClass::Contact, None)
        }
    } else {
        (MailClass::InternalNote, None)
    }
}

/// A client address: anyone who is neither team nor a support address.
pub fn is_client(team: &Team, a: &EmailAddress) -> bool {
    !team.is_team(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Runtime;

    fn view(headers: &str) -> MailView {
        MailView::parse(format!("{headers}\r\nMessage-ID: <t@x>\r\n\r\nbody\r\n").as_bytes())
            .expect("parses")
    }

    fn class_of(rt: &Runtime, headers: &str) -> (MailClass, Option<String>) {
        classify(
            &view(headers),
            &rt.team,
            &rt.automated,
            &rt.monitoring,
            false,
            true,
        )
    }

    #[test]
    fn the_five_kinds() {
        let rt = Runtime::load(None).expect("default config");
        let c = |h: &str| class_of(&rt, h).0;
        assert_eq!(
            c("From: bob@client.example\r\nTo: support@jac.example\r\nSubject: help"),
            MailClass::Client
        );
        assert_eq!(c("From: dan@jac.example\r\nTo: bob@client.example\r\nCc: support@jac.example\r\nSubject: Re: help"), MailClass::Contact);
        assert_eq!(
            c("From: support@jac.example\r\nTo: bob@client.example\r\nAuto-Submitted: auto-replied\r\nSubject: Re: help"),
            MailClass::Acknowledgment
        );
        assert_eq!(c("From: dan@jac.example\r\nTo: pm@jac.example\r\nCc: support@jac.example\r\nSubject: note"), MailClass::InternalNote);
        assert_eq!(c("From: bob@client.example\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office"), MailClass::Automated);
        assert_eq!(
            classify(
                &view("From: bob@client.example\r\nSubject: x"),
                &rt.team,
                &rt.automated,
                &rt.monitoring,
                true,
                true
            )
            .0,
            MailClass::Own
        );
    }

    #[test]
    fn a_monitoring_sender_comes_before_robots_and_the_team() {
        let rt = Runtime::load(None).expect("default config");
        let monitoring = Monitoring {
            senders: ["no-reply@ops.jac.example", "grafana.example"]
                .iter()
                .filter_map(|s| crate::monitoring::MonitoringSender::parse(s))
                .collect(),
            ..Monitoring::default()
        };
        let c = |h: &str, ours: bool| {
            classify(&view(h), &rt.team, &rt.automated, &monitoring, ours, false)
        };
        // A no-reply sender at a team subdomain, auto-submitted, unproven: an alert all the same.
        assert_eq!(
            c("From: no-reply@ops.jac.example\r\nAuto-Submitted: auto-generated\r\nSubject: [FIRING:1] X", false),
            (MailClass::Monitoring, Some("no-reply@ops.jac.example".into()))
        );
        assert_eq!(
            c("From: a@eu.grafana.example\r\nSubject: [FIRING:1] X", false).0,
            MailClass::Monitoring
        );
        assert_eq!(
            c("From: a@grafana.example\r\nSubject: x", true).0,
            MailClass::Own,
            "our own mail first"
        );
        assert_eq!(
            c("From: dan@jac.example\r\nSubject: x", false).0,
            MailClass::Impersonation,
            "the team is not a monitoring sender"
        );
    }

    #[test]
    fn every_policy_signal_and_no_false_alarm() {
        let rt = Runtime::load(None).expect("default config");
        for h in [
            "From: a@c.example\r\nAuto-Submitted: auto-generated",
            "From: a@c.example\r\nPrecedence: bulk",
            "From: a@c.example\r\nPrecedence: junk",
            "From: a@c.example\r\nPrecedence: list",
            "From: a@c.example\r\nPrecedence: auto_reply",
            "From: a@c.example\r\nList-Id: <l.c.example>",
            "From: a@c.example\r\nList-Unsubscribe: <mailto:u@c.example>",
            "From: a@c.example\r\nX-Autoreply: yes",
            "From: a@c.example\r\nX-Autorespond: yes",
            "From: a@c.example\r\nReturn-Path: <>",
            "From: MAILER-DAEMON@c.example",
            "From: postmaster@c.example",
            "From: no-reply@c.example",
            "From: a@c.example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b",
            "From: a@c.example\r\nSubject: Fwd: Returned mail: see transcript",
        ] {
            assert_eq!(class_of(&rt, h).0, MailClass::Automated, "{h}");
        }
        for h in [
            "From: a@c.example\r\nAuto-Submitted: no\r\nSubject: help",
            "From: a@c.example\r\nPrecedence: normal\r\nSubject: help",
            "From: admin@c.example\r\nSubject: Our out of office tool is broken",
            "From: a@c.example\r\nSubject: Undelivered invoices in your system",
        ] {
            assert_eq!(class_of(&rt, h).0, MailClass::Client, "{h}");
        }
    }
}
