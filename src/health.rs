//! Is onit healthy? Readiness (for `/readyz`) and stalled-mailbox alerts, both
//! read from the database, so every instance gives the same answer whichever
//! of them leads a folder.
//!
//! A *watched folder* is each `imap.folders` entry of the IMAP account (IMAP
//! calls these mailboxes, and each has its own connection and worker, so one
//! that fails never stops another), or the local Maildir. Its last good sync
//! is `imap_folders.last_sync_at` (the Maildir records its passes there too,
//! under the account `maildir`), and its last failure `last_error_at`.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

use crate::alerts::{self, AlertKind};
use crate::config::{Runtime, SourceKind};
use crate::store::{from_ms, FolderState, Store};

/// The account under which Maildir passes are recorded.
pub const MAILDIR_ACCOUNT: &str = "maildir";

/// One folder onit must keep reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub account: String,
    pub folder: String,
}

impl Watched {
    /// `imap:user@host:993/INBOX` or `maildir:/path`: the alert subject.
    pub fn subject(&self) -> String {
        if self.account == MAILDIR_ACCOUNT {
            format!("maildir:{}", self.folder)
        } else {
            format!("imap:{}/{}", self.account, self.folder)
        }
    }
}

/// Every folder the configuration watches.
pub fn watched(rt: &Runtime) -> Vec<Watched> {
    match (&rt.source, &rt.imap) {
        (SourceKind::Imap, Some(cfg)) => {
            let account = crate::imap::account_key(cfg);
            cfg.folders
                .iter()
                .map(|f| Watched {
                    account: account.clone(),
                    folder: f.clone(),
                })
                .collect()
        }
        _ => vec![Watched {
            account: MAILDIR_ACCOUNT.to_string(),
            folder: rt.maildir.display().to_string(),
        }],
    }
}

/// How recent a folder's last good sync must be for `/readyz`.
///
/// "Within a few poll intervals": with IDLE a quiet folder is re-synced each
/// time IDLE is renewed (`imap.idle_renew_secs`), without it every poll, so the
/// window is the longer of three polls and one renewal, plus one command
/// timeout for the sync itself. A failure recorded after the last good sync
/// makes the folder unready at once, whatever the window.
pub fn ready_window(rt: &Runtime) -> Duration {
    let std = match (&rt.source, &rt.imap) {
        (SourceKind::Imap, Some(cfg)) => {
            (cfg.poll_interval * 3).max(cfg.idle_renew) + cfg.command_timeout
        }
        _ => rt.poll_interval * 3 + std::time::Duration::from_secs(10),
    };
    Duration::from_std(std).unwrap_or(Duration::minutes(10))
}

/// The readiness verdict and, when not ready, why.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    pub ready: bool,
    pub problems: Vec<String>,
}

/// Checks the database and every watched folder at `now`.
pub async fn readiness(store: &Store, rt: &Runtime, now: DateTime<Utc>) -> Readiness {
    let states = match tokio::time::timeout(
        std::time::Duration::from_secs(3),
        store.folder_states(),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Readiness {
                ready: false,
                problems: vec![format!("database: {e:#}")],
            }
        }
        Err(_) => {
            return Readiness {
                ready: false,
                problems: vec!["database: no answer within 3 s".into()],
            }
        }
    };
    let window = ready_window(rt);
    let mut problems = Vec::new();
    for w in watched(rt) {
        let state = find(&states, &w);
        if let Some(p) = folder_problem(state, now, window) {
            problems.push(format!("{}: {p}", w.subject()));
        }
    }
    Readiness {
        ready: problems.is_empty(),
        problems,
    }
}

fn find<'a>(states: &'a [FolderState], w: &Watched) -> Option<&'a FolderState> {
    states
        .iter()
        .find(|s| s.account == w.account && s.folder == w.folder)
}

/// Why a folder is not ready, or None when it is (pure).
pub fn folder_problem(
    state: Option<&FolderState>,
    now: DateTime<Utc>,
    window: Duration,
) -> Option<String> {
    let Some(s) = state else {
        return Some("not synced yet".into());
    };
    let Some(last) = s.last_sync_at.map(from_ms) else {
        return Some(match &s.last_error {
            Some(e) => format!("never synced; last error: {e}"),
            None => "not synced yet".into(),
        });
    };
    if let (Some(err_at), Some(err)) = (s.last_error_at.map(from_ms), &s.last_error) {
        if err_at > last {
            return Some(format!("failing since {}: {err}", err_at.to_rfc3339()));
        }
    }
    if now - last > window {
        return Some(format!(
            "no good sync for {} s (limit {} s)",
            (now - last).num_seconds(),
            window.num_seconds()
        ));
    }
    None
}

/// What a stall check did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StallReport {
    /// Subjects of incidents opened by this check.
    pub raised: Vec<String>,
    /// Subjects of incidents this check closed.
    pub resolved: Vec<String>,
}

/// Raises a `mailbox-stalled` alert for each watched folder with no good sync for
/// `ha.stall_alert_mins` (counted from `watching_since` for a folder never synced),
/// and resolves the alert of each folder that syncs again. Run by the scheduler's
/// leader; each incident is mailed once (see [`alerts::raise`]).
pub async fn check_stalls(
    store: &Store,
    rt: &Runtime,
    now: DateTime<Utc>,
    watching_since: DateTime<Utc>,
) -> Result<StallReport> {
    let states = store.folder_states().await?;
    let mut report = StallReport::default();
    for w in watched(rt) {
        let state = find(&states, &w);
        let last_ok = state.and_then(|s| s.last_sync_at).map(from_ms);
        let since = last_ok.unwrap_or(watching_since);
        let subject = w.subject();
        if now - since >= rt.ops.stall_alert {
            let last_error = state
                .and_then(|s| s.last_error.clone())
                .unwrap_or_else(|| "none recorded".into());
            let detail = match last_ok {
                Some(t) => format!(
                    "no good sync since {} ({} min); last error: {last_error}",
                    t.to_rfc3339(),
                    (now - t).num_minutes()
                ),
                None => format!(
                    "never synced since onit started watching at {}; last error: {last_error}",
                    since.to_rfc3339()
                ),
            };
            if alerts::raise(store, rt, AlertKind::MailboxStalled, &subject, &detail, now).await? {
                report.raised.push(subject);
            }
        } else if last_ok.is_some()
            && alerts::resolve(store, AlertKind::MailboxStalled, &subject, now).await?
        {
            report.resolved.push(subject);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::to_ms;

    fn state(last_ok: Option<i64>, err_at: Option<i64>) -> FolderState {
        FolderState {
            account: "a".into(),
            folder: "INBOX".into(),
            uidvalidity: 1,
            next_uid: 1,
            last_sync_at: last_ok,
            last_error: err_at.map(|_| "connection refused".into()),
            last_error_at: err_at,
        }
    }

    #[test]
    fn readiness_of_one_folder() {
        let now = Utc::now();
        let w = Duration::minutes(10);
        let ms = |m: i64| Some(to_ms(now - Duration::minutes(m)));
        assert!(folder_problem(None, now, w).is_some());
        assert_eq!(folder_problem(Some(&state(ms(1), None)), now, w), None);
        assert!(folder_problem(Some(&state(ms(11), None)), now, w)
            .is_some_and(|p| p.contains("no good sync")));
        // An error after the last good sync: unready at once.
        assert!(folder_problem(Some(&state(ms(2), ms(1))), now, w)
            .is_some_and(|p| p.contains("failing since")));
        // An error before it: recovered.
        assert_eq!(folder_problem(Some(&state(ms(1), ms(2))), now, w), None);
        assert!(folder_problem(Some(&state(None, ms(1))), now, w)
            .is_some_and(|p| p.contains("never synced")));
    }
}
