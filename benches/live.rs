//! `cargo bench --bench live`: onit on the real mail stack (Dovecot + Postfix on
//! loopback, started by `tests/mailstack/mailstack.sh` in a private directory).
//!
//! 1. Acknowledgment latency: `onit run` watches the support INBOX over IMAPS
//!    (IDLE) and sends through Postfix (SMTP + STARTTLS). 200 client mails, one
//!    every 300 ms, each from its own address; for each, the time from Postfix
//!    accepting the client's mail (lettre's `send_raw` returning) to the
//!    acknowledgment file appearing in the client's Maildir (polled every 5 ms).
//!    If the SMTP transport is refused or does not deliver, the file transport
//!    is measured instead (until the .eml file appears), and the table says so.
//! 2. Peak RSS: 10,000 client mails put straight into the support user's
//!    Maildir before onit starts, the file transport, `/proc/PID/status`
//!    sampled every 50 ms until every ticket exists and the outbox is drained
//!    (the figure the target is for); then 35 s more of the same daemon idling
//!    with 10,000 open tickets (its periodic passes run every 30 s), reported
//!    separately, and its SIGTERM shutdown.
//!
//! Targets: p50 ≤ 700 ms, p99 ≤ 1.5 s (Dovecot's ~0.5 s IDLE batching is the
//! floor); peak RSS ≤ 30 MB. The machine is shared and noisy: percentiles over
//! 200 samples, rates and ratios, never a single timing.
//!
//! Needs root and the stack's packages (`bash tests/mailstack/mailstack.sh install`).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use onit::store::Store;

const LATENCY_MAILS: usize = 200;
const SPACING: Duration = Duration::from_millis(300);
const WATCH_EVERY: Duration = Duration::from_millis(5);
const BACKLOG: usize = 10_000;
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long the daemon keeps running after the backlog (its periodic passes run every 30 s).
const SETTLE: Duration = Duration::from_secs(35);
const TARGET_P50: Duration = Duration::from_millis(700);
const TARGET_P99: Duration = Duration::from_millis(1500);
const TARGET_RSS_MB: f64 = 30.0;

type Res<T> = Result<T, String>;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The release binary Cargo built for this bench; target/release/onit otherwise.
fn onit_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_onit").map(PathBuf::from) {
        if p.exists() {
            return p;
        }
    }
    manifest().join("target/release/onit")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn tag() -> String {
    format!("{:x}{:04x}", std::process::id(), fastrand::u16(..))
}

// ---------------------------------------------------------------------------
// The mail stack
// ---------------------------------------------------------------------------

struct Stack {
    dir: PathBuf,
    imap_port: u16,
    imaps_port: u16,
    smtp_port: u16,
    ca_file: PathBuf,
    password: String,
}

fn script() -> PathBuf {
    manifest().join("tests/mailstack/mailstack.sh")
}

impl Stack {
    fn start(dir: &Path) -> Res<Stack> {
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir)
            .output()
            .map_err(|e| format!("running mailstack.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mailstack.sh start failed (run `bash tests/mailstack/mailstack.sh install` as root first):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let env: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let port = |k: &str| -> Res<u16> {
            env.get(k)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("mailstack env lacks {k}: {text}"))
        };
        Ok(Stack {
            dir: dir.to_path_buf(),
            imap_port: port("IMAP_PORT")?,
            imaps_port: port("IMAPS_PORT")?,
            smtp_port: port("SMTP_PORT")?,
            ca_file: PathBuf::from(env.get("CA_FILE").ok_or("mailstack env lacks CA_FILE")?),
            password: env
                .get("PASSWORD")
                .ok_or("mailstack env lacks PASSWORD")?
                .to_string(),
        })
    }

    /// Dovecot's home of an address: `DIR/home/<domain>/<local>`, lower case, `+detail` stripped.
    fn home(&self, addr: &str) -> PathBuf {
        let (local, domain) = addr.split_once('@').unwrap_or((addr, ""));
        let local = local.split('+').next().unwrap_or(local);
        self.dir
            .join("home")
            .join(domain.to_lowercase())
            .join(local.to_lowercase())
    }

    fn maildir_new(&self, addr: &str) -> PathBuf {
        self.home(addr).join("Maildir").join("new")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

/// Sends one message through Postfix's SMTP port (plain, loopback).
async fn smtp_send(port: u16, from: &str, to: &str, raw: &[u8]) -> Res<()> {
    use lettre::AsyncTransport;
    let transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .timeout(Some(Duration::from_secs(20)))
            .build();
    let envelope = lettre::address::Envelope::new(
        Some(from.parse().map_err(|e| format!("{from}: {e}"))?),
        vec![to.parse().map_err(|e| format!("{to}: {e}"))?],
    )
    .map_err(|e| e.to_string())?;
    transport
        .send_raw(&envelope, raw)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP send: {e}"))
}

fn client_mail(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

/// The number of messages Dovecot shows in `user`'s INBOX (plain IMAP on loopback, EXAMINE).
async fn imap_exists(stack: &Stack, user: &str) -> Res<u32> {
    let step = Duration::from_secs(120);
    let stream = tokio::time::timeout(
        step,
        tokio::net::TcpStream::connect(("127.0.0.1", stack.imap_port)),
    )
    .await
    .map_err(|_| "IMAP connect timed out".to_string())?
    .map_err(|e| format!("IMAP connect: {e}"))?;
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| format!("IMAP greeting: {e}"))?
        .ok_or("IMAP server closed before its greeting")?;
    let mut session = client
        .login(user, &stack.password)
        .await
        .map_err(|(e, _)| format!("IMAP login: {e}"))?;
    let mb = tokio::time::timeout(step, session.examine("INBOX"))
        .await
        .map_err(|_| "IMAP EXAMINE timed out".to_string())?
        .map_err(|e| format!("IMAP EXAMINE: {e}"))?;
    let _ = tokio::time::timeout(Duration::from_secs(10), session.logout()).await;
    Ok(mb.exists)
}

// ---------------------------------------------------------------------------
// One onit instance
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Smtp,
    File,
}

struct Onit {
    dir: tempfile::TempDir,
    config: PathBuf,
    url: String,
    password: String,
    support: String,
    child: Option<Child>,
}

impl Onit {
    fn new(stack: &Stack, support: &str, transport: Transport) -> Onit {
        let dir = tempfile::Builder::new()
            .prefix("onit-bench-live-")
            .tempdir()
            .expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("onit.db").display());
        let config = dir.path().join("onit.toml");
        let body = format!(
            r#"[database]
url = "{url}"
[mailbox]
maildir = "{md}"
poll_interval_secs = 1
[outgoing]
transport = "{transport}"
dir = "{out}"
from = "{support}"
retry_base_secs = 1
retry_max_secs = 5
[team]
domains = ["jac.example"]
support_addresses = ["{support}"]
default_pm = "pm@jac.example"
[[projects]]
name = "acme"
client_domains = ["acme.example"]
pm = "alice.pm@jac.example"
[calendar]
timezone = "Europe/London"
[log]
format = "json"
[imap]
host = "127.0.0.1"
port = {imaps}
tls = "implicit"
ca_file = "{ca}"
username = "{support}"
folders = ["INBOX"]
command_timeout_secs = 10
reconnect_max_secs = 2
poll_interval_secs = 1
[smtp]
host = "127.0.0.1"
port = {smtp}
tls = "starttls"
ca_file = "{ca}"
timeout_secs = 10
"#,
            md = dir.path().join("Maildir").display(),
            out = dir.path().join("out").display(),
            transport = if transport == Transport::Smtp {
                "smtp"
            } else {
                "file"
            },
            imaps = stack.imaps_port,
            smtp = stack.smtp_port,
            ca = stack.ca_file.display(),
        );
        std::fs::write(&config, body).expect("write config");
        Onit {
            dir,
            config,
            url,
            password: stack.password.clone(),
            support: support.to_string(),
            child: None,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(onit_bin());
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("ONIT__") || k == "ONIT_FAULT" || k == "ONIT_CONFIG" {
                c.env_remove(k);
            }
        }
        // The source and the password come from the environment, as an operator sets them.
        c.env("ONIT__MAILBOX__SOURCE", "imap")
            .env("ONIT__IMAP__PASSWORD", &self.password)
            .env("RUST_LOG", "info");
        c
    }

    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("onit.log")
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `onit check-config`: Ok, or its complaint.
    fn check_config(&self) -> Res<()> {
        let out = self
            .command(&["check-config"])
            .output()
            .map_err(|e| format!("running onit: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_string())
        }
    }

    fn spawn(&mut self) -> Res<u32> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        let child = self
            .command(&["run"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", onit_bin().display()))?;
        let pid = child.id();
        self.child = Some(child);
        Ok(pid)
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Some(status) when the daemon has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then wait (SIGKILL after 20 s); the exit status.
    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let started = Instant::now();
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's database, opened by this process for reading once onit has created it.
    async fn store(&self) -> Option<Store> {
        if !self.dir.path().join("onit.db").exists() {
            return None;
        }
        let store = Store::connect(&self.url, 1).await.ok()?;
        // The tables exist once onit has migrated.
        store.folder_states().await.ok()?;
        Some(store)
    }

    /// Waits for the first completed sync of INBOX; the store.
    async fn wait_first_sync(&mut self, limit: Duration) -> Res<Store> {
        let started = Instant::now();
        let mut store = None;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "onit run exited with {status}:\n{}",
                    self.log_tail(30)
                ));
            }
            if store.is_none() {
                store = self.store().await;
            }
            if let Some(s) = &store {
                if s.folder_states()
                    .await
                    .unwrap_or_default()
                    .iter()
                    .any(|f| f.last_sync_at.is_some())
                {
                    return Ok(store.take().expect("checked"));
                }
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "no first sync after {limit:?}:\n{}",
                    self.log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Onit {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// When onit logged "new ticket" for each Message-ID (epoch ms), from its JSON log.
fn tickets_logged(log: &Path) -> HashMap<String, i64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["fields"]["message"] != "new ticket" {
            continue;
        }
        let Some(at) = v["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        let spans = v["spans"].as_array().cloned().unwrap_or_default();
        let id = spans
            .iter()
            .chain(std::iter::once(&v["span"]))
            .find_map(|s| s["message_id"].as_str().map(str::to_string));
        if let Some(id) = id {
            out.insert(id, at.timestamp_millis());
        }
    }
    out
}

/// (VmRSS, VmHWM) of a process in KiB.
fn mem_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------
// Part 1: acknowledgment latency
// ---------------------------------------------------------------------------

/// Where an acknowledgment shows up.
#[derive(Clone)]
enum Arrival {
    /// The client's Maildir new/ (SMTP transport, through Postfix and Dovecot).
    Maildir(Vec<PathBuf>),
    /// An .eml file in outgoing.dir naming the client (file transport).
    OutDir(PathBuf, Vec<String>),
}

struct Track {
    sent: Vec<Option<Instant>>,
    sent_wall_ms: Vec<i64>,
    arrived: Vec<Option<Instant>>,
}

/// Polls every 5 ms for the acknowledgments of mails sent and not yet seen.
fn watcher(
    track: Arc<Mutex<Track>>,
    arrival: Arrival,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen_files: HashSet<PathBuf> = HashSet::new();
        while !stop.load(Ordering::Relaxed) {
            let pending: Vec<usize> = {
                let t = track.lock().expect("lock");
                (0..t.sent.len())
                    .filter(|&i| t.sent[i].is_some() && t.arrived[i].is_none())
                    .collect()
            };
            if !pending.is_empty() {
                match &arrival {
                    Arrival::Maildir(dirs) => {
                        for &i in &pending {
                            let there = std::fs::read_dir(&dirs[i])
                                .map(|mut d| d.next().is_some())
                                .unwrap_or(false);
                            if there {
                                let now = Instant::now();
                                track.lock().expect("lock").arrived[i].get_or_insert(now);
                            }
                        }
                    }
                    Arrival::OutDir(dir, clients) => {
                        let now = Instant::now();
                        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                            let p = e.path();
                            if p.extension().is_none_or(|x| x != "eml") || seen_files.contains(&p) {
                                continue;
                            }
                            let text = std::fs::read_to_string(&p).unwrap_or_default();
                            let to: Vec<&str> = text
                                .lines()
                                .take_while(|l| !l.is_empty())
                                .filter(|l| l.to_ascii_lowercase().starts_with("to:"))
                                .collect();
                            if let Some(&i) = pending
                                .iter()
                                .find(|&&i| to.iter().any(|l| l.contains(clients[i].as_str())))
                            {
                                track.lock().expect("lock").arrived[i].get_or_insert(now);
                            }
                            seen_files.insert(p);
                        }
                    }
                }
            }
            std::thread::sleep(WATCH_EVERY);
        }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn ms_i(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

/// Sends one mail and waits for its acknowledgment; how long it took.
async fn warm_up(
    stack: &Stack,
    onit: &Onit,
    transport: Transport,
    t: &str,
    limit: Duration,
) -> Res<Duration> {
    let client = format!("warmup-{t}@client.example");
    let raw = client_mail(
        &client,
        &onit.support,
        "Warm-up: export page empty",
        &format!("warmup.{t}@client.example"),
        "Please have a look.\r\n",
    );
    let sent = Instant::now();
    smtp_send(stack.smtp_port, &client, &onit.support, &raw).await?;
    loop {
        let arrived = match transport {
            Transport::Smtp => std::fs::read_dir(stack.maildir_new(&client))
                .map(|mut d| d.next().is_some())
                .unwrap_or(false),
            Transport::File => std::fs::read_dir(onit.out_dir())
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
                })
                .unwrap_or(false),
        };
        if arrived {
            return Ok(sent.elapsed());
        }
        if sent.elapsed() > limit {
            return Err(format!(
                "no acknowledgment of the warm-up mail after {limit:?}"
            ));
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

struct Latency {
    transport: Transport,
    note: Option<String>,
    latencies: Vec<Duration>,
    /// Accepted → onit logged "new ticket" (IDLE notice, FETCH, ingest).
    to_ticket: Vec<Duration>,
    /// "new ticket" → onit recorded the acknowledgment as sent (its outbox `sent_at`).
    ticket_to_sent: Vec<Duration>,
    /// onit's `sent_at` → seen in the client's Maildir / the out dir.
    after_handoff: Vec<Duration>,
    send_failures: usize,
    warm_up: Duration,
    rss_idle_kib: u64,
    rss_after_kib: (u64, u64),
    clean_exit: Option<ExitStatus>,
}

async fn start_instance(stack: &Stack, support: &str, transport: Transport) -> Res<(Onit, Store)> {
    let mut onit = Onit::new(stack, support, transport);
    onit.check_config()
        .map_err(|e| format!("onit check-config refused the configuration: {e}"))?;
    onit.spawn()?;
    let store = onit.wait_first_sync(Duration::from_secs(30)).await?;
    Ok((onit, store))
}

async fn latency(stack: &Stack) -> Res<Latency> {
    let t = tag();
    let mut note = None;
    let mut transport = Transport::Smtp;
    let support = format!("support-lat-{t}@jac.example");
    let attempt = async {
        let (onit, store) = start_instance(stack, &support, Transport::Smtp).await?;
        let warm = warm_up(stack, &onit, Transport::Smtp, &t, Duration::from_secs(20)).await;
        match warm {
            Ok(w) => Ok((onit, store, w)),
            Err(e) => {
                let summary = store
                    .outbox_summary()
                    .await
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_default();
                Err(format!(
                    "{e}; outbox {summary}; last log lines:\n{}",
                    onit.log_tail(15)
                ))
            }
        }
    }
    .await;
    let (mut onit, store, warm) = match attempt {
        Ok(v) => v,
        Err(e) => {
            note = Some(format!(
                "outgoing.transport = \"smtp\" did not work ({e}).\nMeasured instead: the time until the acknowledgment FILE appears (file transport)."
            ));
            transport = Transport::File;
            let support = format!("support-latf-{t}@jac.example");
            let (onit, store) = start_instance(stack, &support, Transport::File).await?;
            let w = warm_up(
                stack,
                &onit,
                Transport::File,
                &format!("f{t}"),
                Duration::from_secs(20),
            )
            .await?;
            (onit, store, w)
        }
    };
    let pid = onit.pid().ok_or("onit is not running")?;
    let rss_idle_kib = mem_kib(pid).map(|m| m.0).unwrap_or(0);

    let clients: Vec<String> = (0..LATENCY_MAILS)
        .map(|i| format!("lat{i:03}-{t}@client.example"))
        .collect();
    let arrival = match transport {
        Transport::Smtp => Arrival::Maildir(clients.iter().map(|c| stack.maildir_new(c)).collect()),
        Transport::File => Arrival::OutDir(onit.out_dir(), clients.clone()),
    };
    let track = Arc::new(Mutex::new(Track {
        sent: vec![None; LATENCY_MAILS],
        sent_wall_ms: vec![0; LATENCY_MAILS],
        arrived: vec![None; LATENCY_MAILS],
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let watch = watcher(track.clone(), arrival, stop.clone());

    let subjects = [
        "Dashboard down for all users",
        "Export returns an empty file",
        "Cannot log in since this morning",
        "Invoice totals look wrong",
        "Webhook retries never stop",
    ];
    let mut send_failures = 0;
    let t0 = Instant::now();
    for (i, client) in clients.iter().enumerate() {
        tokio::time::sleep_until((t0 + SPACING * i as u32).into()).await;
        let subject = format!("{} (#{i})", subjects[i % subjects.len()]);
        let raw = client_mail(
            client,
            &onit.support,
            &subject,
            &format!("lat.{i}.{t}@client.example"),
            "Hello,\r\nplease have a look at this.\r\n\r\nThanks\r\n",
        );
        match smtp_send(stack.smtp_port, client, &onit.support, &raw).await {
            Ok(()) => {
                let (now, wall) = (Instant::now(), now_ms());
                let mut tr = track.lock().expect("lock");
                tr.sent[i] = Some(now);
                tr.sent_wall_ms[i] = wall;
            }
            Err(e) => {
                send_failures += 1;
                eprintln!("send {i} failed: {e}");
            }
        }
        if onit.exited().is_some() {
            break;
        }
    }
    // Wait for the stragglers (up to 30 s after the last send).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = {
            let tr = track.lock().expect("lock");
            (0..LATENCY_MAILS).all(|i| tr.sent[i].is_none() || tr.arrived[i].is_some())
        };
        if done || Instant::now() > deadline || onit.exited().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = watch.join();
    let rss_after_kib = mem_kib(pid).unwrap_or((0, 0));

    // Where the time went: onit's own record of when each acknowledgment left.
    let sent_at: HashMap<String, i64> = store
        .outbox_all()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.kind.as_str() == "ack")
        .filter_map(|o| Some((o.to_addr.to_lowercase(), o.sent_at?)))
        .collect();
    store.close().await;
    let clean_exit = onit.terminate();
    let logged = tickets_logged(&onit.log_path());

    let tr = track.lock().expect("lock");
    let mut latencies = Vec::new();
    let mut to_ticket = Vec::new();
    let mut ticket_to_sent = Vec::new();
    let mut after_handoff = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        if let (Some(s), Some(a)) = (tr.sent[i], tr.arrived[i]) {
            let l = a.duration_since(s);
            latencies.push(l);
            let accepted = tr.sent_wall_ms[i];
            let ticket = logged.get(&format!("lat.{i}.{t}@client.example")).copied();
            let sent = sent_at.get(&client.to_lowercase()).copied();
            if let Some(tk) = ticket {
                to_ticket.push(ms_i(tk - accepted));
            }
            if let (Some(tk), Some(st)) = (ticket, sent) {
                ticket_to_sent.push(ms_i(st - tk));
            }
            if let Some(st) = sent {
                after_handoff.push(ms_i(accepted + l.as_millis() as i64 - st));
            }
        }
    }
    Ok(Latency {
        transport,
        note,
        latencies,
        to_ticket,
        ticket_to_sent,
        after_handoff,
        send_failures,
        warm_up: warm,
        rss_idle_kib,
        rss_after_kib,
        clean_exit,
    })
}

fn print_latency(l: &mut Latency) {
    let what = match l.transport {
        Transport::Smtp => "SMTP accepted the client's mail → acknowledgment in the client's Maildir (SMTP transport, STARTTLS)",
        Transport::File => "SMTP accepted the client's mail → acknowledgment .eml file written (FILE transport)",
    };
    println!("Acknowledgment latency: {LATENCY_MAILS} client mails, one every {} ms, each from its own address", SPACING.as_millis());
    println!("  measured: {what}");
    if let Some(n) = &l.note {
        for line in n.lines() {
            println!("  NOTE: {line}");
        }
    }
    l.latencies.sort();
    l.to_ticket.sort();
    l.ticket_to_sent.sort();
    l.after_handoff.sort();
    let row = |name: &str, v: &[Duration]| {
        if v.is_empty() {
            println!("  {name:<44} (no data)");
            return;
        }
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        println!(
            "  {name:<44} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            ms(v[0]),
            ms(percentile(v, 0.50)),
            ms(percentile(v, 0.90)),
            ms(percentile(v, 0.99)),
            ms(*v.last().expect("non-empty")),
            ms(mean)
        );
    };
    println!(
        "  {:<44} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "", "min", "p50", "p90", "p99", "max", "mean"
    );
    row("end to end", &l.latencies);
    row("  accepted → onit logs \"new ticket\"", &l.to_ticket);
    row("  \"new ticket\" → ack recorded as sent", &l.ticket_to_sent);
    row("  recorded as sent → seen", &l.after_handoff);
    println!("  (1: Dovecot's IDLE notice + FETCH + ingest; 2: commit + outbox + SMTP handoff; 3: Postfix → LMTP → Maildir, 5 ms polling)");
    let mut buckets: Vec<(u128, usize)> = Vec::new();
    for d in &l.latencies {
        let b = d.as_millis() / 100 * 100;
        match buckets.iter_mut().find(|(k, _)| *k == b) {
            Some(e) => e.1 += 1,
            None => buckets.push((b, 1)),
        }
    }
    buckets.sort();
    println!(
        "  distribution: {}",
        buckets
            .iter()
            .map(|(b, n)| format!("{b}–{} ms: {n}", b + 99))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let n = l.latencies.len();
    println!(
        "  arrived {n}/{LATENCY_MAILS}{}; warm-up mail (not counted) took {}",
        if l.send_failures > 0 {
            format!(" ({} sends failed)", l.send_failures)
        } else {
            String::new()
        },
        ms(l.warm_up)
    );
    let p50 = percentile(&l.latencies, 0.50);
    let p99 = percentile(&l.latencies, 0.99);
    println!(
        "  targets: p50 ≤ {} → {} ({:.2}× target); p99 ≤ {} → {} ({:.2}× target); all {LATENCY_MAILS} arrived → {}",
        ms(TARGET_P50),
        if p50 <= TARGET_P50 { "MET" } else { "MISSED" },
        p50.as_secs_f64() / TARGET_P50.as_secs_f64(),
        ms(TARGET_P99),
        if p99 <= TARGET_P99 { "MET" } else { "MISSED" },
        p99.as_secs_f64() / TARGET_P99.as_secs_f64(),
        if n == LATENCY_MAILS { "MET" } else { "MISSED" }
    );
    println!(
        "  onit RSS: {:.1} MB idle after the first sync, {:.1} MB after the run (VmHWM {:.1} MB); SIGTERM exit: {}",
        mb(l.rss_idle_kib),
        mb(l.rss_after_kib.0),
        mb(l.rss_after_kib.1),
        l.clean_exit.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into())
    );
}

// ---------------------------------------------------------------------------
// Part 2: a backlog of 10,000 mails, peak RSS
// ---------------------------------------------------------------------------

const BACKLOG_SUBJECTS: &[&str] = &[
    "Production down: checkout returns 500",
    "Nightly export failed",
    "Slow dashboard, we have a workaround",
    "Question about the API rate limits",
    "Invoice shows the wrong VAT rate",
    "Cannot log in to the admin portal",
    "Webhook retries for endpoint",
    "Änderung der Rechnungsadresse",
];

/// Writes `n` client mails straight into `support`'s Maildir (tmp/ then new/), owned by the mail uid.
fn write_backlog(stack: &Stack, support: &str, n: usize, t: &str) -> Res<u64> {
    let owner =
        std::fs::metadata(stack.dir.join("home")).map_err(|e| format!("stack home: {e}"))?;
    let (uid, gid) = (owner.uid(), owner.gid());
    let home = stack.home(support);
    let md = home.join("Maildir");
    let domain_dir = home.parent().ok_or("home has no parent")?.to_path_buf();
    for d in [
        domain_dir,
        home.clone(),
        md.clone(),
        md.join("new"),
        md.join("cur"),
        md.join("tmp"),
    ] {
        if !d.exists() {
            std::fs::create_dir(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
            std::os::unix::fs::chown(&d, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", d.display()))?;
        }
    }
    let mut rng = fastrand::Rng::with_seed(0x6261_636b);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut bytes = 0u64;
    let filler = "We noticed this after the last release. The job runs, the log shows a timeout against the database, and the page stays empty. Clearing the cache did not help.\n";
    for i in 0..n {
        let client = format!("bl{i:05}-{t}@client.example");
        let subject = format!(
            "{} ({i})",
            BACKLOG_SUBJECTS[rng.usize(..BACKLOG_SUBJECTS.len())]
        );
        let mut body = String::from("Hello support,\n\n");
        for _ in 0..rng.usize(4..20) {
            body.push_str(filler);
        }
        body.push_str("\nBest regards\n");
        let raw = format!(
            "Return-Path: <{client}>\nFrom: {client}\nTo: {support}\nSubject: {subject}\nMessage-ID: <bl.{i}.{t}@client.example>\nDate: {}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}",
            chrono::Utc::now().to_rfc2822()
        );
        let name = format!(
            "{secs}.M{i}P{}Q{i}.bench,S={}",
            std::process::id(),
            raw.len()
        );
        let tmp = md.join("tmp").join(&name);
        std::fs::write(&tmp, raw.as_bytes())
            .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
        std::fs::rename(&tmp, md.join("new").join(&name)).map_err(|e| format!("rename: {e}"))?;
        bytes += raw.len() as u64;
    }
    Ok(bytes)
}

/// Memory samples of one process: peaks, and when VmHWM rose.
#[derive(Default)]
struct Mem {
    peak_hwm_kib: u64,
    peak_rss_kib: u64,
    /// Seconds after start at which the highest VmRSS was sampled.
    peak_rss_at: f64,
    /// (seconds after start, VmHWM before, VmHWM after) for every rise of 2 MiB or more
    /// once the process has started (VmHWM ≥ 4 MiB).
    hwm_rises: Vec<(f64, u64, u64)>,
    samples: usize,
}

impl Mem {
    fn sample(&mut self, pid: u32, at: f64) {
        let Some((rss, hwm)) = mem_kib(pid) else {
            return;
        };
        if rss > self.peak_rss_kib {
            self.peak_rss_kib = rss;
            self.peak_rss_at = at;
        }
        if self.peak_hwm_kib >= 4096 && hwm >= self.peak_hwm_kib + 2048 {
            self.hwm_rises.push((at, self.peak_hwm_kib, hwm));
        }
        self.peak_hwm_kib = self.peak_hwm_kib.max(hwm);
        self.samples += 1;
    }
}

struct Backlog {
    bytes: u64,
    write_secs: f64,
    dovecot_scan_secs: f64,
    /// Until every ticket exists and the outbox is drained (the measurement the target is for).
    mem: Mem,
    /// The same process kept running for SETTLE more (then through its shutdown).
    settle: Mem,
    at_quarters: Vec<(usize, f64, u64)>,
    secs: f64,
    first_sync_ticket_secs: Option<f64>,
    tickets: usize,
    outbox: String,
    clean_exit: Option<ExitStatus>,
}

async fn backlog(stack: &Stack) -> Res<Backlog> {
    let t = tag();
    let support = format!("support-rss-{t}@jac.example");
    let w = Instant::now();
    let bytes = write_backlog(stack, &support, BACKLOG, &t)?;
    let write_secs = w.elapsed().as_secs_f64();
    // Dovecot sees them (its first look indexes the 10,000 files).
    let d = Instant::now();
    let exists = imap_exists(stack, &support).await?;
    let dovecot_scan_secs = d.elapsed().as_secs_f64();
    if exists as usize != BACKLOG {
        return Err(format!(
            "Dovecot shows {exists} messages in {support}'s INBOX, not {BACKLOG}"
        ));
    }

    let mut onit = Onit::new(stack, &support, Transport::File);
    onit.check_config()
        .map_err(|e| format!("onit check-config refused the configuration: {e}"))?;
    let started = Instant::now();
    let pid = onit.spawn()?;
    let mut store: Option<Store> = None;
    let mut mem = Mem::default();
    let mut last_check = Instant::now() - Duration::from_secs(10);
    let mut quarters: Vec<(usize, f64, u64)> = Vec::new();
    let mut first_ticket = None;
    let limit = Duration::from_secs(30 * 60);
    let secs = loop {
        mem.sample(pid, started.elapsed().as_secs_f64());
        if let Some(status) = onit.exited() {
            return Err(format!(
                "onit run exited with {status} during the backlog:\n{}",
                onit.log_tail(30)
            ));
        }
        if last_check.elapsed() >= Duration::from_millis(250) {
            last_check = Instant::now();
            if store.is_none() {
                store = onit.store().await;
            }
            if let Some(s) = &store {
                let clients = s
                    .message_counts()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .find(|(c, _)| c == "client")
                    .map(|(_, n)| n as usize)
                    .unwrap_or(0);
                if clients > 0 && first_ticket.is_none() {
                    first_ticket = Some(started.elapsed().as_secs_f64());
                }
                while quarters.len() < 4 && clients >= BACKLOG * (quarters.len() + 1) / 4 {
                    quarters.push((
                        BACKLOG * (quarters.len() + 1) / 4,
                        started.elapsed().as_secs_f64(),
                        mem.peak_hwm_kib,
                    ));
                }
                if clients >= BACKLOG {
                    let o = s.outbox_summary().await.unwrap_or_default();
                    if o.pending == 0 && o.sending == 0 && o.sent + o.failed >= BACKLOG as i64 {
                        break started.elapsed().as_secs_f64();
                    }
                }
            }
        }
        if started.elapsed() > limit {
            return Err(format!(
                "the backlog was not done after {limit:?}:\n{}",
                onit.log_tail(20)
            ));
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    };
    let store = store.ok_or("no store")?;
    let tickets = store.tickets().await.map(|v| v.len()).unwrap_or(0);
    let outbox = store
        .outbox_summary()
        .await
        .map(|o| {
            format!(
                "{} sent, {} failed, {} pending",
                o.sent, o.failed, o.pending
            )
        })
        .unwrap_or_default();
    store.close().await;
    // Then idle with 10,000 open tickets for longer than the daemon's 30 s periodic
    // work (reminders), as a running daemon would, and through the shutdown.
    let mut settle = Mem {
        peak_hwm_kib: mem.peak_hwm_kib,
        ..Mem::default()
    };
    let settle_started = Instant::now();
    while settle_started.elapsed() < SETTLE {
        settle.sample(pid, started.elapsed().as_secs_f64());
        if let Some(status) = onit.exited() {
            return Err(format!(
                "onit run exited with {status} after the backlog:\n{}",
                onit.log_tail(30)
            ));
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let stop_started = Instant::now();
    while onit.exited().is_none() && stop_started.elapsed() < Duration::from_secs(20) {
        settle.sample(pid, started.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(10));
    }
    let clean_exit = onit.terminate().or_else(|| onit.exited());
    Ok(Backlog {
        bytes,
        write_secs,
        dovecot_scan_secs,
        mem,
        settle,
        at_quarters: quarters,
        secs,
        first_sync_ticket_secs: first_ticket,
        tickets,
        outbox,
        clean_exit,
    })
}

fn print_backlog(b: &Backlog) {
    println!("Backlog: {BACKLOG} client mails ({:.1} MB) waiting in the support INBOX before onit starts (file transport)", b.bytes as f64 / 1e6);
    println!(
        "  written into the Maildir in {:.2} s; Dovecot's first look (login + EXAMINE INBOX) {:.2} s",
        b.write_secs, b.dovecot_scan_secs
    );
    let stored = b.at_quarters.last().map(|q| q.1).unwrap_or(f64::NAN);
    println!(
        "  onit start → first ticket {:.2} s; all {BACKLOG} tickets stored {:.1} s ({:.0} msg/s); and the outbox drained {:.1} s = {:.0} messages/s",
        b.first_sync_ticket_secs.unwrap_or(f64::NAN),
        stored,
        BACKLOG as f64 / stored,
        b.secs,
        BACKLOG as f64 / b.secs,
    );
    println!("  tickets {}; outbox {}", b.tickets, b.outbox);
    let q: Vec<String> = b
        .at_quarters
        .iter()
        .map(|(n, s, hwm)| format!("{n} at {s:.1} s: {:.1} MB", mb(*hwm)))
        .collect();
    println!("  VmHWM as tickets were stored: {}", q.join("; "));
    let rises = |m: &Mem| -> String {
        let r: Vec<String> = m
            .hwm_rises
            .iter()
            .map(|(at, from, to)| format!("{:.1} → {:.1} MB at {at:.1} s", mb(*from), mb(*to)))
            .collect();
        if r.is_empty() {
            "none".into()
        } else {
            r.join("; ")
        }
    };
    let m = &b.mem;
    println!(
        "  VmHWM rises of 2 MB or more (time since onit started): {}",
        rises(m)
    );
    println!(
        "  peak RSS (VmHWM) {:.1} MB; highest sampled VmRSS {:.1} MB at {:.1} s ({} samples every {} ms); target ≤ {TARGET_RSS_MB:.0} MB: {} ({:.2}× target)",
        mb(m.peak_hwm_kib),
        mb(m.peak_rss_kib),
        m.peak_rss_at,
        m.samples,
        SAMPLE_EVERY.as_millis(),
        if mb(m.peak_hwm_kib) <= TARGET_RSS_MB { "MET" } else { "MISSED" },
        mb(m.peak_hwm_kib) / TARGET_RSS_MB
    );
    let s = &b.settle;
    println!(
        "  kept running {} s more with the {BACKLOG} open tickets, then SIGTERM: VmHWM {:.1} MB ({:.2}× target); highest sampled VmRSS {:.1} MB at {:.1} s; rises: {}",
        SETTLE.as_secs(),
        mb(s.peak_hwm_kib),
        mb(s.peak_hwm_kib) / TARGET_RSS_MB,
        mb(s.peak_rss_kib),
        s.peak_rss_at,
        rises(s)
    );
    println!(
        "  SIGTERM exit: {}",
        b.clean_exit
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into())
    );
}

// ---------------------------------------------------------------------------

fn main() {
    let bin = onit_bin();
    println!(
        "onit live benchmark: {} ({}; {} CPU(s))",
        bin.display(),
        if option_env!("CARGO_BIN_EXE_onit").is_some() {
            "CARGO_BIN_EXE_onit"
        } else {
            "fallback path"
        },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if !bin.exists() {
        println!("the onit binary is missing: build it with `cargo build --release`");
        return;
    }
    let dir = PathBuf::from(format!("/tmp/onit-bench-live-{}", tag()));
    let started = Instant::now();
    let stack = match Stack::start(&dir) {
        Ok(s) => s,
        Err(e) => {
            println!("the mail stack did not start: {e}");
            return;
        }
    };
    println!(
        "mail stack {} up in {:.1} s (IMAPS {}, SMTP {})",
        dir.display(),
        started.elapsed().as_secs_f64(),
        stack.imaps_port,
        stack.smtp_port
    );
    println!();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let only = std::env::var("ONIT_BENCH_LIVE_ONLY").unwrap_or_default();
    if only.is_empty() || only == "latency" {
        match rt.block_on(latency(&stack)) {
            Ok(mut l) => print_latency(&mut l),
            Err(e) => println!("Acknowledgment latency: could not be measured: {e}"),
        }
        println!();
    }
    if only.is_empty() || only == "rss" {
        match rt.block_on(backlog(&stack)) {
            Ok(b) => print_backlog(&b),
            Err(e) => println!("Backlog / peak RSS: could not be measured: {e}"),
        }
    }
    drop(stack); // stops Dovecot and Postfix
    let _ = std::fs::remove_dir_all(&dir);
}
