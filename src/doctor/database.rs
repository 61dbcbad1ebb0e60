//! The database: reachable, migrations applied, writable, and (SQLite) a file
//! only its owner's group can read. A database that does not exist yet is
//! fine when `onit run` can create it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::Runtime;
use crate::store::{probe, redact, Store};

use super::Report;

const G: &str = "database";

fn writable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads a NUL-terminated path and changes nothing.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Runs the database checks; the store when the database exists and is open.
pub(super) async fn check(report: &mut Report, rt: &Runtime) -> Option<Store> {
    let url = &rt.database_url;
    let shown = redact(url);
    let path = probe::sqlite_path(url);
    match probe::exists(url).await {
        Ok(true) => {}
        Ok(false) => {
            match &path {
                Some(p) => {
                    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                    if dir.is_dir() && writable(dir) {
                        report.pass(G, "reachable", format!("{} does not exist yet; `onit run` (or `onit migrate`) creates it", p.display()));
                    } else {
                        report.fail(G, "reachable", format!("{} does not exist and its folder {} is not a writable folder", p.display(), dir.display()), "onit cannot create the database there", format!("create {} for the user onit runs as, or change database.url", dir.display()));
                    }
                }
                None => report.pass(G, "reachable", format!("{shown}: the server answers; the database does not exist yet, `onit run` creates it")),
            }
            return None;
        }
        Err(e) => {
            report.fail(
                G,
                "reachable",
                format!("{e:#}"),
                "the database server does not answer",
                "check database.url and that PostgreSQL runs and accepts this user",
            );
            return None;
        }
    }
    let store = match Store::connect(url, 1).await {
        Ok(s) => s,
        Err(e) => {
            report.fail(
                G,
                "reachable",
                format!("{e:#}"),
                "",
                "check database.url and the file's permissions",
            );
            return None;
        }
    };
    report.pass(G, "reachable", format!("{shown} ({})", store.kind()));
    match store.pending_migrations().await {
        Ok(p) if p.is_empty() => report.pass(G, "migrations", "all applied"),
        Ok(p) => report.fail(
            G,
            "migrations",
            format!("{} not applied: {}", p.len(), p.join(", ")),
            "this onit is newer than the database",
            "run `onit migrate` (onit run also applies them at start)",
        ),
        Err(e) => report.fail(G, "migrations", format!("{e:#}"), "", ""),
    }
    let file_ok = match &path {
        Some(p) if !writable(p) => {
            report.fail(G, "writable", format!("{} is not writable by this user", p.display()), "wrong owner or mode", format!("chown the file to the user onit runs as (and its folder {}, for the -wal and -shm files)", p.parent().map(|d| d.display().to_string()).unwrap_or_default()));
            false
        }
        _ => true,
    };
    if file_ok {
        match store.write_probe().await {
            Ok(()) => report.pass(G, "writable", "a write transaction can start"),
            Err(e) => report.fail(
                G,
                "writable",
                format!("{e:#}"),
                "",
                "check the file's or the PostgreSQL user's permissions",
            ),
        }
    }
    if let Some(p) = &path {
        match std::fs::metadata(p) {
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o007 != 0 {
                    report.fail(G, "file mode", format!("{} has mode {mode:03o}: every user of this machine can read the client mail in it", p.display()), "the database is readable by all", format!("chmod 640 {} (and its -wal and -shm files)", p.display()));
                } else {
                    report.pass(G, "file mode", format!("{mode:03o}"));
                }
            }
            Err(e) => report.fail(G, "file mode", format!("{}: {e}", p.display()), "", ""),
        }
    }
    Some(store)
}
