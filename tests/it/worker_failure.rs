//! A worker of `onit run` that panics stops the daemon with an error naming it
//! (exit status 1, which the systemd unit restarts; 2, a bad configuration, it
//! does not), instead of leaving it up with the source still queueing
//! acknowledgments that no sender sends. Started again, the daemon sends what
//! the dead sender had claimed, once. The panic is a real one, in the sender's
//! task (`ONIT_FAULT=panic:outbox-after-claim`); Maildir source, file
//! transport, SQLite. The same for an IMAP folder's worker, over Dovecot.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::clean_stop::{deliver, terminate};
use crate::common::{onit_command, Db, Env};

/// `onit run` with its log in `log`, once it says it is watching the mailbox.
fn start(env: &Env, log: &std::path::Path, fault: Option<&str>) -> Child {
    let file = std::fs::File::create(log).unwrap();
    let mut cmd = onit_command(env, &["run"]);
    cmd.env("RUST_LOG", "info")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file));
    if let Some(f) = fault {
        cmd.env("ONIT_FAULT", f);
    }
    let child = cmd.spawn().unwrap();
    wait_until(Duration::from_secs(30), "the daemon started", || {
        read(log).contains("onit is watching the mailbox")
    });
    child
}

fn read(log: &std::path::Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_panicking_sender_stops_the_daemon_for_a_restart_that_sends_once() {
    let env = Env::new(Db::Sqlite, "[ha]\ntakeover_secs = 4\n");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(env.maildir().join(sub)).unwrap();
    }
    let first_log = env.maildir().with_file_name("first.log");
    let mut first = start(&env, &first_log, Some("panic:outbox-after-claim"));
    deliver(&env, 1);

    // The sender panics once it has claimed the acknowledgment: the daemon
    // stops by itself, within the stop's budget, with an error that names it.
    let started = Instant::now();
    let status = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = first.kill();
            panic!(
                "onit run stayed up with its sender dead:\n{}",
                read(&first_log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = read(&first_log);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("ONIT_FAULT=panic:outbox-after-claim"),
        "the panic is the fault's: {log}"
    );
    assert!(
        log.contains("the sender worker panicked"),
        "the error names the worker: {log}"
    );
    assert!(
        env.sent_files().is_empty(),
        "claimed, never sent: {:?}",
        env.sent_files()
    );
    // The mail was stored before the panic: not left in new/ for a second ticket.
    assert_eq!(
        std::fs::read_dir(env.maildir().join("new"))
            .unwrap()
            .count(),
        0,
        "{log}"
    );

    // Started again (what systemd's Restart=on-failure does): the claimed
    // acknowledgment goes out, once.
    let second_log = env.maildir().with_file_name("second.log");
    let mut second = start(&env, &second_log, None);
    wait_until(Duration::from_secs(20), "the acknowledgment sent", || {
        env.sent_files().len() == 1
    });
    // A second copy, if any, would be written within this.
    std::thread::sleep(Duration::from_secs(2));
    let stopped = terminate(&mut second, Duration::from_secs(10));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "{stopped:?}\n{}",
        read(&second_log)
    );
    assert_eq!(env.sent_files().len(), 1, "{}", read(&second_log));
}

/// The same over IMAP (Dovecot): a folder's worker that panics before its
/// message commits takes the mailbox source, and so the daemon, down with it
/// (before, the other tasks ran on with that folder unread); started again,
/// onit fetches the message it had not stored and makes it one ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_imap_folder_worker_stops_the_daemon_and_loses_nothing() {
    use crate::imap::{client_writes, eventually, Live};
    use crate::mailstack::{self, Server};

    let stack = mailstack::shared_on(Server::Dovecot);
    let live = Live::new(stack, Db::Sqlite, &["INBOX"], false);
    let mut dying = live.spawn_with(&[("ONIT_FAULT", "panic:imap-before-commit")]);
    let store = live.store().await;
    client_writes(stack, &live, "Database down", "db1@client.example").await;
    let status = dying.wait_exit(Duration::from_secs(30));
    let log = live.log();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "onit run did not stop with an error: {status:?}\n{log}"
    );
    assert!(
        log.contains("the mailbox source worker panicked")
            && log.contains("ONIT_FAULT=panic:imap-before-commit"),
        "{log}"
    );
    assert!(
        store.tickets().await.unwrap().is_empty(),
        "panicked before its commit"
    );

    let again = live.spawn();
    eventually(Duration::from_secs(30), "the ticket", || async {
        store.tickets().await.is_ok_and(|t| t.len() == 1)
    })
    .await;
    // A second ticket, if any, is on its way within this.
    tokio::time::sleep(Duration::from_secs(2)).await;
    live.terminate(again);
    assert_eq!(store.tickets().await.unwrap().len(), 1, "{}", live.log());
}
