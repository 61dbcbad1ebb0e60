//! POLICY "What arrives": which of the five kinds a message is. Pure: the
//! caller says whether the Message-ID is one of ours.

use crate::address::EmailAddress;
use crate::config::Team;
use crate::message::MailView;

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
        }
    }
}

/// Configurable heuristics beyond the header signals POLICY lists.
#[derive(Debug, Clone, Default)]
pub struct AutomatedSignals {
    /// Local parts such as `mailer-daemon` (lower case).
    pub sender_local_parts: Vec<String>,
    /// Subject beginnings such as `undeliverable` (lower case).
    pub subject_prefixes: Vec<String>,
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
    match &v.from {
        Some(from) => {
            let local = from.local_part();
            if let Some(l) = signals.sender_local_parts.iter().find(|l| local == l.as_str() || local.starts_with(&format!("{l}+")) || local.starts_with(&format!("{l}-"))) {
                return Some(format!("sender {l}@"));
            }
        }
        // No usable From at all: nobody to acknowledge, and very likely machine-made.
        None => return Some("no sender address".into()),
    }
    let subject = v.subject.to_lowercase();
    let subject = subject.trim_start_matches(|c: char| c == '*' || c.is_whitespace());
    if let Some(p) = signals.subject_prefixes.iter().find(|p| subject.starts_with(p.as_str())) {
        return Some(format!("subject `{p}`"));
    }
    None
}

/// Classifies a parsed message. `is_ours` says whether its Message-ID is one onit generated.
/// Returns the class and, for automated mail, the signal that matched.
pub fn classify(v: &MailView, team: &Team, signals: &AutomatedSignals, is_ours: bool) -> (MailClass, Option<String>) {
    if is_ours {
        return (MailClass::Own, None);
    }
    let from_team = v.from.as_ref().is_some_and(|f| team.is_team(f));
    if !from_team {
        if let Some(sig) = automated_signal(v, signals) {
            return (MailClass::Automated, Some(sig));
        }
        return (MailClass::Client, None);
    }
    let has_client = v.recipients().iter().any(|r| is_client(team, r));
    if has_client {
        let auto = v.auto_submitted.as_deref().map(|a| a.split(';').next().unwrap_or("").trim().to_string());
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
