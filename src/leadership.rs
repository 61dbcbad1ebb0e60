//! Who does what when several `onit run` processes share one PostgreSQL
//! database. Each IMAP folder's sync and the scheduled work (reminders,
//! digests, alerts) is a *role*; exactly one instance at a time leads a role.
//! Outbox delivery is not a role: every instance delivers (see
//! `Tx::outbox_claim`).
//!
//! The leader is chosen by PostgreSQL itself, not by a lock with a timer in a
//! cache (mail_room #46: a Redis lock expired under a slow leader and two
//! instances delivered each mail twice):
//!
//! * Each instance keeps one dedicated connection (outside the pool) and takes a
//!   session-level advisory lock per role on it (`pg_try_advisory_lock`).
//!   When the process dies, the server closes the session and the locks are
//!   free at once; the followers, trying every `takeover/5`, take over.
//! * A leader that is paused (SIGSTOP, a VM freeze) or cut off keeps its TCP
//!   session alive from the server's side, so the lock connection sets
//!   `idle_session_timeout`: the leader pings it every `takeover/5`, and a
//!   session silent for `takeover·3/5` is ended by the server, freeing its
//!   locks. Followers therefore take over within `ha.takeover_secs`.
//! * Fencing: taking a role bumps its `epoch` in the `leases` table. A leader's
//!   write transaction re-reads the epoch `FOR SHARE` just before it commits
//!   ([`Fence::check`]) and rolls back if it changed. The share lock makes the
//!   new leader's bump wait for a commit already under way, so the two never
//!   interleave: an old leader that wakes up after losing its role cannot
//!   write. Pool connections also set `idle_in_transaction_session_timeout`, so
//!   a transaction left open by a paused leader cannot hold the bump up for long.
//!
//! On SQLite only one instance may run (`daemon::InstanceLock`), so every role
//! is led at once, never lost, and fences check nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::{watch, Mutex};
use tracing::{error, info, warn};

use crate::store::{leases, to_ms, Store, Tx};

/// The role name of the scheduled work.
pub const SCHEDULER: &str = "scheduler";

/// The role name of one IMAP folder's sync.
pub fn folder_role(account: &str, folder: &str) -> String {
    format!("imap:{account}/{folder}")
}

/// The advisory lock key of a role: a stable 64-bit hash of its name.
fn lock_key(role: &str) -> i64 {
    let d = Sha256::digest(format!("onit-role:{role}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// The right to act in a role, until [`Lease::lost`] fires.
#[derive(Debug)]
pub struct Lease {
    role: String,
    epoch: i64,
    since: chrono::DateTime<Utc>,
    lost: watch::Receiver<bool>,
}

impl Lease {
    /// The role led.
    pub fn role(&self) -> &str {
        &self.role
    }
    /// The fencing epoch of this leadership.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }
    /// When this instance took the role.
    pub fn since(&self) -> chrono::DateTime<Utc> {
        self.since
    }
    /// True once the role has been lost (the lock connection failed).
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow() || self.lost.has_changed().is_err()
    }
    /// Resolves when the role is lost.
    pub async fn lost(&mut self) {
        // A closed channel is a loss too: the role is no longer registered as held.
        let _ = self.lost.wait_for(|l| *l).await;
    }
    /// The fence for this leadership's write transactions.
    pub fn fence(&self) -> Fence {
        Fence {
            role: self.role.clone(),
            epoch: self.epoch,
        }
    }
}

/// Checks, inside a write transaction, that the leadership it acts for still holds.
#[derive(Debug, Clone)]
pub struct Fence {
    role: String,
    epoch: i64,
}

/// The transaction acts for a leadership that has passed to another instance.
#[derive(Debug, thiserror::Error)]
#[error("leadership of {role} was lost (epoch {mine}, now {current:?}); not committing")]
pub struct LostLeadership {
    pub role: String,
    pub mine: i64,
    pub current: Option<i64>,
}

impl Fence {
    /// A fence that never trips (one instance only, or no leadership involved).
    pub fn none() -> Fence {
        Fence {
            role: String::new(),
            epoch: 0,
        }
    }

    /// Call last before `commit`: fails with [`LostLeadership`] when another instance
    /// has taken the role since this leadership began.
    pub async fn check(&self, tx: &mut Tx<'_>) -> Result<()> {
        if self.role.is_empty() {
            return Ok(());
        }
        let Some(current) = tx.lease_epoch_for_share(&self.role).await? else {
            return Ok(());
        };
        if current == Some(self.epoch) {
            Ok(())
        } else {
            Err(LostLeadership {
                role: self.role.clone(),
                mine: self.epoch,
                current,
            }
            .into())
        }
    }
}

pub use crate::store::leases::{InstanceRow, LeaseRow};

/// Leases and instances, as stored.
pub async fn leases(store: &Store) -> Result<(Vec<LeaseRow>, Vec<InstanceRow>)> {
    store.leases().await
}

/// Periodic work done only while this instance leads a role:
/// `while let Some(lease) = rounds.next().await { … }` runs the body at once on
/// taking the role and then every period, stands by while another instance
/// leads, and ends (giving the role up) when onit stops.
pub struct Rounds {
    leadership: Leadership,
    role: String,
    stop: watch::Receiver<bool>,
    every: Duration,
    lease: Option<Lease>,
    /// Ends the wait before `every` is up (new mail seen by the kernel).
    early: Option<Arc<tokio::sync::Notify>>,
}

impl Rounds {
    /// Also starts a round, while leading, whenever `early` is notified (a
    /// notification during a round starts the next one at once).
    pub fn woken_by(mut self, early: Arc<tokio::sync::Notify>) -> Rounds {
        self.early = Some(early);
        self
    }

    /// Waits for the next round; None once onit is stopping.
    pub async fn next(&mut self) -> Option<&Lease> {
        if let Some(lease) = self.lease.as_mut() {
            let early = self.early.clone();
            let woken = async move {
                match early {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = woken => {}
                _ = crate::stop::requested(&mut self.stop) => {}
                _ = lease.lost() => {}
            }
            if crate::stop::is_requested(&self.stop) {
                if let Some(lease) = self.lease.take() {
                    self.leadership.release(lease).await;
                }
                return None;
            }
            if lease.is_lost() {
                self.lease = None;
            }
        }
        if self.lease.is_none() {
            self.lease = Some(self.leadership.acquire(&self.role, &mut self.stop).await?);
        }
        self.lease.as_ref()
    }
}

struct Held {
    key: i64,
    epoch: i64,
    lost: watch::Sender<bool>,
}

struct Shared {
    store: Store,
    /// Some on PostgreSQL: where the lock connection goes.
    pg: Option<PgConnectOptions>,
    instance: String,
    takeover: Duration,
    /// The lock connection, and its generation (bumped at each new connection, so a
    /// role locked on a connection that has since died is never taken for held).
    conn: Mutex<(Option<PgConnection>, u64)>,
    held: StdMutex<HashMap<String, Held>>,
}

/// This instance's leadership of roles. Cheap to clone.
#[derive(Clone)]
pub struct Leadership(Arc<Shared>);

impl Leadership {
    /// Registers this instance (the `instances` table) and starts its heartbeat.
    pub async fn start(
        store: &Store,
        database_url: &str,
        instance: &str,
        takeover: Duration,
    ) -> Result<Leadership> {
        let pg = if !store.is_sqlite() {
            Some(
                PgConnectOptions::from_str(database_url)
                    .context("database.url")?
                    .application_name(&format!("onit lock {instance}"))
                    .disable_statement_logging(),
            )
        } else {
            None
        };
        let l = Leadership(Arc::new(Shared {
            store: store.clone(),
            pg,
            instance: instance.to_string(),
            takeover,
            conn: Mutex::new((None, 0)),
            held: StdMutex::new(HashMap::new()),
        }));
        l.register().await?;
        let hb = l.clone();
        tokio::spawn(async move { hb.heartbeat_loop().await });
        Ok(l)
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    /// How often followers try to take a role, and the leader pings.
    pub fn tick(&self) -> Duration {
        (self.0.takeover / 5).clamp(Duration::from_millis(200), Duration::from_secs(5))
    }

    /// This instance as its `instances` row names it.
    fn row<'a>(&'a self, host: &'a str) -> crate::store::leases::Instance<'a> {
        crate::store::leases::Instance {
            name: &self.0.instance,
            host,
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    async fn register(&self) -> Result<()> {
        let now = to_ms(Utc::now());
        let host = crate::host::hostname();
        let mut tx = self.0.store.begin().await?;
        tx.register_instance(&self.row(host), now).await?;
        // Instances on this machine whose process is gone crashed: forget them now, so
        // the mail they were sending is taken over at once rather than after `takeover`.
        if std::path::Path::new("/proc/self").exists() {
            let others = tx.instances_on_host(host, &self.0.instance).await?;
            for (name, pid) in others {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    info!(instance = %name, pid, "an earlier instance on this host is gone");
                    tx.forget_instance(&name).await?;
                }
            }
        }
        tx.commit().await
    }

    /// Waits until this instance leads `role` (None if `stop` turns true first).
    pub async fn acquire(&self, role: &str, stop: &mut watch::Receiver<bool>) -> Option<Lease> {
        let mut waiting_logged = false;
        loop {
            if crate::stop::is_requested(stop) {
                return None;
            }
            match self.try_acquire(role).await {
                Ok(Some(lease)) => {
                    info!(role, epoch = lease.epoch, instance = %self.0.instance, "leading");
                    crate::metrics::leader(role, true);
                    return Some(lease);
                }
                Ok(None) => {
                    if !waiting_logged {
                        info!(role, "another instance leads; standing by");
                        waiting_logged = true;
                    }
                }
                Err(e) => warn!(role, error = format!("{e:#}"), "cannot try for leadership"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.tick()) => {}
                _ = crate::stop::requested(stop) => {}
            }
        }
    }

    /// Rounds of periodic work in `role`: see [`Rounds`].
    pub fn rounds(&self, role: &str, stop: watch::Receiver<bool>, every: Duration) -> Rounds {
        Rounds {
            leadership: self.clone(),
            role: role.to_string(),
            stop,
            every,
            lease: None,
            early: None,
        }
    }

    /// Takes `role` if no other instance leads it; does not wait.
    pub async fn try_lead(&self, role: &str) -> Result<Option<Lease>> {
        let lease = self.try_acquire(role).await?;
        if lease.is_some() {
            crate::metrics::leader(role, true);
        }
        Ok(lease)
    }

    async fn try_acquire(&self, role: &str) -> Result<Option<Lease>> {
        let Some(opts) = &self.0.pg else {
            // SQLite: this is the only instance, and it leads everything.
            let (tx, rx) = watch::channel(false);
            self.lock_held().insert(
                role.to_string(),
                Held {
                    key: 0,
                    epoch: 0,
                    lost: tx,
                },
            );
            return Ok(Some(Lease {
                role: role.to_string(),
                epoch: 0,
                since: Utc::now(),
                lost: rx,
            }));
        };
        let key = lock_key(role);
        let generation = {
            let mut guard = self.0.conn.lock().await;
            if guard.0.is_none() {
                guard.0 = Some(self.connect(opts).await?);
                guard.1 += 1;
            }
            let Some(conn) = guard.0.as_mut() else {
                return Ok(None);
            };
            let got =
                tokio::time::timeout(self.tick() * 2, leases::try_advisory_lock(conn, key)).await;
            match got {
                Ok(Ok(true)) => guard.1,
                Ok(Ok(false)) => return Ok(None),
                Ok(Err(e)) => {
                    self.drop_connection(&mut guard.0, "the lock connection failed");
                    return Err(e).context("pg_try_advisory_lock");
                }
                Err(_) => {
                    self.drop_connection(&mut guard.0, "the lock connection timed out");
                    anyhow::bail!("pg_try_advisory_lock timed out");
                }
            }
        };
        // Bump the epoch: the fence of whoever led before now fails. This can wait
        // for a commit the old leader has under way (it holds the row FOR SHARE), so
        // the lock connection is not held meanwhile: its heartbeat must go on.
        let bumped = self.bump_epoch(role).await;
        let mut guard = self.0.conn.lock().await;
        let same_connection = guard.1 == generation && guard.0.is_some();
        let epoch = match bumped {
            Ok(e) if same_connection => e,
            Ok(_) => {
                // The connection (and with it the lock) died while the epoch moved: we
                // do not lead; whoever locks next bumps it again.
                return Ok(None);
            }
            Err(e) => {
                if let (true, Some(conn)) = (same_connection, guard.0.as_mut()) {
                    let _ = leases::advisory_unlock(conn, key).await;
                }
                return Err(e);
            }
        };
        // Registered while holding the connection's mutex, so a connection failure
        // (which drains `held` under the same mutex) cannot slip between.
        let (tx, rx) = watch::channel(false);
        self.lock_held().insert(
            role.to_string(),
            Held {
                key,
                epoch,
                lost: tx,
            },
        );
        drop(guard);
        Ok(Some(Lease {
            role: role.to_string(),
            epoch,
            since: Utc::now(),
            lost: rx,
        }))
    }

    async fn bump_epoch(&self, role: &str) -> Result<i64> {
        let now = to_ms(Utc::now());
        let mut tx = self.0.store.begin().await?;
        let epoch = tx.bump_lease(role, &self.0.instance, now).await?;
        tx.commit().await?;
        Ok(epoch)
    }

    async fn connect(&self, opts: &PgConnectOptions) -> Result<PgConnection> {
        let mut conn =
            tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(opts))
                .await
                .context("connecting the lock connection timed out")?
                .context("connecting the lock connection")?;
        // The server ends this session when the leader falls silent (paused, cut off),
        // which frees its locks. PostgreSQL < 14 lacks the setting: then only a
        // closed connection frees them, which still covers a crash.
        let idle_ms = (self.0.takeover.as_millis() * 3 / 5).max(1000);
        if let Err(e) = leases::set_idle_session_timeout(&mut conn, idle_ms).await {
            warn!(error = %e, "idle_session_timeout not supported (PostgreSQL < 14): a paused leader keeps its roles until its connection closes");
        }
        Ok(conn)
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.0.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn drop_connection(&self, guard: &mut Option<PgConnection>, why: &str) {
        *guard = None;
        let mut held = self.lock_held();
        for (role, h) in held.drain() {
            error!(role, epoch = h.epoch, why, "leadership lost");
            crate::metrics::leader(&role, false);
            let _ = h.lost.send(true);
        }
    }

    /// Gives a role up (its worker stopped).
    pub async fn release(&self, lease: Lease) {
        let held = self.lock_held().remove(&lease.role);
        crate::metrics::leader(&lease.role, false);
        let Some(h) = held else { return };
        let mut guard = self.0.conn.lock().await;
        if let Some(conn) = guard.0.as_mut() {
            let _ = leases::advisory_unlock(conn, h.key).await;
        }
    }

    /// Ends this instance: frees every role (by closing the lock connection) and
    /// removes it from `instances`, so others take over at once instead of after `takeover`.
    pub async fn shutdown(&self) {
        if let Some(conn) = self.0.conn.lock().await.0.take() {
            let _ = conn.close().await;
        }
        self.lock_held().clear();
        if let Ok(mut tx) = self.0.store.begin().await {
            let ok = tx.forget_instance(&self.0.instance).await;
            if ok.is_ok() {
                let _ = tx.commit().await;
            }
        }
    }

    async fn heartbeat_loop(self) {
        loop {
            tokio::time::sleep(self.tick()).await;
            if Arc::strong_count(&self.0) <= 1 {
                return; // every other handle is gone: the daemon stopped
            }
            self.heartbeat().await;
        }
    }

    async fn heartbeat(&self) {
        // Ping the lock connection (this is what keeps idle_session_timeout from ending it).
        {
            let mut guard = self.0.conn.lock().await;
            if let Some(conn) = guard.0.as_mut() {
                let r = tokio::time::timeout(self.tick() * 2, leases::ping(conn)).await;
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => self.drop_connection(&mut guard.0, &format!("ping failed: {e}")),
                    Err(_) => self.drop_connection(&mut guard.0, "ping timed out"),
                }
            }
        }
        let now = to_ms(Utc::now());
        let roles: Vec<(String, i64)> = self
            .lock_held()
            .iter()
            .map(|(r, h)| (r.clone(), h.epoch))
            .collect();
        let result: Result<()> = async {
            let mut tx = self.0.store.begin().await?;
            // An upsert: if another instance wrongly took this one for dead (same host
            // name on two machines), the row comes back at once.
            let host = crate::host::hostname();
            tx.instance_seen(&self.row(host), now).await?;
            for (role, epoch) in &roles {
                tx.renew_lease(role, *epoch, now).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            warn!(error = format!("{e:#}"), "heartbeat failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("scheduler"), lock_key("scheduler"));
        assert_ne!(lock_key("scheduler"), lock_key("imap:a@h:993/INBOX"));
        assert_ne!(
            lock_key(&folder_role("a@h:993", "INBOX")),
            lock_key(&folder_role("a@h:993", "Sent"))
        );
    }
}
