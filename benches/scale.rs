//! `cargo bench --bench scale`: what onit costs over a long history (issue 17).
//!
//! For each size (10,000, 100,000 and 1,000,000 tickets by default) and each
//! database (SQLite, and PostgreSQL when a server answers on 127.0.0.1:5432) it
//! builds a database of mostly closed tickets (1 % open, the newest), each with
//! the client's message, our acknowledgment, an engineer's update (both contacts,
//! the update with a promise), its events and a participant, and each message's
//! text; the messages of the last 30 days' tickets (every open one among them)
//! also carry the mail as received, `ONIT_SCALE_RAW_BYTES` bytes (12,000: a
//! short mail with its HTML part). The outbox holds what was sent: each
//! ticket's acknowledgment (1,100 bytes) and each closed ticket's incident
//! report (4,000 bytes; `ONIT_SCALE_OUTBOX=0` leaves the outbox empty). The
//! rows are generated in SQL. Then it reports:
//!
//! - a reminder pass (`reminders::tick`: the due pass, then what is due within the
//!   horizon): the first (it re-evaluates every open ticket, as after the
//!   migration) and the median of the next five;
//! - `onit compliance --since` one week, and without `--since` (every history:
//!   what the reminder pass, the gauge and the digests used to load);
//! - a daily digest (inputs loaded for its period, built for every PM);
//! - `onit status`, the command run as an operator runs it;
//! - the old reminder pass's core for comparison: every open history evaluated;
//! - `onit import` of further mails (one new ticket each, multipart text + HTML),
//!   the command run as an operator runs it, timed from its start to its exit;
//! - acknowledgment latency of one new mail through `onit run` with the Maildir
//!   source (from the mail's rename into `new/` to its acknowledgment's rename
//!   into the file transport's folder, seen by inotify), probed in turn with a
//!   second `onit run` over an empty database of the same kind: the median of
//!   each and of the rounds' ratios over `ONIT_SCALE_PROBES` rounds (15),
//!   once the first run's catch-up (a reminder for each overdue open ticket)
//!   is sent and at least `ONIT_SCALE_SETTLE_SECS` (10) after the daemons
//!   start, then the idle
//!   `onit run`'s resident memory and CPU over `ONIT_SCALE_IDLE_SECS` (300 by default);
//!   on SQLite also what each daemon read from storage during its probes
//!   (`read_bytes` of `/proc/PID/io`: pages in neither SQLite's cache nor the
//!   kernel's), and the ratio of the rounds in which neither read anything, so
//!   that a gap from the disk and one from the CPU can be told apart.
//!
//! Knobs: `ONIT_SCALE_SIZES=10000,100000`, `ONIT_SCALE_DBS=sqlite,postgres`,
//! `ONIT_SCALE_IMPORT=10000`, `ONIT_SCALE_IDLE_SECS=300`, `ONIT_SCALE_SETTLE_SECS=10`, `ONIT_SCALE_PROBES=15`, `ONIT_SCALE_FULL_MAX`
//! (largest size for which compliance without `--since` is timed; 100,000),
//! `ONIT_SCALE_BIN` (another `onit` binary to measure), `ONIT_SCALE_VERBOSE=1` (each
//! latency round's two probes), `ONIT_SCALE_NOW` (the
//! instant of the passes, RFC 3339; the clock's by default), `ONIT_SCALE_KEEP=1` (keep
//! each database and its configuration, printed, to run commands over it).
//! The machine is shared and noisy: medians, and the run's own figures only.

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};

const SUPPORT: &str = "support@jac.example";

fn env_num(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

fn sizes() -> Vec<i64> {
    std::env::var("ONIT_SCALE_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

fn write_config(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("onit.toml");
    let body = format!(
        r#"[database]
url = "{url}"
[mailbox]
maildir = "{md}"
poll_interval_secs = 1
[outgoing]
transport = "file"
dir = "{out}"
from = "{SUPPORT}"
[team]
domains = ["jac.example"]
engineers = ["contractor@freelance.example"]
support_addresses = ["{SUPPORT}"]
default_pm = "pm@jac.example"
[[projects]]
name = "acme"
client_domains = ["acme.example"]
pm = "alice.pm@jac.example"
[[projects]]
name = "globex"
client_domains = ["globex.example"]
pm = "bob.pm@jac.example"
[calendar]
timezone = "Europe/London"
[trust]
# The latency probes are unsigned local mail: acknowledged without proof of the
# sender (with "authenticated" every acknowledgment would wait for a person).
acknowledge = "any"
"#,
        md = dir.join("Maildir").display(),
        out = dir.join("out").display(),
    );
    for sub in ["Maildir/new", "Maildir/cur", "Maildir/tmp", "out"] {
        std::fs::create_dir_all(dir.join(sub)).expect("bench dirs");
    }
    std::fs::write(&path, body).expect("write config");
    path
}

/// The generated history: `n` tickets opened evenly over three years up to `now`,
/// the newest 1 % open. One SQL text per table for both databases.
const GEN_TICKETS: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
    INSERT INTO tickets (number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, last_contact_at, next_due_at, next_due_rule, closed_at, opening_message_id) \
    SELECT i, 'JAC', 'Problem ' || i, 'problem ' || i, 'client' || (i % 500) || CASE WHEN i % 2 = 0 THEN '@acme.example' ELSE '@globex.example' END, \
      CASE WHEN i % 2 = 0 THEN 'acme' ELSE 'globex' END, CASE WHEN i % 2 = 0 THEN 'alice.pm@jac.example' ELSE 'bob.pm@jac.example' END, \
      CASE WHEN i % 10 = 0 THEN 'urgent' WHEN i % 5 = 0 THEN 'high' ELSE 'medium' END, 'generated', \
      CASE WHEN i > $4 THEN 'open' ELSE 'closed' END, $2 - ($1 - i) * $3, $2 - ($1 - i) * $3 + 7200000, \
      CASE WHEN i > $4 THEN 0 ELSE NULL END, CASE WHEN i > $4 THEN 'eod-update' ELSE NULL END, \
      CASE WHEN i > $4 THEN NULL ELSE $2 - ($1 - i) * $3 + 172800000 END, 'c' || i || '@acme.example' FROM n";

const GEN_MESSAGES: [&str; 3] = [
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin) \
     SELECT 'c' || number || '@acme.example', id, 'client', reporter, 'support@jac.example', '', subject, opened_at, opened_at, opened_at, '', '', 'bench' FROM tickets",
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind, promise_at, promise_text) \
     SELECT 'a' || number || '@jac.example', id, 'acknowledgment', 'support@jac.example', reporter, pm, 'Re: ' || subject, opened_at + 30000, opened_at + 30000, opened_at + 30000, 'c' || number || '@acme.example', '', 'outbox', opened_at + 30000, 'acknowledgment', opened_at + 3600000, 'Next update: within the hour' FROM tickets",
    "INSERT INTO messages (message_id, ticket_id, class, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind, promise_at, promise_text) \
     SELECT 'u' || number || '@jac.example', id, 'contact', 'dan@jac.example', reporter, 'support@jac.example, ' || pm, 'Re: ' || subject, opened_at + 7200000, opened_at + 7200000, opened_at + 7200000, 'a' || number || '@jac.example', '', 'bench', opened_at + 7200000, 'update', opened_at + 86400000, 'next update tomorrow' FROM tickets",
];

/// Each message's text, and for the tickets opened in the last 30 days before
/// `$1` (every open ticket among them) `$2` bytes of the mail as received:
/// the rows the digests, the compliance report and the due times read are
/// those of mail that real clients wrote, not empty ones. SQLite keeps them in
/// `message_content` (migration 0019): added after the rows, random bytes.
const GEN_CONTENT_SQLITE: &str = "INSERT INTO message_content (id, body, raw) SELECT m.id, \
       CASE m.class WHEN 'client' THEN 'Something is broken, please help.' WHEN 'acknowledgment' THEN 'We are on it.' ELSE 'We found the cause. Next update tomorrow.' END, \
       CASE WHEN t.opened_at >= $1 - 2592000000 THEN randomblob($2) END \
     FROM messages m JOIN tickets t ON t.id = m.ticket_id";

/// PostgreSQL keeps them in the message's row: [`GEN_MESSAGES`] with the two
/// columns added, the bytes SHA-512 digests of the ticket's number and a
/// counter, which do not compress, so PostgreSQL keeps them out of line
/// (TOAST), as it does real mail (a repeated digest compressed to a few
/// hundred bytes and stayed in the row: rows larger than a real history's).
fn gen_messages_postgres(sql: &str, k: usize) -> String {
    const TEXT: [&str; 3] = [
        "Something is broken, please help.",
        "We are on it.",
        "We found the cause. Next update tomorrow.",
    ];
    let raw = "CASE WHEN opened_at >= $1 - 2592000000 THEN \
        (SELECT string_agg(sha512(int8send(number * 1000 + g)), ''::bytea) FROM generate_series(1, ($2::int + 63) / 64) g) END";
    sql.replacen(") SELECT", ", body, raw) SELECT", 1).replacen(
        " FROM tickets",
        &format!(", '{}', {raw} FROM tickets", TEXT[k]),
        1,
    )
}

const GEN_REST: [&str; 4] = [
    "INSERT INTO events (ticket_id, at, kind, actor, message_id, detail) SELECT id, opened_at, 'opened', reporter, opening_message_id, 'opened from ' || reporter FROM tickets",
    "INSERT INTO events (ticket_id, at, kind, actor, message_id, detail) SELECT id, opened_at + 7200000, 'contact', 'dan@jac.example', 'u' || number || '@jac.example', 'contact to ' || reporter FROM tickets",
    "INSERT INTO events (ticket_id, at, kind, actor, detail, status) SELECT id, closed_at, 'status', 'dan@jac.example', 'closed', 'closed' FROM tickets WHERE status = 'closed'",
    "INSERT INTO ticket_participants (ticket_id, address) SELECT id, reporter FROM tickets",
];

/// What was sent over the history, as the outbox keeps it: an acknowledgment
/// for every ticket (`ONIT_SCALE_ACK_BYTES`, 1,100: ours are about 1.1 KB)
/// and an incident report for every closed one (`ONIT_SCALE_REPORT_BYTES`,
/// 4,000), both sent, the size bound as `$1`. Without them the outbox held
/// only the first run's reminders: every index an acknowledgment enters there
/// was a few thousand entries deep, not millions, and no mail sent before
/// was stored. `{BYTES}`: see [`gen_outbox`].
const GEN_OUTBOX: [&str; 2] = [
    "INSERT INTO outbox (kind, dedupe_key, ticket_id, message_id, mail_from, to_addr, rcpt_to, raw, status, attempts, created_at, next_attempt_at, attempt_started_at, sent_at, claimed_by, rate_key, rate_domain) \
     SELECT 'ack', 'ack:' || id, id, 'a' || number || '@jac.example', 'support@jac.example', reporter, reporter, {BYTES}, 'sent', 1, \
       opened_at + 30000, opened_at + 30000, opened_at + 30500, opened_at + 31000, 'bench', reporter, \
       CASE WHEN reporter LIKE '%@acme.example' THEN 'acme.example' ELSE 'globex.example' END FROM tickets",
    "INSERT INTO outbox (kind, dedupe_key, ticket_id, message_id, mail_from, to_addr, rcpt_to, raw, status, attempts, created_at, next_attempt_at, attempt_started_at, sent_at, claimed_by, rate_key, rate_domain) \
     SELECT 'report', 'report:r' || number || '@jac.example', id, 'r' || number || '@jac.example', 'support@jac.example', pm, pm, {BYTES}, 'sent', 1, \
       closed_at, closed_at, closed_at + 500, closed_at + 1000, 'bench', pm, 'jac.example' FROM tickets WHERE status = 'closed'",
];

/// `GEN_OUTBOX[k]` on `store`'s database: random bytes on SQLite; on
/// PostgreSQL SHA-512 digests, computed once per statement (a value is
/// compressed on its own, so the same incompressible bytes in every row are
/// stored, and kept out of line, as different mail would be).
fn gen_outbox(store: &onit::store::Store, k: usize) -> String {
    let bytes = match store {
        onit::store::Store::Sqlite { .. } => "randomblob($1)",
        onit::store::Store::Postgres(_) => {
            "(SELECT string_agg(sha512(int8send(g)), ''::bytea) FROM generate_series(1, ($1::int + 63) / 64) g)"
        }
    };
    GEN_OUTBOX[k].replace("{BYTES}", bytes)
}

async fn exec_both(store: &onit::store::Store, sql: &str, binds: &[i64]) {
    match store {
        onit::store::Store::Sqlite { writer, .. } => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(writer).await.expect(sql);
        }
        onit::store::Store::Postgres(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(p).await.expect(sql);
        }
    }
}

async fn generate(store: &onit::store::Store, n: i64, now: DateTime<Utc>) -> f64 {
    let t = Instant::now();
    let span = Duration::days(3 * 365).num_milliseconds() / n.max(1);
    let open_from = n - n / 100;
    exec_both(
        store,
        GEN_TICKETS,
        &[n, now.timestamp_millis() - 3_600_000, span, open_from],
    )
    .await;
    let content = [
        now.timestamp_millis(),
        env_num("ONIT_SCALE_RAW_BYTES", 12_000) as i64,
    ];
    for (k, sql) in GEN_MESSAGES.into_iter().enumerate() {
        match store {
            onit::store::Store::Sqlite { .. } => exec_both(store, sql, &[]).await,
            onit::store::Store::Postgres(_) => {
                exec_both(store, &gen_messages_postgres(sql, k), &content).await
            }
        }
    }
    if let onit::store::Store::Sqlite { .. } = store {
        exec_both(store, GEN_CONTENT_SQLITE, &content).await;
    }
    for sql in GEN_REST {
        exec_both(store, sql, &[]).await;
    }
    if env_num("ONIT_SCALE_OUTBOX", 1) == 1 {
        let sizes = [
            env_num("ONIT_SCALE_ACK_BYTES", 1_100) as i64,
            env_num("ONIT_SCALE_REPORT_BYTES", 4_000) as i64,
        ];
        for (k, size) in sizes.into_iter().enumerate() {
            exec_both(store, &gen_outbox(store, k), &[size]).await;
        }
    }
    // PostgreSQL's autovacuum analyses a table that grew: the rows written at
    // once here get their statistics now. A SQLite database gets none (onit never
    // runs ANALYZE), so none here: with statistics, SQLite (built with STAT4)
    // prepares again every statement that compares a bound value with an indexed
    // column each time its values change, which made `onit import` over this
    // history 40 % slower (2.25–2.42 s against 1.65 s for 10,000 mails).
    if let onit::store::Store::Postgres(p) = store {
        sqlx::query("ANALYZE").execute(p).await.expect("analyze");
    }
    t.elapsed().as_secs_f64()
}

/// `n` new client mails (multipart text + HTML, one new ticket each) as an mbox.
fn mails(path: &Path, n: u64, base: DateTime<Utc>) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("mbox"));
    for i in 0..n {
        let when = base + Duration::seconds(i as i64 * 7);
        let from = format!("newclient{}@acme.example", i % 700);
        let _ = write!(
            w,
            "From {from} {date}\nFrom: Client {i} <{from}>\nTo: {SUPPORT}\nSubject: New problem {i} with the export\n\
             Message-ID: <new{i}.{ts}@acme.example>\nDate: {rfc}\nMIME-Version: 1.0\n\
             Content-Type: multipart/alternative; boundary=\"b{i}\"\n\n--b{i}\nContent-Type: text/plain; charset=utf-8\n\n\
             Hello,\n\nthe export of order {i} fails since this morning with error 500.\nCould you have a look?\n\nThanks,\nClient {i}\n\n\
             --b{i}\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>Hello,</p><p>the export of order {i} fails since this morning \
             with error 500.<br>Could you have a look?</p><p>Thanks,<br>Client {i}</p></body></html>\n--b{i}--\n\n",
            date = when.format("%a %b %e %H:%M:%S %Y"),
            rfc = when.to_rfc2822(),
            ts = base.timestamp(),
        );
    }
}

fn proc_stat(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Some((rss_kb / 1024.0, (ticks(11) + ticks(12)) / 100.0))
}

/// Bytes a process has had read from storage (`read_bytes` of
/// `/proc/PID/io`: what missed the kernel's page cache), or None where the file
/// cannot be read.
fn storage_reads(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// One probe of the daemon `pid` and the KiB it read from storage meanwhile
/// (NaN where that cannot be read).
fn probe_reading(pid: u32, dir: &Path, arrivals: &Arrivals, tag: &str) -> (f64, f64) {
    let before = storage_reads(pid);
    let latency = probe(dir, arrivals, tag);
    let kib = match (before, storage_reads(pid)) {
        (Some(b), Some(a)) => a.saturating_sub(b) as f64 / 1024.0,
        _ => f64::NAN,
    };
    (latency, kib)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `onit` measured: `ONIT_SCALE_BIN` (another build, for a before/after on
/// the same machine), else this build's.
fn onit_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ONIT_SCALE_BIN") {
        return PathBuf::from(bin);
    }
    option_env!("CARGO_BIN_EXE_onit")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/onit"))
}

/// Watches `dir` for files moved into it (the file transport writes each
/// message to a temporary file and renames it in): the acknowledgment is seen
/// the moment it lands, however many files the folder holds. At 1 M tickets it
/// holds about 10,000 reminders, and listing it every 5 ms cost more than
/// the acknowledgment itself.
struct Arrivals {
    fd: i32,
    dir: PathBuf,
}

impl Arrivals {
    fn watch(dir: &Path) -> Arrivals {
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: plain system calls on a descriptor this struct owns.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1");
        let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_MOVED_TO) };
        assert!(wd >= 0, "inotify_add_watch {}", dir.display());
        Arrivals {
            fd,
            dir: dir.to_path_buf(),
        }
    }

    /// The names of the files moved in since the last call (none when none).
    fn names(&self) -> Vec<String> {
        let mut buf = [0u8; 64 * 1024];
        let mut out = Vec::new();
        loop {
            // SAFETY: reads into a buffer of the given length.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return out;
            }
            let mut i = 0;
            let head = std::mem::size_of::<libc::inotify_event>();
            while i + head <= n as usize {
                let len =
                    u32::from_ne_bytes(buf[i + 12..i + 16].try_into().expect("4 bytes")) as usize;
                let name = &buf[i + head..i + head + len];
                let end = name.iter().position(|b| *b == 0).unwrap_or(len);
                out.push(String::from_utf8_lossy(&name[..end]).into_owned());
                i += head + len;
            }
        }
    }

    /// Waits up to `limit` for a file whose text contains `needle`; whether one came.
    fn wait_for(&self, needle: &str, limit: StdDuration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            for name in self.names() {
                let text = std::fs::read(self.dir.join(&name)).unwrap_or_default();
                if String::from_utf8_lossy(&text).contains(needle) {
                    return true;
                }
            }
            let mut p = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, a timeout in milliseconds.
            unsafe { libc::poll(&mut p, 1, 100) };
        }
        false
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this struct owns.
        unsafe { libc::close(self.fd) };
    }
}

/// `onit run` over the configuration `cfg`, its log at `warn`.
fn spawn_run(cfg: &Path) -> std::process::Child {
    std::process::Command::new(onit_bin())
        .arg("--config")
        .arg(cfg)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("onit run")
}

/// `onit --config CFG ARGS…` run to its end, as an operator runs it; its
/// output, after checking it succeeded.
fn onit_ok(cfg: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(onit_bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("onit {args:?}: {e}"));
    assert!(
        out.status.success(),
        "onit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One latency probe: a new client mail renamed into `dir`'s Maildir, timed to
/// its acknowledgment's arrival in `arrivals`; `tag` keeps probes apart (and
/// their senders' domains, which the flood limits count: 50 an hour).
fn probe(dir: &Path, arrivals: &Arrivals, tag: &str) -> f64 {
    let now = Utc::now();
    let id = format!("{tag}.{}@acme.example", now.timestamp_millis());
    let raw = format!(
        "From: Probe <probe@{tag}.acme.example>\nTo: {SUPPORT}\nSubject: Latency probe {tag}\nMessage-ID: <{id}>\nDate: {}\n\nThe dashboard is down.\n",
        now.to_rfc2822()
    );
    let tmp = dir.join(format!("Maildir/tmp/{tag}"));
    std::fs::write(&tmp, raw).expect("probe");
    // What landed before this probe is not its acknowledgment.
    arrivals.names();
    let t = Instant::now();
    std::fs::rename(&tmp, dir.join(format!("Maildir/new/{tag}"))).expect("deliver");
    // The acknowledgment answers the probe: its In-Reply-To names it.
    let acked = arrivals.wait_for(&id, StdDuration::from_secs(60));
    assert!(acked, "no acknowledgment of probe {tag} within 60 s");
    ms(t.elapsed())
}

/// What [`live`] measured.
struct Live {
    /// Median acknowledgment latency over the generated history, ms.
    lat: f64,
    /// The same over an empty database of the same kind, probed alternately, ms.
    empty: f64,
    /// Median of the rounds' ratios (this history's probe over the empty one's).
    ratio: f64,
    /// Mean KiB each daemon read from storage during its probes (this
    /// history's, the empty one's): the pages its acknowledgment needed that
    /// were in neither SQLite's nor the kernel's cache.
    reads: (f64, f64),
    /// The rounds in which neither daemon read from storage, and the median
    /// of their ratios: the gap without the disk.
    unread: (usize, f64),
    /// Resident memory after the settle, MB.
    start_rss: f64,
    /// Messages the first run sent before the probes (its catch-up), and
    /// when the last of them landed, s after the start.
    catch_up: (usize, f64),
    /// Median resident memory while idle, MB.
    rss: f64,
    /// Percent of one core while idle.
    core: f64,
}

/// Acknowledgment latency of a new mail through `onit run` (Maildir source,
/// file transport) over the history in `dir`, against the same through a
/// second `onit run` over an empty database (`empty`, its own configuration),
/// probed in turn: each round probes both, in a random order, so the
/// machine's noise (fsyncs of the shared disk, the other tenants) falls on
/// both alike; `ONIT_SCALE_PROBES` rounds (15). Then idle RSS and CPU of the
/// first over `idle` seconds, the second stopped.
fn live(dir: &Path, cfg: &Path, empty: (&Path, &Path), idle: u64) -> Live {
    let mut child = spawn_run(cfg);
    let mut beside = spawn_run(empty.1);
    let (pid, pid_empty) = (child.id(), beside.id());
    // Let it start and do its first passes: a first run over a history
    // catches up (the passes queue a reminder for every open ticket overdue,
    // 10,000 at 1 M, and send them). The probes measure the daemon idle, as
    // the target says, so they wait for that drain to end: the file
    // transport's folder unchanged for 3 s, and at least
    // `ONIT_SCALE_SETTLE_SECS` (10 s unless set) after the start.
    let started = Instant::now();
    let min_settle = StdDuration::from_secs(env_num("ONIT_SCALE_SETTLE_SECS", 10));
    let count = || std::fs::read_dir(dir.join("out")).map_or(0, |d| d.count());
    let (mut last, mut since) = (count(), Instant::now());
    let mut drained = StdDuration::ZERO;
    while started.elapsed() < min_settle || since.elapsed() < StdDuration::from_secs(3) {
        std::thread::sleep(StdDuration::from_millis(250));
        let n = count();
        if n != last {
            (last, since) = (n, Instant::now());
            drained = started.elapsed();
        }
    }
    let start_rss = proc_stat(pid).map(|s| s.0).unwrap_or(f64::NAN);
    let arrivals = Arrivals::watch(&dir.join("out"));
    let arrivals_empty = Arrivals::watch(&empty.0.join("out"));
    let (mut lat, mut lat_empty, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut reads, mut reads_empty) = (Vec::new(), Vec::new());
    for k in 0..env_num("ONIT_SCALE_PROBES", 15) {
        let tag = format!("lat{k}");
        let ((a, ra), (b, rb)) = if fastrand::bool() {
            let a = probe_reading(pid, dir, &arrivals, &tag);
            (a, probe_reading(pid_empty, empty.0, &arrivals_empty, &tag))
        } else {
            let b = probe_reading(pid_empty, empty.0, &arrivals_empty, &tag);
            (probe_reading(pid, dir, &arrivals, &tag), b)
        };
        if std::env::var_os("ONIT_SCALE_VERBOSE").is_some() {
            println!(
                "    round {k}: {a:.2} ms ({ra:.0} KiB read), empty {b:.2} ms ({rb:.0} KiB read)"
            );
        }
        lat.push(a);
        lat_empty.push(b);
        ratios.push(a / b);
        reads.push(ra);
        reads_empty.push(rb);
        // A random pause between rounds, so they do not all land at one
        // phase of the daemons' passes.
        std::thread::sleep(StdDuration::from_millis(1_000 + fastrand::u64(..1_000)));
    }
    stop(&mut beside);
    let (_, cpu0) = proc_stat(pid).unwrap_or((0.0, 0.0));
    let t0 = Instant::now();
    let mut rss = Vec::new();
    while t0.elapsed() < StdDuration::from_secs(idle) {
        std::thread::sleep(StdDuration::from_secs(5));
        if let Some((r, _)) = proc_stat(pid) {
            rss.push(r);
        }
    }
    let (_, cpu1) = proc_stat(pid).unwrap_or((0.0, 0.0));
    let core = (cpu1 - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    stop(&mut child);
    let unread: Vec<f64> = (0..ratios.len())
        .filter(|&i| reads[i] == 0.0 && reads_empty[i] == 0.0)
        .map(|i| ratios[i])
        .collect();
    let unread = (unread.len(), median(unread));
    Live {
        lat: median(lat),
        empty: median(lat_empty),
        ratio: median(ratios),
        unread,
        reads: (mean(&reads), mean(&reads_empty)),
        start_rss,
        catch_up: (last, drained.as_secs_f64()),
        rss: median(rss),
        core,
    }
}

/// Stops an `onit run` as an operator does (SIGTERM) and waits for it.
fn stop(child: &mut std::process::Child) {
    // SAFETY: a signal to a child this process started and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

async fn one(db: &str, n: i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, pg) = match db {
        "sqlite" => (
            format!("sqlite://{}", dir.path().join("onit.db").display()),
            None,
        ),
        _ => {
            let name = format!("onit_scale_{n}_{}", std::process::id());
            (
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
                Some(name),
            )
        }
    };
    let cfg = write_config(dir.path(), &url);
    let rt = onit::config::Runtime::load(Some(&cfg)).expect("config");
    let store = onit::store::Store::open(&url, rt.max_connections)
        .await
        .expect("store");
    // `ONIT_SCALE_NOW` (RFC 3339) measures the passes at a chosen instant (the
    // quarter hour before the 16:30 update, say) instead of the clock's; the
    // history is generated up to it. The idle `onit run` keeps the real clock.
    let now = std::env::var("ONIT_SCALE_NOW")
        .ok()
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .expect("ONIT_SCALE_NOW: RFC 3339")
                .with_timezone(&Utc)
        })
        .unwrap_or_else(Utc::now);
    let gen = generate(&store, n, now).await;
    println!(
        "\n{db}, {n} tickets ({} open): generated in {gen:.1} s",
        n / 100
    );

    // Reminder pass: the first settles every open ticket's due time.
    let t = Instant::now();
    onit::reminders::tick(&store, &rt, now).await.expect("tick");
    let first = ms(t.elapsed());
    let mut passes = Vec::new();
    for k in 1..=5 {
        let t = Instant::now();
        onit::reminders::tick(&store, &rt, now + Duration::seconds(30 * k))
            .await
            .expect("tick");
        passes.push(ms(t.elapsed()));
    }
    println!(
        "  reminder pass: first {first:.0} ms (settles {} open tickets), then median {:.1} ms",
        n / 100,
        median(passes)
    );
    // The old pass's core: every open history loaded and evaluated.
    let t = Instant::now();
    let open = onit::compliance::load_histories(&store, true)
        .await
        .expect("histories");
    let _ = onit::compliance::evaluate_all(&open, &rt, now);
    println!(
        "  (before: every open history loaded and evaluated: {:.0} ms)",
        ms(t.elapsed())
    );
    let mut since = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let r = onit::compliance::compliance(&store, &rt, now, Some(now - Duration::days(7)))
            .await
            .expect("compliance");
        std::hint::black_box(r);
        since.push(ms(t.elapsed()));
    }
    println!(
        "  compliance --since one week: median {:.0} ms",
        median(since)
    );
    if n as u64 <= env_num("ONIT_SCALE_FULL_MAX", 100_000) {
        let t = Instant::now();
        let r = onit::compliance::compliance(&store, &rt, now, None)
            .await
            .expect("compliance");
        std::hint::black_box(r);
        println!(
            "  (compliance over every history, what --since, the gauge and the digests loaded before: {:.0} ms)",
            ms(t.elapsed())
        );
    }
    let (mut digest, mut loads) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let at = now;
        let since = at - Duration::days(1);
        let inputs = onit::digest::Inputs::load(&store, &rt, onit::digest::Kind::Daily, since, at)
            .await
            .expect("inputs");
        loads.push(ms(t.elapsed()));
        let reqs = inputs.requests(onit::digest::Kind::Daily, at, since);
        std::hint::black_box(onit::digest::build_each(&inputs, &rt, &reqs));
        digest.push(ms(t.elapsed()));
    }
    println!(
        "  daily digest (load + build, every PM): median {:.0} ms (load {:.0} ms)",
        median(digest),
        median(loads)
    );

    store.close().await;
    // `onit status`, as an operator runs it: the first run reads from a cold
    // process, the median is of the next three.
    let mut status = Vec::new();
    for _ in 0..4 {
        let t = Instant::now();
        onit_ok(&cfg, &["status"]);
        status.push(ms(t.elapsed()));
    }
    println!(
        "  onit status: first {:.0} ms, then median {:.0} ms",
        status[0],
        median(status[1..].to_vec())
    );
    let idle = env_num("ONIT_SCALE_IDLE_SECS", 300);
    // The latency's baseline: the same daemon over an empty database of the
    // same kind, run beside it (`onit run` creates and migrates it).
    let empty_dir = tempfile::tempdir().expect("tempdir");
    let empty_pg = format!("onit_scale_empty_{}", std::process::id());
    let empty_url = match pg {
        None => format!("sqlite://{}", empty_dir.path().join("onit.db").display()),
        Some(_) => format!("postgres://postgres@127.0.0.1:5432/{empty_pg}"),
    };
    let empty_cfg = write_config(empty_dir.path(), &empty_url);
    let l = live(dir.path(), &cfg, (empty_dir.path(), &empty_cfg), idle);
    println!(
        "  onit run: first run's catch-up: {} messages sent in {:.1} s",
        l.catch_up.0, l.catch_up.1
    );
    println!(
        "  onit run, idle: ack latency median {:.1} ms, beside an empty database {:.1} ms (median ratio {:.2}); RSS after start {:.1} MB; idle over {idle} s: RSS median {:.1} MB, {:.2} % of a core",
        l.lat, l.empty, l.ratio, l.start_rss, l.rss, l.core
    );
    if pg.is_none() {
        // SQLite reads its pages in the daemon's own process; PostgreSQL's
        // reads are its server's, not counted here.
        println!(
            "  onit run, idle: read from storage per acknowledgment (mean) {:.0} KiB, beside an empty database {:.0} KiB; {} rounds read nothing from storage, their median ratio {:.2}",
            l.reads.0, l.reads.1, l.unread.0, l.unread.1
        );
    }
    if pg.is_some() {
        drop_database(&empty_pg).await;
    }
    // Import last: its tickets stay open (an archive is history), which would
    // make the idle run above one over 10,000 more open tickets. Through the
    // command, as an operator runs it (its threads kept on one CPU,
    // src/cpu_placement.rs), timed from start to exit.
    let k = env_num("ONIT_SCALE_IMPORT", 10_000);
    if k > 0 {
        let mbox = dir.path().join("new.mbox");
        mails(&mbox, k, now - Duration::days(2));
        let t = Instant::now();
        let out = onit_ok(
            &cfg,
            &["import", "--json", mbox.to_str().expect("utf-8 path")],
        );
        let secs = t.elapsed().as_secs_f64();
        let counts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("import JSON");
        println!(
            "  import of {k} further mails: {:.0} msg/s ({} tickets)",
            k as f64 / secs,
            counts["tickets"]
        );
    }
    if std::env::var_os("ONIT_SCALE_KEEP").is_some() {
        // For a profile of one command over the generated history afterwards.
        let kept = dir.keep();
        println!("  kept: onit --config {}", kept.join("onit.toml").display());
        return;
    }
    if let Some(name) = pg {
        drop_database(&name).await;
    }
}

/// Drops a database this bench made.
async fn drop_database(name: &str) {
    if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
    .await
    {
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut c).await;
    }
}

fn main() {
    let dbs = std::env::var("ONIT_SCALE_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    println!(
        "onit scale benchmark (issue 17); onit binary {}",
        onit_bin().display()
    );
    for n in sizes() {
        for db in dbs.split(',').map(str::trim) {
            if db == "postgres"
                && std::net::TcpStream::connect_timeout(
                    &"127.0.0.1:5432".parse().expect("addr"),
                    StdDuration::from_secs(1),
                )
                .is_err()
            {
                println!("\npostgres: no server on 127.0.0.1:5432, skipped");
                continue;
            }
            rt.block_on(one(db, n));
        }
    }
}
