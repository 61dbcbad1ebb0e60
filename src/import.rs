//! `onit import`: archives are history. Messages are ingested in date order in
//! batches (one transaction per batch, a savepoint per message so one bad
//! message never loses the rest); nothing is ever sent and no acknowledgment is
//! created. Acknowledgments found in the archive count as the ticket's.

use std::path::PathBuf;

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;

use crate::classify::MailClass;
use crate::config::Runtime;
use crate::ingest::{receive_parsed, Disposition, Mode, Outcome};
use crate::mailstore::{ImportPlan, Planned};
use crate::message::MailView;
use crate::policy::archive_time::{archive_time, ArrivalEvidence};
use crate::store::{Store, Tx};

/// Messages per transaction.
const BATCH: usize = 500;

/// What an import did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ImportCounts {
    pub messages: usize,
    pub tickets: usize,
    pub threaded: usize,
    pub automated: usize,
    pub contacts: usize,
    pub internal_notes: usize,
    pub unthreaded: usize,
    pub duplicates: usize,
    pub unparseable: usize,
    pub failed: usize,
}

/// Imports every message found under `paths`, as a stream: the archive is
/// walked once to order it (its place and time per message), then read again
/// one message at a time (src/mailstore/import_plan.rs), so memory does not
/// grow with the archive's size.
pub async fn import(store: &Store, rt: &Runtime, paths: &[PathBuf]) -> Result<ImportCounts> {
    let now = Utc::now();
    let mut plan = ImportPlan::walk(paths, |m| {
        // Headers only to order the archive: each message is read whole when it
        // is stored, so the whole archive is never held at once.
        let parsed = MailView::parse_headers(&m.bytes);
        let view = parsed.as_ref().ok();
        let (container, file_time) = match m.arrival_is_file_time {
            true => (None, m.arrival),
            false => (m.arrival, None),
        };
        let evidence = ArrivalEvidence {
            separator: container,
            received: view.and_then(|v| v.received_at),
            file_time,
        };
        let arrival = evidence
            .best()
            .or_else(|| view.and_then(|v| v.date))
            .unwrap_or(now);
        let date = view.and_then(|v| v.date);
        let at = archive_time(date, arrival, rt.policy.date_skew_future);
        (at, arrival)
    })?;
    plan.sort();

    let mut counts = ImportCounts::default();
    let mut it = plan.messages().iter().peekable();
    while it.peek().is_some() {
        let batch: Vec<&Planned> = it.by_ref().take(BATCH).collect();
        // A batch is first stored without a savepoint per message (two fewer
        // round trips to the database each); when a message fails, the batch is
        // rolled back and stored again with one savepoint per message, so the one
        // bad message is skipped and the rest kept.
        let mut tx = store.begin().await?;
        let mut fast = counts.clone();
        if store_batch(&mut tx, rt, &plan, &batch, &mut fast, false).await? {
            tx.commit().await?;
            counts = fast;
            continue;
        }
        tx.rollback().await?;
        let mut tx = store.begin().await?;
        store_batch(&mut tx, rt, &plan, &batch, &mut counts, true).await?;
        tx.commit().await?;
    }
    Ok(counts)
}

/// Stores one batch of planned messages in `tx`, counting into `counts`. With
/// `savepoints`, each message is stored under its own savepoint and one that
/// fails is rolled back alone, logged and counted as failed; without, the first
/// failure stops the batch and false is returned (the caller rolls back and
/// stores the batch again with savepoints).
async fn store_batch(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    plan: &ImportPlan,
    batch: &[&Planned],
    counts: &mut ImportCounts,
    savepoints: bool,
) -> Result<bool> {
    for planned in batch {
        counts.messages += 1;
        let arrival = planned.arrival;
        let m = match plan.read(planned, rt.max_message_bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(origin = %plan.origin(planned), error = format!("{e:#}"), "message could not be read");
                counts.failed += 1;
                continue;
            }
        };
        // Over mailbox.max_message_bytes: recorded from its header only, like
        // the Maildir and IMAP (src/oversize.rs); never read or stored whole.
        let parsed = match m.too_large {
            Some(size) => crate::oversize::view_of_header(rt, &m.bytes, size, &m.origin),
            None => MailView::parse(&m.bytes),
        };
        let out = if savepoints {
            let mut sp = tx.savepoint().await?;
            let out = receive_parsed(
                &mut sp,
                rt,
                &m.bytes,
                parsed,
                arrival,
                &m.origin,
                Mode::Archive,
            )
            .await;
            match out {
                Ok(out) => {
                    sp.commit().await?;
                    out
                }
                Err(e) => {
                    sp.rollback().await?;
                    tracing::error!(origin = %m.origin, error = format!("{e:#}"), "message could not be stored");
                    counts.failed += 1;
                    continue;
                }
            }
        } else {
            match receive_parsed(tx, rt, &m.bytes, parsed, arrival, &m.origin, Mode::Archive).await
            {
                Ok(out) => out,
                Err(_) => return Ok(false),
            }
        };
        count(counts, &out);
    }
    Ok(true)
}

/// Counts one stored message by what ingest did with it.
fn count(counts: &mut ImportCounts, out: &Outcome) {
    match out.disposition {
        Disposition::Duplicate => counts.duplicates += 1,
        Disposition::Unparseable => counts.unparseable += 1,
        Disposition::NewTicket => counts.tickets += 1,
        // Only live mail is held (src/flood.rs); an archive never is.
        Disposition::Held => counts.unthreaded += 1,
        Disposition::Threaded | Disposition::Unthreaded => {
            match out.class {
                Some(MailClass::Automated) => counts.automated += 1,
                Some(MailClass::Contact | MailClass::Acknowledgment)
                    if out.disposition == Disposition::Threaded =>
                {
                    counts.contacts += 1
                }
                Some(MailClass::InternalNote) if out.disposition == Disposition::Threaded => {
                    counts.internal_notes += 1
                }
                _ => {}
            }
            if out.class != Some(MailClass::Automated) {
                if out.disposition == Disposition::Threaded {
                    counts.threaded += 1;
                } else {
                    counts.unthreaded += 1;
                }
            }
        }
    }
}
