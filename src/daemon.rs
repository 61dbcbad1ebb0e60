//! `onit run`: watch the mailbox, deliver the outbox, stop cleanly on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use crate::config::{Runtime, SourceKind, TransportKind};
use crate::ingest::{mode_for_arrival, receive_imf};
use crate::mailstore::Maildir;
use crate::outgoing::{file::FileTransport, Outbox, Transport};
use crate::store::Store;

/// Builds the outbox worker the configuration asks for.
pub fn outbox_for(rt: &Runtime, store: &Store) -> Result<Outbox> {
    let transport = match rt.transport {
        TransportKind::File => Transport::File(
            FileTransport::new(&rt.outgoing_dir)
                .with_context(|| format!("creating outgoing.dir {}", rt.outgoing_dir.display()))?,
        ),
        TransportKind::Smtp => Transport::Smtp(
            crate::outgoing::smtp::SmtpTransport::new(
                rt.smtp
                    .as_ref()
                    .context("outgoing.transport = \"smtp\" needs the [smtp] settings")?,
            )
            .context("setting up the SMTP transport")?,
        ),
    };
    Ok(Outbox::new(store.clone(), transport, Arc::new(rt.clone())))
}

/// Counts from one pass over the Maildir.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourcePass {
    pub seen: usize,
    pub failed: usize,
}

/// Ingests everything in the Maildir's new/ folder, one transaction per message;
/// each message moves to cur/ only after its transaction commits. A message that
/// fails to store stays in new/ and is retried on the next pass; it never blocks the others.
pub async fn maildir_pass(
    store: &Store,
    rt: &Runtime,
    md: &Maildir,
    stop: &watch::Receiver<bool>,
) -> Result<SourcePass> {
    let mut pass = SourcePass::default();
    let entries = md
        .list_new()
        .with_context(|| format!("listing {}", md.root().display()))?;
    for entry in entries {
        if *stop.borrow() {
            break;
        }
        let msg = match md.read(&entry) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                warn!(path = %entry.path.display(), error = %e, "cannot read message; will retry");
                pass.failed += 1;
                continue;
            }
        };
        let now = Utc::now();
        let arrival = msg.arrival.unwrap_or(now).min(now);
        match receive_imf(
            store,
            rt,
            &msg.bytes,
            arrival,
            &msg.origin,
            mode_for_arrival(rt, arrival, now),
        )
        .await
        {
            Ok(_) => {
                crate::fault::point("maildir-after-commit");
                md.mark_processed(&entry)
                    .with_context(|| format!("moving {} to cur/", entry.path.display()))?;
                pass.seen += 1;
            }
            Err(e) => {
                error!(path = %entry.path.display(), error = format!("{e:#}"), "cannot store message; it stays in new/ and is retried");
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// Runs the daemon. With `once`, drains what is there and returns.
pub async fn run(rt: Runtime, once: bool) -> Result<()> {
    let store = Store::open(&rt.database_url, rt.max_connections).await?;
    // XOAUTH2 sign-in needs the database for its tokens: attach them before anything connects.
    let rt = crate::oauth::attach(rt, &store)
        .await
        .context("setting up OAuth sign-in")?;
    let outbox = outbox_for(&rt, &store)?;
    let (stop_tx, stop_rx) = watch::channel(false);

    if once {
        let ingested = match (&rt.source, &rt.imap) {
            (SourceKind::Imap, Some(cfg)) => {
                crate::imap::sync_once(&store, &rt, cfg, &stop_rx).await?
            }
            _ => {
                let md = Maildir::open(&rt.maildir)
                    .with_context(|| format!("opening mailbox.maildir {}", rt.maildir.display()))?;
                let pass = maildir_pass(&store, &rt, &md, &stop_rx).await?;
                anyhow::ensure!(
                    pass.failed == 0,
                    "{} message(s) could not be stored; they stay in new/",
                    pass.failed
                );
                pass.seen
            }
        };
        // Deliver first (a sent acknowledgment is a contact), then remind and queue any
        // digest due (or missed), then deliver those.
        let mut report = outbox.deliver_due(Utc::now()).await?;
        let reminded = crate::reminders::tick(&store, &rt, Utc::now())
            .await?
            .reminders
            > 0;
        let digests = crate::digest::digest_tick(&store, &rt, Utc::now())
            .await?
            .queued()
            > 0;
        if reminded || digests {
            let more = outbox.deliver_due(Utc::now()).await?;
            report.sent += more.sent;
            report.retried += more.retried;
            report.failed += more.failed;
        }
        info!(
            ingested,
            sent = report.sent,
            retrying = report.retried,
            failed = report.failed,
            "run --once finished"
        );
        store.close().await;
        return Ok(());
    }

    let wake = Arc::new(Notify::new());
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("stopping: finishing the message in hand");
        let _ = stop_tx.send(true);
    });

    let source = if let (SourceKind::Imap, Some(cfg)) = (rt.source, rt.imap.clone()) {
        tokio::spawn(crate::imap::run(
            store.clone(),
            Arc::new(rt.clone()),
            cfg,
            stop_rx.clone(),
            wake.clone(),
        ))
    } else {
        let md = Maildir::open(&rt.maildir)
            .with_context(|| format!("opening mailbox.maildir {}", rt.maildir.display()))?;
        let store = store.clone();
        let rt = rt.clone();
        let wake = wake.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                match maildir_pass(&store, &rt, &md, &stop).await {
                    Ok(p) if p.seen > 0 => wake.notify_one(),
                    Ok(_) => {}
                    Err(e) => error!(error = format!("{e:#}"), "mailbox pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(rt.poll_interval) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    };

    let sender = {
        let store = store.clone();
        let wake = wake.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = outbox.deliver_due(Utc::now()).await {
                    error!(error = format!("{e:#}"), "outbox pass failed");
                }
                let wait = match store.outbox_next_due().await {
                    Ok(Some(t)) => (t - Utc::now())
                        .to_std()
                        .unwrap_or(StdDuration::ZERO)
                        .min(StdDuration::from_secs(30)),
                    _ => StdDuration::from_secs(30),
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait.max(StdDuration::from_millis(50))) => {}
                    _ = wake.notified() => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    };

    // Reminders and digests: evaluated every 30 s, each one queued once (dedupe keys in the outbox).
    let scheduler = {
        let store = store.clone();
        let rt = rt.clone();
        let wake = wake.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                match crate::reminders::tick(&store, &rt, Utc::now()).await {
                    Ok(r) if r.reminders > 0 || r.open_list => wake.notify_one(),
                    Ok(_) => {}
                    Err(e) => error!(error = format!("{e:#}"), "reminder pass failed"),
                }
                // PM digests: each period once per PM (dedupe keys), a missed one late.
                match crate::digest::digest_tick(&store, &rt, Utc::now()).await {
                    Ok(r) if r.queued() > 0 => wake.notify_one(),
                    Ok(_) => {}
                    Err(e) => error!(error = format!("{e:#}"), "digest pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(StdDuration::from_secs(30)) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    };

    // OAuth: refresh ahead of expiry, and alert while the current token still works.
    let token_upkeep = crate::oauth::tokens_of(&rt)
        .map(|t| tokio::spawn(crate::oauth::upkeep(t, stop_rx.clone())));

    info!(source = ?rt.source, "onit is watching the mailbox");
    let _ = source.await;
    let _ = scheduler.await;
    let _ = sender.await;
    if let Some(t) = token_upkeep {
        let _ = t.await;
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
