//! Reopening and merging tickets (a person's `#reopen`, `#merge JAC-n`,
//! `onit ticket ID reopen|merge OTHER`): part of [`super`], the one owner of
//! ticket state.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{change_status, record, status_event, By};
use crate::config::Runtime;
use crate::store::{from_ms, TicketRow, Tx};
use crate::ticket::{EventKind, Status};

/// Reopens `t` by a person's command. False when it was already open.
pub async fn reopen(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &mut TicketRow,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<bool> {
    if t.status == Status::Open {
        return Ok(false);
    }
    anyhow::ensure!(
        t.merged_into_id.is_none(),
        "{} was merged into another ticket; reopen that one",
        t.reference()
    );
    let detail = format!("reopened (was {})", t.status);
    change_status(
        tx,
        rt,
        t,
        Status::Open,
        (EventKind::Reopened, by, &detail),
        at,
    )
    .await?;
    Ok(true)
}

/// What merging did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// `other`'s messages and events now belong to `into`; `other` is closed as merged.
    Merged,
    /// `other` was already merged into `into`.
    AlreadyMerged,
}

/// Merges `other` into `into`: its messages, events and participants move to
/// `into`, which keeps its own priority and runs its cadence from the later of
/// the two last contacts; `other` is closed as merged (no report: it is
/// not resolved on its own) and stays findable, its mail and tag now threading
/// onto `into`.
pub async fn merge(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    into: &mut TicketRow,
    other: &mut TicketRow,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<Merge> {
    anyhow::ensure!(into.id != other.id, "a ticket cannot be merged into itself");
    if other.merged_into_id == Some(into.id) {
        return Ok(Merge::AlreadyMerged);
    }
    anyhow::ensure!(
        other.merged_into_id.is_none(),
        "{} was already merged into another ticket",
        other.reference()
    );
    anyhow::ensure!(
        into.merged_into_id.is_none(),
        "{} was merged into another ticket; merge into that one",
        into.reference()
    );
    tx.merge_ticket_rows(other.id, into.id).await?;
    other.merged_into_id = Some(into.id);
    let (ours, theirs) = (into.reference(), other.reference());
    let detail = format!("merged into {ours}");
    if other.status != Status::Closed {
        change_status(
            tx,
            rt,
            other,
            Status::Closed,
            (EventKind::Merged, by, &detail),
            at,
        )
        .await?;
    } else {
        status_event(
            tx,
            other.id,
            at,
            EventKind::Merged,
            Status::Closed,
            by,
            &detail,
        )
        .await?;
    }
    let note = format!("{theirs} merged into this ticket");
    record(tx, into.id, at, EventKind::Merged, by, &note).await?;
    // The later of the two last contacts is the one the cadence runs from; the
    // rules settle the due time from the merged history.
    if let Some(last) = other
        .last_contact_at
        .filter(|o| into.last_contact_at.is_none_or(|i| *o > i))
    {
        into.last_contact_at = Some(last);
        tx.touch_contact(into.id, from_ms(last)).await?;
    }
    if into.status == Status::Open {
        super::settle_due(tx, rt, into.id, at).await?;
    }
    Ok(Merge::Merged)
}
