//! `onit run`: watch the mailbox, deliver the outbox, stop cleanly on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

use crate::config::{Runtime, SourceKind, TransportKind};
use crate::health::MAILDIR_ACCOUNT;
use crate::ingest::{mode_for_arrival, receive_imf, receive_view};
use crate::leadership::{Leadership, SCHEDULER};
use crate::mailstore::Maildir;
use crate::outgoing::{file::FileTransport, Outbox, Transport};
use crate::pass_record::PassRecord;
use crate::store::Store;

/// Builds the outbox worker the configuration asks for.
pub fn outbox_for(rt: &Runtime, store: &Store) -> Result<Outbox> {
    let transport = match rt.transport {
        TransportKind::File => Transport::File(
            FileTransport::new(&rt.outgoing_dir)
                .with_context(|| format!("creating outgoing.dir {}", rt.outgoing_dir.display()))?,
        ),
        TransportKind::Smtp => Transport::Smtp(Box::new(
            crate::outgoing::smtp::SmtpTransport::new(
                rt.smtp
                    .as_ref()
                    .context("outgoing.transport = \"smtp\" needs the [smtp] settings")?,
            )
            .context("setting up the SMTP transport")?,
        )),
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
///
/// `sender` is notified as soon as a message's acknowledgment is committed,
/// not at the end of the pass: the first of a hundred new mails is answered
/// while the other ninety-nine are stored, not after them.
pub async fn maildir_pass(
    store: &Store,
    rt: &Runtime,
    md: &Maildir,
    stop: &watch::Receiver<bool>,
    sender: &Notify,
) -> Result<SourcePass> {
    let mut pass = SourcePass::default();
    let entries = md
        .list_new()
        .with_context(|| format!("listing {}", md.root().display()))?;
    for entry in entries {
        if crate::stop::is_requested(stop) {
            break;
        }
        let msg = match md.read_bounded(&entry, rt.max_message_bytes) {
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
        let mode = mode_for_arrival(rt, arrival, now);
        let received = match msg.too_large {
            Some(size) => {
                let view = crate::oversize::view_of_header(rt, &msg.bytes, size, &msg.origin);
                receive_view(store, rt, &msg.bytes, view, arrival, &msg.origin, mode).await
            }
            None => receive_imf(store, rt, &msg.bytes, arrival, &msg.origin, mode).await,
        };
        match received {
            Ok(out) => {
                if out.ack_queued {
                    sender.notify_one();
                }
                crate::fault::point("maildir-after-commit");
                // The move ends with an fsync of cur/, which waits for the disk.
                // On this task's worker it held back the sender just woken:
                // tokio runs a task woken from a worker on that same worker,
                // next, once the current task yields, and no other worker may
                // take it (the LIFO slot).
                let (moving, path) = (md.clone(), entry.path.clone());
                tokio::task::spawn_blocking(move || moving.mark_processed(&entry))
                    .await
                    .context("moving a message to cur/: the task failed")?
                    .with_context(|| format!("moving {} to cur/", path.display()))?;
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
    for w in rt.trust.warnings() {
        tracing::warn!("{w}");
    }
    // SQLite: one instance per database file, or two would both read the mailbox.
    let _lock = InstanceLock::take(&rt.database_url)?;
    let store = Store::open(&rt.database_url, rt.max_connections).await?;
    // XOAUTH2 sign-in needs the database for its tokens: attach them before anything connects.
    let rt = crate::oauth::attach(rt, &store)
        .await
        .context("setting up OAuth sign-in")?;
    let leadership = Leadership::start(
        &store,
        &rt.database_url,
        &rt.ops.instance_name,
        rt.ops.takeover,
    )
    .await?;
    let takeover = rt.ops.takeover;
    let result = if once {
        run_once(&store, &rt, &leadership).await
    } else {
        run_daemon(&store, rt, &leadership).await
    };
    // The last quarter of the stop's budget (see run_daemon); a database that does not
    // answer must not keep a stopping process alive: the OS frees what it held.
    let closing = async {
        leadership.shutdown().await;
        store.close().await;
    };
    if tokio::time::timeout(takeover / 4, closing).await.is_err() {
        warn!("the database did not close in time; exiting anyway");
    }
    result
}

/// The role of reading the local Maildir (one instance at a time, like an IMAP folder).
fn maildir_role(rt: &Runtime) -> String {
    format!("maildir:{}", rt.maildir.display())
}

/// Records a Maildir pass that ended at `now` where readiness and stall alerts
/// look (`imap_folders`): its time when it was good, its error otherwise.
async fn record_pass(
    store: &Store,
    rt: &Runtime,
    outcome: &Result<SourcePass>,
    now: DateTime<Utc>,
) -> Result<()> {
    let folder = rt.maildir.display().to_string();
    let mut tx = store.begin().await?;
    match outcome {
        Ok(p) if p.failed == 0 => tx.folder_synced(MAILDIR_ACCOUNT, &folder, now).await?,
        Ok(p) => {
            tx.folder_error(
                MAILDIR_ACCOUNT,
                &folder,
                now,
                &format!("{} message(s) could not be stored", p.failed),
            )
            .await?
        }
        Err(e) => {
            tx.folder_error(MAILDIR_ACCOUNT, &folder, now, &format!("{e:#}"))
                .await?
        }
    }
    tx.commit().await
}

async fn run_once(store: &Store, rt: &Runtime, leadership: &Leadership) -> Result<()> {
    let (_stop_tx, stop_rx) = watch::channel(false);
    let outbox = outbox_for(rt, store)?;
    // A message that could not be stored fails the run, but only at the end: the
    // others' acknowledgments must not wait on it (a cron job would never send them).
    let mut unstored = 0;
    let ingested = match (&rt.source, &rt.imap) {
        (SourceKind::Imap, Some(cfg)) => {
            crate::imap::sync_once(store, rt, cfg, leadership, &stop_rx).await?
        }
        _ => match leadership.try_lead(&maildir_role(rt)).await? {
            None => {
                info!("another instance leads the Maildir; left to it");
                0
            }
            Some(lease) => {
                let md = Maildir::open(&rt.maildir)
                    .with_context(|| format!("opening mailbox.maildir {}", rt.maildir.display()))?;
                // No sender waits here: `run --once` delivers after the pass.
                let pass = maildir_pass(store, rt, &md, &stop_rx, &Notify::new()).await;
                leadership.release(lease).await;
                record_pass(store, rt, &pass, Utc::now()).await?;
                let pass = pass?;
                unstored = pass.failed;
                pass.seen
            }
        },
    };
    // Deliver first (a sent acknowledgment is a contact), then remind and queue any
    // digest due (or missed), then deliver those. The scheduled work is the
    // scheduler leader's: with another instance leading it, this run leaves it alone.
    let mut report = outbox.deliver_due(Utc::now()).await?;
    if let Some(lease) = leadership.try_lead(SCHEDULER).await? {
        let fence = lease.fence();
        let reminded = crate::reminders::tick_fenced(store, rt, Utc::now(), &fence)
            .await?
            .reminders
            > 0;
        let digests = crate::digest::digest_tick_fenced(store, rt, Utc::now(), &fence)
            .await?
            .queued()
            > 0;
        leadership.release(lease).await;
        if reminded || digests {
            let more = outbox.deliver_due(Utc::now()).await?;
            report.sent += more.sent;
            report.retried += more.retried;
            report.failed += more.failed;
        }
    } else {
        info!("another instance leads the scheduled work; reminders and digests left to it");
    }
    info!(
        ingested,
        sent = report.sent,
        retrying = report.retried,
        failed = report.failed,
        "run --once finished"
    );
    anyhow::ensure!(
        unstored == 0,
        "{unstored} message(s) could not be stored; they stay in new/"
    );
    Ok(())
}

async fn run_daemon(store: &Store, rt: Runtime, leadership: &Leadership) -> Result<()> {
    let store = store.clone();
    let rt = Arc::new(rt);
    let outbox = outbox_for(&rt, &store)?;
    let (stop_tx, stop_rx) = watch::channel(false);

    let http = match rt.ops.http_listen {
        Some(addr) => Some(
            crate::http::serve(
                addr,
                crate::http::Endpoint {
                    store: store.clone(),
                    rt: rt.clone(),
                    metrics: crate::metrics::install()?,
                },
                stop_rx.clone(),
            )
            .await?,
        ),
        None => None,
    };

    let wake = Arc::new(Notify::new());
    // Shared with the supervision, which asks for a stop when a worker fails.
    let stop_tx = Arc::new(stop_tx);
    let signalled = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        // Stop first, then log: whatever the log does, the stop is sent.
        let _ = signalled.send(true);
        info!("stopping: finishing the message in hand");
    });

    let source = if let (SourceKind::Imap, Some(cfg)) = (rt.source, rt.imap.clone()) {
        tokio::spawn(crate::imap::run(
            store.clone(),
            rt.clone(),
            cfg,
            leadership.clone(),
            stop_rx.clone(),
            wake.clone(),
        ))
    } else {
        let md = Maildir::open(&rt.maildir)
            .with_context(|| format!("opening mailbox.maildir {}", rt.maildir.display()))?;
        let (store, rt, wake, leadership) =
            (store.clone(), rt.clone(), wake.clone(), leadership.clone());
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            // Delivered mail wakes the source at once; the poll is the safety net.
            let arrived = Arc::new(tokio::sync::Notify::new());
            crate::mailstore::watch_arrivals(&md.root().join("new"), arrived.clone());
            let mut rounds = leadership
                .rounds(&maildir_role(&rt), stop.clone(), rt.poll_interval)
                .woken_by(arrived);
            // Half the readiness window: see `pass_record`.
            let mut record = PassRecord::new(crate::health::ready_window(&rt) / 2);
            while rounds.next().await.is_some() {
                let pass = maildir_pass(&store, &rt, &md, &stop, &wake).await;
                let (good, now) = (matches!(&pass, Ok(p) if p.failed == 0), Utc::now());
                if record.due(good, now) {
                    match record_pass(&store, &rt, &pass, now).await {
                        Ok(()) => record.written(good, now),
                        Err(e) => warn!(error = format!("{e:#}"), "cannot record the mailbox pass"),
                    }
                }
                match pass {
                    Ok(p) if p.seen > 0 => wake.notify_one(),
                    Ok(_) => {}
                    Err(e) => error!(error = format!("{e:#}"), "mailbox pass failed"),
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
                    _ = crate::stop::requested(&mut stop) => {}
                }
                if crate::stop::is_requested(&stop) {
                    break;
                }
            }
        })
    };

    let scheduler = tokio::spawn(scheduler(
        store.clone(),
        rt.clone(),
        leadership.clone(),
        stop_rx.clone(),
        wake.clone(),
    ));

    // OAuth: refresh ahead of expiry, and alert while the current token still works.
    let token_upkeep = crate::oauth::tokens_of(&rt)
        .map(|t| tokio::spawn(crate::oauth::upkeep(t, stop_rx.clone())));

    info!(source = ?rt.source, instance = %rt.ops.instance_name, "onit is watching the mailbox");
    let mut workers = vec![
        ("mailbox source", source),
        ("scheduler", scheduler),
        ("sender", sender),
    ];
    workers.extend(token_upkeep.map(|t| ("OAuth token upkeep", t)));
    workers.extend(http.map(|h| ("HTTP endpoint", h)));
    // A stop ends within ha.takeover_secs (another instance takes over by then
    // anyway): half of it for the message in hand, a quarter for closing the
    // database (in `run`).
    crate::supervision::supervise(workers, &stop_tx, rt.ops.takeover / 2).await
}

/// The scheduled work, run by whichever instance leads [`SCHEDULER`]: reminders
/// and digests (each queued once: dedupe keys in the outbox), stalled-mailbox
/// alerts, and the rules-broken gauge.
async fn scheduler(
    store: Store,
    rt: Arc<Runtime>,
    leadership: Leadership,
    stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    const TICK: StdDuration = StdDuration::from_secs(30);
    const RULES_EVERY: StdDuration = StdDuration::from_secs(300);
    let mut rules_at: Option<std::time::Instant> = None;
    let mut rounds = leadership.rounds(SCHEDULER, stop, TICK);
    while let Some(lease) = rounds.next().await {
        let fence = lease.fence();
        let since = lease.since();
        match crate::reminders::tick_fenced(&store, &rt, Utc::now(), &fence).await {
            Ok(r) if r.reminders > 0 || r.open_list => wake.notify_one(),
            Ok(_) => {}
            Err(e) => error!(error = format!("{e:#}"), "reminder pass failed"),
        }
        match crate::digest::digest_tick_fenced(&store, &rt, Utc::now(), &fence).await {
            Ok(r) if r.queued() > 0 => wake.notify_one(),
            Ok(_) => {}
            Err(e) => error!(error = format!("{e:#}"), "digest pass failed"),
        }
        match crate::health::check_stalls(&store, &rt, Utc::now(), since).await {
            Ok(r) if !r.raised.is_empty() => wake.notify_one(),
            Ok(_) => {}
            Err(e) => error!(error = format!("{e:#}"), "stalled-mailbox check failed"),
        }
        if rules_at.is_none_or(|t| t.elapsed() >= RULES_EVERY) {
            rules_at = Some(std::time::Instant::now());
            if let Err(e) = rules_gauge(&store, &rt).await {
                warn!(error = format!("{e:#}"), "cannot count broken rules");
            }
        }
        // What the round's passes freed goes back to the system: an idle daemon
        // does not stay as large as its largest digest.
        crate::heap::give_back_free_memory();
    }
}

/// Sets `onit_rules_broken{rule}`: violations of the last 7 days.
async fn rules_gauge(store: &Store, rt: &Runtime) -> Result<()> {
    let now = Utc::now();
    let report =
        crate::compliance::compliance(store, rt, now, Some(now - chrono::Duration::days(7)))
            .await?;
    let mut counts = std::collections::BTreeMap::new();
    for v in &report.violations {
        *counts.entry(v.rule.to_string()).or_insert(0usize) += 1;
    }
    crate::metrics::rules_broken(&counts);
    Ok(())
}

/// An exclusive lock on `<database file>.onit-lock`, held while `onit run` runs on
/// SQLite. SQLite's own locks only serialise writes: two daemons on one file
/// would both read the mailbox and race each other, so the second is refused.
/// The OS drops the lock when the process ends, however it ends.
#[derive(Debug)]
pub struct InstanceLock {
    _file: std::fs::File,
}

impl InstanceLock {
    /// Takes the lock for a SQLite `url`; None for PostgreSQL or an in-memory database.
    pub fn take(url: &str) -> Result<Option<InstanceLock>> {
        use std::io::{Read, Seek, Write};
        if !url.starts_with("sqlite:") {
            return Ok(None);
        }
        let opts =
            SqliteConnectOptions::from_str(url).with_context(|| format!("bad SQLite url {url}"))?;
        let db = opts.get_filename();
        if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
            return Ok(None);
        }
        let path = std::path::PathBuf::from(format!("{}.onit-lock", db.display()));
        let mut file = crate::private_files::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("creating the instance lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = file.rewind();
                let _ = writeln!(
                    file,
                    "pid {} since {}",
                    std::process::id(),
                    Utc::now().to_rfc3339()
                );
                Ok(Some(InstanceLock { _file: file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                anyhow::bail!(
                    "another onit instance is already running on the SQLite database {} ({}). \
                     SQLite allows one instance per database; to run several, use PostgreSQL \
                     (database.url = \"postgres://...\").",
                    db.display(),
                    holder.trim()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
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
