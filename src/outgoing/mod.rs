//! Delivering the outbox. Mail is rendered when it is queued (inside the
//! transaction that needs it), so every attempt sends the same bytes with the
//! same Message-ID. A worker claims an item (marking the attempt before any byte
//! leaves), sends it, and records the outcome; transient failures are retried
//! with capped, jittered exponential backoff, permanent ones are recorded on the
//! ticket. Nothing is ever dropped silently.

pub mod file;
pub mod sent_copy;
pub mod smtp;

use std::time::Duration as StdDuration;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use tracing::{info, info_span, warn, Instrument};

use crate::store::{OutboxRow, Store};

/// How a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (connection refused, timeout, 4xx).
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed as it is (5xx, bad recipient).
    #[error("permanent: {0}")]
    Permanent(String),
    /// The server refused our credentials (5xx to AUTH), or none could be had. Retried
    /// like a transient failure (the mail is fine: fixing the password sends it), and
    /// raises a `sign-in-failed` alert, because it will not mend by itself.
    #[error("sign-in: {0}")]
    SignIn(String),
}

/// A way for mail to leave.
pub enum Transport {
    File(file::FileTransport),
    Smtp(Box<smtp::SmtpTransport>),
}

impl Transport {
    /// Sends one rendered message to its envelope recipients.
    pub async fn send(&self, item: &OutboxRow) -> Result<Accepted, SendError> {
        match self {
            Transport::File(f) => f.send(item).await.map(|()| Accepted(None)),
            Transport::Smtp(s) => s.send(item).await.map(|s| Accepted(Some(s))),
        }
    }
}

/// The server has taken the message. An SMTP session still waits for its QUIT,
/// which is sent only after the send is recorded: the window in which a crash
/// sends a message twice is one commit, not one more network round trip.
pub struct Accepted(Option<smtp::OpenSession>);

impl Accepted {
    /// Sends QUIT in the background (after the commit), so the next item need not wait for it.
    fn quit_later(self) {
        if let Some(session) = self.0 {
            tokio::spawn(session.quit());
        }
    }
}

/// Before an attempt that a crash (or a lost claimer) left unfinished is made again.
enum Earlier {
    /// Nothing says it went out: send.
    Send,
    /// The server's own copy is in `smtp.sent_copy_folder`: it went out.
    Sent,
    /// No copy yet, but the attempt began moments ago: look again at this time.
    LookAgain(DateTime<Utc>),
}

/// The retry delay after `attempts` failed attempts: base·2^(n-1), capped, with ±20 % jitter
/// so that many items failing together do not retry in lockstep.
pub fn backoff(attempts: i64, base: StdDuration, max: StdDuration) -> StdDuration {
    let exp = attempts.clamp(1, 30) - 1;
    let raw = base.as_secs_f64() * 2f64.powi(exp as i32);
    let capped = raw.min(max.as_secs_f64());
    let jitter = 0.8 + fastrand::f64() * 0.4;
    StdDuration::from_secs_f64((capped * jitter).min(max.as_secs_f64()).max(0.001))
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The outbox worker.
pub struct Outbox {
    store: Store,
    transport: Transport,
    rt: std::sync::Arc<crate::config::Runtime>,
    /// A sign-in alert may be open: the next good send resolves it. True at start,
    /// so an alert left by an earlier run is closed by the first send that works.
    sign_in_alert: std::sync::atomic::AtomicBool,
}

impl Outbox {
    /// A worker over `store` sending through `transport`, with the retry bounds,
    /// PM notices and `smtp.append_sent` of `rt`.
    pub fn new(
        store: Store,
        transport: Transport,
        rt: std::sync::Arc<crate::config::Runtime>,
    ) -> Outbox {
        Outbox {
            store,
            transport,
            rt,
            sign_in_alert: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Attempts every item due at `now` once. Times recorded after a send (sent,
    /// retry, failure, the PM's notice) are `now` advanced by the time the pass has
    /// taken (`crate::clock`), never the wall clock: a caller's `now` is the truth.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<PassReport> {
        let clock = crate::clock::Clock::starting_at(now);
        let mut report = PassReport::default();
        loop {
            // Acknowledgments first (`outbox_due`), and between every 20 other
            // sends the acknowledgments queued meanwhile (by the pass's clock):
            // one never waits behind a backlog for more than 20 sends. One taken
            // twice is claimed once (`attempt` finds it sent).
            let ids = self.store.outbox_due(now, clock.now(), 100).await?;
            if ids.is_empty() {
                break;
            }
            let mut progressed = false;
            let mut ids = std::collections::VecDeque::from(ids);
            let mut since_acks = 0;
            while let Some(id) = ids.pop_front() {
                if since_acks == 20 {
                    since_acks = 0;
                    ids.push_front(id);
                    let waiting = self.store.outbox_acks_waiting(now, clock.now(), 20).await?;
                    for ack in waiting.into_iter().rev() {
                        if !ids.contains(&ack) {
                            ids.push_front(ack);
                        }
                    }
                    continue;
                }
                since_acks += 1;
                match self.attempt(id, &clock).await? {
                    Some(Attempt::Sent) => report.sent += 1,
                    Some(Attempt::Retry | Attempt::SignIn(_)) => report.retried += 1,
                    Some(Attempt::Failed) => report.failed += 1,
                    None => continue,
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        Ok(report)
    }

    async fn attempt(&self, id: i64, clock: &crate::clock::Clock) -> Result<Option<Attempt>> {
        let now = clock.now();
        let mut tx = self.store.begin().await?;
        let stale_after = self
            .rt
            .smtp
            .as_ref()
            .map(|s| s.timeout * 2)
            .unwrap_or_default()
            .max(StdDuration::from_secs(60));
        let claim = crate::store::Claim {
            now,
            instance: &self.rt.ops.instance_name,
            exclusive: self.store.is_sqlite(),
            stale_after: Duration::from_std(stale_after).unwrap_or(Duration::minutes(2)),
            claimer_gone_after: Duration::from_std(self.rt.ops.takeover)
                .unwrap_or(Duration::seconds(15)),
        };
        let Some(item) = tx.outbox_claim(id, &claim).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        crate::fault::point("outbox-after-claim");
        let span = info_span!("send", kind = %item.kind, message_id = %item.message_id, attempt = item.attempts + 1);
        let result = match self.earlier(&item, now).instrument(span.clone()).await {
            Earlier::Send => self.transport.send(&item).instrument(span.clone()).await,
            Earlier::Sent => Ok(Accepted(None)),
            Earlier::LookAgain(next) => {
                let mut tx = self.store.begin().await?;
                tx.outbox_look_again(item.id, next, item.attempt_started_at.unwrap_or_default())
                    .await?;
                tx.commit().await?;
                return Ok(Some(Attempt::Retry));
            }
        };
        crate::fault::point("outbox-after-send");
        // Instrumented, not entered: a span entered across an `.await` stays on
        // the stack of the worker thread it was entered on when the task moves
        // to another, and once it closed, a `Span::current()` there (sqlx
        // handing a pooled connection back) panicked; the daemon then sent
        // nothing for a minute (a dead task is now caught: crate::supervision).
        self.record(item, result, clock, now).instrument(span).await
    }

    /// What a send's `result` leaves in the outbox, on the ticket, in the
    /// metrics and in the Sent folder.
    async fn record(
        &self,
        item: OutboxRow,
        result: Result<Accepted, SendError>,
        clock: &crate::clock::Clock,
        now: DateTime<Utc>,
    ) -> Result<Option<Attempt>> {
        let sent_at = clock.now();
        let mut tx = self.store.begin().await?;
        let mut latency = None;
        let mut accepted = None;
        let outcome = match result {
            Ok(open) => {
                accepted = Some(open);
                tx.outbox_sent(item.id, sent_at).await?;
                latency =
                    crate::ticket::lifecycle::mail_sent(&mut tx, &self.rt, &item, sent_at).await?;
                info!(to = %item.rcpt_to, "sent");
                Attempt::Sent
            }
            Err(SendError::SignIn(e)) => {
                let delay = backoff(item.attempts + 1, self.rt.retry_base, self.rt.retry_max);
                let next = now + Duration::from_std(delay).unwrap_or(Duration::seconds(60));
                tx.outbox_retry(item.id, next, &e).await?;
                warn!(error = %e, retry_in = ?delay, "SMTP sign-in refused, will retry");
                Attempt::SignIn(e)
            }
            Err(SendError::Transient(e)) => {
                let delay = backoff(item.attempts + 1, self.rt.retry_base, self.rt.retry_max);
                let next = now + Duration::from_std(delay).unwrap_or(Duration::seconds(60));
                tx.outbox_retry(item.id, next, &e).await?;
                warn!(error = %e, retry_in = ?delay, "send failed, will retry");
                Attempt::Retry
            }
            Err(SendError::Permanent(e)) => {
                tx.outbox_failed(item.id, &e).await?;
                crate::ticket::lifecycle::mail_failed(&mut tx, &self.rt, &item, &e, sent_at)
                    .await?;
                warn!(error = %e, "send failed permanently; recorded on the ticket");
                Attempt::Failed
            }
        };
        tx.commit().await?;
        if let Some(open) = accepted {
            open.quit_later();
        }
        match &outcome {
            Attempt::Sent => {
                crate::metrics::sent(item.kind, latency);
                self.sign_in_ok(sent_at).await;
            }
            Attempt::Retry => crate::metrics::retried(item.kind),
            Attempt::SignIn(e) => {
                crate::metrics::retried(item.kind);
                self.sign_in_refused(e, sent_at).await;
            }
            Attempt::Failed => crate::metrics::failed(item.kind),
        }
        if matches!(outcome, Attempt::Sent) {
            self.append_sent(&item).await;
        }
        Ok(Some(outcome))
    }

    /// What to do with an item found `sending` when claimed: an earlier attempt
    /// (a crash, a claimer gone) may have been accepted without being recorded.
    /// With `smtp.sent_copy_folder`, the server's own copy answers: found, it is
    /// sent; not found within [`sent_copy::SETTLE`] of that attempt, look again
    /// (the copy may still be on its way); later, send. A folder that cannot be
    /// searched sends: POLICY's acknowledgment matters more than a duplicate,
    /// which carries the same Message-ID and is shown once by mail clients.
    async fn earlier(&self, item: &OutboxRow, now: DateTime<Utc>) -> Earlier {
        let (true, Transport::Smtp(_), Some(smtp), Some(imap)) = (
            item.status == crate::store::OutboxStatus::Sending,
            &self.transport,
            self.rt.smtp.as_ref(),
            self.rt.imap.as_ref(),
        ) else {
            return Earlier::Send;
        };
        let Some(folder) = smtp.sent_copy_folder.as_deref() else {
            return Earlier::Send;
        };
        match sent_copy::holds(imap, folder, &item.message_id).await {
            Ok(true) => {
                info!(folder, "an unfinished attempt had gone out (its copy is in the sent-copy folder): recorded as sent, not sent again");
                Earlier::Sent
            }
            Ok(false) => {
                let began = item.attempt_started_at.map(crate::store::from_ms);
                let settle = Duration::from_std(sent_copy::SETTLE).unwrap_or_default();
                match began {
                    Some(b) if now < b + settle => {
                        info!(
                            folder,
                            "no copy of the unfinished attempt yet; looking again shortly"
                        );
                        Earlier::LookAgain((b + settle).min(now + Duration::seconds(1)))
                    }
                    _ => Earlier::Send,
                }
            }
            Err(e) => {
                warn!(
                    folder,
                    error = format!("{e:#}"),
                    "cannot look for the sent copy of an unfinished attempt; sending it again"
                );
                Earlier::Send
            }
        }
    }

    /// The alert subject of the sending account.
    fn smtp_subject(&self) -> String {
        match &self.rt.smtp {
            Some(s) => format!(
                "smtp:{}@{}:{}",
                s.username.as_deref().unwrap_or(""),
                s.host,
                s.port
            ),
            None => "smtp".to_string(),
        }
    }

    async fn sign_in_refused(&self, error: &str, now: DateTime<Utc>) {
        self.sign_in_alert
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let subject = self.smtp_subject();
        if let Err(e) = crate::alerts::raise(
            &self.store,
            &self.rt,
            crate::alerts::AlertKind::SignInFailed,
            &subject,
            error,
            now,
        )
        .await
        {
            warn!(error = format!("{e:#}"), "cannot record the sign-in alert");
        }
    }

    async fn sign_in_ok(&self, now: DateTime<Utc>) {
        if !matches!(self.transport, Transport::Smtp(_))
            || !self
                .sign_in_alert
                .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let subject = self.smtp_subject();
        if let Err(e) = crate::alerts::resolve(
            &self.store,
            crate::alerts::AlertKind::SignInFailed,
            &subject,
            now,
        )
        .await
        {
            warn!(error = format!("{e:#}"), "cannot resolve the sign-in alert");
        }
    }

    /// `smtp.append_sent`: a copy in the mailbox's Sent folder, for the people who
    /// read it. Best effort after the send is recorded; a failure is logged. When
    /// onit also watches that folder, the copy is recognised as its own mail.
    async fn append_sent(&self, item: &OutboxRow) {
        let (Transport::Smtp(_), Some(smtp), Some(imap)) = (
            &self.transport,
            self.rt.smtp.as_ref(),
            self.rt.imap.as_ref(),
        ) else {
            return;
        };
        let Some(folder) = smtp.append_sent.as_deref() else {
            return;
        };
        let result = async {
            let mut session = crate::imap::connect::connect(imap).await?;
            crate::imap::connect::timed(
                imap.command_timeout,
                "APPEND",
                session.append(folder, Some("(\\Seen)"), None, &item.raw),
            )
            .await?;
            let _ =
                crate::imap::connect::timed(imap.command_timeout, "LOGOUT", session.logout()).await;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            warn!(
                folder,
                error = format!("{e:#}"),
                "could not append the sent copy"
            );
        }
    }
}

enum Attempt {
    Sent,
    Retry,
    SignIn(String),
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = StdDuration::from_secs(5);
        let max = StdDuration::from_secs(1800);
        for _ in 0..50 {
            let b1 = backoff(1, base, max).as_secs_f64();
            assert!((4.0..=6.0).contains(&b1), "{b1}");
            let b3 = backoff(3, base, max).as_secs_f64();
            assert!((16.0..=24.0).contains(&b3), "{b3}");
            assert!(backoff(40, base, max) <= max);
            assert!(backoff(40, base, max).as_secs_f64() >= 1800.0 * 0.8);
        }
    }
}
