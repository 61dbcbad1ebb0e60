//! Writing outgoing mail with lettre. Everything that came from a client
//! (names, subjects, Message-IDs) passes through [`single_line`] or
//! [`normalize_message_id`] before it reaches a header, so nothing a client
//! sends can add or change a header of ours.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;

use crate::address::EmailAddress;
use crate::message::{normalize_message_id, single_line};

/// Longest subject we write; longer client subjects are cut (on a char boundary).
const MAX_SUBJECT_CHARS: usize = 200;
/// How many References we carry forward (the newest ones).
const MAX_REFERENCES: usize = 20;

/// `Auto-Submitted: auto-replied` (RFC 3834), so other robots do not answer ours.
#[derive(Clone, Debug)]
struct AutoSubmitted(&'static str);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match s.trim() {
            "auto-replied" => Ok(AutoSubmitted("auto-replied")),
            "auto-generated" => Ok(AutoSubmitted("auto-generated")),
            other => Err(format!("unsupported Auto-Submitted value {other}").into()),
        }
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.to_string())
    }
}

/// `X-Auto-Response-Suppress: All`: asks Exchange not to send out-of-office replies to us.
#[derive(Clone, Debug)]
struct AutoResponseSuppress;

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(_s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoResponseSuppress)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "All".to_string())
    }
}

/// `X-Onit-Ticket: JAC-7`, for filters and for people reading raw mail.
#[derive(Clone, Debug)]
struct OnitTicket(String);

impl Header for OnitTicket {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Onit-Ticket")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(OnitTicket(single_line(s)))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// A fresh Message-ID of ours (without brackets): `onit.<tag>.<random>@<domain>`.
/// The `onit.` prefix and our domain let ingest recognise our own mail coming back.
pub fn new_message_id(tag: &str, domain: &str) -> String {
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!(
        "onit.{}.{:016x}{:08x}@{}",
        tag.to_ascii_lowercase(),
        fastrand::u64(..),
        fastrand::u32(..),
        domain
    )
}

/// True when a Message-ID has the shape [`new_message_id`] gives for `domain`.
pub fn is_our_message_id(id: &str, domain: &str) -> bool {
    id.starts_with("onit.")
        && id
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
}

/// A subject cut to a sane length, one line.
pub fn clean_subject(s: &str) -> String {
    let s = single_line(s);
    if s.chars().count() <= MAX_SUBJECT_CHARS {
        return s;
    }
    let mut out: String = s.chars().take(MAX_SUBJECT_CHARS).collect();
    out.push('…');
    out
}

/// A display name safe for a header, or none.
pub fn clean_name(s: Option<&str>) -> Option<String> {
    s.map(single_line)
        .map(|n| n.chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty())
}

/// What goes into one plain-text message of ours.
#[derive(Debug, Clone)]
pub struct PlainMail<'a> {
    pub message_id: &'a str,
    pub from: &'a EmailAddress,
    pub from_name: Option<&'a str>,
    pub to: &'a [(EmailAddress, Option<String>)],
    pub cc: &'a [EmailAddress],
    pub subject: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub date: DateTime<Utc>,
    pub auto_submitted: Option<&'static str>,
    pub ticket: Option<&'a str>,
    pub body: String,
}

fn mailbox(addr: &EmailAddress, name: Option<&str>) -> Result<Mailbox> {
    let address = addr
        .as_str()
        .parse()
        .with_context(|| format!("address {addr} not accepted by lettre"))?;
    Ok(Mailbox::new(clean_name(name), address))
}

/// Renders a message to RFC 5322 bytes (CRLF line ends, encoded as lettre decides).
pub fn render_plain(m: &PlainMail<'_>) -> Result<Vec<u8>> {
    let msg = headers(m)?
        .header(ContentType::TEXT_PLAIN)
        .body(crlf(&m.body))
        .context("building message")?;
    Ok(msg.formatted())
}

/// Renders a `multipart/alternative` message: `m.body` as the text/plain part and
/// `html` as the text/html part (the PM digests). Headers as for [`render_plain`].
pub fn render_alternative(m: &PlainMail<'_>, html: String) -> Result<Vec<u8>> {
    let msg = headers(m)?
        .multipart(lettre::message::MultiPart::alternative_plain_html(
            crlf(&m.body),
            crlf(&html),
        ))
        .context("building message")?;
    Ok(msg.formatted())
}

/// Line endings made CRLF in one pass. lettre does the same for a body that has
/// bare LFs, but inserts each CR separately (quadratic: a digest listing 5,000
/// open tickets took seconds per mail); a body that is already CRLF is left as is.
fn crlf(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    let mut prev = '\0';
    for c in s.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

/// Every header of ours, cleaned: what both renderers share.
fn headers(m: &PlainMail<'_>) -> Result<lettre::message::MessageBuilder> {
    let mut b = Message::builder()
        .from(mailbox(m.from, m.from_name)?)
        .subject(clean_subject(m.subject))
        .message_id(Some(format!("<{}>", m.message_id)))
        .date(m.date.into());
    for (addr, name) in m.to {
        b = b.to(mailbox(addr, name.as_deref())?);
    }
    for addr in m.cc {
        if !m.to.iter().any(|(a, _)| a == addr) {
            b = b.cc(mailbox(addr, None)?);
        }
    }
    if let Some(irt) = m.in_reply_to.and_then(normalize_message_id) {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    let refs: Vec<String> = m
        .references
        .iter()
        .filter_map(|r| normalize_message_id(r))
        .collect();
    if !refs.is_empty() {
        let start = refs.len().saturating_sub(MAX_REFERENCES);
        let joined = refs[start..]
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(" ");
        b = b.references(joined);
    }
    if let Some(a) = m.auto_submitted {
        b = b.header(AutoSubmitted(a)).header(AutoResponseSuppress);
    }
    if let Some(t) = m.ticket {
        b = b.header(OnitTicket(t.to_string()));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_become_crlf_once() {
        assert_eq!(crlf("a\nb\r\nc\n\n"), "a\r\nb\r\nc\r\n\r\n");
        assert_eq!(crlf("\nx"), "\r\nx");
        assert_eq!(crlf(""), "");
        // Long bodies stay linear: 200,000 lines.
        let long = "row\n".repeat(200_000);
        assert_eq!(crlf(&long).len(), long.len() + 200_000);
    }

    #[test]
    fn our_ids_are_recognised() {
        let id = new_message_id("JAC-7", "jac.example");
        assert!(is_our_message_id(&id, "jac.example"), "{id}");
        assert!(!is_our_message_id(&id, "other.example"));
        assert!(!is_our_message_id("abc@jac.example", "jac.example"));
        assert_ne!(new_message_id("x", "d"), new_message_id("x", "d"));
    }

    #[test]
    fn hostile_subject_and_name_cannot_add_headers() {
        let from = EmailAddress::parse("support@jac.example").unwrap();
        let to = vec![(
            EmailAddress::parse("bob@client.example").unwrap(),
            Some("Bob\r\nBcc: evil@x.example".to_string()),
        )];
        let raw = render_plain(&PlainMail {
            message_id: "onit.1.abc@jac.example",
            from: &from,
            from_name: Some("JAC Support"),
            to: &to,
            cc: &[],
            subject: "Re: hi\r\nBcc: evil@x.example\r\nX-Evil: 1",
            in_reply_to: Some("<a\r\nBcc: x@y>"),
            references: &["1@x".to_string(), "bad id with spaces".to_string()],
            date: Utc::now(),
            auto_submitted: Some("auto-replied"),
            ticket: Some("JAC-1"),
            body: "hello".into(),
        })
        .unwrap();
        let text = String::from_utf8_lossy(&raw);
        let headers = text.split("\r\n\r\n").next().unwrap();
        for line in headers.split("\r\n") {
            let name = line.split(':').next().unwrap_or("");
            assert!(
                !name.eq_ignore_ascii_case("bcc") && !name.eq_ignore_ascii_case("x-evil"),
                "injected header line: {line}"
            );
        }
        assert!(headers.contains("Auto-Submitted: auto-replied"));
        assert!(headers.contains("References: <1@x>"));
        assert!(
            !headers.contains("In-Reply-To"),
            "a malformed id must be dropped:\n{headers}"
        );
        let parsed = crate::message::MailView::parse(&raw).unwrap();
        assert_eq!(parsed.message_id, "onit.1.abc@jac.example");
        assert_eq!(parsed.subject, "Re: hi Bcc: evil@x.example X-Evil: 1");
    }
}
