//! `onit mail reprocess ID`: a message that made no ticket, taken through ingest
//! again with the current configuration (after `team.members`, `trust` or a parser
//! was fixed), in one transaction (issue 15, item 6).
//!
//! Readings taken:
//! * What is taken again: a stored message on no ticket (automated mail, unthreaded
//!   team mail, a note or a forged team address on no ticket, our own mail, an
//!   unparseable message), by its Message-ID; a set-aside message (it could not be
//!   stored), by its number as `onit mail --kind set-aside` lists it.
//! * Its earlier record is replaced: the stored row of a message on no ticket is
//!   removed (no event and no ticket refers to it) and ingest stores it anew in the
//!   same transaction; a set-aside message leaves the set-aside list once it is
//!   stored (if it still cannot be, nothing changes and the error is printed).
//! * A message on a ticket is left as it is ("already on JAC-7"): what it did there
//!   (its events, an acknowledgment sent) is history that cannot be unsent. So a
//!   second reprocess changes nothing once the first put the message on a ticket,
//!   and a message still on no ticket is stored again as it was: never twice.
//! * Held mail is refused: `onit mail release` is the act that lifts a flood hold.
//! * Time. Mail that arrived within `mailbox.ack_max_age` before `now` is taken as
//!   live mail arriving now, as `onit mail release` takes it: a ticket it opens is
//!   acknowledged, and the acknowledgment's next update is computed from now, not
//!   from an arrival already past (its time on the ticket is still its Date header
//!   when that lies within `policy.date_skew_past` of now). Older mail is history
//!   (`Mode::Import`, or `Mode::Archive` for mail stored with the archive's time
//!   reading), at its stored arrival: it counts when it arrived and nothing is sent,
//!   so no client is acknowledged days late. A set-aside message arrived no later
//!   than it was set aside, nor than its topmost `Received:` header (our server's).

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::config::Runtime;
use crate::ingest::{history_mode, mode_for_arrival, receive_parsed, Disposition, Mode, Outcome};
use crate::message::MailView;
use crate::store::{from_ms, Store, Tx};

/// What `onit mail reprocess` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reprocessed {
    pub message_id: String,
    /// What it was: its stored class (`automated`, `contact`…) or `set-aside`.
    pub was: String,
    /// `live` (it may be acknowledged) or `history` (nothing sent); `none` when unchanged.
    pub taken_as: &'static str,
    /// `new_ticket`, `threaded`, `unthreaded`, `held`, `unparseable`, `duplicate`
    /// (a set-aside message already stored), or `unchanged` (already on a ticket).
    pub disposition: &'static str,
    /// Its class now (`client`, `contact`, `automated`…); none when unchanged or unparseable.
    pub class: Option<&'static str>,
    /// `JAC-7`, when it is on a ticket.
    pub ticket: Option<String>,
    /// An acknowledgment was queued.
    pub ack_queued: bool,
    /// Why it is where it is: the automated signal, "unthreaded team mail", the flood.
    pub note: Option<String>,
}

impl Reprocessed {
    /// One line for the operator.
    pub fn text(&self, prefix: &str) -> String {
        let id = &self.message_id;
        let class = self.class.unwrap_or("unparseable");
        let note = self
            .note
            .as_deref()
            .map(|n| format!(": {}", crate::message::single_line(n)))
            .unwrap_or_default();
        let ticket = self.ticket.as_deref().unwrap_or("a ticket");
        let what = match self.disposition {
            "unchanged" => {
                return format!("{id} is on {ticket} already (as {}): nothing changed", self.was)
            }
            "duplicate" => return format!("{id} was stored already: its set-aside copy is removed"),
            "new_ticket" => format!(
                "opened {ticket} ({class}), {}",
                if self.ack_queued {
                    "acknowledgment queued"
                } else if self.taken_as == "history" {
                    "not acknowledged (older than mailbox.ack_max_age)"
                } else {
                    "not acknowledged (see `onit ticket`)"
                }
            ),
            "threaded" => format!("threaded onto {ticket} as {class}"),
            "held" => format!("held by a flood limit{note}"),
            "unparseable" => "still unparseable".to_string(),
            _ => match self.class {
                Some("impersonation") => format!(
                    "still on no ticket ({class}{note}): its sender is still not proven (see `trust`)"
                ),
                Some("own") => format!("still on no ticket ({class}{note})"),
                _ => format!(
                    "still on no ticket ({class}{note}); `onit mail attach {id} {prefix}-n` threads it onto one"
                ),
            },
        };
        format!("reprocessed {id} (was {}): {what}", self.was)
    }
}

/// The name of a disposition in [`Reprocessed`].
fn disposition_name(d: Disposition) -> &'static str {
    match d {
        Disposition::Duplicate => "duplicate",
        Disposition::NewTicket => "new_ticket",
        Disposition::Threaded => "threaded",
        Disposition::Unthreaded => "unthreaded",
        Disposition::Unparseable => "unparseable",
        Disposition::Held => "held",
    }
}

/// The live/history choice of the module docs, for mail that arrived at `arrival`;
/// `history` is the mode it is taken in when it is not live.
fn reading(
    rt: &Runtime,
    arrival: DateTime<Utc>,
    history: Mode,
    now: DateTime<Utc>,
) -> (Mode, DateTime<Utc>) {
    match mode_for_arrival(rt, arrival, now) {
        Mode::Live => (Mode::Live, now),
        _ => (history, arrival),
    }
}

/// Takes message `id` (a Message-ID, or a set-aside message's number) through
/// ingest again at `now`, in one transaction.
pub async fn reprocess(
    store: &Store,
    rt: &Runtime,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Reprocessed> {
    let message_id = crate::message::normalize_message_id(id)
        .with_context(|| format!("`{id}` is not a Message-ID or a set-aside number"))?;
    let mut tx = store.begin().await?;
    let (out, was, mode) = match tx.stored_mail(&message_id).await? {
        Some(stored) => {
            if let Some(tid) = stored.ticket_id {
                let ticket = tx.ticket(tid).await?.map(|t| t.reference());
                return Ok(Reprocessed {
                    message_id,
                    class: None,
                    was: stored.class,
                    taken_as: "none",
                    disposition: "unchanged",
                    ticket,
                    ack_queued: false,
                    note: None,
                });
            }
            if tx.is_held(&message_id).await? {
                bail!("{message_id} is held by a flood limit: `onit mail release {message_id}` lets it through");
            }
            let raw = stored
                .raw
                .with_context(|| format!("{message_id} has no stored bytes to take again"))?;
            let arrival = from_ms(stored.arrived_at);
            let history = history_mode(
                rt,
                stored.date_header.map(from_ms),
                arrival,
                from_ms(stored.effective_at),
            );
            let (mode, arrival) = reading(rt, arrival, history, now);
            tx.forget_unticketed(&message_id).await?;
            let parsed = MailView::parse(&raw);
            let out =
                receive_parsed(&mut tx, rt, &raw, parsed, arrival, &stored.origin, mode).await?;
            (out, stored.class, mode)
        }
        None => {
            let n = message_id
                .parse::<i64>()
                .ok()
                .with_context(|| format!("no stored message {message_id}"))?;
            let (out, mode) = set_aside(&mut tx, rt, n, now).await?;
            (out, "set-aside".to_string(), mode)
        }
    };
    tx.commit().await?;
    out.record_metrics();
    Ok(Reprocessed {
        message_id: out.message_id,
        was,
        taken_as: if mode == Mode::Live {
            "live"
        } else {
            "history"
        },
        disposition: disposition_name(out.disposition),
        class: out.class.map(|c| c.as_str()),
        ticket: out.ticket,
        ack_queued: out.ack_queued,
        note: out.note,
    })
}

/// Ingests set-aside message `n` and removes it from the set-aside list.
async fn set_aside(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    n: i64,
    now: DateTime<Utc>,
) -> Result<(Outcome, Mode)> {
    let Some(s) = tx.set_aside(n).await? else {
        bail!("no stored message and no set-aside message {n}");
    };
    let parsed = MailView::parse(&s.raw);
    let received = parsed.as_ref().ok().and_then(|v| v.received_at);
    let set_aside_at = from_ms(s.at);
    let arrival = received.map_or(set_aside_at, |r| r.min(set_aside_at));
    let (mode, arrival) = reading(rt, arrival, Mode::Import, now);
    let out = receive_parsed(tx, rt, &s.raw, parsed, arrival, &s.source, mode)
        .await
        .with_context(|| format!("set-aside message {n} still cannot be stored"))?;
    tx.remove_set_aside(n).await?;
    Ok((out, mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn recent_mail_is_live_and_arrives_now_older_mail_keeps_its_arrival() {
        let rt = Runtime::load(None).expect("default config");
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let recent = now - Duration::hours(2);
        assert_eq!(reading(&rt, recent, Mode::Import, now), (Mode::Live, now));
        let old = now - rt.ack_max_age - Duration::minutes(1);
        assert_eq!(reading(&rt, old, Mode::Import, now), (Mode::Import, old));
        assert_eq!(reading(&rt, old, Mode::Archive, now), (Mode::Archive, old));
    }

    #[test]
    fn the_archive_reading_is_kept_only_where_it_was_used() {
        let rt = Runtime::load(None).expect("default config");
        let arrival = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let written = arrival - Duration::days(10);
        // Live and imported mail counts at its arrival when its Date is that old;
        // only `onit import` believes the Date.
        let h = |stored| history_mode(&rt, Some(written), arrival, stored);
        assert_eq!(h(arrival), Mode::Import);
        assert_eq!(h(written), Mode::Archive);
        // A Date within the window reads the same either way: Import.
        let fresh = arrival - Duration::hours(1);
        assert_eq!(history_mode(&rt, Some(fresh), arrival, fresh), Mode::Import);
        assert_eq!(history_mode(&rt, None, arrival, arrival), Mode::Import);
    }
}
