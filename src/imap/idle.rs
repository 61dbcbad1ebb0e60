//! Waiting for new mail: IDLE where the server offers it (re-issued before
//! servers drop it: RFC 2177 lets them after 30 minutes, NATs often sooner),
//! NOOP polling where it does not.

use std::time::Duration;

use anyhow::{anyhow, Result};
use async_imap::extensions::idle::IdleResponse;
use tokio::sync::watch;

use super::connect::{timed, ImapSession};
use super::sync::drain_unsolicited;

/// Why waiting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// The server reported a change (or might have): sync now.
    Changed,
    /// The renew interval passed quietly.
    Renew,
    /// onit is stopping.
    Stop,
}

/// Waits in IDLE for at most `renew`, returning the session for the next command.
pub async fn idle(
    mut session: ImapSession,
    renew: Duration,
    cmd_timeout: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(ImapSession, Woke)> {
    // An EXISTS queued before IDLE would not be repeated in it: sync first.
    if drain_unsolicited(&mut session) {
        return Ok((session, Woke::Changed));
    }
    let mut handle = session.idle();
    timed(cmd_timeout, "IDLE", handle.init()).await?;
    let woke = {
        let (fut, interrupt) = handle.wait_with_timeout(renew);
        tokio::pin!(fut);
        tokio::select! {
            r = &mut fut => match r.map_err(|e| anyhow!("IDLE: {e}"))? {
                IdleResponse::NewData(_) => Woke::Changed,
                IdleResponse::Timeout => Woke::Renew,
                // The stream ended: the server closed the connection. DONE below fails and the caller reconnects.
                IdleResponse::ManualInterrupt => Woke::Changed,
            },
            _ = crate::stop::requested(stop) => {
                drop(interrupt);
                let _ = tokio::time::timeout(cmd_timeout, fut).await;
                Woke::Stop
            }
        }
    };
    let mut session = timed(cmd_timeout, "DONE", handle.done()).await?;
    // EXISTS that arrived while IDLE was starting lands in the unsolicited queue, not in
    // the wait: treat it as a change too, or new mail would wait for the next renew.
    let queued = drain_unsolicited(&mut session);
    Ok((
        session,
        if woke == Woke::Renew && queued {
            Woke::Changed
        } else {
            woke
        },
    ))
}

/// Without IDLE: sleep for the poll interval (or until stopped), then NOOP to keep the session alive.
pub async fn poll(
    mut session: ImapSession,
    interval: Duration,
    cmd_timeout: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(ImapSession, Woke)> {
    tokio::select! {
        _ = tokio::time::sleep(interval) => {}
        _ = crate::stop::requested(stop) => return Ok((session, Woke::Stop)),
    }
    timed(cmd_timeout, "NOOP", session.noop()).await?;
    drain_unsolicited(&mut session);
    Ok((session, Woke::Changed))
}
