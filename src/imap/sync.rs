//! Fetching new mail from one folder, the chatmail way: BODY.PEEK (never set
//! \Seen by reading), the folder's UIDVALIDITY and next UID stored per folder,
//! and the next UID advanced in the same transaction that stores the message,
//! so a crash can re-fetch a message (deduped by Message-ID) but never skip one.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use tracing::{debug, info, warn};

use super::connect::{timed, ImapSession};
use crate::config::{AfterProcessing, ImapRuntime, Runtime};
use crate::ingest::{mode_for_arrival, receive_in};
use crate::leadership::Fence;
use crate::store::Store;

/// What one sync pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    pub fetched: usize,
    pub failed: usize,
    pub uidvalidity_changed: bool,
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
) -> Result<SyncReport> {
    let t = cfg.command_timeout;
    let mut report = SyncReport::default();
    let mailbox = timed(t, &format!("SELECT {folder}"), session.select(folder)).await?;
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
    drain_unsolicited(session);
    for chunk in uids.chunks(cfg.batch_size.max(1) as usize) {
        let set = chunk
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(",");
        // Drain the whole response stream before the next command: async-imap
        // cannot interleave commands, and a half-read stream corrupts the session.
        let fetches: Vec<async_imap::types::Fetch> = timed(t, "UID FETCH", async {
            let stream = session
                .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        let mut by_uid: Vec<(u32, Option<DateTime<Utc>>, Vec<u8>)> = fetches
            .iter()
            .filter_map(|f| {
                Some((
                    f.uid?,
                    parse_internal_date(f),
                    f.body().map(|b| b.to_vec()).unwrap_or_default(),
                ))
            })
            .collect();
        drop(fetches);
        by_uid.sort_by_key(|(u, ..)| *u);
        for (uid, internal, raw) in by_uid {
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
                Ok(()) => report.fetched += 1,
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
            after_processing(session, cfg, uid).await;
        }
    }
    mark_synced(store, account, folder, fence).await?;
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
}

fn is_lost_leadership(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::leadership::LostLeadership>()
            .is_some()
    })
}

/// Stores one message and moves the folder's next UID past it, in one transaction.
async fn store_one(store: &Store, rt: &Runtime, m: &Fetched<'_>, fence: &Fence) -> Result<()> {
    let mut tx = store.begin().await?;
    let out = receive_in(&mut tx, rt, m.raw, m.arrival, &m.origin, m.mode).await?;
    tx.set_folder_position(m.account, m.folder, m.uidvalidity, i64::from(m.uid) + 1)
        .await?;
    crate::fault::point("imap-before-commit");
    fence.check(&mut tx).await?;
    tx.commit().await?;
    out.record_metrics();
    crate::fault::point("imap-after-commit");
    Ok(())
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
