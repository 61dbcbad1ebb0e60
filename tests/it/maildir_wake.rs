//! Issue 17: the Maildir source is woken by the kernel when mail is delivered
//! (src/mailstore/arrivals.rs), not only by its poll. With a poll of ten minutes,
//! each delivered client mail is still acknowledged within seconds, the second
//! one too, and a stop is still prompt. SQLite, file transport.

use std::time::{Duration, Instant};

use crate::clean_stop::{deliver, start_run, terminate};
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

#[test]
fn delivered_mail_is_acknowledged_without_waiting_for_the_poll() {
    let base = Base {
        poll_interval_secs: Some(POLL_SECS),
        ..Base::default()
    };
    let env = Env::with(Db::Sqlite, &base, "[ha]\ntakeover_secs = 5\n");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(env.maildir().join(sub)).unwrap();
    }
    let (mut child, lines) = start_run(&env);
    // The log is drained so the daemon never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
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
