//! Writing outgoing mail with lettre. Everything that came from a client
//! (names, subjects, Message-IDs) passes through [`single_line`] or
//! [`threading_id`] before it reaches a header, so nothing a client
//! sends can add or change a header of ours, and no line we write is longer
//! than RFC 5322's 998 characters.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;

use crate::address::EmailAddress;
use crate::message::{normalize_message_id, single_line, subject_text};

/// How many References we carry forward (the first and the newest ones).
const MAX_REFERENCES: usize = 20;
/// RFC 5322 2.1.1: a line is at most 998 characters.
const MAX_LINE: usize = 998;

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

/// A fresh Message-ID of ours (without brackets): `onit.<tag>.<random>@<domain>`,
/// with 128 bits from the operating system's cryptographic random source. Our
/// Message-IDs thread client replies onto tickets, so they must not be guessable;
/// our own mail coming back is recognised by the outbox, never by this shape.
pub fn new_message_id(tag: &str, domain: &str) -> String {
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!(
        "onit.{}.{}@{}",
        tag.to_ascii_lowercase(),
        random_hex(16),
        domain
    )
}

/// `n` bytes from the operating system's cryptographic random source, in hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // Without the OS's entropy no safe identifier can be made; this never fails on Linux.
    getrandom::fill(&mut buf).expect("the operating system's random source");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A subject cut to 200 characters, one line, no format characters.
pub fn clean_subject(s: &str) -> String {
    subject_text(s)
}

/// A client's Message-ID (with or without `<>`) when it is a valid RFC 5322
/// `msg-id` in its strict form, `dot-atom-text "@" (dot-atom-text / "[" *dtext "]")`,
/// ASCII only, and fits a header line; None otherwise (quotes, spaces, non-ASCII,
/// no `@`: dropped from our In-Reply-To/References rather than copied).
pub fn threading_id(s: &str) -> Option<String> {
    let id = normalize_message_id(s)?;
    let (left, right) = id.rsplit_once('@')?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom =
        |s: &str| !s.is_empty() && s.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    let literal = |s: &str| {
        s.len() >= 2
            && s.starts_with('[')
            && s.ends_with(']')
            && s[1..s.len() - 1]
                .chars()
                .all(|c| matches!(c, '!'..='Z' | '^'..='~'))
    };
    let fits = "In-Reply-To: <>".len() + id.len() <= MAX_LINE;
    (dot_atom(left) && (dot_atom(right) || literal(right)) && fits).then_some(id)
}

/// The References we write (RFC 5322 3.6.4): the valid ids, at most
/// [`MAX_REFERENCES`], the first one (the thread's root) kept and then the
/// newest ones that fit, so the header stays within one 998-character line
/// however it is folded.
pub fn trimmed_references(refs: &[String]) -> Vec<String> {
    let ids: Vec<String> = refs.iter().filter_map(|r| threading_id(r)).collect();
    let Some((first, rest)) = ids.split_first() else {
        return Vec::new();
    };
    let cost = |id: &String| id.len() + 3; // "<id>" and a space
    let mut room = MAX_LINE - "References: ".len() - cost(first);
    let mut newest = Vec::new();
    for id in rest.iter().rev() {
        if newest.len() + 1 >= MAX_REFERENCES || cost(id) > room {
            break;
        }
        room -= cost(id);
        newest.push(id.clone());
    }
    std::iter::once(first.clone())
        .chain(newest.into_iter().rev())
        .collect()
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

/// An image shown inside the HTML part, which names it `<img src="cid:ID">`
/// (RFC 2392): the weekly digest's trend charts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    /// The Content-ID without angle brackets (`trend-1.abc@jac.example`).
    pub content_id: String,
    /// `image/png`.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Renders a `multipart/alternative` message: `m.body` as the text/plain part and
/// `html` as the text/html part (the PM digests). With `inline` images the HTML
/// part becomes `multipart/related` (RFC 2387): the HTML first, then each image
/// with its `Content-ID`, so a text-only reader never sees them as attachments.
/// Headers as for [`render_plain`].
pub fn render_alternative(
    m: &PlainMail<'_>,
    html: String,
    inline: &[InlineImage],
) -> Result<Vec<u8>> {
    use lettre::message::{Attachment, MultiPart, SinglePart};
    let body = if inline.is_empty() {
        MultiPart::alternative_plain_html(crlf(&m.body), crlf(&html))
    } else {
        let mut related = MultiPart::related().singlepart(SinglePart::html(crlf(&html)));
        for image in inline {
            let kind = ContentType::parse(image.content_type)
                .with_context(|| format!("content type {}", image.content_type))?;
            related = related.singlepart(
                Attachment::new_inline(image.content_id.clone()).body(image.bytes.clone(), kind),
            );
        }
        MultiPart::alternative()
            .singlepart(SinglePart::plain(crlf(&m.body)))
            .multipart(related)
    };
    let msg = headers(m)?.multipart(body).context("building message")?;
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
    if let Some(irt) = m.in_reply_to.and_then(threading_id) {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    let refs = trimmed_references(m.references);
    if !refs.is_empty() {
        let joined = refs
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
    fn inline_images_make_the_html_part_related() {
        use mail_parser::{MessageParser, MimeHeaders};
        let from = EmailAddress::parse("support@jac.example").unwrap();
        let to = vec![(EmailAddress::parse("pm@jac.example").unwrap(), None)];
        let m = PlainMail {
            message_id: "onit.digest.abc@jac.example",
            from: &from,
            from_name: None,
            to: &to,
            cc: &[],
            subject: "Weekly status",
            in_reply_to: None,
            references: &[],
            date: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 27, 15, 0, 0).unwrap(),
            auto_submitted: Some("auto-generated"),
            ticket: None,
            body: "acme: 9 Oct 50%".into(),
        };
        let image = InlineImage {
            content_id: "trend-1.20261127@jac.example".into(),
            content_type: "image/png",
            bytes: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255],
        };
        let html = "<img src=\"cid:trend-1.20261127@jac.example\">".to_string();
        let raw = render_alternative(&m, html.clone(), std::slice::from_ref(&image)).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let (alt, related) = (
            text.find("multipart/alternative").expect("alternative"),
            text.find("multipart/related").expect("related"),
        );
        assert!(alt < related, "{text}");
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(msg.body_text(0).unwrap().trim(), "acme: 9 Oct 50%");
        assert!(msg
            .body_html(0)
            .unwrap()
            .contains("cid:trend-1.20261127@jac.example"));
        let part = msg
            .parts
            .iter()
            .find(|p| p.content_type().is_some_and(|c| c.ctype() == "image"))
            .expect("the image part");
        assert_eq!(part.content_id(), Some("trend-1.20261127@jac.example"));
        assert_eq!(part.contents(), &image.bytes[..]);
        assert!(text.contains("Content-Disposition: inline"), "{text}");
        // Without images: plain multipart/alternative, as before.
        let raw = render_alternative(&m, html, &[]).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("multipart/related"));
    }

    #[test]
    fn our_ids_carry_128_random_bits() {
        let id = new_message_id("JAC-7", "jac.example");
        let random = id
            .strip_prefix("onit.jac-7.")
            .and_then(|r| r.strip_suffix("@jac.example"))
            .unwrap_or_else(|| panic!("{id}"));
        assert_eq!(random.len(), 32, "{id}");
        assert!(random.chars().all(|c| c.is_ascii_hexdigit()));
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_message_id("x", "d")).collect();
        assert_eq!(ids.len(), 10_000);
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

    fn render_reply(subject: &str, in_reply_to: &str, references: &[String]) -> String {
        let from = EmailAddress::parse("support@jac.example").unwrap();
        let to = vec![(EmailAddress::parse("bob@client.example").unwrap(), None)];
        let raw = render_plain(&PlainMail {
            message_id: "onit.1.abc@jac.example",
            from: &from,
            from_name: None,
            to: &to,
            cc: &[],
            subject,
            in_reply_to: Some(in_reply_to),
            references,
            date: Utc::now(),
            auto_submitted: Some("auto-replied"),
            ticket: Some("JAC-1"),
            body: "hello".into(),
        })
        .unwrap();
        String::from_utf8(raw).unwrap()
    }

    #[test]
    fn only_valid_msg_ids_reach_our_threading_headers() {
        for good in [
            "<a.b+c@x.example>",
            "a@b",
            "<123$!#'*/=?^_`{|}~-@[10.0.0.1]>",
            "<CAF=x_y@mail.gmail.com>",
        ] {
            assert!(threading_id(good).is_some(), "{good}");
        }
        for bad in [
            "<\"quoted\"@x.example>",
            "<a b@x>",
            "<ü@x.example>",
            "<a@ü.example>",
            "<no-at-sign>",
            "<a..b@x>",
            "<.a@x>",
            "<a@>",
            "<@x>",
            "<a@[1\\]>",
            "<a@b@c>",
            "",
        ] {
            assert_eq!(threading_id(bad), None, "{bad}");
        }
        let long = format!("<{}@x.example>", "a".repeat(990));
        assert_eq!(threading_id(&long), None, "too long for one line");

        let text = render_reply(
            "hi",
            "<\"evil\"@x.example>",
            &["<ü@x>".into(), "<ok@x>".into()],
        );
        let headers = text.split("\r\n\r\n").next().unwrap();
        assert!(!headers.contains("In-Reply-To"), "{headers}");
        assert!(headers.contains("References: <ok@x>"), "{headers}");
    }

    #[test]
    fn references_keep_the_first_and_the_newest_within_998_characters() {
        // 60 ids of ~60 characters: 3,700 characters as given.
        let refs: Vec<String> = (0..60)
            .map(|i| format!("<{i:03}.{}@mail.client.example>", "r".repeat(36)))
            .collect();
        let kept = trimmed_references(&refs);
        assert_eq!(
            kept[0],
            normalize_message_id(&refs[0]).unwrap(),
            "the root stays"
        );
        assert_eq!(
            kept.last(),
            normalize_message_id(&refs[59]).as_ref(),
            "the parent stays"
        );
        assert!(kept.len() <= MAX_REFERENCES);
        // The ids kept after the root are the newest, in order.
        let n = kept.len();
        for (k, id) in kept[1..].iter().enumerate() {
            assert_eq!(id, &normalize_message_id(&refs[60 - (n - 1) + k]).unwrap());
        }
        // Few but huge ids: as many as fit.
        let huge: Vec<String> = (0..5)
            .map(|i| format!("<{i}{}@x.example>", "h".repeat(400)))
            .collect();
        let kept = trimmed_references(&huge);
        assert_eq!(kept.len(), 2, "root + the newest that fits");
        assert!(kept[1].starts_with('4'));

        let text = render_reply("hi", "<p@x>", &huge);
        for line in text.split("\r\n") {
            assert!(line.len() <= 998, "a {}-character line", line.len());
        }
        let text = render_reply("hi", "<p@x>", &refs);
        for line in text.split("\r\n") {
            assert!(line.len() <= 998, "a {}-character line", line.len());
        }
        assert!(text.contains("References: <000."), "{text}");
    }

    #[test]
    fn subjects_are_cut_to_200_characters_and_lose_bidi_controls() {
        let evil = format!("Invoice \u{202E}fdp.exe\u{202C} {}", "x".repeat(5_000_000));
        let s = clean_subject(&evil);
        assert_eq!(s.chars().count(), 200);
        assert!(s.starts_with("Invoice fdp.exe xxx"), "{s}");
        assert!(s.ends_with('…'));
        let text = render_reply(&evil, "<p@x>", &[]);
        assert!(text.len() < 2_000, "{} bytes", text.len());
        assert!(!text.contains('\u{202E}'));
    }
}
