//! A monitoring alert's ticket (crate::monitoring): opened and marked, its
//! alert mail recorded, resolved by its source, reopened by a new firing, and
//! owned (`#owner`). Part of [`super`], the one owner of ticket state.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{change_status, open_marked, record, By, Opening};
use crate::address::EmailAddress;
use crate::config::Runtime;
use crate::monitoring::{Alert, AlertState};
use crate::store::{TicketRow, Tx};
use crate::ticket::{EventKind, Status};

/// Opens the internal ticket of a new alert: the ticket as [`super::open`] makes it,
/// marked with the alert's `source` and key, with nothing due (no client rule
/// applies to it).
pub async fn open_alert(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    o: &Opening<'_>,
    source: &str,
    alert: &Alert,
) -> Result<TicketRow> {
    open_marked(tx, rt, o, Some((source, &alert.key))).await
}

/// What one alert mail did to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    /// Recorded only (a repeat, or a resolved notification that may not resolve).
    Recorded,
    /// The alert fired again on a resolved ticket: reopened.
    Reopened,
    /// The source resolved it: the ticket is `resolved`.
    Resolved,
}

/// One alert mail, as [`alert_mail`] records it.
#[derive(Debug, Clone, Copy)]
pub struct AlertMail<'a> {
    pub alert: &'a Alert,
    /// The sender's verdict is `pass` (crate::trust).
    pub proven: bool,
    pub subject: &'a str,
}

/// Records alert mail on its ticket `t` at `at`: an `alert` event saying its
/// state and whether its sender is `proven`; a firing reopens a resolved
/// ticket; a proven resolved notification resolves an open one
/// (`alert_resolved`). An unproven one never does: a forged "resolved" must not
/// silence a real outage.
pub async fn alert_mail(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    m: &AlertMail<'_>,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<AlertChange> {
    let AlertMail {
        alert,
        proven,
        subject,
    } = *m;
    let source = t.alert_source.clone().unwrap_or_default();
    let trust = if proven { "proven" } else { "unproven" };
    let mut change = AlertChange::Recorded;
    if alert.state == AlertState::Firing && t.status == Status::Resolved {
        let detail = format!("the alert fires again ({source})");
        change_status(
            tx,
            rt,
            t,
            Status::Open,
            (EventKind::Reopened, by, &detail),
            at,
        )
        .await?;
        change = AlertChange::Reopened;
    }
    let detail = match (alert.state, proven) {
        (AlertState::Resolved, false) if t.status == Status::Open => format!(
            "resolved (unproven sender: the ticket stays open until a proven notification or a person resolves it): {subject}"
        ),
        (state, _) => format!("{} ({trust}): {subject}", state.as_str()),
    };
    record(tx, t.id, at, EventKind::Alert, by, &detail).await?;
    if alert.state == AlertState::Resolved && proven && t.status == Status::Open {
        let detail = format!("resolved by its source ({source})");
        change_status(
            tx,
            rt,
            t,
            Status::Resolved,
            (EventKind::AlertResolved, by, &detail),
            at,
        )
        .await?;
        change = AlertChange::Resolved;
    }
    Ok(change)
}

/// Records that `who` took ticket `t` (`#owner`): an `owner` event, as
/// ownership, never as blame. `None` when they already own it.
pub async fn take_ownership(
    tx: &mut Tx<'_>,
    t: &mut TicketRow,
    who: &EmailAddress,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<Option<String>> {
    if t.owner.as_deref() == Some(who.as_str()) {
        return Ok(None);
    }
    tx.set_owner(t.id, who.as_str()).await?;
    let detail = match &t.owner {
        Some(before) => format!("{who} took ownership (was {before})"),
        None => format!("{who} took ownership"),
    };
    t.owner = Some(who.as_str().to_string());
    record(tx, t.id, at, EventKind::Owner, by, &detail).await?;
    Ok(Some(detail))
}
