//! The real mail stack (Dovecot + Postfix on loopback) for live tests, started
//! by the project's own script `tests/mailstack/mailstack.sh`.
//!
//! `shared()` is one stack for the whole test binary (tests isolate themselves
//! by using fresh mailbox names: any user logs in with the one password).
//! Tests that stop or restart a server take a `private()` stack of their own.
//!
//! The same script runs Cyrus IMAP in Dovecot's place (`Server::Cyrus`), so
//! the live tests that matter run against both servers.
//!
//! `shared_dkim()` is a stack with the script's DKIM layer (`MAILSTACK_DKIM=1`):
//! OpenDKIM verifying what Postfix receives, keys served by dnsmasq, and a
//! signing "engineer's MTA" port (`Stack::dkim`, `tests/it/dkim_stack.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The IMAP server of a stack (Postfix delivers to it over LMTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Dovecot,
    Cyrus,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Dovecot => "dovecot",
            Server::Cyrus => "cyrus",
        }
    }
}

/// A running stack's ports and credentials.
#[derive(Debug, Clone)]
pub struct Stack {
    pub dir: PathBuf,
    pub server: Server,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub smtps_port: u16,
    pub ca_file: PathBuf,
    pub password: String,
    /// The DKIM layer, on stacks started with it (`shared_dkim()`).
    pub dkim: Option<Dkim>,
    private: bool,
}

/// The DKIM layer of a stack (the `DKIM_*` env keys of `mailstack.sh`).
#[derive(Debug, Clone)]
pub struct Dkim {
    /// The authserv-id of the `Authentication-Results` our receiving server adds.
    pub authserv_id: String,
    /// The domain the engineer's MTA signs for (`d=`): the team's, `jac.example`.
    pub domain: String,
    /// The selector (`s=`), fresh at each start, as is the key.
    pub selector: String,
    /// The signing key (PEM, PKCS#1), for tests that sign by themselves.
    #[allow(dead_code)]
    pub key: PathBuf,
    /// The engineer's MTA: signs mail From: the domain, then relays it to `smtp_port`.
    pub signing_smtp_port: u16,
    /// dnsmasq serving `<selector>._domainkey.<domain>` TXT (UDP and TCP).
    #[allow(dead_code)]
    pub dns_port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mailstack/mailstack.sh")
}

fn run(args: &[&str], server: Server, dkim: bool) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("MAILSTACK_IMAP_SERVER", server.name())
        .env("MAILSTACK_DKIM", if dkim { "1" } else { "0" })
        .output()
        .expect("run mailstack.sh");
    assert!(
        out.status.success(),
        "mailstack.sh {args:?} failed (run `bash tests/mailstack/mailstack.sh install` as root first):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

impl Stack {
    fn start(
        server: Server,
        dir: &Path,
        private: bool,
        introspection_url: Option<&str>,
        dkim: bool,
    ) -> Stack {
        let mut args = vec!["start", dir.to_str().expect("utf-8 path")];
        args.extend(introspection_url);
        let out = run(&args, server, dkim);
        let env: HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
        let port = |k: &str| {
            env.get(k)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("mailstack env lacks {k}: {out}"))
        };
        assert_eq!(
            env.get("IMAP_SERVER").copied(),
            Some(server.name()),
            "{dir:?} runs another IMAP server"
        );
        let text = |k: &str| {
            env.get(k)
                .map(|v| v.to_string())
                .unwrap_or_else(|| panic!("mailstack env lacks {k}: {out}"))
        };
        let dkim = dkim.then(|| Dkim {
            authserv_id: text("DKIM_AUTHSERV_ID"),
            domain: text("DKIM_DOMAIN"),
            selector: text("DKIM_SELECTOR"),
            key: PathBuf::from(text("DKIM_KEY")),
            signing_smtp_port: port("DKIM_SIGNING_SMTP_PORT"),
            dns_port: port("DKIM_DNS_PORT"),
        });
        Stack {
            dir: dir.to_path_buf(),
            server,
            imap_port: port("IMAP_PORT"),
            imaps_port: port("IMAPS_PORT"),
            smtp_port: port("SMTP_PORT"),
            smtps_port: port("SMTPS_PORT"),
            ca_file: PathBuf::from(env.get("CA_FILE").expect("CA_FILE")),
            password: env.get("PASSWORD").expect("PASSWORD").to_string(),
            dkim,
            private,
        }
    }

    /// Where the mail of a test stands, for a timeout's message: how many
    /// messages Postfix still holds in each queue, and the last lines of the
    /// Postfix and IMAP server logs that mention `needle` (an address).
    pub fn mail_diagnosis(&self, needle: &str) -> String {
        let mut out = String::from("postfix queues:");
        for q in ["maildrop", "incoming", "active", "deferred", "hold"] {
            let n = walk_count(&self.dir.join("postfix-queue").join(q));
            out.push_str(&format!(" {q} {n}"));
        }
        for log in ["postfix.log", "dovecot.log"] {
            let text = std::fs::read_to_string(self.dir.join("log").join(log)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
            out.push_str(&format!("\n{log}, last lines with {needle}:\n"));
            out.push_str(&lines[lines.len().saturating_sub(30)..].join("\n"));
        }
        out
    }

    /// Runs a subcommand on this stack (`stop-postfix`, `restart-imap`, …).
    pub fn ctl(&self, cmd: &str) {
        run(
            &[cmd, self.dir.to_str().expect("utf-8 path")],
            self.server,
            self.dkim.is_some(),
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.private {
            let _ = Command::new("bash")
                .arg(script())
                .args(["stop", self.dir.to_str().unwrap_or("")])
                .output();
        }
    }
}

/// Files under `dir` (Postfix keeps a queued message as one file, hashed into subfolders).
fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk_count(&p)
                } else {
                    1
                }
            })
            .sum()
    })
}

fn shared_dir() -> PathBuf {
    std::env::var("ONIT_MAILSTACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/tmp/onit-mailstack-shared"))
}

/// The stack shared by this test binary (reused across runs when it is still up).
pub fn shared() -> &'static Stack {
    shared_on(Server::Dovecot)
}

/// The shared stack with the given IMAP server; Cyrus's lives in
/// `$ONIT_MAILSTACK_DIR-cyrus` (`scripts/test.sh` stops both).
pub fn shared_on(server: Server) -> &'static Stack {
    static DOVECOT: OnceLock<Stack> = OnceLock::new();
    static CYRUS: OnceLock<Stack> = OnceLock::new();
    match server {
        Server::Dovecot => {
            DOVECOT.get_or_init(|| Stack::start(server, &shared_dir(), false, None, false))
        }
        Server::Cyrus => CYRUS.get_or_init(|| {
            let mut dir = shared_dir().into_os_string();
            dir.push("-cyrus");
            Stack::start(server, Path::new(&dir), false, None, false)
        }),
    }
}

/// The shared Dovecot stack with the DKIM layer, in `$ONIT_MAILSTACK_DIR-dkim`
/// (`scripts/test.sh` stops it).
pub fn shared_dkim() -> &'static Stack {
    static DKIM: OnceLock<Stack> = OnceLock::new();
    DKIM.get_or_init(|| {
        let mut dir = shared_dir().into_os_string();
        dir.push("-dkim");
        Stack::start(Server::Dovecot, Path::new(&dir), false, None, true)
    })
}

/// A stack of this test's own, stopped when dropped (for outage tests).
pub fn private(name: &str) -> Stack {
    private_on(Server::Dovecot, name)
}

/// A private stack with the given IMAP server.
pub fn private_on(server: Server, name: &str) -> Stack {
    Stack::start(server, &private_dir(name), true, None, false)
}

/// A private stack whose Dovecot (IMAP, and Postfix's SASL) also accepts
/// XOAUTH2/OAUTHBEARER bearer tokens, each checked by POSTing it to
/// `introspection_url` (`{"active": true, "username": …}` accepts it).
pub fn private_oauth(name: &str, introspection_url: &str) -> Stack {
    Stack::start(
        Server::Dovecot,
        &private_dir(name),
        true,
        Some(introspection_url),
        false,
    )
}

fn private_dir(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "/tmp/onit-ms-{}-{}-{:x}",
        name,
        std::process::id(),
        fastrand::u32(..)
    ))
}

/// A fresh address at a stack domain, unique to this test run.
pub fn fresh(local: &str, domain: &str) -> String {
    format!(
        "{local}-{:x}{:x}@{domain}",
        std::process::id(),
        fastrand::u64(..)
    )
}
