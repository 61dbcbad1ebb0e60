//! The daemon's workers (the mailbox source, the sender, the scheduler, …),
//! watched until they stop.
//!
//! Each worker runs until a stop is asked for. One that ends before then (a
//! panic: a bug, or a library's assertion) used to leave the daemon up doing
//! part of its job: with the sender dead, the source still stored mail and
//! queued acknowledgments that never left, and nothing but the panic's one
//! line said so. Now such an end asks the others to stop (each finishes the
//! message in hand) and `onit run` exits with an error naming the worker, so
//! that its supervisor starts it again (the systemd unit: `Restart=on-failure`);
//! a new start resumes everything from the database, as after any crash.

use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tracing::{error, info, warn};

/// Waits for every worker to end. A worker that panics, or ends while no stop
/// was asked for, asks the others to stop (through `stop`) and makes the
/// result an error naming it. Once a stop is asked for, workers still running
/// after `grace` are abandoned (a crash as far as the data goes, and every
/// crash is recoverable).
pub async fn supervise(
    workers: Vec<(&'static str, JoinHandle<()>)>,
    stop: &watch::Sender<bool>,
    grace: Duration,
) -> Result<()> {
    let mut running = tokio::task::JoinSet::new();
    for (name, handle) in workers {
        running.spawn(async move { (name, handle.await) });
    }
    let mut asked = stop.subscribe();
    let deadline = async {
        crate::stop::requested(&mut asked).await;
        tokio::time::sleep(grace).await;
    };
    tokio::pin!(deadline);
    let mut failed: Option<String> = None;
    loop {
        tokio::select! {
            next = running.join_next() => {
                let Some(next) = next else { break };
                // The wrapper only awaits its handle: it cannot panic itself.
                let Ok((name, ended)) = next else { continue };
                let stopping = *stop.borrow();
                let why = match ended {
                    Ok(()) if stopping => continue,
                    Ok(()) => "ended on its own".to_string(),
                    Err(e) => why_it_failed(e),
                };
                error!(
                    worker = name,
                    "a worker {why}; stopping the others so that onit can be started again"
                );
                failed.get_or_insert_with(|| format!("the {name} worker {why}"));
                let _ = stop.send(true);
            }
            _ = &mut deadline => {
                warn!(?grace, "a worker did not stop in time; exiting without it");
                break;
            }
        }
    }
    match failed {
        Some(f) => Err(anyhow!(
            "{f}: onit stopped so that its supervisor starts it again"
        )),
        None => {
            info!("stopped");
            Ok(())
        }
    }
}

/// "panicked: <message>", or why else the task ended.
fn why_it_failed(e: JoinError) -> String {
    if !e.is_panic() {
        return format!("was cancelled ({e})");
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    format!("panicked: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker that runs until the stop, as the daemon's do.
    fn until_stop(stop: &watch::Sender<bool>) -> JoinHandle<()> {
        let mut rx = stop.subscribe();
        tokio::spawn(async move { crate::stop::requested(&mut rx).await })
    }

    #[tokio::test]
    async fn a_panicking_worker_stops_the_others_and_names_itself() {
        let (stop, _rx) = watch::channel(false);
        let other = until_stop(&stop);
        let sender = tokio::spawn(async { panic!("tried to clone a closed span") });
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            supervise(
                vec![("source", other), ("sender", sender)],
                &stop,
                Duration::from_secs(5),
            ),
        )
        .await
        .expect("the others stopped: the supervision ended");
        let e = format!("{:#}", r.unwrap_err());
        assert!(
            e.contains("the sender worker panicked: tried to clone a closed span"),
            "{e}"
        );
        assert!(*stop.borrow(), "the stop was asked for");
    }

    #[tokio::test]
    async fn a_worker_that_returns_before_the_stop_is_a_failure_too() {
        let (stop, _rx) = watch::channel(false);
        let other = until_stop(&stop);
        let quitter = tokio::spawn(async {});
        let r = supervise(
            vec![("scheduler", quitter), ("sender", other)],
            &stop,
            Duration::from_secs(5),
        )
        .await;
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("the scheduler worker ended on its own"), "{e}");
    }

    #[tokio::test]
    async fn an_asked_for_stop_ends_cleanly() {
        let (stop, _rx) = watch::channel(false);
        let workers = vec![("source", until_stop(&stop)), ("sender", until_stop(&stop))];
        stop.send(true).unwrap();
        supervise(workers, &stop, Duration::from_secs(5))
            .await
            .expect("an ordinary stop is no error");
    }

    #[tokio::test]
    async fn a_worker_that_ignores_the_stop_is_left_after_the_grace() {
        let (stop, _rx) = watch::channel(false);
        let stuck = tokio::spawn(std::future::pending::<()>());
        stop.send(true).unwrap();
        let started = std::time::Instant::now();
        supervise(vec![("stuck", stuck)], &stop, Duration::from_millis(200))
            .await
            .expect("abandoned, not failed");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
