//! A stored message threaded onto a ticket by a person (`onit mail attach`):
//! part of [`super`], the one owner of ticket state.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{record, settle_due, By};
use crate::config::Runtime;
use crate::store::{TicketRow, Tx};
use crate::ticket::EventKind;

/// Records on `t` that a person threaded message `by.message_id` onto it at
/// `now`, and stores the rules' due time as of `now`. The message itself was
/// threaded by ingest (its own event, at its own time, e.g. a contact): a team
/// update attached after its deadline passed still counts when it was sent, so
/// a rule it kept reads as kept, and what is due next follows from it.
pub async fn attached(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    by: By<'_>,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    record(tx, t.id, now, EventKind::Attached, by, detail).await?;
    settle_due(tx, rt, t.id, now).await
}
