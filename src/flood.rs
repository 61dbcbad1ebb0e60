//! Floods are held, not ticketed (issue 12). A sender that opens more than
//! `policy.max_new_tickets_per_sender_per_hour` new tickets in an hour, or a
//! domain more than `policy.max_new_tickets_per_domain_per_hour`, opens no
//! more: the rest is stored with no ticket (so no acknowledgment, no reminders,
//! no rule to break), listed as held mail (`onit mail --kind held`, the PM's
//! digest), and raises one `flood` alert per incident. `onit mail release ID`
//! lets one through ingest as if it had just arrived.
//!
//! Readings:
//! - the sender is normalised (lower case, `+tag` removed from the local part),
//!   so `Bot+1@x` and `bot+2@X` are one sender;
//! - only mail that would open a new ticket counts and is held: a reply on an
//!   existing ticket threads as usual;
//! - only live mail: `onit import` and old mail (history) send nothing anyway;
//! - the hour is the hour before the message's time (`now` is the message's
//!   effective time, passed in);
//! - an incident ends when that sender (domain) opens a ticket again.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

use crate::address::EmailAddress;
use crate::alerts::{self, AlertKind};
use crate::config::Runtime;
use crate::store::Tx;

/// Why a message was held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// `sender:<normalised address>` or `domain:<domain>`: the alert's subject.
    pub flood: String,
    /// For the stored message's detail and the log.
    pub note: String,
}

/// A sender address as the flood limits count it: lower case, `+tag` removed.
pub fn normalised_sender(a: &EmailAddress) -> (String, String) {
    let s = a.as_str().to_ascii_lowercase();
    let (local, domain) = s.rsplit_once('@').unwrap_or((s.as_str(), ""));
    let local = local.split_once('+').map_or(local, |(l, _)| l);
    (format!("{local}@{domain}"), domain.to_string())
}

/// Decides, inside ingest's transaction, whether mail from `from` that would
/// open a new ticket at `at` opens it (None: its opening is counted) or is held
/// (the caller stores it with no ticket; the hold and the alert are recorded here).
pub async fn check(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    from: &EmailAddress,
    message_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Held>> {
    if tx.is_released(message_id).await? {
        return Ok(None);
    }
    let (sender, domain) = normalised_sender(from);
    let since = at - Duration::hours(1);
    let by_sender = tx.openings_by_sender(&sender, since).await?;
    let flood = if by_sender >= i64::from(rt.policy.max_new_tickets_per_sender_per_hour) {
        Some((
            format!("sender:{sender}"),
            format!(
                "{by_sender} new tickets from {sender} in the last hour (limit {})",
                rt.policy.max_new_tickets_per_sender_per_hour
            ),
        ))
    } else {
        let by_domain = tx.openings_by_domain(&domain, since).await?;
        (by_domain >= i64::from(rt.policy.max_new_tickets_per_domain_per_hour)).then(|| {
            (
                format!("domain:{domain}"),
                format!(
                    "{by_domain} new tickets from {domain} in the last hour (limit {})",
                    rt.policy.max_new_tickets_per_domain_per_hour
                ),
            )
        })
    };
    let Some((flood, why)) = flood else {
        tx.record_opening(&sender, &domain, at).await?;
        for subject in [format!("sender:{sender}"), format!("domain:{domain}")] {
            alerts::resolve_in(tx, AlertKind::Flood, &subject, at).await?;
        }
        return Ok(None);
    };
    let reason = flood.split(':').next().unwrap_or("sender");
    tx.hold_mail(message_id, &sender, &domain, reason, at)
        .await?;
    let detail = format!(
        "{why}: the rest is held, not ticketed and not acknowledged. \
         `onit mail --kind held` lists it, `onit mail release ID` lets one through."
    );
    alerts::raise_in(tx, rt, AlertKind::Flood, &flood, &detail, at).await?;
    tracing::warn!(%flood, message_id, "flood: message held, no ticket");
    Ok(Some(Held {
        note: format!("held: {why}"),
        flood,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_normalised_by_case_and_tag() {
        let a = EmailAddress::parse("Bot+123@Example.COM").unwrap();
        assert_eq!(
            normalised_sender(&a),
            ("bot@example.com".to_string(), "example.com".to_string())
        );
        let b = EmailAddress::parse("bot@example.com").unwrap();
        assert_eq!(normalised_sender(&a), normalised_sender(&b));
    }
}
