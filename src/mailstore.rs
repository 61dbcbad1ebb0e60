//! Finding and reading raw messages on disk: Maildirs (the daemon's mailbox and
//! `onit import` sources), mbox files and single-message files.
//!
//! This module never parses MIME; it hands the caller the bytes of each message
//! plus the best arrival time the container offers. Bad input is reported, never
//! silently dropped: an unreadable file is an error, an empty file is still a
//! message (with empty bytes) so the caller can count it as unparseable.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use tracing::{debug, info, warn};

/// One raw message found on disk, with the arrival time POLICY uses when the Date header is implausible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The message exactly as stored (mbox framing removed, mboxrd quoting undone).
    pub bytes: Vec<u8>,
    /// mbox: the time on the `From ` separator line, if it parses; file sources: the file's mtime.
    pub arrival: Option<DateTime<Utc>>,
    /// True when `arrival` is a file's mtime (weaker evidence than a `Received:` header).
    pub arrival_is_file_time: bool,
    /// Human-readable origin for logs and counts, e.g. "archive.mbox#17" or "/path/Maildir/new/123.host".
    pub origin: String,
}

// ---------------------------------------------------------------------------
// mbox
// ---------------------------------------------------------------------------

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const FROM_: &[u8] = b"From ";

/// One line of a buffer: `start..end` is the content without its terminator,
/// `next` is where the following line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// Line terminator convention of a buffer. Files written on classic Mac OS use a
/// bare CR; everything else ends lines with LF (optionally preceded by CR, which
/// we keep in the message bytes but ignore when looking at a line's content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
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

fn line_at(buf: &[u8], pos: usize, eol: Eol) -> Option<Line> {
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

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

/// A line that could start a header field: `name:` where name is printable
/// ASCII without spaces or colons (RFC 5322 field-name).
fn looks_like_header(line: &[u8]) -> bool {
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
fn is_separator(rest: &[u8], next_line: Option<&[u8]>) -> bool {
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
fn find_separator(buf: &[u8], from: usize, eol: Eol) -> Option<usize> {
    let mut pos = from;
    while let Some(line) = line_at(buf, pos, eol) {
        if separator_at(buf, line, eol) {
            return Some(line.start);
        }
        pos = line.next;
    }
    None
}

fn separator_at(buf: &[u8], line: Line, eol: Eol) -> bool {
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
fn find_message_end(buf: &[u8], msg_start: usize, eol: Eol) -> Option<usize> {
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

fn closes_before_next_separator(buf: &[u8], from: usize, eol: Eol, closing: &[u8]) -> bool {
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

fn is_delimiter_line(line: &[u8], delimiter: &[u8]) -> bool {
    line.strip_prefix(delimiter)
        .is_some_and(|rest| rest.iter().all(|b| b.is_ascii_whitespace()))
}

/// `--boundary--` for a message whose top-level Content-Type is multipart.
/// Only the header block is looked at; this is framing, not MIME parsing.
fn multipart_closing_delimiter(buf: &[u8], msg_start: usize, eol: Eol) -> Option<Vec<u8>> {
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
fn content_length_end(
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
fn strip_separator_newline(bytes: &[u8], eol: Eol) -> &[u8] {
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
fn unescape_from(bytes: &[u8], eol: Eol) -> Vec<u8> {
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
    let buf = content.strip_prefix(UTF8_BOM).unwrap_or(content);
    let eol = Eol::detect(buf);
    let mut out = Vec::new();
    let push = |bytes: Vec<u8>, arrival: Option<DateTime<Utc>>, out: &mut Vec<RawMessage>| {
        let n = out.len() + 1;
        out.push(RawMessage {
            bytes,
            arrival,
            arrival_is_file_time: false,
            origin: format!("{origin}#{n}"),
        });
    };

    let mut pos = 0;
    while let Some(line) = line_at(buf, pos, eol) {
        if !is_blank(&buf[line.start..line.end]) {
            break;
        }
        pos = line.next;
    }
    if pos >= buf.len() {
        return out;
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
        push(
            strip_separator_newline(&buf[pos..end], eol).to_vec(),
            None,
            &mut out,
        );
    }

    let mut sep = first_sep;
    while let Some(s) = sep {
        let Some(line) = line_at(buf, s, eol) else {
            break;
        };
        let arrival = parse_separator_date(&buf[line.start + FROM_.len()..line.end]);
        let msg_start = line.next;
        let bytes = match content_length_end(buf, msg_start, eol) {
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
                body.to_vec()
            }
            None => {
                sep = find_message_end(buf, msg_start, eol);
                let end = sep.unwrap_or(buf.len());
                unescape_from(strip_separator_newline(&buf[msg_start..end], eol), eol)
            }
        };
        push(bytes, arrival, &mut out);
    }
    out
}

/// Parse the date on a separator line (the text after `From `), e.g.
/// `MAILER-DAEMON Fri Jul  8 12:08:34 2011` or `x@y Fri Sep 26 17:18:40 +0000 2025`.
/// The time is UTC unless a numeric offset is present; zone names are ignored.
fn parse_separator_date(rest: &[u8]) -> Option<DateTime<Utc>> {
    let text = String::from_utf8_lossy(rest);
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    for i in 0..tokens.len() {
        let word = tokens[i];
        if !is_weekday(word.trim_end_matches(',')) {
            continue;
        }
        if let Some(dt) = parse_asctime(&tokens[i..]) {
            return Some(dt);
        }
        // Some tools write an RFC 2822 date on the separator line.
        if word.ends_with(',') {
            if let Ok(dt) = DateTime::parse_from_rfc2822(&tokens[i..].join(" ")) {
                return Some(dt.with_timezone(&Utc));
            }
        }
    }
    None
}

fn is_weekday(s: &str) -> bool {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .any(|d| s.eq_ignore_ascii_case(d))
}

fn month_number(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| s.eq_ignore_ascii_case(m))
        .map(|i| i as u32 + 1)
}

/// `Www Mmm dd hh:mm[:ss]` followed by a year and optional zone(s) in either
/// order, optionally ending with UUCP's `remote from host`.
fn parse_asctime(t: &[&str]) -> Option<DateTime<Utc>> {
    if t.len() < 5 || !is_weekday(t[0]) {
        return None;
    }
    let month = month_number(t[1])?;
    if t[2].is_empty() || t[2].len() > 2 || !t[2].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u32 = t[2].parse().ok()?;
    let (h, m, s) = parse_clock(t[3])?;

    let mut year: Option<i32> = None;
    let mut offset_secs: Option<i64> = None;
    let mut zone_name = false;
    for &tok in &t[4..] {
        if tok.eq_ignore_ascii_case("remote") {
            break;
        }
        if tok.bytes().all(|b| b.is_ascii_digit()) && (tok.len() == 4 || tok.len() == 2) {
            if year.is_some() {
                return None;
            }
            let y: i32 = tok.parse().ok()?;
            // Two-digit years are rare; pivot them the way RFC 5322 does.
            year = Some(match tok.len() {
                2 if y < 50 => 2000 + y,
                2 => 1900 + y,
                _ => y,
            });
        } else if let Some(off) = parse_offset(tok) {
            if offset_secs.is_some() {
                return None;
            }
            offset_secs = Some(off);
        } else if (1..=5).contains(&tok.len())
            && tok.bytes().all(|b| b.is_ascii_uppercase())
            && !zone_name
        {
            // A zone name such as EST or CEST: without a table of their
            // offsets the time stays UTC, as documented.
            zone_name = true;
        } else {
            // Prose, not a separator date.
            return None;
        }
    }
    let naive = NaiveDate::from_ymd_opt(year?, month, day)?.and_hms_opt(h, m, s)?;
    let utc = naive - chrono::Duration::seconds(offset_secs.unwrap_or(0));
    Some(DateTime::from_naive_utc_and_offset(utc, Utc))
}

fn parse_clock(s: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let num = |p: &str| -> Option<u32> {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let h = num(parts[0])?;
    let m = num(parts[1])?;
    // A leap second (60) is clamped rather than rejected.
    let s = if parts.len() == 3 {
        num(parts[2])?.min(59)
    } else {
        0
    };
    Some((h, m, s))
}

/// `+hhmm` / `-hhmm` as seconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let hh: i64 = s[1..3].parse().ok()?;
    let mm: i64 = s[3..5].parse().ok()?;
    if hh > 23 || mm > 59 {
        return None;
    }
    let secs = hh * 3600 + mm * 60;
    Some(if b[0] == b'-' { -secs } else { secs })
}

/// True when the first non-blank bytes (after an optional BOM) are `From `.
fn looks_like_mbox(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| bytes[i..].starts_with(FROM_))
}

// ---------------------------------------------------------------------------
// `onit import`
// ---------------------------------------------------------------------------

/// Read a path given to `onit import`.
///
/// - A directory that has `cur/` or `new/` subfolders is a Maildir: the files of
///   `new/` then `cur/` are read (each sorted by name, hidden names skipped),
///   `tmp/` is skipped (deliveries in progress). Other non-hidden subdirectories
///   are walked as nested folders; other files at its root (index files and the
///   like) are not messages and are reported in the log.
/// - Any other directory is walked recursively, sorted by path, skipping hidden
///   files and directories; each file is treated as below.
/// - A file whose first non-empty bytes are `From ` is an mbox (see [`split_mbox`]).
/// - Any other file is one message (.eml or anything). An empty file is returned
///   as a message with empty bytes so the caller records it as unparseable.
///
/// A file that cannot be read fails the whole call with an error naming it:
/// an import must not quietly come back short.
pub fn read_import_path(path: &Path) -> anyhow::Result<Vec<RawMessage>> {
    let meta = fs::metadata(path)
        .with_context(|| format!("cannot access import path {}", path.display()))?;
    let mut out = Vec::new();
    if meta.is_dir() {
        read_dir_into(path, &mut out)?;
    } else {
        read_file_into(path, &mut out)?;
    }
    Ok(out)
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// Non-hidden entries of `dir`, sorted by file name.
fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<(OsString, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in
        fs::read_dir(dir).with_context(|| format!("cannot list directory {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list directory {}", dir.display()))?;
        let name = entry.file_name();
        if is_hidden(&name) {
            continue;
        }
        entries.push((name, entry.path()));
    }
    entries.sort();
    Ok(entries)
}

fn read_dir_into(dir: &Path, out: &mut Vec<RawMessage>) -> anyhow::Result<()> {
    if is_maildir(dir) {
        return read_maildir_into(dir, out);
    }
    for (_, path) in sorted_entries(dir)? {
        read_entry_into(&path, out)?;
    }
    Ok(())
}

/// One entry of a walked directory: recurse into real directories, read files.
fn read_entry_into(path: &Path, out: &mut Vec<RawMessage>) -> anyhow::Result<()> {
    let lmeta =
        fs::symlink_metadata(path).with_context(|| format!("cannot access {}", path.display()))?;
    if lmeta.is_dir() {
        return read_dir_into(path, out);
    }
    let meta = fs::metadata(path).with_context(|| format!("cannot access {}", path.display()))?;
    if meta.is_dir() {
        // Following directory symlinks can loop forever; name it instead.
        warn!(path = %path.display(), "not following symlink to a directory during import");
    } else if meta.is_file() {
        read_file_into(path, out)?;
    } else {
        // Reading a FIFO or device could block or never end.
        warn!(path = %path.display(), "skipping special file (not a regular file) during import");
    }
    Ok(())
}

fn read_maildir_into(dir: &Path, out: &mut Vec<RawMessage>) -> anyhow::Result<()> {
    report_hidden_subfolders(dir);
    // new/ before cur/: unprocessed mail first, the order a mail client sees it.
    let mut entries = sorted_entries(dir)?;
    let rank = |name: &OsString| match name.to_str() {
        Some("new") => 0,
        Some("cur") => 1,
        _ => 2,
    };
    entries.sort_by_key(|(name, _)| rank(name));
    for (name, path) in entries {
        match name.to_str() {
            Some("new") | Some("cur") if path.is_dir() => {
                for (_, file) in sorted_entries(&path)? {
                    let meta = fs::metadata(&file)
                        .with_context(|| format!("cannot access {}", file.display()))?;
                    if meta.is_file() {
                        // Inside a Maildir every file is exactly one message, even
                        // if it happens to begin with a `From ` envelope line.
                        out.push(read_single(&file)?);
                    } else {
                        warn!(path = %file.display(), "skipping non-file entry in Maildir folder");
                    }
                }
            }
            Some("tmp") if path.is_dir() => {
                let pending = fs::read_dir(&path).map(|d| d.count()).unwrap_or(0);
                if pending > 0 {
                    info!(path = %path.display(), pending, "not importing Maildir tmp/ (deliveries in progress)");
                }
            }
            _ if path.is_dir() => read_dir_into(&path, out)?,
            _ if is_maildir_metadata(&name) => {
                debug!(path = %path.display(), "skipping Maildir metadata file");
            }
            _ => {
                warn!(path = %path.display(), "not importing file at Maildir root (only new/ and cur/ hold messages)");
            }
        }
    }
    Ok(())
}

/// Maildir++ keeps folders such as `.Sent` or `.Trash` as hidden subdirectories
/// of the inbox. They are not imported with it (Sent and Trash are rarely what
/// a support inbox wants), but say so, so that nobody wonders where they went.
fn report_hidden_subfolders(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if is_hidden(&name) && name != "." && name != ".." && is_maildir(&entry.path()) {
            info!(path = %entry.path().display(), "Maildir++ subfolder not imported; pass its path to import it");
        }
    }
}

/// Files that mail servers keep at a Maildir root and that are never messages.
fn is_maildir_metadata(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    [
        "dovecot",
        "courier",
        "maildirfolder",
        "maildirsize",
        "subscriptions",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

fn mtime_of(meta: &fs::Metadata) -> Option<DateTime<Utc>> {
    meta.modified().ok().map(DateTime::<Utc>::from)
}

/// Read a file as exactly one message, with its mtime as arrival.
fn read_single(path: &Path) -> anyhow::Result<RawMessage> {
    let (bytes, mtime) =
        read_with_mtime(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(RawMessage {
        bytes,
        arrival: mtime,
        arrival_is_file_time: true,
        origin: path.display().to_string(),
    })
}

fn read_file_into(path: &Path, out: &mut Vec<RawMessage>) -> anyhow::Result<()> {
    let (bytes, mtime) =
        read_with_mtime(path).with_context(|| format!("cannot read {}", path.display()))?;
    if looks_like_mbox(&bytes) {
        let messages = split_mbox(&bytes, &path.display().to_string());
        debug!(path = %path.display(), count = messages.len(), "read mbox");
        out.extend(messages);
    } else {
        out.push(RawMessage {
            bytes,
            arrival: mtime,
            arrival_is_file_time: true,
            origin: path.display().to_string(),
        });
    }
    Ok(())
}

/// Read bytes and mtime through one handle so both describe the same file.
fn read_with_mtime(path: &Path) -> io::Result<(Vec<u8>, Option<DateTime<Utc>>)> {
    let mut file = fs::File::open(path)?;
    let meta = file.metadata()?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok((bytes, mtime_of(&meta)))
}

// ---------------------------------------------------------------------------
// Daemon Maildir
// ---------------------------------------------------------------------------

/// Daemon side: a Maildir at `root` (with new/, cur/, tmp/).
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// A message waiting in a Maildir's new/ folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirEntry {
    /// Full path of the file in new/.
    pub path: PathBuf,
    /// The file's unique name (lossily decoded if not UTF-8; `path` is exact).
    pub name: String,
    /// The file's modification time, used for ordering and as arrival time.
    pub mtime: Option<DateTime<Utc>>,
}

impl Maildir {
    /// Opens it, creating new/ cur/ tmp/ if missing (mode as created by std).
    pub fn open(root: &Path) -> io::Result<Maildir> {
        for sub in ["new", "cur", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Maildir {
            root: root.to_path_buf(),
        })
    }

    /// The Maildir's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Entries of new/ sorted by (mtime, file name) — oldest first. Skips names starting with '.'.
    ///
    /// A file that disappears while listing (another process took it) is left
    /// out; one whose metadata cannot be read is still listed (mtime `None`) so
    /// that [`Maildir::read`] reports the real error instead of it vanishing.
    pub fn list_new(&self) -> io::Result<Vec<MaildirEntry>> {
        let dir = self.root.join("new");
        let mut entries = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let file_name = entry.file_name();
            if is_hidden(&file_name) {
                continue;
            }
            let path = entry.path();
            let mtime = match fs::metadata(&path) {
                Ok(meta) if meta.is_file() => mtime_of(&meta),
                Ok(_) => {
                    warn!(path = %path.display(), "ignoring non-file entry in Maildir new/");
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    debug!(path = %path.display(), "entry vanished while listing new/");
                    continue;
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot stat Maildir entry; listing it anyway");
                    None
                }
            };
            entries.push(MaildirEntry {
                path,
                name: file_name.to_string_lossy().into_owned(),
                mtime,
            });
        }
        entries.sort_by(|a, b| (a.mtime, &a.name).cmp(&(b.mtime, &b.name)));
        Ok(entries)
    }

    /// Reads one entry's bytes and mtime into a RawMessage (origin = its path).
    pub fn read(&self, entry: &MaildirEntry) -> io::Result<RawMessage> {
        let (bytes, mtime) = read_with_mtime(&entry.path)?;
        Ok(RawMessage {
            bytes,
            arrival: mtime,
            arrival_is_file_time: true,
            origin: entry.path.display().to_string(),
        })
    }

    /// Moves a processed message from new/ to cur/, appending the Maildir info
    /// `:2,` with no flags (processed by the daemon is not "seen" by a person).
    /// Keeps the unique name.
    ///
    /// Call this only after the caller's database commit: a crash between the
    /// commit and this move re-delivers the message on the next run, which the
    /// caller dedupes by Message-ID; the other order could lose the message.
    /// If the source is already gone (an earlier run moved it and crashed
    /// before recording that), this returns `Ok`.
    pub fn mark_processed(&self, entry: &MaildirEntry) -> io::Result<()> {
        let file_name = entry.path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "Maildir entry path has no file name",
            )
        })?;
        let mut target_name = file_name.to_os_string();
        if !file_name.to_string_lossy().contains(":2,") {
            target_name.push(":2,");
        }
        let target = self.root.join("cur").join(&target_name);
        match fs::rename(&entry.path, &target) {
            Ok(()) => {
                sync_dir(&self.root.join("cur"));
                Ok(())
            }
            // rename's NotFound may also mean cur/ is missing; only a missing
            // source is the "already moved" case.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && fs::symlink_metadata(&entry.path).is_err() =>
            {
                if target.exists() {
                    debug!(path = %entry.path.display(), "already moved to cur/");
                } else {
                    warn!(path = %entry.path.display(), "processed message vanished from new/ and is not in cur/");
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Delivers bytes into new/ the Maildir way (write to tmp/ with a unique name
    /// `<secs>.<pid>_<counter>.<hostname>`, fsync the file, rename into new/).
    /// Used by tests and the demo.
    pub fn deliver(&self, bytes: &[u8]) -> io::Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let host = hostname();
        for _ in 0..1000 {
            let secs = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{secs}.{pid}_{counter}.{host}");
            let tmp = self.root.join("tmp").join(&name);
            let new = self.root.join("new").join(&name);
            if new.exists() {
                continue;
            }
            let mut file = match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let written = file.write_all(bytes).and_then(|()| file.sync_all());
            drop(file);
            if let Err(e) = written.and_then(|()| fs::rename(&tmp, &new)) {
                // Leave no half-written file behind in tmp/.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            sync_dir(&self.root.join("new"));
            return Ok(new);
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not find an unused Maildir file name",
        ))
    }
}

/// Make a rename durable. Best effort: some platforms cannot open directories.
fn sync_dir(dir: &Path) {
    if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        debug!(dir = %dir.display(), error = %e, "cannot fsync directory");
    }
}

/// Host name for unique Maildir names, with '/' and ':' encoded as the Maildir
/// spec asks (they would break the path or the info suffix).
fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| fs::read_to_string("/etc/hostname"))
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let mut host = String::new();
        for c in raw.trim().chars() {
            match c {
                '/' => host.push_str("\\057"),
                ':' => host.push_str("\\072"),
                c if c.is_whitespace() || c.is_control() => {}
                c => host.push(c),
            }
        }
        if host.is_empty() {
            host.push_str("localhost");
        }
        host
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn splits_three_messages() {
        let mbox = b"From alice@example.com Mon Jan  5 09:00:00 2026\n\
Subject: one\n\nbody one\n\n\
From bob@example.com  Tue Jan  6 10:30:00 2026\n\
Subject: two\n\nbody two\nmore\n\n\
From carol@example.com Wed Jan  7 11:00:00 2026\n\
Subject: three\n\nbody three\n";
        let msgs = split_mbox(mbox, "a.mbox");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].bytes, b"Subject: one\n\nbody one\n");
        assert_eq!(msgs[1].bytes, b"Subject: two\n\nbody two\nmore\n");
        assert_eq!(msgs[2].bytes, b"Subject: three\n\nbody three\n");
        assert_eq!(msgs[0].origin, "a.mbox#1");
        assert_eq!(msgs[2].origin, "a.mbox#3");
        assert_eq!(msgs[1].arrival, Some(utc(2026, 1, 6, 10, 30, 0)));
    }

    #[test]
    fn separator_dates() {
        let p = |s: &str| parse_separator_date(s.as_bytes());
        assert_eq!(
            p("MAILER-DAEMON Fri Jul  8 12:08:34 2011"),
            Some(utc(2011, 7, 8, 12, 8, 34))
        );
        assert_eq!(
            p("bob@example.com  Mon Jan  5 09:00:00 2026"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00:00 2026 -0500"),
            Some(utc(2026, 1, 5, 14, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00:00 +0100 2026"),
            Some(utc(2026, 1, 5, 8, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00:00 EST 2026"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00 2026"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("- Mon Jun  3 12:50:27 1996"),
            Some(utc(1996, 6, 3, 12, 50, 27))
        );
        assert_eq!(
            p("foo Mon Jan  5 09:00:00 2026 remote from bar"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("x Mon, 5 Jan 2026 09:00:00 +0200"),
            Some(utc(2026, 1, 5, 7, 0, 0))
        );
        assert_eq!(p("-"), None);
        assert_eq!(p("here on, we go Mon Jan 5 and more"), None);
        assert_eq!(p("bob Mon Feb 30 09:00:00 2026"), None);
        assert_eq!(p("bob Mon Jan  5 09:00:00 2026 and then some"), None);
    }

    #[test]
    fn mboxrd_unescaping() {
        let mbox = b"From a@b Mon Jan  5 09:00:00 2026\n\
Subject: q\n\n>From the start\n>>From deeper\n> From not quoted\n>Fromage\n";
        let msgs = split_mbox(mbox, "q.mbox");
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            msgs[0].bytes,
            b"Subject: q\n\nFrom the start\n>From deeper\n> From not quoted\n>Fromage\n"
        );
    }

    #[test]
    fn prose_from_line_stays_in_body() {
        let mbox = b"From a@b Mon Jan  5 09:00:00 2026\n\
Subject: x\n\nHello,\n\nFrom here on, we use the new tracker.\nThanks\n\n\
From Russia with love\nYear: 1963\n\nBye\n\n\
From c@d Tue Jan  6 09:00:00 2026\nSubject: y\n\nsecond\n";
        let msgs = split_mbox(mbox, "p.mbox");
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].bytes,
            b"Subject: x\n\nHello,\n\nFrom here on, we use the new tracker.\nThanks\n\nFrom Russia with love\nYear: 1963\n\nBye\n"
        );
        assert_eq!(msgs[1].bytes, b"Subject: y\n\nsecond\n");
    }

    #[test]
    fn separator_without_blank_line() {
        // mboxo writers do not always leave a blank line; a dated `From ` line
        // still separates, and the last body line keeps its newline.
        let mbox = b"From a Mon Jan  5 09:00:00 2026\nSubject: 1\n\nbody\n\
From b Mon Jan  5 10:00:00 2026\nSubject: 2\n\nbody2\n\
From -\nFrom: c@d\n\nbody3\n";
        let msgs = split_mbox(mbox, "m");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].bytes, b"Subject: 1\n\nbody\n");
        assert_eq!(msgs[1].bytes, b"Subject: 2\n\nbody2\n");
        assert_eq!(msgs[2].bytes, b"From: c@d\n\nbody3\n");
        assert_eq!(msgs[2].arrival, None);
    }

    #[test]
    fn dateless_separators() {
        // Netscape `From - ` and Gmail takeout `From <id>@xxx` lines carry no
        // date; they separate when a header block follows.
        let mbox = b"From 1844347792267117879@xxx\nSubject: 1\n\none\n\n\
From 1844347839636459560@xxx\nSubject: 2\n\ntwo\nFrom - \nFrom: x@y\n\nthree\n";
        let msgs = split_mbox(mbox, "g");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1].bytes, b"Subject: 2\n\ntwo\n");
        assert_eq!(msgs[2].bytes, b"From: x@y\n\nthree\n");
    }

    #[test]
    fn patch_attachment_inside_multipart_is_not_a_separator() {
        let mbox = b"From a@b Sat Feb  5 09:19:10 2022\n\
Subject: patch\nContent-Type: multipart/mixed;\n\tboundary=\"=-=-=\"\n\n\
--=-=-=\nContent-Type: text/plain\n\nsee attached\n\n\
--=-=-=\nContent-Type: text/x-diff\n\n\
From fc88cba7f1f37b9cf3b296eace2422dd0e173502 Mon Sep 17 00:00:00 2001\n\
From: A <a@b>\nSubject: [PATCH] fix\n\n---\n\n--=-=-=--\n\n\
From c@d Sun Feb  6 10:00:00 2022\nSubject: next\n\nnext\n";
        let msgs = split_mbox(mbox, "p");
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].bytes.ends_with(b"\n--=-=-=--\n"));
        assert!(msgs[0].bytes.windows(14).any(|w| w == b"From fc88cba7f"));
        assert_eq!(msgs[1].bytes, b"Subject: next\n\nnext\n");
    }

    #[test]
    fn truncated_multipart_does_not_swallow_the_rest() {
        let mbox = b"From a@b Sat Feb  5 09:19:10 2022\n\
Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\ncut off\n\n\
From c@d Sun Feb  6 10:00:00 2022\nSubject: 2\n\ntwo\n\n\
From e@f Mon Feb  7 10:00:00 2022\nSubject: 3\n\nthree\n";
        let msgs = split_mbox(mbox, "t");
        assert_eq!(msgs.len(), 3);
        assert!(msgs[0].bytes.ends_with(b"cut off\n"));
    }

    #[test]
    fn content_length_is_honoured() {
        let body = b"line one\n\nFrom bob Mon Jan  5 09:00:00 2026\nnot a separator\n";
        let mut mbox = Vec::new();
        mbox.extend_from_slice(b"From a Mon Jan  5 09:00:00 2026\nSubject: cl\n");
        mbox.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
        mbox.extend_from_slice(body);
        mbox.extend_from_slice(b"\nFrom b Tue Jan  6 09:00:00 2026\nSubject: next\n\nnext body\n");
        let msgs = split_mbox(&mbox, "cl.mbox");
        assert_eq!(msgs.len(), 2);
        let mut expected = format!("Subject: cl\nContent-Length: {}\n\n", body.len()).into_bytes();
        expected.extend_from_slice(body);
        assert_eq!(msgs[0].bytes, expected);
        assert_eq!(msgs[1].bytes, b"Subject: next\n\nnext body\n");
    }

    #[test]
    fn wrong_content_length_is_ignored() {
        let mbox = b"From a Mon Jan  5 09:00:00 2026\nContent-Length: 3\n\nhello world\n\n\
From b Tue Jan  6 09:00:00 2026\nSubject: 2\n\nsecond\n";
        let msgs = split_mbox(mbox, "w");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Content-Length: 3\n\nhello world\n");
        // Content-Length that lands exactly at end of file.
        let mbox = b"From a Mon Jan  5 09:00:00 2026\nContent-Length: 6\n\nhello\n";
        let msgs = split_mbox(mbox, "e");
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, b"Content-Length: 6\n\nhello\n");
    }

    #[test]
    fn crlf_mbox() {
        let mbox =
            b"From a@b Mon Jan  5 09:00:00 2026\r\nSubject: one\r\n\r\nbody\r\n>From x\r\n\r\n\
From c@d Tue Jan  6 09:00:00 2026 +0000\r\nSubject: two\r\n\r\nbody2\r\n";
        let msgs = split_mbox(mbox, "c");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Subject: one\r\n\r\nbody\r\nFrom x\r\n");
        assert_eq!(msgs[1].bytes, b"Subject: two\r\n\r\nbody2\r\n");
        assert_eq!(msgs[1].arrival, Some(utc(2026, 1, 6, 9, 0, 0)));
    }

    #[test]
    fn cr_only_mbox_and_leading_blank_lines_and_bom() {
        let cr = b"\r\rFrom a Mon Jan  5 09:00:00 2026\rSubject: 1\r\rone\r\rFrom b Mon Jan  5 09:00:00 2026\rSubject: 2\r\rtwo\r";
        let msgs = split_mbox(cr, "cr");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Subject: 1\r\rone\r");
        let bom = b"\xEF\xBB\xBF\n\nFrom a Mon Jan  5 09:00:00 2026\nSubject: 1\n\none\n";
        let msgs = split_mbox(bom, "bom");
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, b"Subject: 1\n\none\n");
        assert!(split_mbox(b"", "empty").is_empty());
    }

    #[test]
    fn text_before_first_separator_is_kept() {
        let msgs = split_mbox(
            b"Subject: stray\n\nhi\n\nFrom a Mon Jan  5 09:00:00 2026\nSubject: 1\n\none\n",
            "s",
        );
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Subject: stray\n\nhi\n");
        assert_eq!(msgs[1].bytes, b"Subject: 1\n\none\n");
    }

    #[test]
    fn import_maildir_directory() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        md.deliver(b"Subject: new\n\nn\n").unwrap();
        fs::write(dir.path().join("cur/1.host:2,S"), b"Subject: cur\n\nc\n").unwrap();
        fs::write(dir.path().join("tmp/2.host"), b"Subject: tmp\n\nt\n").unwrap();
        fs::write(dir.path().join("cur/.hidden"), b"x").unwrap();
        // A `From ` start inside a Maildir file is still one message.
        fs::write(
            dir.path().join("cur/3.host:2,"),
            b"From a Mon Jan  5 09:00:00 2026\nSubject: env\n\n\nFrom b Mon Jan  5 09:00:00 2026\nx\n",
        )
        .unwrap();
        let msgs = read_import_path(dir.path()).unwrap();
        let subjects: Vec<&[u8]> = msgs.iter().map(|m| &m.bytes[..12]).collect();
        assert_eq!(msgs.len(), 3, "{subjects:?}");
        assert!(msgs[0].bytes.starts_with(b"Subject: new"));
        assert!(msgs[0].origin.contains("/new/"));
        assert!(msgs[1].bytes.starts_with(b"Subject: cur"));
        assert!(msgs[2].bytes.starts_with(b"From a"));
        assert!(msgs.iter().all(|m| m.arrival.is_some()));
        assert!(!msgs.iter().any(|m| m.bytes.starts_with(b"Subject: tmp")));
    }

    #[test]
    fn import_eml_and_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let eml = dir.path().join("one.eml");
        fs::write(&eml, b"Subject: hi\r\n\r\nFrom here on, body\r\n").unwrap();
        let msgs = read_import_path(&eml).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, b"Subject: hi\r\n\r\nFrom here on, body\r\n");
        assert_eq!(msgs[0].origin, eml.display().to_string());
        assert!(msgs[0].arrival.is_some());

        let empty = dir.path().join("empty.eml");
        fs::write(&empty, b"").unwrap();
        let msgs = read_import_path(&empty).unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].bytes.is_empty());
        assert_eq!(msgs[0].origin, empty.display().to_string());
    }

    #[test]
    fn import_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_import_path(&dir.path().join("nope")).unwrap_err();
        assert!(format!("{err:#}").contains("nope"));
    }

    #[test]
    fn import_directory_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/inner")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join("a.eml"), b"Subject: a\n\na\n").unwrap();
        fs::write(
            root.join("b/archive.mbox"),
            b"\nFrom x Mon Jan  5 09:00:00 2026\nSubject: m1\n\n1\n\nFrom y Mon Jan  5 09:00:01 2026\nSubject: m2\n\n2\n",
        )
        .unwrap();
        fs::write(root.join("b/inner/c.eml"), b"Subject: c\n\nc\n").unwrap();
        fs::write(root.join("b/z.eml"), b"").unwrap();
        fs::write(root.join(".hidden.eml"), b"Subject: hidden\n\n").unwrap();
        fs::write(root.join(".git/config"), b"Subject: git\n\n").unwrap();
        // A nested Maildir inside a plain tree is read as a Maildir.
        fs::create_dir_all(root.join("c/cur")).unwrap();
        fs::create_dir_all(root.join("c/tmp")).unwrap();
        fs::write(root.join("c/cur/9.h:2,"), b"Subject: md\n\n").unwrap();
        fs::write(root.join("c/tmp/9.h"), b"Subject: tmp\n\n").unwrap();

        let msgs = read_import_path(root).unwrap();
        let origins: Vec<String> = msgs
            .iter()
            .map(|m| {
                m.origin
                    .strip_prefix(&root.display().to_string())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            origins,
            [
                "/a.eml",
                "/b/archive.mbox#1",
                "/b/archive.mbox#2",
                "/b/inner/c.eml",
                "/b/z.eml",
                "/c/cur/9.h:2,"
            ]
        );
        assert_eq!(msgs[1].bytes, b"Subject: m1\n\n1\n");
        assert_eq!(msgs[2].arrival, Some(utc(2026, 1, 5, 9, 0, 1)));
        assert!(msgs[4].bytes.is_empty());
    }

    #[test]
    fn maildir_list_new_is_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(&dir.path().join("mail")).unwrap();
        assert!(md.root().join("tmp").is_dir());
        let new = md.root().join("new");
        let set_mtime = |name: &str, secs: u64| {
            let path = new.join(name);
            fs::write(&path, name.as_bytes()).unwrap();
            let f = fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap();
        };
        set_mtime("c", 1_000);
        set_mtime("a", 3_000);
        set_mtime("b", 1_000);
        set_mtime(".skip", 10);
        fs::create_dir(new.join("subdir")).unwrap();
        let entries = md.list_new().unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!(entries[0].mtime, Some(utc(1970, 1, 1, 0, 16, 40)));
        let raw = md.read(&entries[2]).unwrap();
        assert_eq!(raw.bytes, b"a");
        assert_eq!(raw.origin, new.join("a").display().to_string());
        assert_eq!(raw.arrival, Some(utc(1970, 1, 1, 0, 50, 0)));
    }

    #[test]
    fn maildir_deliver_and_mark_processed() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        let p1 = md.deliver(b"Subject: 1\n\n").unwrap();
        let p2 = md.deliver(b"Subject: 2\n\n").unwrap();
        assert_ne!(p1, p2);
        assert_eq!(p1.parent().unwrap(), dir.path().join("new"));
        assert_eq!(fs::read(&p1).unwrap(), b"Subject: 1\n\n");
        let name = p1.file_name().unwrap().to_str().unwrap();
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        assert!(parts[0].parse::<u64>().is_ok(), "{name}");
        assert!(
            parts[1].starts_with(&format!("{}_", std::process::id())),
            "{name}"
        );
        assert!(!name.contains('/') && !name.contains(':'));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        let entries = md.list_new().unwrap();
        assert_eq!(entries.len(), 2);
        let e = entries.iter().find(|e| e.path == p1).unwrap();
        md.mark_processed(e).unwrap();
        let moved = dir.path().join("cur").join(format!("{name}:2,"));
        assert!(moved.is_file());
        assert!(!p1.exists());
        assert_eq!(fs::read(&moved).unwrap(), b"Subject: 1\n\n");
        // Second call (as after a crash) is fine and changes nothing.
        md.mark_processed(e).unwrap();
        assert!(moved.is_file());
        assert_eq!(md.list_new().unwrap().len(), 1);
    }

    #[test]
    fn mark_processed_fails_when_cur_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        md.deliver(b"x").unwrap();
        fs::remove_dir(dir.path().join("cur")).unwrap();
        let entries = md.list_new().unwrap();
        assert!(md.mark_processed(&entries[0]).is_err());
        assert!(entries[0].path.exists());
    }
}
