//! Issue 17: the Maildir source is woken by the kernel when mail is delivered
//! (src/mailstore/arrivals.rs), not only by its poll. With a poll of ten minutes,
//! each delivered client mail is still acknowledged within seconds, the second
//! one too, and a stop is still prompt; and a backlog's first mail is answered
//! before the rest of the backlog is stored. SQLite, file transport.

use std::time::{Duration, Instant};

use crate::clean_stop::{deliver, deliver_as, start_run, terminate};
use crate::common::{Base, Db, Env};

/// Far longer than the test waits: only the wake can explain an acknowledgment.
const POLL_SECS: u64 = 600;

fn wait_for_acks(env: &Env, n: usize, child: &mut std::process::Child) -> Duration {
    let started = Instant::now();
    while env.sent_files().len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {n} acknowledged within 60 s with a {POLL_SECS} s poll",
            env.sent_files().len()
        );
        assert!(child.try_wait().unwrap().is_none(), "onit run exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// `onit run` over an empty Maildir polled every `poll` seconds (SQLite, file
/// transport), its log drained so the daemon never blocks on a full pipe.
fn running_with_poll(poll: u64) -> (Env, std::process::Child) {
    let base = Base {
        poll_interval_secs: Some(poll),
        ..Base::default()
    };
    let env = Env::with(Db::Sqlite, &base, "[ha]\ntakeover_secs = 5\n");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(env.maildir().join(sub)).unwrap();
    }
    let (child, lines) = start_run(&env);
    std::thread::spawn(move || for _ in lines {});
    (env, child)
}

#[test]
fn delivered_mail_is_acknowledged_without_waiting_for_the_poll() {
    let (env, mut child) = running_with_poll(POLL_SECS);
    // The first round ran at start; from here on, only a wake or the poll reads new/.
    std::thread::sleep(Duration::from_millis(500));

    deliver(&env, 1);
    let first = wait_for_acks(&env, 1, &mut child);
    deliver(&env, 2);
    let second = wait_for_acks(&env, 2, &mut child);
    eprintln!("acknowledged in {first:?} and {second:?} (poll {POLL_SECS} s)");

    let status = terminate(&mut child, Duration::from_secs(5)).expect("stopped within 5 s");
    assert!(status.success(), "onit run exited with {status}");
}

/// When the file at `p` last changed: its data (`mtime`) or, with `inode`, its
/// inode (`ctime`: the move to cur/ sets it, by its rename and then the
/// restricted mode it gives the file), in nanoseconds.
fn changed_ns(p: &std::path::Path, inode: bool) -> i128 {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    let (s, ns) = match inode {
        true => (m.ctime(), m.ctime_nsec()),
        false => (m.mtime(), m.mtime_nsec()),
    };
    i128::from(s) * 1_000_000_000 + i128::from(ns)
}

/// A backlog's first client is answered while the rest of it is still being
/// stored: the source wakes the sender as each acknowledgment commits
/// (`daemon::maildir_pass`), not once the whole pass is over. Forty new
/// mails wait in new/ when `onit run` starts; the first acknowledgment must
/// be written before the last of them is moved to cur/ (which the source does
/// only after its commit). Before, every acknowledgment came after the pass.
#[test]
fn a_backlogs_first_acknowledgment_does_not_wait_for_the_rest_of_it() {
    const N: usize = 40;
    let env = Env::new(Db::Sqlite, "[ha]\ntakeover_secs = 5\n");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(env.maildir().join(sub)).unwrap();
    }
    for i in 0..N {
        // A sender each: the flood limits allow ten new tickets a sender an hour.
        let m = crate::common::Mail::new(
            &format!("client{i}@acme.example"),
            "support@jac.example",
            &format!("Outage {i}"),
            &format!("backlog-{i}@acme.example"),
        );
        deliver_as(&env, &format!("{i}.backlog:2,"), &m);
    }
    let (mut child, lines) = start_run(&env);
    std::thread::spawn(move || for _ in lines {});
    wait_for_acks(&env, N, &mut child);
    let status = terminate(&mut child, Duration::from_secs(5)).expect("stopped within 5 s");
    assert!(status.success(), "onit run exited with {status}");

    let first_ack = env
        .sent_files()
        .iter()
        .map(|p| changed_ns(p, false))
        .min()
        .unwrap();
    let stored: Vec<i128> = std::fs::read_dir(env.maildir().join("cur"))
        .unwrap()
        .map(|e| changed_ns(&e.unwrap().path(), true))
        .collect();
    assert_eq!(stored.len(), N, "every mail moved to cur/");
    let last_stored = *stored.iter().max().unwrap();
    assert!(
        first_ack < last_stored,
        "the first acknowledgment was written {:.3} ms after the last of {N} mails was stored",
        (first_ack - last_stored) as f64 / 1e6
    );
    eprintln!(
        "the first acknowledgment was written {:.1} ms before the last of {N} mails was stored",
        (last_stored - first_ack) as f64 / 1e6
    );
}

/// The last good pass of the Maildir (the heartbeat `/readyz` reads) of each
/// second of `secs`, in ms since the epoch.
fn heartbeats(env: &Env, secs: u64) -> Vec<Option<i64>> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = env.store().await;
        let mut seen = Vec::new();
        for _ in 0..secs * 4 {
            let states = store.folder_states().await.unwrap();
            seen.push(
                states
                    .iter()
                    .find(|s| s.account == onit::health::MAILDIR_ACCOUNT)
                    .and_then(|s| s.last_sync_at),
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        seen
    })
}

/// An idle daemon does not write its database at every poll
/// (`pass_record`): with a 1 s poll its passes' heartbeat is written once per
/// half readiness window (6.5 s), not every second as before, and `/readyz`
/// still never finds it stale. The first pass is recorded at once.
#[test]
fn an_idle_maildir_records_its_passes_once_per_half_readiness_window() {
    let (env, mut child) = running_with_poll(1);
    // Fifteen seconds of one-second passes: fifteen writes before, now two or three.
    let seen = heartbeats(&env, 15);
    let status = terminate(&mut child, Duration::from_secs(5)).expect("stopped within 5 s");
    assert!(status.success(), "onit run exited with {status}");
    let first = seen
        .iter()
        .position(Option::is_some)
        .expect("a pass recorded");
    assert!(first <= 8, "the first pass recorded within 2 s: {seen:?}");
    let mut written: Vec<i64> = seen.iter().flatten().copied().collect();
    written.dedup();
    assert!(
        (2..=4).contains(&written.len()),
        "one record per 6.5 s over 15 s of 1 s passes: {written:?}"
    );
    for w in written.windows(2) {
        assert!(
            w[1] - w[0] >= 6_000 && w[1] - w[0] <= 13_000,
            "records {} ms apart (half the 13 s window, and within it): {written:?}",
            w[1] - w[0]
        );
    }
}
