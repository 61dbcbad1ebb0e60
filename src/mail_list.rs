//! `onit mail`: the mail that opened no ticket, listed by kind (`held` by a
//! flood, `automated`, `set-aside` because it could not be stored), one shown
//! whole (`show ID`), held mail released (`release ID`).

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};

use crate::config::Runtime;
use crate::store::{ListedMail, Store};

/// Which list `onit mail --kind` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MailKind {
    /// Held by a flood limit (src/flood.rs), until released.
    Held,
    /// Automated mail (bounces, auto-replies, lists), newest 100.
    Automated,
    /// Messages that could not be stored, kept whole, newest 100.
    SetAside,
}

/// The list of one kind.
pub async fn list(store: &Store, kind: MailKind) -> Result<Vec<ListedMail>> {
    match kind {
        MailKind::Held => store.held_mail().await,
        MailKind::Automated => store.automated_mail().await,
        MailKind::SetAside => store.set_aside_mail().await,
    }
}

/// The list as text: one line per message, ID first.
pub fn list_text(rows: &[ListedMail]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for r in rows {
        let at = DateTime::<Utc>::from_timestamp_millis(r.at)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{}  {}  {}  {}  ({})",
            r.id,
            at,
            r.from_addr.as_deref().unwrap_or("-"),
            crate::message::subject_text(&r.subject),
            crate::message::single_line(&r.reason)
        );
    }
    if rows.is_empty() {
        s.push_str("(none)\n");
    }
    s
}

/// `onit mail release ID`: lets held mail through ingest, as live mail that
/// arrives `now` (it opens its ticket and is acknowledged as if new), in one
/// transaction with the release. Returns the ticket it opened or joined.
pub async fn release(
    store: &Store,
    rt: &Runtime,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let id = crate::message::normalize_message_id(message_id).unwrap_or_default();
    let mut tx = store.begin().await?;
    let Some(raw) = tx.release_held(&id, now).await? else {
        bail!("{message_id} is not held mail (see `onit mail --kind held`)");
    };
    let parsed = crate::message::MailView::parse(&raw);
    let out = crate::ingest::receive_parsed(
        &mut tx,
        rt,
        &raw,
        parsed,
        now,
        "release",
        crate::ingest::Mode::Live,
    )
    .await?;
    tx.commit().await?;
    out.record_metrics();
    Ok(out.ticket)
}
