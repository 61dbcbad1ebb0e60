//! The daemon's stop signal: a `watch` channel set to `true` on SIGTERM/SIGINT.
//!
//! A closed channel also means stop. The sender lives in the task that waits for
//! the signal (and, in the daemon, in its supervision, which asks for a stop
//! when a worker dies: `crate::supervision`); if the sender is dropped without
//! sending (it once panicked while logging to a closed stderr), `changed()`
//! fails at once forever and a loop that only checked the value would spin.
//! Every loop waits with [`requested`] and checks with [`is_requested`], which
//! both treat a closed channel as a stop.

use tokio::sync::watch;

/// Resolves once a stop is requested or the sender is gone; at once if already so.
pub async fn requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// True once a stop is requested or the sender is gone.
pub fn is_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_sender_is_a_stop() {
        let (tx, mut rx) = watch::channel(false);
        assert!(!is_requested(&rx));
        drop(tx);
        assert!(is_requested(&rx));
        tokio::time::timeout(std::time::Duration::from_secs(1), requested(&mut rx))
            .await
            .expect("resolves at once");
    }

    #[tokio::test]
    async fn a_sent_stop_is_seen_even_after_it_was_read() {
        let (tx, mut rx) = watch::channel(false);
        tx.send(true).unwrap();
        let _ = rx.borrow_and_update();
        assert!(is_requested(&rx));
        tokio::time::timeout(std::time::Duration::from_secs(1), requested(&mut rx))
            .await
            .expect("resolves at once");
        assert!(!tx.is_closed());
    }
}
