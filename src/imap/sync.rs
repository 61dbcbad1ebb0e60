//! Fetching new mail from one folder, the chatmail way: BODY.PEEK (never set
//! \Seen by reading), the folder's UIDVALIDITY and next UID stored per folder,
//! and the next UID advanced in the same transaction that stores the message,
//! so a crash can re-fetch a message (deduped by Message-ID) but never skip one.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use tracing::{debug, info, warn};

use super::arrivals::Arrivals;
use super::connect::{timed, ImapSession};
use crate::config::{AfterProcessing, ImapRuntime, Runtime};
use crate::ingest::{mode_for_arrival, receive_parsed};
use crate::leadership::Fence;
use crate::message::MailView;
use crate::store::Store;

/// What one sync pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    pub fetched: usize,
    pub failed: usize,
    pub uidvalidity_changed: bool,
    /// The server reported new mail while the folder was being synced (an
    /// EXISTS during a FETCH or STORE): sync again before waiting in IDLE.
    pub more_arrived: bool,
}

/// Drops the unsolicited responses async-imap queues (EXISTS, EXPUNGE…):
/// onit asks for what it needs, and the queue must not grow without bound.
pub fn drain_unsolicited(session: &mut ImapSession) -> bool {
    let mut any_new = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        ) {
            any_new = true;
        }
    }
    any_new
}

fn parse_internal_date(f: &async_imap::types::Fetch) -> Option<DateTime<Utc>> {
    f.internal_date().map(|d| d.with_timezone(&Utc))
}

/// Brings one folder up to date: everything with a UID at or above the stored next UID.
/// Every write is fenced: it commits only while this instance still leads the folder.
/// `sender` is notified as each acknowledgment commits, so a backlog's first
/// client is answered while the rest of the folder is still being stored.
/// Mail the server reports while this runs is left for the next call
/// (`SyncReport::more_arrived`).
#[allow(clippy::too_many_arguments)]
pub async fn sync_folder(
    session: &mut ImapSession,
    store: &Store,
    rt: &Runtime,
    cfg: &ImapRuntime,
    account: &str,
    folder: &str,
    fence: &Fence,
    stop: &tokio::sync::watch::Receiver<bool>,
    sender: &tokio::sync::Notify,
) -> Result<SyncReport> {
    let t = cfg.command_timeout;
    let mut report = SyncReport::default();
    // What the server said unasked before this SELECT is superseded by its count.
    drain_unsolicited(session);
    let mailbox = timed(t, &format!("SELECT {folder}"), session.select(folder)).await?;
    let mut arrivals = Arrivals::new(mailbox.exists);
    let uidvalidity = i64::from(mailbox.uid_validity.unwrap_or(0));
    let state = {
        let mut tx = store.begin().await?;
        let s = tx.folder_state(account, folder).await?;
        tx.rollback().await?;
        s
    };
    let mut next_uid = match &state {
        Some(s) if s.uidvalidity == uidvalidity => s.next_uid,
        // A row with only an error recorded (the folder never synced): start at UID 1.
        Some(s) if s.uidvalidity == 0 => 1,
        Some(s) => {
            // The mailbox was recreated or renumbered: every UID we knew is void. Start
            // over from UID 1; Message-ID dedupe keeps what we stored from coming in twice.
            warn!(
                folder,
                old = s.uidvalidity,
                new = uidvalidity,
                "UIDVALIDITY changed: resynchronising the folder"
            );
            report.uidvalidity_changed = true;
            1
        }
        None => 1,
    };
    if state.as_ref().is_none_or(|s| s.uidvalidity != uidvalidity) {
        let mut tx = store.begin().await?;
        tx.set_folder_position(account, folder, uidvalidity, next_uid)
            .await?;
        fence.check(&mut tx).await?;
        tx.commit().await?;
    }
    if mailbox.exists == 0 {
        mark_synced(store, account, folder, fence).await?;
        return Ok(report);
    }
    // "n:*" always names the highest UID even when it is below n: filter.
    let found = timed(
        t,
        "UID SEARCH",
        session.uid_search(format!("UID {next_uid}:*")),
    )
    .await?;
    let mut uids: Vec<u32> = found
        .into_iter()
        .filter(|u| i64::from(*u) >= next_uid)
        .collect();
    uids.sort_unstable();
    arrivals.absorb(session);
    for chunk in uids.chunks(cfg.batch_size.max(1) as usize) {
        let set = uid_set(chunk);
        // The sizes first (issue 12): a message over mailbox.max_message_bytes is
        // fetched as its header only, so no message can take more memory than
        // the limit, and one larger than memory cannot stop the folder forever.
        let sizes: Vec<(u32, u64)> = fetch_all(session, t, &set, "(UID RFC822.SIZE)")
            .await?
            .iter()
            .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
            .collect();
        arrivals.absorb(session);
        for group in fetch_groups(chunk, &sizes, rt.max_message_bytes) {
            let by_uid = fetch_group(session, t, &group).await?;
            arrivals.absorb(session);
            for (uid, internal, raw, oversized) in by_uid {
                if i64::from(uid) < next_uid {
                    continue;
                }
                if crate::stop::is_requested(stop) {
                    // Stopping: the messages not yet stored are fetched again next time.
                    return Ok(report);
                }
                let now = Utc::now();
                let arrival = internal.unwrap_or(now).min(now);
                let msg = Fetched {
                    account,
                    folder,
                    uidvalidity,
                    uid,
                    raw: &raw,
                    arrival,
                    origin: crate::origin::imap(folder, uidvalidity, uid),
                    mode: mode_for_arrival(rt, arrival, now),
                    too_large: oversized,
                };
                // Try twice, then set the message aside so it never blocks the folder;
                // a lost leadership is not the message's fault: give the folder up.
                let mut stored = store_one(store, rt, &msg, fence).await;
                if let Err(first) = &stored {
                    if !is_lost_leadership(first) {
                        warn!(
                            uid,
                            error = format!("{first:#}"),
                            "storing message failed; retrying once"
                        );
                        stored = store_one(store, rt, &msg, fence).await;
                    }
                }
                match stored {
                    Ok(acked) => {
                        report.fetched += 1;
                        // The sender answers it now, not after the rest of the batch.
                        if acked {
                            sender.notify_one();
                        }
                    }
                    Err(e) if is_lost_leadership(&e) => return Err(e),
                    Err(e) => {
                        let mut tx = store
                            .begin()
                            .await
                            .context("recording an unstorable message")?;
                        tx.insert_ingest_failure(&msg.origin, now, &format!("{e:#}"), &raw)
                            .await?;
                        tx.set_folder_position(account, folder, uidvalidity, i64::from(uid) + 1)
                            .await?;
                        fence.check(&mut tx).await?;
                        tx.commit().await?;
                        warn!(
                            uid,
                            error = format!("{e:#}"),
                            "message set aside (see onit status)"
                        );
                        report.failed += 1;
                    }
                }
                next_uid = i64::from(uid) + 1;
                if oversized.is_none() {
                    after_processing(session, cfg, uid).await;
                    arrivals.absorb(session);
                }
            }
        }
    }
    mark_synced(store, account, folder, fence).await?;
    report.more_arrived = arrivals.grew();
    if report.fetched > 0 || report.failed > 0 {
        info!(
            folder,
            fetched = report.fetched,
            failed = report.failed,
            "folder synced"
        );
    } else {
        debug!(folder, "folder synced, nothing new");
    }
    Ok(report)
}

/// One fetched message and where it came from.
struct Fetched<'a> {
    account: &'a str,
    folder: &'a str,
    uidvalidity: i64,
    uid: u32,
    raw: &'a [u8],
    arrival: DateTime<Utc>,
    origin: String,
    mode: crate::ingest::Mode,
    /// The message's size when it was over the limit and `raw` is its header only.
    too_large: Option<u64>,
}

/// What one FETCH asks for: messages within the size limit together, as long
/// as their sum stays within it (so one batch holds at most about one limit of
/// mail in memory), or one oversized message, by its header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FetchGroup {
    Whole(Vec<u32>),
    Header(u32, u64),
}

/// `chunk` (ascending UIDs) in fetch groups, in UID order; `sizes` from RFC822.SIZE
/// (a UID the server gave no size for is fetched whole, alone).
fn fetch_groups(chunk: &[u32], sizes: &[(u32, u64)], limit: u64) -> Vec<FetchGroup> {
    let mut groups = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut sum = 0u64;
    for &uid in chunk {
        let size = sizes.iter().find(|(u, _)| *u == uid).map(|(_, s)| *s);
        match size {
            Some(s) if s > limit => {
                if !current.is_empty() {
                    groups.push(FetchGroup::Whole(std::mem::take(&mut current)));
                }
                groups.push(FetchGroup::Header(uid, s));
                sum = 0;
            }
            _ => {
                let s = size.unwrap_or(limit);
                if !current.is_empty() && sum + s > limit {
                    groups.push(FetchGroup::Whole(std::mem::take(&mut current)));
                    sum = 0;
                }
                current.push(uid);
                sum += s;
            }
        }
    }
    if !current.is_empty() {
        groups.push(FetchGroup::Whole(current));
    }
    groups
}

/// Fetches one group: (UID, INTERNALDATE, bytes, the size when only the header was fetched), by UID.
async fn fetch_group(
    session: &mut ImapSession,
    t: std::time::Duration,
    group: &FetchGroup,
) -> Result<Vec<(u32, Option<DateTime<Utc>>, Vec<u8>, Option<u64>)>> {
    let mut by_uid: Vec<_> = match group {
        FetchGroup::Whole(uids) => {
            fetch_all(session, t, &uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])")
                .await?
                .iter()
                .filter_map(|f| {
                    Some((
                        f.uid?,
                        parse_internal_date(f),
                        f.body().map(|b| b.to_vec()).unwrap_or_default(),
                        None,
                    ))
                })
                .collect()
        }
        FetchGroup::Header(uid, size) => fetch_all(
            session,
            t,
            &uid.to_string(),
            "(UID INTERNALDATE BODY.PEEK[HEADER])",
        )
        .await?
        .iter()
        .filter_map(|f| {
            Some((
                f.uid?,
                parse_internal_date(f),
                f.header().map(|b| b.to_vec()).unwrap_or_default(),
                Some(*size),
            ))
        })
        .collect(),
    };
    by_uid.sort_by_key(|(u, ..)| *u);
    Ok(by_uid)
}

/// `1,5,7`: a UID set.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// One UID FETCH, its whole response stream drained before the next command:
/// async-imap cannot interleave commands, and a half-read stream corrupts the session.
async fn fetch_all(
    session: &mut ImapSession,
    t: std::time::Duration,
    set: &str,
    query: &str,
) -> Result<Vec<async_imap::types::Fetch>> {
    timed(t, "UID FETCH", async {
        let stream = session.uid_fetch(set, query).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await
}

fn is_lost_leadership(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::leadership::LostLeadership>()
            .is_some()
    })
}

/// Stores one message and moves the folder's next UID past it, in one
/// transaction; whether an acknowledgment was queued in it.
async fn store_one(store: &Store, rt: &Runtime, m: &Fetched<'_>, fence: &Fence) -> Result<bool> {
    // Parsed before the transaction begins: parsing must not hold the writer.
    let parsed = match m.too_large {
        Some(size) => crate::oversize::view_of_header(rt, m.raw, size, &m.origin),
        None => MailView::parse(m.raw),
    };
    let mut tx = store.begin().await?;
    let out = receive_parsed(&mut tx, rt, m.raw, parsed, m.arrival, &m.origin, m.mode).await?;
    tx.set_folder_position(m.account, m.folder, m.uidvalidity, i64::from(m.uid) + 1)
        .await?;
    crate::fault::point("imap-before-commit");
    fence.check(&mut tx).await?;
    tx.commit().await?;
    out.record_metrics();
    crate::fault::point("imap-after-commit");
    Ok(out.ack_queued)
}

async fn mark_synced(store: &Store, account: &str, folder: &str, fence: &Fence) -> Result<()> {
    let mut tx = store.begin().await?;
    tx.folder_synced(account, folder, Utc::now()).await?;
    fence.check(&mut tx).await?;
    tx.commit().await
}

/// `imap.after`, applied only once the message is safely stored. A failure here
/// is logged and does not undo anything: the UID has already moved on.
async fn after_processing(session: &mut ImapSession, cfg: &ImapRuntime, uid: u32) {
    let t = cfg.command_timeout;
    let result = match &cfg.after {
        AfterProcessing::Leave => return,
        AfterProcessing::Seen => timed(t, "UID STORE", async {
            let s = session
                .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                .await?;
            s.try_collect::<Vec<_>>().await
        })
        .await
        .map(|_| ()),
        AfterProcessing::Move(target) => {
            timed(t, "UID MOVE", session.uid_mv(uid.to_string(), target)).await
        }
    };
    if let Err(e) = result {
        warn!(
            uid,
            error = format!("{e:#}"),
            "imap.after action failed (the message is stored)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_groups_keep_each_fetch_within_the_limit_and_uid_order() {
        let sizes = [(1, 10), (2, 60), (3, 500), (4, 50), (5, 45), (6, 10)];
        assert_eq!(
            fetch_groups(&[1, 2, 3, 4, 5, 6, 7], &sizes, 100),
            vec![
                FetchGroup::Whole(vec![1, 2]),
                FetchGroup::Header(3, 500),
                FetchGroup::Whole(vec![4, 5]),
                FetchGroup::Whole(vec![6]),
                FetchGroup::Whole(vec![7]),
            ]
        );
    }
}
