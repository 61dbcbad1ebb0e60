//! Where the log lines go: stderr, through a writer that can neither panic nor
//! block the daemon.
//!
//! stderr is not ours to trust: `onit run | head` closes the pipe, a journald
//! restart closes the service's stdout/stderr, a full disk refuses the write, a
//! stuck reader leaves the pipe full. tracing-subscriber's own writer reports a
//! failed write with `eprint!`, which panics on the same broken stderr (that
//! panic once killed the shutdown task before it could send the stop). So each
//! formatted event is handed to one logging thread through a bounded queue: the
//! thread writes and ignores every error, and when it cannot keep up the event
//! is dropped and counted, never waited for.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::config::LogFormat;

/// Events that may wait for the logging thread; more are dropped.
const QUEUE: usize = 4096;

enum Job {
    Line(Vec<u8>),
    /// Acknowledged once every line queued before it has been written (or failed).
    Flush(SyncSender<()>),
}

/// The sending side of the logging thread's queue.
#[derive(Clone)]
pub struct Sink {
    tx: SyncSender<Job>,
    dropped: Arc<AtomicU64>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

impl Sink {
    /// Starts a logging thread that writes to `out`, ignoring every write error.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> std::io::Result<Sink> {
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        std::thread::Builder::new()
            .name("onit-log".into())
            .spawn(move || write_lines(rx, out, &counter))?;
        Ok(Sink { tx, dropped })
    }

    /// Log events dropped so far because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `limit` for the queued lines to be written; false if they were not.
    pub fn flush(&self, limit: Duration) -> bool {
        let (ack_tx, ack_rx) = sync_channel(1);
        if self.tx.try_send(Job::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv_timeout(limit).is_ok()
    }
}

fn write_lines<W: Write>(rx: Receiver<Job>, mut out: W, dropped: &AtomicU64) {
    let mut reported = 0;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(Job::Line(line)) => {
                let now = dropped.load(Ordering::Relaxed);
                if now > reported {
                    // Say so once the writer is back, so a gap in the log is visible.
                    let _ = writeln!(
                        out,
                        "onit: {} log line(s) dropped: stderr could not keep up",
                        now - reported
                    );
                    reported = now;
                }
                let _ = out.write_all(&line);
            }
            Ok(Job::Flush(ack)) => {
                let _ = out.flush();
                let _ = ack.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One event's writer for tracing-subscriber: it never fails and never blocks.
pub struct EventWriter<'a>(&'a Sink);

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.tx.try_send(Job::Line(buf.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = EventWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(self)
    }
}

/// Installs the global subscriber: `RUST_LOG` (default `info`, with PostgreSQL's
/// notices at `warn`: every command's migration check made the server say
/// `relation "_sqlx_migrations" already exists, skipping`), text or one JSON
/// object per line, ANSI colour only when stderr is a terminal. Whatever
/// `RUST_LOG` says, the protocol traces that print credentials stay off
/// ([`prints_credentials`]).
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{filter, EnvFilter};
    let Ok(sink) = Sink::spawn(std::io::stderr()) else {
        return; // no thread, no logs; the daemon still runs
    };
    let _ = SINK.set(sink.clone());
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let no_credentials =
        filter::filter_fn(|meta| !prints_credentials(meta.target(), *meta.level()));
    let layer = tracing_subscriber::fmt::layer()
        // Colour only for a person at a terminal (and never with NO_COLOR set).
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .log_internal_errors(false)
        .with_writer(sink);
    let registry = tracing_subscriber::registry()
        .with(env)
        .with(no_credentials);
    let _ = match format {
        LogFormat::Json => registry.with(layer.json()).try_init(),
        LogFormat::Text => registry.with(layer).try_init(),
    };
}

/// What is logged when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// True for the log events that would print a password or a token: async-imap
/// traces every command it sends (`encode: input: … LOGIN "user" "password"`,
/// and the base64 XOAUTH2 response that carries the access token) at TRACE in
/// `async_imap::imap_stream`. Its other levels, and lettre (built without its
/// `tracing` feature: it logs nothing) print none; onit's own secrets are
/// [`crate::secret::Secret`]s. The whole TRACE level of async-imap is kept off,
/// not only that module, so a moved `trace!` upstream cannot bring it back.
pub fn prints_credentials(target: &str, level: tracing::Level) -> bool {
    level == tracing::Level::TRACE && (target == "async_imap" || target.starts_with("async_imap::"))
}

/// Before the process exits: gives the logging thread up to `limit` to write what is queued.
pub fn flush(limit: Duration) {
    if let Some(sink) = SINK.get() {
        sink.flush(limit);
    }
}

/// Writes a line to stderr for the command line's last word (an error), ignoring
/// failure: `eprintln!` would panic on a closed stderr.
pub fn last_words(line: &str) {
    flush(Duration::from_millis(500));
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write, like a closed pipe.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
    }

    /// A writer that blocks until the test ends, like a reader that stopped reading.
    struct Stuck(std::sync::mpsc::Receiver<()>);
    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_imap_command_trace_is_never_logged() {
        use tracing::Level;
        assert!(prints_credentials("async_imap::imap_stream", Level::TRACE));
        assert!(prints_credentials("async_imap", Level::TRACE));
        assert!(!prints_credentials("async_imap::imap_stream", Level::DEBUG));
        assert!(!prints_credentials("async_imapx", Level::TRACE));
        assert!(!prints_credentials("onit::imap::sync", Level::TRACE));
    }

    #[test]
    fn a_broken_writer_swallows_errors() {
        let sink = Sink::spawn(Broken).unwrap();
        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&sink);
        for _ in 0..10 {
            assert_eq!(w.write(b"line\n").unwrap(), 5);
        }
        assert!(
            sink.flush(Duration::from_secs(5)),
            "the thread goes on after errors"
        );
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn a_stuck_writer_drops_events_instead_of_blocking() {
        let (release, rx) = std::sync::mpsc::channel();
        let sink = Sink::spawn(Stuck(rx)).unwrap();
        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&sink);
        let started = std::time::Instant::now();
        for _ in 0..QUEUE + 100 {
            w.write_all(b"line\n").unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "writing never waits"
        );
        assert!(sink.dropped() >= 99, "dropped {}", sink.dropped());
        assert!(
            !sink.flush(Duration::from_millis(50)),
            "a stuck writer cannot flush"
        );
        drop(release);
    }
}
