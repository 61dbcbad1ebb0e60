//! `mailbox.source = "imap"`: one worker per folder (IDLE watches one selected
//! mailbox, and one broken folder must never stop another), each with its own
//! connection, reconnecting with capped, jittered backoff.

pub mod arrivals;
pub mod connect;
pub mod idle;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::config::{ImapRuntime, Runtime};
use crate::leadership::{self, Fence, Leadership};
use crate::metrics;
use crate::store::Store;
use idle::Woke;

/// The key folder state is stored under: one account can be watched by several configs.
pub fn account_key(cfg: &ImapRuntime) -> String {
    format!("{}@{}:{}", cfg.username, cfg.host, cfg.port)
}

/// The delay before reconnect attempt `n` (from 1): 1 s doubling, capped, ±25 % jitter.
pub fn reconnect_delay(n: u32, max: Duration) -> Duration {
    let base = 2f64
        .powi(n.saturating_sub(1).min(16) as i32)
        .min(max.as_secs_f64());
    Duration::from_secs_f64(
        (base * (0.75 + fastrand::f64() * 0.5))
            .min(max.as_secs_f64())
            .max(0.05),
    )
}

/// Runs every folder's worker until `stop` turns true. Each folder is a role:
/// its worker syncs only while this instance leads it, and stands by otherwise.
pub async fn run(
    store: Store,
    rt: Arc<Runtime>,
    cfg: ImapRuntime,
    leadership: Leadership,
    stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for folder in cfg.folders.clone() {
        let (store, rt, cfg, stop, wake, leadership) = (
            store.clone(),
            rt.clone(),
            cfg.clone(),
            stop.clone(),
            wake.clone(),
            leadership.clone(),
        );
        let span = info_span!("imap", folder = %folder);
        tasks.spawn(
            async move { led_folder(store, rt, cfg, folder, leadership, stop, wake).await }
                .instrument(span),
        );
    }
    while let Some(ended) = tasks.join_next().await {
        if let Err(e) = ended {
            if e.is_panic() {
                // A folder's worker died: the source dies with it, so the
                // daemon's supervision stops onit for a restart instead of
                // leaving that folder unread (`crate::supervision`). The other
                // folders go on until that stop and finish the message in hand.
                tasks.detach_all();
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// Waits to lead the folder, syncs it until the role is lost or onit stops, repeats.
async fn led_folder(
    store: Store,
    rt: Arc<Runtime>,
    cfg: ImapRuntime,
    folder: String,
    leadership: Leadership,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let role = leadership::folder_role(&account_key(&cfg), &folder);
    loop {
        let Some(mut lease) = leadership.acquire(&role, &mut stop).await else {
            break;
        };
        // The worker's own stop: onit stopping, or the role lost.
        let (inner_tx, inner_rx) = watch::channel(false);
        let fence = lease.fence();
        let worker = folder_worker(
            store.clone(),
            rt.clone(),
            cfg.clone(),
            folder.clone(),
            fence,
            inner_rx,
            wake.clone(),
        );
        tokio::pin!(worker);
        let mut outer = stop.clone();
        let lost = tokio::select! {
            _ = &mut worker => false,
            _ = lease.lost() => true,
            _ = crate::stop::requested(&mut outer) => false,
        };
        let _ = inner_tx.send(true);
        // Let the worker finish the message in hand (its writes are fenced anyway).
        let _ = tokio::time::timeout(cfg.command_timeout, &mut worker).await;
        metrics::imap_connected(&folder, false);
        if lost {
            warn!("lost the lead of this folder; standing by");
            continue;
        }
        leadership.release(lease).await;
        if crate::stop::is_requested(&stop) {
            break;
        }
    }
}

async fn folder_worker(
    store: Store,
    rt: Arc<Runtime>,
    cfg: ImapRuntime,
    folder: String,
    fence: Fence,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let account = account_key(&cfg);
    let mut failures = 0u32;
    loop {
        if crate::stop::is_requested(&stop) {
            break;
        }
        match session_cycle(
            &store,
            &rt,
            &cfg,
            &account,
            &folder,
            &fence,
            &mut stop,
            &wake,
            &mut failures,
        )
        .await
        {
            Ok(()) => break,
            Err(e) => {
                metrics::imap_connected(&folder, false);
                failures += 1;
                let delay = reconnect_delay(failures, cfg.reconnect_max);
                let msg = match connect::diagnose(&cfg, &e) {
                    Some(h) => format!("{e:#} (hint: {h})"),
                    None => format!("{e:#}"),
                };
                error!(error = %msg, retry_in = ?delay, "IMAP session failed; reconnecting");
                if connect::is_sign_in_error(&e) {
                    let subject = format!("imap:{account}");
                    if let Err(e) = crate::alerts::raise(
                        &store,
                        &rt,
                        crate::alerts::AlertKind::SignInFailed,
                        &subject,
                        &msg,
                        Utc::now(),
                    )
                    .await
                    {
                        error!(error = format!("{e:#}"), "cannot record the sign-in alert");
                    }
                }
                if let Ok(mut tx) = store.begin().await {
                    if tx
                        .folder_error(&account, &folder, Utc::now(), &msg)
                        .await
                        .is_ok()
                    {
                        let _ = tx.commit().await;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = crate::stop::requested(&mut stop) => {}
                }
            }
        }
    }
    info!("IMAP worker stopped");
}

/// One connection's life: log in, sync, wait, sync… until an error (returned) or stop (Ok).
#[allow(clippy::too_many_arguments)]
async fn session_cycle(
    store: &Store,
    rt: &Runtime,
    cfg: &ImapRuntime,
    account: &str,
    folder: &str,
    fence: &Fence,
    stop: &mut watch::Receiver<bool>,
    wake: &Notify,
    failures: &mut u32,
) -> Result<()> {
    let mut session = connect::connect(cfg).await?;
    // Signed in: a sign-in incident for this account is over.
    if let Err(e) = crate::alerts::resolve(
        store,
        crate::alerts::AlertKind::SignInFailed,
        &format!("imap:{account}"),
        Utc::now(),
    )
    .await
    {
        warn!(error = format!("{e:#}"), "cannot resolve the sign-in alert");
    }
    let caps = connect::timed(cfg.command_timeout, "CAPABILITY", session.capabilities()).await?;
    let has_idle = caps.has_str("IDLE");
    info!(idle = has_idle, "IMAP connected");
    metrics::imap_connected(folder, true);
    loop {
        let report = sync::sync_folder(
            &mut session,
            store,
            rt,
            cfg,
            account,
            folder,
            fence,
            stop,
            wake,
        )
        .await?;
        *failures = 0;
        if report.fetched > 0 {
            wake.notify_one();
        }
        if crate::stop::is_requested(stop) {
            break;
        }
        if report.more_arrived {
            // Reported during the sync, so IDLE would not report it again.
            debug!(folder, "new mail arrived during the sync; syncing again");
            continue;
        }
        let (s, woke) = if has_idle {
            idle::idle(session, cfg.idle_renew, cfg.command_timeout, stop).await?
        } else {
            idle::poll(session, cfg.poll_interval, cfg.command_timeout, stop).await?
        };
        session = s;
        if woke == Woke::Stop {
            break;
        }
    }
    if let Err(e) = connect::timed(cfg.command_timeout, "LOGOUT", session.logout()).await {
        warn!(error = format!("{e:#}"), "logout failed");
    }
    Ok(())
}

/// `onit run --once`: one sync of every folder this instance can lead (a folder
/// another running instance leads is left to it), then log out.
pub async fn sync_once(
    store: &Store,
    rt: &Runtime,
    cfg: &ImapRuntime,
    leadership: &Leadership,
    stop: &watch::Receiver<bool>,
) -> Result<usize> {
    let account = account_key(cfg);
    let mut fetched = 0;
    for folder in &cfg.folders {
        let role = leadership::folder_role(&account, folder);
        let Some(lease) = leadership.try_lead(&role).await? else {
            info!(folder, "another instance leads this folder; left to it");
            continue;
        };
        let result = async {
            let mut session = connect::connect(cfg).await?;
            let r = sync::sync_folder(
                &mut session,
                store,
                rt,
                cfg,
                &account,
                folder,
                &lease.fence(),
                stop,
                // `run --once` delivers after the sync: no sender waits.
                &tokio::sync::Notify::new(),
            )
            .await;
            let _ = connect::timed(cfg.command_timeout, "LOGOUT", session.logout()).await;
            r
        }
        .await;
        leadership.release(lease).await;
        let result = result.map_err(|e| match connect::diagnose(cfg, &e) {
            Some(h) => e.context(format!("IMAP folder {folder} (hint: {h})")),
            None => e,
        });
        fetched += result?.fetched;
    }
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_is_capped_and_jittered() {
        let max = Duration::from_secs(120);
        for n in 1..40 {
            let d = reconnect_delay(n, max);
            assert!(d <= max, "{n}: {d:?}");
        }
        let d1 = reconnect_delay(1, max).as_secs_f64();
        assert!((0.75..=1.25).contains(&d1), "{d1}");
        let d5 = reconnect_delay(5, max).as_secs_f64();
        assert!((12.0..=20.0).contains(&d5), "{d5}");
    }
}
