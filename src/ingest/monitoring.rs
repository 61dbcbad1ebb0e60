//! Ingest of monitoring mail (crate::monitoring): part of [`super`], the one
//! ingest seam.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{from_of, opening, Disposition, Ingest, Outcome};
use crate::classify::MailClass;
use crate::store::TicketRow;
use crate::threading::normalize_subject;
use crate::ticket::lifecycle::{self, By};
use crate::ticket::Mode;

impl Ingest<'_, '_, '_> {
    /// Mail from a monitoring sender (crate::monitoring): recorded on its alert's
    /// ticket (found by source and key, or a new one for a new firing), never
    /// answered: no acknowledgment, no reply, no notice.
    pub(super) async fn monitoring(
        &mut self,
        ticket: Option<TicketRow>,
        source: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Outcome> {
        use crate::monitoring::AlertState;
        let v = self.v;
        let rt = self.rt;
        let source = source.unwrap_or_default();
        let alert =
            crate::monitoring::alert::read(&v.subject, &v.body, v.alert_group_key.as_deref());
        let proven = self.auth.is_pass();
        let note = Some(format!(
            "monitoring alert {} ({})",
            alert.state.as_str(),
            if proven { "proven" } else { "unproven" }
        ));
        let m = lifecycle::AlertMail {
            alert: &alert,
            proven,
            subject: &v.subject,
        };
        let by = By {
            actor: from_of(v),
            message_id: Some(&v.message_id),
        };
        let found = match ticket {
            Some(t) => Some(t),
            None => self.tx.open_alert_ticket(&source, &alert.key).await?,
        };
        if let Some(mut t) = found {
            self.store(Some(t.id), MailClass::Monitoring, None, at)
                .await?;
            lifecycle::alert_mail(self.tx, rt, &mut t, &m, by, at).await?;
            return Ok(self.outcome(
                Some(MailClass::Monitoring),
                Disposition::Threaded,
                Some(&t),
                false,
                note,
            ));
        }
        let reporter = match (&v.from, alert.state) {
            (Some(from), AlertState::Firing) => from.clone(),
            _ => {
                // A resolved notification for no open alert: kept, nothing to resolve.
                self.store(
                    None,
                    MailClass::Monitoring,
                    Some("resolved notification of no open alert"),
                    at,
                )
                .await?;
                return Ok(self.outcome(
                    Some(MailClass::Monitoring),
                    Disposition::Unthreaded,
                    None,
                    false,
                    note,
                ));
            }
        };
        if !proven && self.mode == Mode::Live {
            // Anyone can claim a monitoring sender: unproven, it opens no more alert
            // tickets than a client may (src/flood.rs); held mail is kept, never lost.
            // A proven alert storm is real and is never held.
            if let Some(held) =
                crate::flood::check(self.tx, rt, &reporter, &v.message_id, at).await?
            {
                self.store(None, MailClass::Monitoring, Some(&held.note), at)
                    .await?;
                return Ok(self.outcome(
                    Some(MailClass::Monitoring),
                    Disposition::Held,
                    None,
                    false,
                    Some(held.note),
                ));
            }
        }
        let (priority, reason) = rt.priority.propose(&v.subject, &v.own_words.text());
        let norm = normalize_subject(&v.subject, &rt.team.prefix);
        let opening = opening(rt, v, &reporter, &norm, (priority, &reason), None, at);
        let mut t = lifecycle::open_alert(self.tx, rt, &opening, &source, &alert).await?;
        self.store(Some(t.id), MailClass::Monitoring, None, at)
            .await?;
        lifecycle::alert_mail(self.tx, rt, &mut t, &m, by, at).await?;
        tracing::info!(ticket = %t.reference(), source = %source, proven, "monitoring alert opened");
        Ok(self.outcome(
            Some(MailClass::Monitoring),
            Disposition::NewTicket,
            Some(&t),
            false,
            note,
        ))
    }
}
