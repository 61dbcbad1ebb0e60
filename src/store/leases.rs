//! The `leases` and `instances` tables, and the PostgreSQL advisory locks of
//! the lock connection (`crate::leadership` owns the protocol; this is its SQL).

use anyhow::{Context, Result};
use sqlx::PgConnection;

use super::{with_pool, with_tx, Store, Tx};

/// One row of the `leases` table, for `onit status`.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct LeaseRow {
    pub role: String,
    pub epoch: i64,
    pub holder: String,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub acquired_at: i64,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub renewed_at: i64,
}

/// One running (or lately running) instance.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct InstanceRow {
    pub name: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub started_at: i64,
    #[serde(serialize_with = "crate::store::ser_ms")]
    pub seen_at: i64,
}

/// An instance as it registers and beats.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub pid: i64,
    pub version: &'a str,
}

impl Store {
    /// Leases and instances, as stored.
    pub async fn leases(&self) -> Result<(Vec<LeaseRow>, Vec<InstanceRow>)> {
        with_pool!(self, p => {
            let l = sqlx::query_as::<_, LeaseRow>("SELECT role, epoch, holder, acquired_at, renewed_at FROM leases ORDER BY role")
                .fetch_all(p).await.context("reading leases")?;
            let i = sqlx::query_as::<_, InstanceRow>("SELECT name, host, pid, version, started_at, seen_at FROM instances ORDER BY name")
                .fetch_all(p).await.context("reading instances")?;
            Ok((l, i))
        })
    }
}

impl Tx<'_> {
    /// The role's current epoch, read `FOR SHARE` (PostgreSQL) so that taking the
    /// role over waits for this transaction; `None` on SQLite, which has one
    /// instance only and no fence to check.
    pub async fn lease_epoch_for_share(&mut self, role: &str) -> Result<Option<Option<i64>>> {
        match self {
            Tx::Sqlite(_) => Ok(None),
            Tx::Postgres(t) => {
                sqlx::query_scalar::<_, i64>("SELECT epoch FROM leases WHERE role = $1 FOR SHARE")
                    .bind(role)
                    .fetch_optional(&mut **t)
                    .await
                    .map(Some)
                    .context("checking the leadership fence")
            }
        }
    }

    /// Takes `role` for `holder`: a new epoch (returned), so the fence of whoever led before fails.
    pub async fn bump_lease(&mut self, role: &str, holder: &str, now_ms: i64) -> Result<i64> {
        with_tx!(self, c => sqlx::query_scalar::<_, i64>(
            "INSERT INTO leases (role, epoch, holder, acquired_at, renewed_at) VALUES ($1, 1, $2, $3, $3) \
             ON CONFLICT (role) DO UPDATE SET epoch = leases.epoch + 1, holder = excluded.holder, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at \
             RETURNING epoch")
            .bind(role).bind(holder).bind(now_ms)
            .fetch_one(&mut *c).await.context("taking the lease"))
    }

    /// Marks the lease of `role` at `epoch` renewed.
    pub async fn renew_lease(&mut self, role: &str, epoch: i64, now_ms: i64) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE leases SET renewed_at = $1 WHERE role = $2 AND epoch = $3")
            .bind(now_ms).bind(role).bind(epoch).execute(&mut *c).await.map(|r| r.rows_affected()).context("lease heartbeat"))?;
        Ok(())
    }

    /// Registers an instance that starts now (replacing a row of the same name).
    pub async fn register_instance(&mut self, i: &Instance<'_>, now_ms: i64) -> Result<()> {
        with_tx!(self, c => sqlx::query(
            "INSERT INTO instances (name, host, pid, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at")
            .bind(i.name).bind(i.host).bind(i.pid).bind(i.version).bind(now_ms)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("registering the instance"))?;
        Ok(())
    }

    /// An instance's heartbeat: an upsert, so a row another instance wrongly
    /// removed (same host name on two machines) comes back at once.
    pub async fn instance_seen(&mut self, i: &Instance<'_>, now_ms: i64) -> Result<()> {
        with_tx!(self, c => sqlx::query(
            "INSERT INTO instances (name, host, pid, version, started_at, seen_at) VALUES ($2, $3, $4, $5, $1, $1) \
             ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at")
            .bind(now_ms).bind(i.name).bind(i.host).bind(i.pid).bind(i.version)
            .execute(&mut *c).await.map(|r| r.rows_affected()).context("instance heartbeat"))?;
        Ok(())
    }

    /// The other instances registered on `host`: (name, pid).
    pub async fn instances_on_host(
        &mut self,
        host: &str,
        except: &str,
    ) -> Result<Vec<(String, i64)>> {
        with_tx!(self, c => sqlx::query_as::<_, (String, i64)>(
            "SELECT name, pid FROM instances WHERE host = $1 AND name <> $2")
            .bind(host).bind(except).fetch_all(&mut *c).await.context("listing instances"))
    }

    /// Removes an instance's row.
    pub async fn forget_instance(&mut self, name: &str) -> Result<()> {
        with_tx!(self, c => sqlx::query("DELETE FROM instances WHERE name = $1")
            .bind(name).execute(&mut *c).await.map(|r| r.rows_affected()).context("forgetting an instance"))?;
        Ok(())
    }
}

/// `pg_try_advisory_lock(key)` on the lock connection.
pub async fn try_advisory_lock(conn: &mut PgConnection, key: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
}

/// `pg_advisory_unlock(key)` on the lock connection.
pub async fn advisory_unlock(conn: &mut PgConnection, key: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Asks the server to end this session after `ms` of silence (PostgreSQL ≥ 14).
pub async fn set_idle_session_timeout(conn: &mut PgConnection, ms: u128) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET idle_session_timeout = {ms}"
    )))
    .execute(conn)
    .await
    .map(|_| ())
}

/// A round trip on the lock connection.
pub async fn ping(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(conn).await.map(|_| ())
}
