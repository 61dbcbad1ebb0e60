//! Alerts about onit itself: a mailbox that stopped syncing, a sign-in that
//! fails, an OAuth token about to stop working. Help desks fail here in public
//! by going quiet (a token refresh failing silently for days), so each alert is
//! logged as an error, mailed to the operators (`ops.alert_to`) and listed in
//! the PM's digest.
//!
//! One incident is one open row per (kind, subject): raising it again while it
//! is open only updates its detail, so the operators get one mail per incident
//! however often the cause is seen, across restarts and across instances (the
//! partial unique index decides, not a process's memory). Resolving closes the
//! row; the next failure is a new incident.

use anyhow::Result;
use chrono::{DateTime, Utc};
use tracing::{error, info};

use crate::config::Runtime;
use crate::notices::{self, Notice};
use crate::store::{Store, Tx};

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// No good sync of a mailbox folder for `ha.stall_alert_mins`.
    MailboxStalled,
    /// The IMAP or SMTP server refused our credentials, or a token could not be had.
    SignInFailed,
    /// An OAuth token will stop working soon (refresh failing, refresh token expiring).
    TokenExpiring,
    /// Mail claiming a team address that its sender could not prove (`trust.team = "authenticated"`).
    /// One incident per claimed address; it ends after a day without such mail.
    Impersonation,
    /// A sender or a domain opened more new tickets in an hour than the policy allows;
    /// the rest is held (src/flood.rs).
    Flood,
}

impl AlertKind {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::MailboxStalled => "mailbox-stalled",
            AlertKind::SignInFailed => "sign-in-failed",
            AlertKind::TokenExpiring => "token-expiring",
            AlertKind::Impersonation => "impersonation",
            AlertKind::Flood => "flood",
        }
    }

    /// How long without a new sighting ends an incident by itself (for causes no
    /// one resolves by hand: a forger who stops does not tell us).
    fn quiet_ends_after(self) -> Option<chrono::Duration> {
        match self {
            AlertKind::Impersonation => Some(chrono::Duration::hours(24)),
            _ => None,
        }
    }

    fn headline(self) -> &'static str {
        match self {
            AlertKind::MailboxStalled => "mailbox is not being read",
            AlertKind::SignInFailed => "sign-in failing",
            AlertKind::TokenExpiring => "sign-in token expiring",
            AlertKind::Impersonation => "mail forged in a team member's name",
            AlertKind::Flood => "mail flood held",
        }
    }
}

pub use crate::store::AlertRow;

/// Raises an alert. Returns true when this opened a new incident (logged as an
/// error, and a mail to the operators queued in the same transaction); false when
/// the incident was already open (its detail and last-seen time are updated).
pub async fn raise(
    store: &Store,
    rt: &Runtime,
    kind: AlertKind,
    subject: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let opened = raise_in(&mut tx, rt, kind, subject, detail, now).await?;
    tx.commit().await?;
    if opened {
        error!(
            alert = kind.as_str(),
            subject, detail, "alert raised; operators notified"
        );
        crate::metrics::alert_raised(kind.as_str());
    }
    Ok(opened)
}

/// As [`raise`], inside the caller's transaction (ingest holds mail and raises
/// its flood alert in the same one); the caller logs it.
pub async fn raise_in(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    kind: AlertKind,
    subject: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    if let Some(quiet) = kind.quiet_ends_after() {
        tx.resolve_alert_quiet(kind.as_str(), subject, now - quiet, now)
            .await?;
    }
    let Some(id) = tx.raise_alert(kind.as_str(), subject, detail, now).await? else {
        return Ok(false);
    };
    let to = rt.alert_recipients();
    notices::queue(
        tx,
        rt,
        &Notice {
            kind: crate::ticket::OutboxKind::Alert,
            dedupe_key: format!("alert:{id}"),
            ticket_id: None,
            ticket: None,
            to: &to,
            subject: format!("onit alert: {} ({subject})", kind.headline()),
            body: alert_body(kind, subject, detail, now, rt),
        },
        now,
    )
    .await?;
    Ok(true)
}

/// Closes the open incident of (kind, subject), if any, inside the caller's transaction.
pub async fn resolve_in(
    tx: &mut Tx<'_>,
    kind: AlertKind,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(tx.resolve_alert(kind.as_str(), subject, now).await? > 0)
}

/// Closes the open incident of (kind, subject), if any. Returns true when one was closed.
pub async fn resolve(
    store: &Store,
    kind: AlertKind,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let n = tx.resolve_alert(kind.as_str(), subject, now).await?;
    tx.commit().await?;
    if n > 0 {
        info!(alert = kind.as_str(), subject, "alert resolved");
    }
    Ok(n > 0)
}

/// Alerts still open.
pub async fn open(store: &Store) -> Result<Vec<AlertRow>> {
    store.open_alerts().await
}

/// Alerts open at any time in `[since, until)`: open now, or resolved after `since`.
pub async fn during(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<AlertRow>> {
    store.alerts_during(since, until).await
}

fn alert_body(
    kind: AlertKind,
    subject: &str,
    detail: &str,
    now: DateTime<Utc>,
    rt: &Runtime,
) -> String {
    let local = now.with_timezone(&rt.calendar.tz());
    let advice = match kind {
        AlertKind::MailboxStalled => {
            "New client mail in this mailbox is not becoming tickets and is not being\n\
             acknowledged. Check `onit status` and the log of the instance that leads it."
        }
        AlertKind::SignInFailed => {
            "The server refuses onit's credentials. Until this is fixed, mail is not read\n\
             (IMAP) or not sent (SMTP). Check the password or token (docs/operations.md,\n\
             \"Rotate secrets\")."
        }
        AlertKind::TokenExpiring => {
            "The OAuth token cannot be renewed. Mail still flows until the current token\n\
             expires; sign in again with `onit oauth login` before then."
        }
        AlertKind::Impersonation => {
            "Mail claiming this team address arrived without proof that it came from the\n\
             team (trust.team = \"authenticated\"). onit applied nothing from it, sent no\n\
             reply and counted it for no rule; it is listed in the PM's digest and on the\n\
             ticket it names. If the mail was genuine, the sender's domain needs DKIM or\n\
             DMARC (docs/operations.md, \"Trust\")."
        }
        AlertKind::Flood => {
            "More new tickets came from one sender or domain in an hour than the policy
             allows. The rest is stored but opens no ticket and gets no acknowledgment.
             `onit mail --kind held` lists it; `onit mail release ID` lets one through."
        }
    };
    format!(
        "onit alert: {headline}\n\n\
         What:   {subject}\n\
         Since:  {since}\n\
         Detail: {detail}\n\n\
         {advice}\n\n\
         You get this mail once per incident; `onit status` shows open alerts.\n\n\
         -- onit ({instance})\n",
        headline = kind.headline(),
        since = local.format("%a %d %b %Y %H:%M %Z"),
        instance = rt.ops.instance_name,
    )
}
