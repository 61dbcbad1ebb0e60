//! A size limit that never loses mail (issue 12): a message over
//! `mailbox.max_message_bytes` (default 25 MB) is never read whole. Its source
//! reads the header block only (IMAP `BODY.PEEK[HEADER]` after `RFC822.SIZE`,
//! Maildir and import from the file size) and leaves the message where it is;
//! onit records it from its header, opens or threads the ticket as usual with
//! a `too_large` event, tells the PM, and the acknowledgment says the
//! attachment was too large. Memory per message stays a small multiple of the
//! limit, whatever arrives.

use std::io::Read;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::config::Runtime;
use crate::message::MailView;
use crate::store::{TicketRow, Tx};
use crate::ticket::lifecycle::{self, By};
use crate::ticket::EventKind;

/// The most of an oversized message's header onit reads (a header block longer
/// than this is cut: what follows is not needed to thread or acknowledge).
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// The header block of `raw`: up to and including the first empty line, at
/// most [`MAX_HEADER_BYTES`].
pub fn header_block(raw: &[u8]) -> &[u8] {
    let raw = &raw[..raw.len().min(MAX_HEADER_BYTES)];
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .into_iter()
        .chain(raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
        .min();
    &raw[..end.unwrap_or(raw.len())]
}

/// Reads only the header block of a file (at most [`MAX_HEADER_BYTES`]).
pub fn read_header(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_HEADER_BYTES as u64)
        .read_to_end(&mut buf)?;
    let n = header_block(&buf).len();
    buf.truncate(n);
    Ok(buf)
}

/// The view of an oversized message from its header block: `size` is the
/// whole message's. The source ingests it like any message
/// (`ingest::receive_view`), with the header block as its raw bytes.
pub fn view_of_header(
    rt: &Runtime,
    header: &[u8],
    size: u64,
    origin: &str,
) -> Result<MailView, crate::message::Unparseable> {
    tracing::warn!(
        origin,
        bytes = size,
        limit = rt.max_message_bytes,
        "message over mailbox.max_message_bytes: read from its header only"
    );
    MailView::parse(header_block(header)).map(|mut v| {
        v.too_large = Some(size);
        v
    })
}

/// Called by ingest once a too-large client message is on ticket `t`: the
/// `too_large` event and, for live mail, the PM's notice.
pub async fn record(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    v: &MailView,
    at: DateTime<Utc>,
    live: bool,
) -> Result<()> {
    let Some(size) = v.too_large else {
        return Ok(());
    };
    let mb = size.div_ceil(1024 * 1024);
    let limit = rt.max_message_bytes.div_ceil(1024 * 1024);
    let detail = format!(
        "message of {mb} MB over mailbox.max_message_bytes ({limit} MB): only its header was read; \
         it is left in the mailbox"
    );
    let by = By {
        actor: v.from.as_ref().map(|a| a.as_str()),
        message_id: Some(&v.message_id),
    };
    lifecycle::record(tx, t.id, at, EventKind::TooLarge, by, &detail).await?;
    if live {
        let pm = lifecycle::pm_of(rt, t);
        let key = format!("too-large:{}", v.message_id);
        let body = format!(
            "A message from {from} on ticket {reference} was {mb} MB, over the {limit} MB onit\n\
             reads (mailbox.max_message_bytes). onit read its header only: the ticket is\n\
             open and the client was told the attachment was too large. The message\n\
             itself is still in the mailbox.\n\nSubject: {subject}\n\n-- onit\n",
            from = v.from.as_ref().map_or("(unknown)", |a| a.as_str()),
            reference = t.reference(),
            subject = crate::message::subject_text(&v.subject),
        );
        let notice = crate::notices::ToPm {
            pm: &pm,
            dedupe_key: &key,
            subject: "Message too large to read",
            body,
        };
        crate::notices::to_pm(tx, rt, t, notice, at).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_block_ends_at_the_first_empty_line() {
        assert_eq!(
            header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(header_block(b"A: 1\nB: 2\n\nbody"), b"A: 1\nB: 2\n\n");
        assert_eq!(header_block(b"A: 1\r\n"), b"A: 1\r\n");
        let long = vec![b'x'; MAX_HEADER_BYTES + 10];
        assert_eq!(header_block(&long).len(), MAX_HEADER_BYTES);
    }
}
