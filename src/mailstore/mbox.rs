//! mbox files: splitting at `From ` lines the way real archives need
//! (mboxo/mboxrd quoting, Content-Length, MIME boundaries that contain `From `).

use chrono::{DateTime, Utc};
use tracing::warn;

use super::*;

// ---------------------------------------------------------------------------
// mbox
// ---------------------------------------------------------------------------

pub(super) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
pub(super) const FROM_: &[u8] = b"From ";

/// One line of a buffer: `start..end` is the content without its terminator,
/// `next` is where the following line starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// Line terminator convention of a buffer. Files written on classic Mac OS use a
/// bare CR; everything else ends lines with LF (optionally preceded by CR, which
/// we keep in the message bytes but ignore when looking at a line's content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eol {
    Lf,
    Cr,
}

impl Eol {
    fn detect(buf: &[u8]) -> Eol {
        // Only call a file CR-only when it has no LF at all: a stray CR inside an
        // LF file must not be able to create a line (and so a fake separator).
        if !buf.contains(&b'\n') && buf.contains(&b'\r') {
            Eol::Cr
        } else {
            Eol::Lf
        }
    }

    fn byte(self) -> u8 {
        match self {
            Eol::Lf => b'\n',
            Eol::Cr => b'\r',
        }
    }

    /// Length of the line terminator at the very end of `bytes` (0 if none).
    fn trailing_len(self, bytes: &[u8]) -> usize {
        match self {
            Eol::Cr => usize::from(bytes.last() == Some(&b'\r')),
            Eol::Lf => {
                if bytes.ends_with(b"\r\n") {
                    2
                } else {
                    usize::from(bytes.last() == Some(&b'\n'))
                }
            }
        }
    }

    /// Length of the line terminator at the very start of `bytes` (0 if none).
    fn leading_len(self, bytes: &[u8]) -> usize {
        match self {
            Eol::Cr => usize::from(bytes.first() == Some(&b'\r')),
            Eol::Lf => {
                if bytes.starts_with(b"\r\n") {
                    2
                } else {
                    usize::from(bytes.first() == Some(&b'\n'))
                }
            }
        }
    }
}

pub(super) fn line_at(buf: &[u8], pos: usize, eol: Eol) -> Option<Line> {
    if pos >= buf.len() {
        return None;
    }
    let rest = &buf[pos..];
    match rest.iter().position(|&b| b == eol.byte()) {
        Some(i) => {
            let mut end = pos + i;
            if eol == Eol::Lf && end > pos && buf[end - 1] == b'\r' {
                end -= 1;
            }
            Some(Line {
                start: pos,
                end,
                next: pos + i + 1,
            })
        }
        None => Some(Line {
            start: pos,
            end: buf.len(),
            next: buf.len(),
        }),
    }
}

pub(super) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

/// A line that could start a header field: `name:` where name is printable
/// ASCII without spaces or colons (RFC 5322 field-name).
pub(super) fn looks_like_header(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(i) => line[..i].iter().all(|&b| (33..=126).contains(&b)),
    }
}

/// Decide whether a `From ` line (already known to start a line) separates
/// messages. `rest` is the text after `From `.
///
/// A line whose tail is an asctime-like date is a separator wherever it is:
/// mboxo writers do not always leave a blank line before it. Some writers put
/// no date at all (Netscape's `From - `, Gmail's `From <id>@xxx`); such a line
/// is a separator only when its first word looks like an envelope sender
/// (`-`, an address, MAILER-DAEMON) and the next line starts a header block.
/// Prose such as "From Russia with love" or "From here on, ..." therefore stays
/// in the body even right after a blank line.
pub(super) fn is_separator(rest: &[u8], next_line: Option<&[u8]>) -> bool {
    if parse_separator_date(rest).is_some() {
        return true;
    }
    let sender = rest
        .split(|b| b.is_ascii_whitespace())
        .find(|t| !t.is_empty())
        .unwrap_or(b"");
    let sender_like =
        sender == b"-" || sender.contains(&b'@') || sender.eq_ignore_ascii_case(b"MAILER-DAEMON");
    sender_like && next_line.is_some_and(looks_like_header)
}

/// Find the next separator line at or after `from` (which must be a line start).
pub(super) fn find_separator(buf: &[u8], from: usize, eol: Eol) -> Option<usize> {
    let mut pos = from;
    while let Some(line) = line_at(buf, pos, eol) {
        if separator_at(buf, line, eol) {
            return Some(line.start);
        }
        pos = line.next;
    }
    None
}

pub(super) fn separator_at(buf: &[u8], line: Line, eol: Eol) -> bool {
    let content = &buf[line.start..line.end];
    if !content.starts_with(FROM_) {
        return false;
    }
    let next = line_at(buf, line.next, eol).map(|n| &buf[n.start..n.end]);
    is_separator(&content[FROM_.len()..], next)
}

/// Find where the message whose headers start at `msg_start` ends: the next
/// separator line, or `None` for end of file.
///
/// Unescaped `From ` lines with a real date do occur inside messages, most
/// often an attached `git format-patch` file (`From <sha> Mon Sep 17 00:00:00
/// 2001`). If the message is multipart, a candidate separator that comes before
/// the message's closing boundary, with that closing boundary following before
/// any other candidate, is inside the message and is skipped. A multipart
/// message that is never closed (truncated) still ends at the next separator,
/// so one broken message cannot swallow the rest of the file.
pub(super) fn find_message_end(buf: &[u8], msg_start: usize, eol: Eol) -> Option<usize> {
    let Some(closing) = multipart_closing_delimiter(buf, msg_start, eol) else {
        return find_separator(buf, msg_start, eol);
    };
    let mut closed = false;
    let mut pos = msg_start;
    while let Some(line) = line_at(buf, pos, eol) {
        if !closed && is_delimiter_line(&buf[line.start..line.end], &closing) {
            closed = true;
        } else if separator_at(buf, line, eol)
            && (closed || !closes_before_next_separator(buf, line.next, eol, &closing))
        {
            return Some(line.start);
        }
        pos = line.next;
    }
    None
}

pub(super) fn closes_before_next_separator(
    buf: &[u8],
    from: usize,
    eol: Eol,
    closing: &[u8],
) -> bool {
    let mut pos = from;
    while let Some(line) = line_at(buf, pos, eol) {
        if is_delimiter_line(&buf[line.start..line.end], closing) {
            return true;
        }
        if separator_at(buf, line, eol) {
            return false;
        }
        pos = line.next;
    }
    false
}

pub(super) fn is_delimiter_line(line: &[u8], delimiter: &[u8]) -> bool {
    line.strip_prefix(delimiter)
        .is_some_and(|rest| rest.iter().all(|b| b.is_ascii_whitespace()))
}

/// `--boundary--` for a message whose top-level Content-Type is multipart.
/// Only the header block is looked at; this is framing, not MIME parsing.
pub(super) fn multipart_closing_delimiter(
    buf: &[u8],
    msg_start: usize,
    eol: Eol,
) -> Option<Vec<u8>> {
    let mut content_type: Option<Vec<u8>> = None;
    let mut in_content_type = false;
    let mut pos = msg_start;
    while let Some(line) = line_at(buf, pos, eol) {
        let content = &buf[line.start..line.end];
        if content.is_empty() || content.starts_with(FROM_) {
            break;
        }
        if content[0] == b' ' || content[0] == b'\t' {
            if in_content_type {
                if let Some(ct) = content_type.as_mut() {
                    ct.extend_from_slice(content);
                }
            }
        } else if content.len() >= 13 && content[..13].eq_ignore_ascii_case(b"content-type:") {
            content_type = Some(content[13..].to_vec());
            in_content_type = true;
        } else {
            in_content_type = false;
        }
        pos = line.next;
    }
    let ct = String::from_utf8_lossy(&content_type?).into_owned();
    let lower = ct.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/") {
        return None;
    }
    let at = lower.find("boundary=")? + "boundary=".len();
    let value = ct[at..].trim_start();
    let boundary = match value.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => value
            .split(|c: char| c == ';' || c.is_ascii_whitespace())
            .next()?,
    };
    if boundary.is_empty() {
        return None;
    }
    Some(format!("--{boundary}--").into_bytes())
}

/// If the header block starting at `msg_start` has a `Content-Length:` that
/// lands exactly on the next separator (or end of file), return
/// `(message_end, next_separator, strip_blank_line)`.
pub(super) fn content_length_end(
    buf: &[u8],
    msg_start: usize,
    eol: Eol,
) -> Option<(usize, Option<usize>, bool)> {
    let mut length: Option<usize> = None;
    let mut pos = msg_start;
    let body_start = loop {
        let line = line_at(buf, pos, eol)?;
        let content = &buf[line.start..line.end];
        if content.is_empty() {
            break line.next;
        }
        // A header field name cannot contain a space, so a `From ` line means
        // the header block ran into the next message: no body, no length.
        if content.starts_with(FROM_) {
            return None;
        }
        if content.len() > 15 && content[..15].eq_ignore_ascii_case(b"content-length:") {
            let value = String::from_utf8_lossy(&content[15..]);
            length = value.trim().parse::<usize>().ok();
        }
        pos = line.next;
    };
    let p = body_start.checked_add(length?)?;
    if p == buf.len() {
        return Some((p, None, false));
    }
    if p > buf.len() {
        return None;
    }
    let at_line_start = buf[p - 1] == eol.byte();
    if at_line_start && buf[p..].starts_with(FROM_) {
        // The length included the blank line mbox writers add, or there is none.
        return Some((p, Some(p), true));
    }
    let t = eol.leading_len(&buf[p..]);
    if t > 0 {
        let q = p + t;
        if q == buf.len() {
            return Some((p, None, false));
        }
        if buf[q..].starts_with(FROM_) {
            return Some((p, Some(q), false));
        }
    }
    None
}

/// Drop the one newline mbox writers put between a message and the next
/// separator. Only a newline that forms an empty line is dropped: when there is
/// no blank line before the separator the final newline belongs to the
/// message's last line, and removing it would alter the message.
pub(super) fn strip_separator_newline(bytes: &[u8], eol: Eol) -> &[u8] {
    let t = eol.trailing_len(bytes);
    if t == 0 {
        return bytes;
    }
    let stripped = &bytes[..bytes.len() - t];
    if stripped.is_empty() || stripped.last() == Some(&eol.byte()) {
        stripped
    } else {
        bytes
    }
}

/// Undo mboxrd quoting: a line `>From ` (one or more `>` then `From `) loses one `>`.
pub(super) fn unescape_from(bytes: &[u8], eol: Eol) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while pos < bytes.len() {
        let next = match bytes[pos..].iter().position(|&b| b == eol.byte()) {
            Some(i) => pos + i + 1,
            None => bytes.len(),
        };
        let line = &bytes[pos..next];
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(FROM_) {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
        pos = next;
    }
    out
}

/// Where one message of an mbox lies: `start..end` in the file's bytes (the
/// mbox framing and the newline before the next separator left out), whether
/// mboxrd quoting (`>From `) must be undone, and the separator line's date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MboxSpan {
    pub start: usize,
    pub end: usize,
    pub quoted: bool,
    pub cr_only: bool,
    pub arrival: Option<DateTime<Utc>>,
}

impl MboxSpan {
    /// The message's bytes, quoting undone, given the bytes of `start..end`.
    pub fn message(&self, span_bytes: &[u8]) -> Vec<u8> {
        if self.quoted {
            unescape_from(span_bytes, self.eol())
        } else {
            span_bytes.to_vec()
        }
    }

    fn eol(&self) -> Eol {
        if self.cr_only {
            Eol::Cr
        } else {
            Eol::Lf
        }
    }
}

/// Split an mbox file's content into messages.
///
/// Handles mboxo/mboxrd (`>From ` unquoting), Content-Length mboxes (a length
/// that lands exactly on the next separator or end of file is honoured, so
/// `From ` lines inside that body stay), separators without a preceding blank
/// line, CRLF and CR-only files, a leading UTF-8 BOM and leading blank lines.
/// Origins are `"{origin}#N"` with N counting from 1. Text before the first
/// separator (content that is not an mbox at all) is returned as a message
/// rather than dropped.
pub fn split_mbox(content: &[u8], origin: &str) -> Vec<RawMessage> {
    let mut out = Vec::new();
    mbox_spans(content, origin, |span| {
        let n = out.len() + 1;
        out.push(RawMessage {
            bytes: span.message(&content[span.start..span.end]),
            arrival: span.arrival,
            arrival_is_file_time: false,
            origin: format!("{origin}#{n}"),
            too_large: None,
        });
    });
    out
}

/// The messages of an mbox file's content, as [`split_mbox`] reads them, but
/// handed to `each` as spans in file order without copying them: `onit import`
/// walks a file of any size this way and reads each message again only when it
/// stores it (src/mailstore/import_plan.rs). Each span starts after the
/// previous one ends, so the caller may release what lies before it.
pub fn mbox_spans(content: &[u8], origin: &str, mut each: impl FnMut(MboxSpan)) {
    let bom = if content.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let buf = &content[bom..];
    let eol = Eol::detect(buf);
    let mut emit = |start: usize, bytes: &[u8], quoted: bool, arrival| {
        each(MboxSpan {
            start: bom + start,
            end: bom + start + bytes.len(),
            quoted,
            cr_only: eol == Eol::Cr,
            arrival,
        })
    };

    let mut pos = 0;
    while let Some(line) = line_at(buf, pos, eol) {
        if !is_blank(&buf[line.start..line.end]) {
            break;
        }
        pos = line.next;
    }
    if pos >= buf.len() {
        return;
    }

    let first_sep = if buf[pos..].starts_with(FROM_) {
        Some(pos)
    } else {
        find_separator(buf, pos, eol)
    };
    if first_sep != Some(pos) {
        // Not mbox-framed content; keep it whole so nothing is lost.
        let end = first_sep.unwrap_or(buf.len());
        warn!(
            origin,
            bytes = end - pos,
            "mbox content before the first `From ` separator kept as a message"
        );
        emit(
            pos,
            strip_separator_newline(&buf[pos..end], eol),
            false,
            None,
        );
    }

    let mut sep = first_sep;
    while let Some(s) = sep {
        let Some(line) = line_at(buf, s, eol) else {
            break;
        };
        let arrival = parse_separator_date(&buf[line.start + FROM_.len()..line.end]);
        let msg_start = line.next;
        match content_length_end(buf, msg_start, eol) {
            Some((end, next, strip)) => {
                sep = next;
                let body = &buf[msg_start..end];
                let body = if strip {
                    strip_separator_newline(body, eol)
                } else {
                    body
                };
                // A Content-Length (mboxcl2) body is stored verbatim: the length
                // counts its bytes, so there is no quoting to undo.
                emit(msg_start, body, false, arrival);
            }
            None => {
                sep = find_message_end(buf, msg_start, eol);
                let end = sep.unwrap_or(buf.len());
                let body = strip_separator_newline(&buf[msg_start..end], eol);
                emit(msg_start, body, true, arrival);
            }
        }
    }
}

/// Parse the date on a separator line (the text after `From `), e.g.
/// `MAILER-DAEMON Fri Jul  8 12:08:34 2011` or `x@y Fri Sep 26 17:18:40 +0000 2025`.
/// True when the first non-blank bytes (after an optional BOM) are `From `.
pub(super) fn looks_like_mbox(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| bytes[i..].starts_with(FROM_))
}
