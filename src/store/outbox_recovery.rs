//! The outbox after a crash: an unfinished attempt whose fate is still being
//! looked up (`crate::outgoing::sent_copy`).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{to_ms, with_tx, Tx};

impl Tx<'_> {
    /// Looks at an unfinished attempt again at `next`: it stays `sending` (so
    /// whoever claims it next looks its copy up again before sending) and is free
    /// for any instance to claim then. The look is not an attempt: the count and
    /// the start of the unfinished attempt (`started`, epoch ms) are put back.
    pub async fn outbox_look_again(
        &mut self,
        id: i64,
        next: DateTime<Utc>,
        started: i64,
    ) -> Result<()> {
        with_tx!(self, c => sqlx::query("UPDATE outbox SET status = 'sending', next_attempt_at = $1, claimed_by = NULL, attempts = attempts - 1, attempt_started_at = $2 WHERE id = $3")
            .bind(to_ms(next)).bind(started).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()).context("scheduling another look for the sent copy"))?;
        Ok(())
    }
}
