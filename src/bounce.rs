//! Bounces are bounces: whether an automated message is a delivery failure, an
//! auto-reply (out-of-office, vacation, challenge-response, a helpdesk's "we got
//! your mail"), or neither. Pure: reads a [`MailView`] and nothing else.
//!
//! POLICY says "a bounce of our acknowledgment is a delivery failure the PM must
//! see". A failure is claimed only on evidence of one, strongest first:
//! 1. an RFC 3464 report (`multipart/report; report-type=delivery-status`) with a
//!    recipient whose `Action` is `failed` (a report of only `delayed`, `delivered`,
//!    `relayed` or `expanded` recipients is not a failure: the mail may still arrive);
//! 2. Exim's `X-Failed-Recipients` header;
//! 3. a bounce sender (`mailer-daemon@`, `postmaster@`… or the null sender `<>`)
//!    whose subject or first part of the body reads like a bounce;
//! 4. any sender whose subject *starts* like a bounce (`Undeliverable:`, `Returned
//!    mail`…) and whose body says why delivery failed (Lotus Notes, Exchange and
//!    gateways that send bounces from an ordinary-looking address).
//!
//! Everything here is written by whoever sent the mail: a phrase list can be fooled
//! into a wrong verdict, but never into mail to anyone but the PM, and an auto-reply
//! can only be taken for a failure when it also *looks* like one to a person.
//! `Auto-Submitted: auto-replied` alone never makes a failure (RFC 3834 tells
//! vacation responders to set it, and some MTAs set it on bounces: Exim).

use crate::message::MailView;

/// What an automated message is, for the ticket's timeline and the PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Our mail did not reach someone: recorded as `delivery_failure`.
    DeliveryFailure,
    /// An answer by a machine on a person's behalf: recorded as `auto_reply`.
    AutoReply,
    /// Anything else automated (delay warnings, read receipts, abuse reports, lists).
    Other,
}

impl Verdict {
    /// The event kind recorded when the message threads onto a ticket.
    pub fn event_kind(self) -> crate::ticket::EventKind {
        use crate::ticket::EventKind;
        match self {
            Verdict::DeliveryFailure => EventKind::DeliveryFailure,
            Verdict::AutoReply => EventKind::AutoReply,
            Verdict::Other => EventKind::Automated,
        }
    }

    /// The short name used in the corpus table (`bounce`, `auto-reply`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::DeliveryFailure => "bounce",
            Verdict::AutoReply => "auto-reply",
            Verdict::Other => "other",
        }
    }
}

/// A verdict and the evidence it rests on (kept in the event's detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub evidence: &'static str,
}

/// Local parts that send bounces (compared in lower case; `-`/`+` suffixes allowed).
const BOUNCE_SENDERS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "maildaemon",
    "postmaster",
    "mdaemon",
];

/// Subject text of bounces (lower case, anywhere in the subject).
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliverable",
    "undelivered",
    "not delivered",
    "non-delivery",
    "nondeliverable",
    "non deliverable",
    "delivery status notification",
    "mail failure",
    "failed mail",
    "mail failed",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "failed delivery",
    "mail delivery failed",
    "failure notice",
    "returned mail",
    "returned to sender",
    "mail system error",
    "could not send message",
    "delivery problem",
    "unable to deliver",
    "rejected",
];

/// Subject text of delay warnings: the server is still trying, nothing failed yet.
const DELAY_SUBJECTS: &[&str] = &[
    "delay",
    "warning",
    "not yet been delivered",
    "still being retried",
];

/// Body text of bounces (lower case, in the first [`SCAN_BYTES`] of the body).
const BOUNCE_BODY: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "cannot be delivered",
    "can't be delivered",
    "was not delivered",
    "wasn't delivered",
    "not be delivered",
    "was undeliverable",
    "undeliverable",
    "unable to deliver",
    "could not deliver",
    "couldn't deliver",
    "wasn't able to deliver",
    "delivery has failed",
    "delivery failed",
    "delivery to the following recipient",
    "failed permanently",
    "permanent error",
    "permanent fatal error",
    "permanent failure",
    "user unknown",
    "unknown user",
    "no such user",
    "not a valid user",
    "mailbox unavailable",
    "mailbox not found",
    "mailbox is full",
    "over quota",
    "recipient address rejected",
    "host unknown",
    "does not exist",
    "was rejected",
    "returned to sender",
    "this is the mail system at host",
    "i'm sorry to have to inform you",
];

/// Subject text of auto-replies (lower case, anywhere), in the languages the corpus shows.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "out-of-office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "autoresponse",
    "automated response",
    "vacation",
    "away from",
    "on holiday",
    "on leave",
    "abwesenheit",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
    "automatyczna odpowied",
    "autosvar",
    "automātiskā atbilde",
    "prombūtne",
];

/// Body text of auto-replies and challenge-response robots (lower case, start of the body).
const AUTO_REPLY_BODY: &[&str] = &[
    "out of the office",
    "out of office",
    "i am away",
    "i'm away",
    "i am currently away",
    "currently out",
    "on vacation",
    "on holiday",
    "on leave",
    "limited access to e-mail",
    "limited access to email",
    "unable to read your message",
    "will be back",
    "will return",
    "back in the office",
    "automatic reply",
    "automatically generated",
    "auto-reply",
    "we have received your",
    "has been received",
    "approved senders",
    "verify your",
    "please verify",
    "guest list",
];

/// How much of the body the phrase lists look at: bounces and auto-replies say
/// what they are at the top; further down is the quoted original, written by anyone.
const SCAN_BYTES: usize = 8192;

fn head_of(body: &str) -> String {
    let mut end = body.len().min(SCAN_BYTES);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_lowercase()
}

fn any_in(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| text.contains(p))
}

fn bounce_sender(v: &MailView) -> bool {
    let robot = |local: &str| {
        let local = local.to_ascii_lowercase();
        BOUNCE_SENDERS.iter().any(|s| {
            local == *s
                || local.starts_with(&format!("{s}-"))
                || local.starts_with(&format!("{s}+"))
        })
    };
    v.from.as_ref().is_none_or(|f| robot(f.local_part()))
        || v.return_path_empty
        || v.return_path
            .as_ref()
            .is_some_and(|r| robot(r.local_part()))
}

pub use crate::message::dsn_actions;

/// Judges one automated message. See the module documentation for the order.
pub fn judge(v: &MailView) -> Finding {
    let found = |verdict, evidence| Finding { verdict, evidence };
    match v.report_type.as_deref() {
        Some("delivery-status") | Some("global-delivery-status") => {
            if v.dsn_actions.iter().any(|a| a == "failed") {
                return found(Verdict::DeliveryFailure, "delivery status report: failed");
            }
            if !v.dsn_actions.is_empty() {
                return found(Verdict::Other, "delivery status report: not failed");
            }
            // A report that names no recipient's Action: judged by its words below.
        }
        // Read receipts, abuse reports (ARF) and other reports are neither.
        Some(_) => return found(Verdict::Other, "report (not delivery status)"),
        None => {}
    }
    if v.failed_recipients_header {
        return found(Verdict::DeliveryFailure, "X-Failed-Recipients");
    }
    let subject = v.subject.to_lowercase();
    let body = head_of(&v.body);
    let bounce_body = any_in(&body, BOUNCE_BODY);
    let from_bounce_sender = bounce_sender(v);
    if from_bounce_sender && any_in(&subject, DELAY_SUBJECTS) {
        return found(Verdict::Other, "delay warning");
    }
    if from_bounce_sender && (bounce_body || any_in(&subject, BOUNCE_SUBJECTS)) {
        return found(Verdict::DeliveryFailure, "bounce sender and bounce text");
    }
    // A subject that *starts* like a bounce, not a person's "Re: undelivered invoices".
    let subject_start = subject.trim_start_matches(|c: char| !c.is_alphanumeric());
    if bounce_body && BOUNCE_SUBJECTS.iter().any(|p| subject_start.starts_with(p)) {
        return found(Verdict::DeliveryFailure, "bounce subject and bounce text");
    }
    if v.report_type.is_some() {
        return found(Verdict::Other, "delivery status report without failure");
    }
    let auto = v.auto_submitted.as_deref().map(|a| {
        a.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if auto.as_deref() == Some("auto-replied") {
        return found(Verdict::AutoReply, "Auto-Submitted: auto-replied");
    }
    if v.x_autoreply {
        return found(Verdict::AutoReply, "X-Autoreply");
    }
    let precedence = v.precedence.as_deref().map(str::trim);
    if matches!(precedence, Some("auto_reply") | Some("auto-reply")) {
        return found(Verdict::AutoReply, "Precedence: auto_reply");
    }
    if v.list_headers {
        return found(Verdict::Other, "list mail");
    }
    if any_in(&subject, AUTO_REPLY_SUBJECTS) {
        return found(Verdict::AutoReply, "auto-reply subject");
    }
    // Vacation programs older than RFC 3834 mark their replies bulk or junk.
    if matches!(precedence, Some("bulk") | Some("junk")) {
        return found(
            Verdict::AutoReply,
            "Precedence: bulk/junk without list headers",
        );
    }
    if any_in(&body, AUTO_REPLY_BODY) {
        return found(Verdict::AutoReply, "auto-reply text");
    }
    found(Verdict::Other, "no evidence of a failure or an auto-reply")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge_raw(raw: &str) -> Finding {
        judge(&MailView::parse(raw.replace('\n', "\r\n").as_bytes()).expect("parses"))
    }

    fn dsn(action: &str) -> String {
        format!(
            "From: MAILER-DAEMON@mx.example\nTo: support@jac.example\nSubject: Delivery Status Notification\nMessage-ID: <d@mx>\nContent-Type: multipart/report; report-type=delivery-status; boundary=BB\n\n--BB\nContent-Type: text/plain\n\nA note.\n--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; bob@acme.example\nAction: {action}\nStatus: 4.4.1\n--BB--\n"
        )
    }

    #[test]
    fn a_failed_dsn_is_a_failure_and_a_delay_is_not() {
        assert_eq!(judge_raw(&dsn("failed")).verdict, Verdict::DeliveryFailure);
        assert_eq!(judge_raw(&dsn("delayed")).verdict, Verdict::Other);
        assert_eq!(judge_raw(&dsn("delivered")).verdict, Verdict::Other);
        // Exim's delay warning says auto-replied and names no Action.
        let exim = "From: Mail Delivery System <Mailer-Daemon@mx.example>\nSubject: Warning: message 1GdV3O delayed 72 hours\nAuto-Submitted: auto-replied\nMessage-ID: <w@mx>\n\nThis message has not yet been delivered. It will be retried.\n";
        assert_eq!(judge_raw(exim).verdict, Verdict::Other);
    }

    #[test]
    fn dsn_actions_read_each_recipient() {
        assert_eq!(
            dsn_actions("Reporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: Failed\r\n\r\nFinal-Recipient: rfc822; c@d\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; e@f\r\nAction: delayed (retrying)\r\n"),
            vec!["failed", "failed", "delayed"]
        );
        assert!(dsn_actions("Reporting-MTA: dns; x\n").is_empty());
    }

    #[test]
    fn an_out_of_office_that_replies_to_our_ack_is_an_auto_reply() {
        let f = judge_raw("From: bob@acme.example\nTo: support@jac.example\nSubject: Automatic reply: Re: Help [JAC-1]\nAuto-Submitted: auto-replied\nIn-Reply-To: <ack@jac.example>\nMessage-ID: <o@acme>\n\nI am out of the office until Monday. Your mail could not be read.\n");
        assert_eq!(f.verdict, Verdict::AutoReply);
        // No RFC 3834 header at all: the subject or the words still tell.
        for raw in [
            "From: bob@acme.example\nSubject: Out of Office: Re: Help\nMessage-ID: <o@a>\n\nBack on Monday.\n",
            "From: bob@acme.example\nSubject: Re: Help\nMessage-ID: <o@a>\n\nThank you, I am on vacation and will return on 4 January.\n",
            "From: bob@acme.example\nSubject: Thanks\nPrecedence: junk\nMessage-ID: <o@a>\n\nThanks.\n",
        ] {
            assert_eq!(judge_raw(raw).verdict, Verdict::AutoReply, "{raw}");
        }
    }

    #[test]
    fn an_exim_bounce_saying_auto_replied_is_still_a_bounce() {
        let f = judge_raw("From: Mail Delivery System <Mailer-Daemon@mx.example>\nTo: support@jac.example\nSubject: Mail delivery failed: returning message to sender\nAuto-Submitted: auto-replied\nX-Failed-Recipients: bob@acme.example\nMessage-ID: <e@mx>\n\nThis message was created automatically by mail delivery software.\n");
        assert_eq!(
            f,
            Finding {
                verdict: Verdict::DeliveryFailure,
                evidence: "X-Failed-Recipients"
            }
        );
    }

    #[test]
    fn bounce_words_need_a_bounce_sender_or_a_bounce_subject() {
        let bounce = "From: postmaster@mx.example\nSubject: Returned mail: see transcript\nMessage-ID: <p@mx>\n\n550 5.1.1 bob@acme.example... User unknown\n";
        assert_eq!(judge_raw(bounce).verdict, Verdict::DeliveryFailure);
        let notes = "From: Notes Server <notes@acme.example>\nSubject: Undeliverable: Help\nMessage-ID: <n@a>\n\nYour message could not be delivered: no such user.\n";
        assert_eq!(judge_raw(notes).verdict, Verdict::DeliveryFailure);
        // A person (or an auto-reply) using the same words is not a bounce.
        let person = "From: bob@acme.example\nSubject: Re: undelivered invoices\nAuto-Submitted: auto-replied\nMessage-ID: <b@a>\n\nThe invoice could not be delivered, I am out of the office.\n";
        assert_eq!(judge_raw(person).verdict, Verdict::AutoReply);
    }

    #[test]
    fn reports_that_are_not_delivery_status_are_other() {
        let arf = "From: abuse@isp.example\nSubject: Abuse report\nMessage-ID: <a@i>\nContent-Type: multipart/report; report-type=feedback-report; boundary=BB\n\n--BB\nContent-Type: text/plain\n\nundeliverable spam complaint\n--BB--\n";
        assert_eq!(judge_raw(arf).verdict, Verdict::Other);
        let list = "From: news@shop.example\nSubject: Our vacation deals\nList-Id: <n.shop.example>\nMessage-ID: <l@s>\n\nDeals.\n";
        // The subject names a vacation, but list mail is not an answer to anyone.
        assert_eq!(judge_raw(list).verdict, Verdict::Other);
    }
}
