//! Issue 14, "clean stops": `onit run` stops on SIGTERM within `ha.takeover_secs`
//! whatever happened to its stdout/stderr, and `log.format = "json"` writes one
//! JSON object per line. Maildir source, file transport, SQLite: no mail stack.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{onit_command, Db, Env, Mail};

const TAKEOVER_SECS: u64 = 5;

fn env() -> Env {
    let env = Env::new(
        Db::Sqlite,
        &format!("[ha]\ntakeover_secs = {TAKEOVER_SECS}\n"),
    );
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(env.maildir().join(sub)).unwrap();
    }
    env
}

/// Drops a client mail into the Maildir, so the daemon has something to log.
pub(crate) fn deliver(env: &Env, n: usize) {
    let m = Mail::new(
        "bob@acme.example",
        "support@jac.example",
        &format!("Printer {n} is on fire"),
        &format!("stop-{n}@acme.example"),
    );
    deliver_as(env, &format!("{n}.test:2,"), &m);
}

/// Delivers `m` into the Maildir as an MDA does: written in tmp/ as `name`,
/// then renamed into new/.
pub(crate) fn deliver_as(env: &Env, name: &str, m: &Mail) {
    std::fs::write(env.maildir().join("tmp").join(name), m.bytes()).unwrap();
    std::fs::rename(
        env.maildir().join("tmp").join(name),
        env.maildir().join("new").join(name),
    )
    .unwrap();
}

/// `onit run` with stdout and stderr on one pipe, once it says it is watching
/// the mailbox; the pipe's lines that follow.
pub(crate) fn start_run(env: &Env) -> (Child, std::io::Lines<BufReader<std::io::PipeReader>>) {
    let (reader, writer) = std::io::pipe().unwrap();
    let child = onit_command(env, &["run"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(writer.try_clone().unwrap()))
        .stderr(Stdio::from(writer))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader).lines();
    wait_for_line(&mut lines, "onit is watching the mailbox");
    (child, lines)
}

/// SIGTERM, then the exit status if it came within `limit`.
pub(crate) fn terminate(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Reads lines until one contains `what` (the daemon is up), or panics after 30 s.
pub(crate) fn wait_for_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    what: &str,
) -> Vec<String> {
    let started = Instant::now();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("reading the log");
        let done = line.contains(what);
        seen.push(line);
        if done {
            return seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no `{what}` in {seen:?}"
        );
    }
    panic!("the log ended before `{what}`: {seen:?}");
}

/// `onit run 2>&1 | head -3`: the reader goes away after the first lines, the
/// daemon goes on working (mail keeps arriving, lines keep failing), and SIGTERM
/// still stops it with exit 0 within ha.takeover_secs.
#[test]
fn sigterm_stops_run_whose_output_pipe_is_closed() {
    let env = env();
    let (mut child, lines) = start_run(&env);
    drop(lines); // the reader exits: every write from now on is EPIPE

    for n in 0..3 {
        deliver(&env, n);
    }
    // The daemon acknowledges them despite its log: logging never stops the work.
    let started = Instant::now();
    while env.sent_files().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of 3 acknowledged with a closed stderr",
            env.sent_files().len()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "onit run died on a closed stderr"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let limit = Duration::from_secs(TAKEOVER_SECS);
    let started = Instant::now();
    let status = terminate(&mut child, limit);
    let took = started.elapsed();
    eprintln!("closed pipe: stopped in {took:?} (status {status:?})");
    let status = status.unwrap_or_else(|| panic!("onit run did not stop within {limit:?}"));
    assert!(status.success(), "onit run exited with {status}");
}

/// `log.format = "json"`: every line on stderr is one JSON object with a level
/// and a message, from the start to the stop; the text format has no ANSI colour
/// when stderr is not a terminal.
#[test]
fn json_log_lines_each_parse_and_text_has_no_colour() {
    for format in ["json", "text"] {
        let env = env();
        std::fs::write(
            &env.config_path,
            std::fs::read_to_string(&env.config_path).unwrap()
                + &format!("[log]\nformat = \"{format}\"\n"),
        )
        .unwrap();
        let mut child = onit_command(&env, &["run"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = wait_for_line(&mut lines, "onit is watching the mailbox");
        deliver(&env, 1);
        seen.extend(wait_for_line(&mut lines, "ticket"));
        let status = terminate(&mut child, Duration::from_secs(TAKEOVER_SECS)).expect("stops");
        assert!(status.success());
        seen.extend(lines.map(|l| l.unwrap()));
        assert!(seen.iter().any(|l| l.contains("stopped")), "{seen:?}");
        for line in &seen {
            assert!(
                !line.contains('\u{1b}'),
                "ANSI escape in {format} log: {line:?}"
            );
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
                assert!(v["level"].is_string(), "{line}");
                assert!(v["fields"]["message"].is_string(), "{line}");
            }
        }
        assert!(seen.len() >= 4, "{format}: {seen:?}");
    }
}

/// `onit check-config | head -1`: the reader goes away after one line, and onit
/// ends quietly (SIGPIPE, as Unix tools do) instead of panicking on a closed stdout.
#[test]
fn a_printing_command_whose_reader_left_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let env = env();
    let mut child = onit_command(&env, &["check-config"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end before onit writes: every write it makes meets a closed pipe.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(
        status.success() || status.signal() == Some(libc_sigpipe()),
        "{status:?}: {err}"
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}
