//! After a crash: did the server already take this message? (`smtp.sent_copy_folder`)
//!
//! SMTP itself cannot say (see `smtp.rs`): once the server has answered the
//! final `250`, no command asks about it again. But many servers file a copy of
//! every submitted message themselves: Gmail and Microsoft 365 in Sent, Postfix
//! wherever `sender_bcc_maps` sends it. An attempt a crash left in `sending` is
//! looked up there by its Message-ID (IMAP `UID SEARCH HEADER Message-ID`)
//! before it is sent again. (onit's own `smtp.append_sent` copy cannot serve:
//! it is appended after the send is recorded, so a crash before that leaves none.)
//!
//! The query is built here from our own Message-ID (rendered by onit when the
//! mail was queued); it is still checked before it reaches the IMAP command
//! line, as every header value is.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::ImapRuntime;
use crate::imap::connect::{connect, timed};

/// How long after an unfinished attempt began its copy may still be on its way
/// into the folder (the server files it a moment after its `250`). A lookup that
/// finds nothing sooner waits and looks again rather than sending a second copy.
pub const SETTLE: Duration = Duration::from_secs(5);

/// The `UID SEARCH` criteria for one Message-ID (without angle brackets), or
/// None when it holds anything an IMAP quoted string or a Message-ID may not
/// (a control character, a quote or backslash, a space, non-ASCII). The angle
/// brackets are part of the searched text, so `<a@b>` never matches `<xa@b>`.
pub fn search_criteria(message_id: &str) -> Option<String> {
    let ok = !message_id.is_empty()
        && message_id.len() <= 250
        && message_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>'));
    ok.then(|| format!("HEADER Message-ID \"<{message_id}>\""))
}

/// Whether `folder` of the `[imap]` account holds a message with `message_id`.
/// Read-only (EXAMINE); every command under `imap.command_timeout_secs`.
pub async fn holds(imap: &ImapRuntime, folder: &str, message_id: &str) -> Result<bool> {
    let criteria = search_criteria(message_id)
        .with_context(|| format!("Message-ID {message_id:?} cannot be searched for"))?;
    let mut session = connect(imap).await?;
    let found = async {
        timed(imap.command_timeout, "EXAMINE", session.examine(folder))
            .await
            .with_context(|| format!("opening {folder}"))?;
        let uids = timed(
            imap.command_timeout,
            "UID SEARCH",
            session.uid_search(&criteria),
        )
        .await
        .with_context(|| format!("searching {folder}"))?;
        anyhow::Ok(!uids.is_empty())
    }
    .await;
    let _ = timed(imap.command_timeout, "LOGOUT", session.logout()).await;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_quote_the_bracketed_id() {
        assert_eq!(
            search_criteria("JAC-7.ack.1a2b@jac.example").as_deref(),
            Some("HEADER Message-ID \"<JAC-7.ack.1a2b@jac.example>\"")
        );
    }

    #[test]
    fn nothing_that_could_break_out_of_the_quoted_string() {
        for bad in [
            "",
            "a\"b@x",
            "a\\b@x",
            "a b@x",
            "a\r\nX LOGOUT@x",
            "a>b@x",
            "é@x",
        ] {
            assert_eq!(search_criteria(bad), None, "{bad:?}");
        }
        assert_eq!(search_criteria(&"a".repeat(251)), None);
    }
}
