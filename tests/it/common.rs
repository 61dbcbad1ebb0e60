//! Shared test fixtures: a configuration per test, a database per test (a
//! SQLite file, or a fresh PostgreSQL database on 127.0.0.1:5432), and
//! message builders.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use onit::config::Runtime;
use onit::ingest::{receive_imf, Mode, Outcome};
use onit::store::Store;

/// The databases every storage test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The PostgreSQL server tests use (a database is created per test).
pub fn pg_base() -> String {
    std::env::var("ONIT_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// One test's world: a temp dir, a config file in it, and a database URL.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub config_path: PathBuf,
    pg_name: Option<String>,
}

/// Values of the base test configuration a test may replace. `extra` cannot
/// repeat a key or a table of the base (TOML forbids it), so these go here.
#[derive(Debug, Clone, Default)]
pub struct Base {
    /// `outgoing.transport` ("file" when unset).
    pub transport: Option<String>,
    /// `outgoing.from` ("support@jac.example" when unset).
    pub from: Option<String>,
    /// `team.default_pm` ("pm@jac.example" when unset).
    pub default_pm: Option<String>,
    /// `mailbox.poll_interval_secs` (1 when unset).
    pub poll_interval_secs: Option<u64>,
}

impl Env {
    /// A new world with the default test configuration plus `extra` TOML.
    pub fn new(db: Db, extra: &str) -> Env {
        Env::with(db, &Base::default(), extra)
    }

    /// A new world with the default test configuration, some of its values replaced by `base`, plus `extra` TOML.
    pub fn with(db: Db, base: &Base, extra: &str) -> Env {
        // Bursts of test mail come from one client domain within a minute; the caps on
        // acknowledgments per domain and in all are the trust tests' business.
        let caps = "ack_rate_per_domain_per_hour = 1000000\nack_rate_total_per_hour = 1000000\n";
        let extra = if extra.contains("ack_rate_per_domain_per_hour") {
            extra.to_string()
        } else if extra.contains("[policy]\n") {
            extra.replacen("[policy]\n", &format!("[policy]\n{caps}"), 1)
        } else {
            format!("{extra}\n[policy]\n{caps}")
        };
        let extra = extra.as_str();
        let dir = tempfile::tempdir().expect("tempdir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let (url, pg_name) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("onit.db").display()),
                None,
            ),
            Db::Postgres => {
                let name = format!(
                    "onit_test_{}_{}_{:x}",
                    std::process::id(),
                    n,
                    fastrand::u32(..)
                );
                (format!("{}/{}", pg_base(), name), Some(name))
            }
        };
        let config_path = dir.path().join("onit.toml");
        let trust_base = format!(
            "[trust]\nauthserv_ids = [\"{TEST_AUTHSERV_ID}\"]\nreceiving_hosts = [\"{TEST_AUTHSERV_ID}\", \"mail.jac.example\", \"localhost\", \"{}\"]\n",
            onit::host::hostname().to_lowercase()
        );
        let body = format!(
            r#"
[database]
url = "{url}"
[mailbox]
maildir = "{md}"
poll_interval_secs = {poll}
[outgoing]
transport = "{transport}"
dir = "{out}"
from = "{from}"
retry_base_secs = 1
retry_max_secs = 5
[team]
domains = ["jac.example"]
engineers = ["contractor@freelance.example"]
support_addresses = ["support@jac.example"]
default_pm = "{default_pm}"
[[projects]]
name = "acme"
client_domains = ["acme.example"]
pm = "alice.pm@jac.example"
[calendar]
timezone = "Europe/London"
holidays = ["2026-12-25"]
{trust}
{extra}
"#,
            // The test mail's border server: `Mail` stamps its Authentication-Results.
            // The test mail stack's Postfix (mail.jac.example) and this machine (Cyrus's
            // LMTP names it) are our receiving servers.
            trust = if extra.contains("[trust]") {
                ""
            } else {
                // The test mail stack's Postfix (mail.jac.example) is our receiving server.
                &trust_base
            },
            md = dir.path().join("Maildir").display(),
            out = dir.path().join("out").display(),
            transport = base.transport.as_deref().unwrap_or("file"),
            from = base.from.as_deref().unwrap_or("support@jac.example"),
            default_pm = base.default_pm.as_deref().unwrap_or("pm@jac.example"),
            poll = base.poll_interval_secs.unwrap_or(1),
        );
        std::fs::write(&config_path, body).expect("write config");
        Env {
            dir,
            url,
            config_path,
            pg_name,
        }
    }

    pub fn runtime(&self) -> Runtime {
        Runtime::load(Some(&self.config_path)).expect("test config must validate")
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.url, 4).await.expect("open store")
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// An outbox worker over `store` and `rt`, sending through the file
    /// transport into [`Env::out_dir`].
    pub fn file_outbox(&self, store: &Store, rt: &Runtime) -> onit::outgoing::Outbox {
        onit::outgoing::Outbox::new(
            store.clone(),
            onit::outgoing::Transport::File(
                onit::outgoing::file::FileTransport::new(&self.out_dir()).unwrap(),
            ),
            std::sync::Arc::new(rt.clone()),
        )
    }

    /// The acknowledgments written by the file transport (.eml files).
    pub fn sent_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.out_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    // Acknowledgments only (auto-replied); reminders and notices are auto-generated
                    // and depend on the wall clock, which these tests do not control.
                    .filter(|p| {
                        std::fs::read_to_string(p)
                            .is_ok_and(|t| t.contains("Auto-Submitted: auto-replied"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort: a leftover test database is harmless, but tidy up.
            let _ = std::process::Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// A fixed instant, London local time (GMT in November).
pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Europe::London
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid local time")
        .with_timezone(&Utc)
}

/// The authserv-id of the tests' "border server" (the base configuration trusts it).
pub const TEST_AUTHSERV_ID: &str = "mx.onit.test";

/// The configuration of tests that import archives: POLICY's scenarios are team mail
/// with no Authentication-Results, which is what `trust.team = "header"` is for.
pub const ARCHIVE_TRUST: &str = "[trust]\nteam = \"header\"\nacknowledge = \"any\"\n";

/// A raw message as our test border server delivers it: with its
/// Authentication-Results (DKIM and DMARC pass for the `From:` domain) on top.
pub fn stamped(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let domain = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case("from:"))
        .and_then(|l| l.rsplit_once('@'))
        .map(|(_, d)| {
            d.trim_end_matches(|c: char| c == '>' || c.is_whitespace())
                .to_string()
        })
        .unwrap_or_else(|| "invalid".into());
    let mut out = format!(
        "Authentication-Results: {TEST_AUTHSERV_ID}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(raw);
    out
}

/// Builds a plain RFC 5322 message. As delivered by the tests' border server, it
/// carries that server's `Authentication-Results` (DKIM and DMARC pass for the
/// `From:` domain), unless [`Mail::forged`] says the sender proved nothing.
pub struct Mail {
    headers: Vec<(String, String)>,
    body: String,
    forged: bool,
}

impl Mail {
    pub fn new(from: &str, to: &str, subject: &str, id: &str) -> Mail {
        let mut m = Mail {
            headers: Vec::new(),
            body: "Hello,\r\nplease have a look.\r\n".into(),
            forged: false,
        };
        m = m.h("From", from).h("To", to).h("Subject", subject);
        if !id.is_empty() {
            m = m.h("Message-ID", &format!("<{id}>"));
        }
        m.h("Date", "Thu, 26 Nov 2026 10:00:00 +0000")
    }
    pub fn h(mut self, name: &str, value: &str) -> Mail {
        self.headers.retain(|(n, _)| {
            !(n.eq_ignore_ascii_case(name) && (name == "Date" || name == "Subject"))
        });
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// The sender proved nothing: no Authentication-Results from our border.
    pub fn forged(mut self) -> Mail {
        self.forged = true;
        self
    }
    pub fn body(mut self, b: &str) -> Mail {
        self.body = b.replace('\n', "\r\n");
        self
    }
    pub fn bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        if !self.forged {
            let domain = self
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("From"))
                .and_then(|(_, v)| v.rsplit_once('@'))
                .map(|(_, d)| d.trim_end_matches(|c: char| c == '>' || c.is_whitespace()))
                .unwrap_or("invalid");
            s.push_str(&format!(
                "Authentication-Results: {TEST_AUTHSERV_ID}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}\r\n"
            ));
        }
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.push_str(&self.body);
        s.into_bytes()
    }
}

/// The corpus shared by the projects, if present.
pub fn corpus_dir() -> Option<PathBuf> {
    let p = std::env::var("ONIT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    p.is_dir().then_some(p)
}

/// The onit binary built for these tests.
pub fn onit_bin() -> &'static str {
    env!("CARGO_BIN_EXE_onit")
}

/// Ingests `m` as live mail that arrived at `when`, through the one ingest seam.
pub async fn feed(store: &Store, rt: &Runtime, m: &Mail, when: DateTime<Utc>) -> Outcome {
    feed_mode(store, rt, m, when, Mode::Live).await
}

/// As [`feed`], as live mail or as an archive.
pub async fn feed_mode(
    store: &Store,
    rt: &Runtime,
    m: &Mail,
    when: DateTime<Utc>,
    mode: Mode,
) -> Outcome {
    receive_imf(store, rt, &m.bytes(), when, "test", mode)
        .await
        .expect("ingest")
}

/// The onit binary on `env`'s configuration, in its folder, with no `ONIT__…`
/// or `ONIT_FAULT` inherited from the test's own environment.
pub fn onit_command(env: &Env, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(onit_bin());
    c.arg("--config")
        .arg(&env.config_path)
        .args(args)
        .current_dir(env.dir.path())
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("ONIT__") || k == "ONIT_FAULT" {
            c.env_remove(k);
        }
    }
    c
}

/// The standard output of a run that must have succeeded.
pub fn expect_ok(args: &[&str], out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "onit {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
