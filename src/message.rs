//! What onit reads out of one raw message: a small, owned view built from
//! mail-parser's tree. Everything here came from the network, so nothing is
//! trusted: addresses that do not parse are dropped (and counted), header text
//! is kept verbatim for classification, and a missing Message-ID gets a stable
//! one derived from the content so that a re-delivery dedupes.

use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use crate::address::EmailAddress;
use crate::policy::own_words::OwnWords;

/// The parts of a message that classification, threading and policy need.
#[derive(Debug, Clone, Default)]
pub struct MailView {
    /// Message-ID without angle brackets; derived from the content when missing.
    pub message_id: String,
    /// True when `message_id` was derived, not read from the header.
    pub message_id_derived: bool,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Option<EmailAddress>,
    pub from_name: Option<String>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    /// To/Cc addresses left out by [`MailView::keep_recipients`].
    pub recipients_omitted: usize,
    /// The size of the whole message when it was over `mailbox.max_message_bytes`
    /// and only its header was read (src/oversize.rs); set by the source, never parsed.
    pub too_large: Option<u64>,
    /// Decoded subject with control characters (CR, LF, TAB…) folded to spaces.
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// The date of the topmost `Received:` header (the hop that delivered it), if it parses.
    pub received_at: Option<DateTime<Utc>>,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_headers: bool,
    pub x_autoreply: bool,
    pub return_path_empty: bool,
    /// The envelope sender from `Return-Path`, when it is an address.
    pub return_path: Option<EmailAddress>,
    /// An upstream filter marked the message as spam (`X-Spam-Flag: YES`, `X-Spam-Status: Yes…`).
    pub spam_flag: bool,
    pub failed_recipients_header: bool,
    pub is_report: bool,
    /// The `report-type` of a `multipart/report` root, lower case (`delivery-status`, `feedback-report`…).
    pub report_type: Option<String>,
    /// The `Action` of every recipient in a `message/delivery-status` part, lower case
    /// (`failed`, `delayed`, `delivered`…); a recipient with no Action but a 5.x.x Status counts as `failed`.
    pub dsn_actions: Vec<String>,
    /// Message-IDs of messages quoted inside a bounce or report (attached message/rfc822 or text/rfc822-headers).
    pub embedded_ids: Vec<String>,
    /// The plain-text body (HTML converted), as sent.
    pub body: String,
    /// The author's own words (quotes and signatures removed), read once
    /// here from the text/plain or text/html part that shows the quote best.
    pub own_words: OwnWords,
    /// What the headers say about who sent it, for [`crate::trust::judge`].
    pub sender_facts: crate::trust::SenderFacts,
    /// An Alertmanager-style group key a monitoring system put in a header
    /// (`X-Alertmanager-Group-Key`, `X-Group-Key`), one line: crate::monitoring.
    pub alert_group_key: Option<String>,
}

/// A message whose bytes mail-parser could not make anything of.
#[derive(Debug, thiserror::Error)]
#[error("message could not be parsed ({len} bytes)")]
pub struct Unparseable {
    pub len: usize,
    /// A stable id derived from the bytes, so the failure is recorded once.
    pub derived_id: String,
}

/// Longest body text kept for policy checks; the raw message is stored whole.
const MAX_BODY_CHARS: usize = 256 * 1024;

/// Longest subject onit writes, in a header or in a body; longer ones are cut
/// ([`subject_text`]).
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest subject kept from a message (a 5 MB subject would otherwise be
/// stored four times over); threading by subject compares up to here.
const MAX_KEPT_SUBJECT_CHARS: usize = 1000;

/// Client text fit for a header or a line of ours: CR, LF and other control
/// characters folded to single spaces, trimmed, so a decoded header value can
/// never smuggle a header break into mail we write; and Unicode format
/// characters removed ([`is_format_char`]: a U+202E right-to-left override in a
/// subject would turn the rest of our line around).
pub fn single_line(s: &str) -> String {
    let mut t = fold_controls(s);
    if t.chars().any(is_format_char) {
        t = fold_controls(&t.replace(is_format_char, ""));
    }
    t
}

/// A subject as onit writes it: [`single_line`], cut to [`MAX_SUBJECT_CHARS`].
pub fn subject_text(s: &str) -> String {
    cut_chars(&single_line(s), MAX_SUBJECT_CHARS)
}

/// `s` cut to at most `max` characters, the last one `…` when it was cut.
pub fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            format!("{}…", s[..end].trim_end())
        }
    }
}

/// Unicode's format characters (general category Cf, Unicode 15): the bidi
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the
/// invisible marks and joiners (U+200B–U+200F, U+2060–U+2064), the soft hyphen,
/// the BOM, the tag characters. They are invisible and only change how the text
/// around them is shown; mail of ours has no use for a client's.
pub fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Folds CR, LF and other control characters to single spaces and trims.
fn fold_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            ' '
        } else {
            c
        };
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out.trim().to_string()
}

/// Normalises a Message-ID as written in a header: trims and removes `<>`.
pub fn normalize_message_id(s: &str) -> Option<String> {
    let t = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if t.is_empty() || t.len() > 998 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        None
    } else {
        Some(t.to_string())
    }
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => t
            .split_whitespace()
            .filter_map(normalize_message_id)
            .collect(),
        HeaderValue::TextList(list) => list
            .iter()
            .filter_map(|t| normalize_message_id(t))
            .collect(),
        _ => Vec::new(),
    }
}

fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<EmailAddress> {
    let mut out: Vec<EmailAddress> = Vec::new();
    if let Some(a) = a {
        for addr in a.iter() {
            if let Some(parsed) = addr.address().and_then(|s| EmailAddress::parse(s).ok()) {
                if !out.contains(&parsed) {
                    out.push(parsed);
                }
            }
        }
    }
    out
}

fn raw_header<'a>(m: &'a mail_parser::Message<'_>, name: &str) -> Option<&'a str> {
    m.headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn derive_id(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@derived.onit")
}

/// The stable id given to bytes that could not be parsed at all.
pub fn derived_id_for_bytes(raw: &[u8]) -> String {
    derive_id(&[b"raw", raw])
}

/// An address written inside a display name (`"eng1@jac.example" <x@evil.example>`).
fn address_in_name(name: &str) -> Option<String> {
    name.split(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '(' | ')' | '<' | '>' | ',' | ';')
    })
    .filter(|w| w.contains('@'))
    .find_map(|w| EmailAddress::parse(w).ok())
    .map(|a| a.as_str().to_string())
}

impl MailView {
    /// Parses raw bytes. Fails only when there is nothing that looks like a
    /// message, or when the parser itself gives up: mail-parser 0.11 panics on a
    /// few malformed multiparts ("Invalid part ID"), and hostile mail must never
    /// take the daemon down, so a panic inside it counts as unparseable (the raw
    /// bytes are kept either way).
    pub fn parse(raw: &[u8]) -> Result<MailView, Unparseable> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::parse_inner(raw, false)
        })) {
            Ok(r) => r,
            Err(_) => {
                // The body defeated the parser; the headers alone still make a ticket.
                tracing::warn!(
                    bytes = raw.len(),
                    "mail parser panicked on the body; reading the headers only"
                );
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Self::parse_inner(raw, true)
                })) {
                    Ok(r) => r,
                    Err(_) => Err(Unparseable {
                        len: raw.len(),
                        derived_id: derived_id_for_bytes(raw),
                    }),
                }
            }
        }
    }

    /// Reads the headers only (no body, no own words): what `onit import` needs to
    /// order an archive by date before it reads each message whole, one at a time.
    pub fn parse_headers(raw: &[u8]) -> Result<MailView, Unparseable> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::parse_inner(raw, true)
        }))
        .unwrap_or_else(|_| {
            Err(Unparseable {
                len: raw.len(),
                derived_id: derived_id_for_bytes(raw),
            })
        })
    }

    fn parse_inner(raw: &[u8], headers_only: bool) -> Result<MailView, Unparseable> {
        let unparseable = || Unparseable {
            len: raw.len(),
            derived_id: derived_id_for_bytes(raw),
        };
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(unparseable());
        }
        // Some stores (and some broken gateways) put blank lines or spaces before the first
        // header; no header can start with whitespace, so skip it instead of failing.
        let start = raw
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(raw.len());
        let m = if headers_only {
            MessageParser::default().parse_headers(&raw[start..])
        } else {
            MessageParser::default().parse(&raw[start..])
        }
        .ok_or_else(unparseable)?;
        if m.headers().is_empty() {
            return Err(unparseable());
        }
        let subject = cut_chars(
            &single_line(m.subject().unwrap_or("")),
            MAX_KEPT_SUBJECT_CHARS,
        );
        let from_addr = m.from().and_then(|a| a.first());
        let from = from_addr
            .and_then(|a| a.address())
            .and_then(|s| EmailAddress::parse(s).ok());
        let from_name = from_addr
            .and_then(|a| a.name())
            .map(single_line)
            .filter(|s| !s.is_empty());
        let mut sender_facts = crate::trust::SenderFacts::from_headers(m.headers_raw());
        sender_facts.from_mailboxes = m.from().map_or(0, |a| a.iter().count());
        sender_facts.address_in_name = from_name.as_deref().and_then(address_in_name);
        let date = m
            .date()
            .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0))
            .filter(|d| d.timestamp() > 0);
        let received_at = m
            .received_all()
            .next()
            .and_then(|r| r.date())
            .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0))
            .filter(|d| d.timestamp() > 0);
        let mut body = m.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
        if body.len() > MAX_BODY_CHARS {
            let mut cut = MAX_BODY_CHARS;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        let own_words = read_own_words(&m);
        let auto_submitted = raw_header(&m, "Auto-Submitted").map(|s| s.to_ascii_lowercase());
        let precedence = raw_header(&m, "Precedence").map(|s| s.to_ascii_lowercase());
        let list_headers =
            raw_header(&m, "List-Id").is_some() || raw_header(&m, "List-Unsubscribe").is_some();
        let x_autoreply = [
            "X-Autoreply",
            "X-Autorespond",
            "X-Autoresponder",
            "X-Autorespond-Flag",
        ]
        .iter()
        .any(|h| raw_header(&m, h).is_some());
        let return_path_empty = m
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Return-Path"))
            .any(|(_, v)| {
                let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
                v == "<>" || v.is_empty()
            });
        let return_path = raw_header(&m, "Return-Path").and_then(|v| EmailAddress::parse(v).ok());
        let spam_flag = raw_header(&m, "X-Spam-Flag")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
            || raw_header(&m, "X-Spam-Status")
                .is_some_and(|v| v.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("yes")));
        let failed_recipients_header = raw_header(&m, "X-Failed-Recipients").is_some();
        let alert_group_key = ["X-Alertmanager-Group-Key", "X-Group-Key"]
            .iter()
            .find_map(|h| raw_header(&m, h))
            .map(|v| cut_chars(&single_line(v.trim()), 1000))
            .filter(|v| !v.is_empty());
        let is_report = m.root_part().content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        });

        let report_type = m
            .root_part()
            .content_type()
            .filter(|_| is_report)
            .and_then(|ct| ct.attribute("report-type"))
            .map(|t| t.trim().to_ascii_lowercase());
        let mut dsn_actions = Vec::new();
        let mut embedded_ids = Vec::new();
        for part in m.parts.iter() {
            if part.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("message")
                    && ct.subtype().is_some_and(|s| {
                        s.eq_ignore_ascii_case("delivery-status")
                            || s.eq_ignore_ascii_case("global-delivery-status")
                    })
            }) {
                dsn_actions.extend(self::dsn_actions(&String::from_utf8_lossy(part.contents())));
            }
            if let Some(inner) = part.message() {
                if let Some(id) = inner.message_id().and_then(normalize_message_id) {
                    embedded_ids.push(id);
                }
            } else if part.content_type().is_some_and(|ct| {
                ct.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
            }) {
                if let Some(text) = part.text_contents() {
                    embedded_ids.extend(find_message_id_lines(text));
                }
            }
        }
        // Bounces that quote the original inline (no MIME structure) still name its Message-ID.
        let looks_automated =
            is_report || failed_recipients_header || return_path_empty || auto_submitted.is_some();
        if embedded_ids.is_empty() && looks_automated {
            embedded_ids.extend(find_message_id_lines(&body));
        }
        embedded_ids.dedup();

        let header_id = m.message_id().and_then(normalize_message_id);
        let message_id_derived = header_id.is_none();
        let message_id = header_id.unwrap_or_else(|| {
            let from_s = from.as_ref().map(|a| a.as_str()).unwrap_or("");
            let date_s = raw_header(&m, "Date").unwrap_or("");
            derive_id(&[
                b"mv1",
                from_s.as_bytes(),
                date_s.as_bytes(),
                // The subject as onit read it before it was cut and cleaned, so a
                // message stored by an older onit keeps its derived id.
                fold_controls(m.subject().unwrap_or("")).as_bytes(),
                body.as_bytes(),
            ])
        });

        Ok(MailView {
            message_id,
            message_id_derived,
            in_reply_to: id_list(m.in_reply_to()),
            references: id_list(m.references()),
            from,
            from_name,
            to: addresses(m.to()),
            cc: addresses(m.cc()),
            recipients_omitted: 0,
            too_large: None,
            subject,
            date,
            received_at,
            auto_submitted,
            precedence,
            list_headers,
            x_autoreply,
            return_path_empty,
            return_path,
            spam_flag,
            failed_recipients_header,
            is_report,
            report_type,
            dsn_actions,
            embedded_ids,
            body,
            own_words,
            sender_facts,
            alert_group_key,
        })
    }

    /// Every Message-ID this message refers to, nearest first (In-Reply-To, then References newest first).
    pub fn referenced_ids(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for id in self.in_reply_to.iter().chain(self.references.iter().rev()) {
            if id != &self.message_id && !out.contains(id) {
                out.push(id.clone());
            }
        }
        out
    }

    /// To and Cc together, without duplicates.
    /// Keeps the first `max` To/Cc addresses (To first) and counts the rest in
    /// `recipients_omitted`: what one message makes onit record (participants, its
    /// stored To/Cc) stays bounded; the raw message keeps them all.
    pub fn keep_recipients(&mut self, max: usize) {
        let total = self.to.len() + self.cc.len();
        if total <= max {
            return;
        }
        self.to.truncate(max);
        self.cc.truncate(max - self.to.len());
        self.recipients_omitted += total - max;
    }

    pub fn recipients(&self) -> Vec<EmailAddress> {
        let mut out = self.to.clone();
        for a in &self.cc {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }
}

/// The own words from the first text/plain and text/html body parts (only
/// parts that really are of that type: mail-parser converts one into the
/// other when a message has just one), each cut to [`MAX_BODY_CHARS`].
fn read_own_words(m: &mail_parser::Message<'_>) -> OwnWords {
    use mail_parser::PartType;
    let plain = m.text_part(0).and_then(|p| match &p.body {
        PartType::Text(t) => Some(t.as_ref()),
        _ => None,
    });
    let html = m.html_part(0).and_then(|p| match &p.body {
        PartType::Html(t) => Some(t.as_ref()),
        _ => None,
    });
    OwnWords::read(plain.map(cut_body), html.map(cut_body))
}

fn cut_body(s: &str) -> &str {
    if s.len() <= MAX_BODY_CHARS {
        return s;
    }
    let mut cut = MAX_BODY_CHARS;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

fn find_message_id_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let lower = l.get(..11)?.to_ascii_lowercase();
            if lower == "message-id:" {
                let v = l[11..].trim();
                let inner = v
                    .strip_prefix('<')
                    .and_then(|v| v.split('>').next())
                    .unwrap_or(v);
                normalize_message_id(inner)
            } else {
                None
            }
        })
        .take(4)
        .collect()
}

/// Reads the `Action` of every recipient block of a `message/delivery-status` body
/// (lower case). A recipient block with no `Action` but a permanent (`5.x.x`) `Status`
/// counts as `failed`: some MTAs leave the Action out.
pub fn dsn_actions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let mut action = None;
        let mut permanent = false;
        for line in block.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "action" => action = value.split_whitespace().next().map(str::to_string),
                "status" => permanent = value.starts_with('5'),
                _ => {}
            }
        }
        match action {
            Some(a) => out.push(a),
            None if permanent => out.push("failed".into()),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_control_characters() {
        assert_eq!(single_line(" a\r\nBcc: x@y\tz  "), "a Bcc: x@y z");
    }

    #[test]
    fn encoded_subject_with_crlf_is_one_line() {
        // "hi\r\nBcc: evil@x.example" as an RFC 2047 encoded word.
        let raw = b"From: a@client.example\r\nTo: support@jac.example\r\nSubject: =?utf-8?B?aGkNCkJjYzogZXZpbEB4LmV4YW1wbGU=?=\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";
        let v = MailView::parse(raw).unwrap();
        assert_eq!(v.subject, "hi Bcc: evil@x.example");
        assert!(!v.subject.contains('\n'));
    }

    #[test]
    fn missing_message_id_is_stable() {
        let raw = b"From: a@client.example\r\nSubject: s\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n";
        let a = MailView::parse(raw).unwrap();
        let b = MailView::parse(raw).unwrap();
        assert!(a.message_id_derived);
        assert_eq!(a.message_id, b.message_id);
        let mut other = raw.to_vec();
        other.extend_from_slice(b"more\r\n");
        assert_ne!(MailView::parse(&other).unwrap().message_id, a.message_id);
    }

    #[test]
    fn empty_message_id_header_is_treated_as_missing() {
        let raw = b"From: a@client.example\r\nMessage-ID: <>\r\nSubject: s\r\n\r\nbody\r\n";
        let v = MailView::parse(raw).unwrap();
        assert!(v.message_id_derived);
    }

    #[test]
    fn references_parsed_nearest_first() {
        let raw = b"From: a@client.example\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <2@x>\r\nReferences: <1@x> <2@x>\r\n\r\nb\r\n";
        let v = MailView::parse(raw).unwrap();
        assert_eq!(
            v.referenced_ids(),
            vec!["2@x".to_string(), "1@x".to_string()]
        );
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        let raw =
            b"\n      \n\nFrom: a@client.example\nSubject: hello\nMessage-ID: <l@x>\n\nbody\n";
        let v = MailView::parse(raw).unwrap();
        assert_eq!(v.subject, "hello");
        assert_eq!(v.message_id, "l@x");
    }

    #[test]
    fn nothing_is_unparseable() {
        assert!(MailView::parse(b"").is_err());
        assert!(MailView::parse(b"\r\n\r\n").is_err());
    }

    #[test]
    fn format_characters_are_removed_from_client_text() {
        for c in [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200E}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert!(is_format_char(c), "{:X}", c as u32);
            assert_eq!(
                single_line(&format!("a{c}b {c} c")),
                "ab c",
                "{:X}",
                c as u32
            );
        }
        for c in ['a', 'é', 'ש', '中', ' ', '😀'] {
            assert!(!is_format_char(c));
        }
        assert_eq!(single_line("\u{202E}\r\n\u{202C}x"), "x");
    }

    #[test]
    fn a_huge_subject_is_kept_bounded_and_its_derived_id_unchanged() {
        let subject = "s".repeat(100_000);
        let raw = format!("From: a@b.example\r\nSubject: {subject}\r\n\r\nbody\r\n");
        let v = MailView::parse(raw.as_bytes()).unwrap();
        assert_eq!(v.subject.chars().count(), MAX_KEPT_SUBJECT_CHARS);
        assert!(v.message_id_derived);
        // The id derived from the whole subject, as before the cut.
        let expected = derive_id(&[b"mv1", b"a@b.example", b"", subject.as_bytes(), b"body\r\n"]);
        assert_eq!(v.message_id, expected);
    }

    #[test]
    fn cut_chars_counts_characters_not_bytes() {
        assert_eq!(cut_chars("abc", 3), "abc");
        assert_eq!(cut_chars("abcd", 3), "ab…");
        assert_eq!(cut_chars("ééééé", 4), "ééé…");
        assert_eq!(
            subject_text(&"é".repeat(300)).chars().count(),
            MAX_SUBJECT_CHARS
        );
    }
}
