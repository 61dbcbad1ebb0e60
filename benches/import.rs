//! `cargo bench --bench import`: how fast `onit import` stores an archive.
//!
//! Generates a deterministic mailbox of 10,000 varied messages (seeded
//! fastrand) as one mboxrd file, then times `onit::import::import` (on one CPU
//! and one runtime thread, as the command runs it) on a fresh
//! SQLite database five times (and on PostgreSQL three times when a server
//! answers on 127.0.0.1:5432), and `MailView::parse` alone so the reader can
//! see how much of the time is storage. Target: ≥ 2,000 messages/s on SQLite.
//!
//! Two PostgreSQL diagnostics follow the main PostgreSQL series: the same
//! server with `sslmode=disable`, and through its Unix socket. They show how
//! much of the TCP time is spent waiting on the connection rather than in
//! PostgreSQL (sqlx 0.9.0 does not set TCP_NODELAY; see the report).
//!
//! The machine these run on is shared and noisy: the table gives every run
//! with its CPU time, the median and ratios, never a single timing.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use onit::import::ImportCounts;
use onit::message::MailView;

const N_MESSAGES: usize = 10_000;
const N_THREADS: usize = 2_500;
const N_CLIENTS: usize = 600;
const SEED: u64 = 0x6f6e_6974_2d62_656e; // "onit-ben"
const SQLITE_RUNS: usize = 5;
const PG_RUNS: usize = 3;

/// Run counts can be changed for a quick look: `ONIT_BENCH_SQLITE_RUNS=1 ONIT_BENCH_PG_RUNS=0`
/// (`ONIT_BENCH_PG_DIAG_RUNS` for the PostgreSQL diagnostics; 0 skips a part).
fn runs(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
const PARSE_RUNS: usize = 5;
const TARGET_MSG_PER_SEC: f64 = 2_000.0;

// ---------------------------------------------------------------------------
// Text material
// ---------------------------------------------------------------------------

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Isla", "Jack", "Katie",
    "Liam", "Maya", "Noah", "Olivia", "Peter", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Will", "Xena", "Yusuf", "Zoe", "Aoife", "Bjørn", "Chloé", "Jürgen", "José", "Zoë",
];
const LAST: &[&str] = &[
    "Adams",
    "Baker",
    "Clarke",
    "Davies",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ivanova",
    "Jones",
    "Khan",
    "Lewis",
    "Martin",
    "Nowak",
    "O'Brien",
    "Patel",
    "Quinn",
    "Roberts",
    "Smith",
    "Taylor",
    "Usman",
    "Vogel",
    "Walker",
    "Young",
    "Müller",
    "Lefèvre",
    "Ångström",
];
/// Client domains: the first three are `[[projects]]` in the benchmark's configuration.
const CLIENT_DOMAINS: &[&str] = &[
    "acme.example",
    "globex.example",
    "initech.example",
    "umbrella.example",
    "hooli.example",
    "stark.example",
    "wayne.example",
    "mail.example",
];
const ENGINEERS: &[(&str, &str)] = &[
    ("Dan Morgan", "dan@jac.example"),
    ("Erin Walsh", "erin@jac.example"),
    ("Frank Li", "frank@jac.example"),
    ("Grace Okafor", "grace@jac.example"),
    ("Heidi Svensson", "heidi@jac.example"),
    ("Ivan Petrov", "ivan@jac.example"),
    ("Judy Chen", "judy@jac.example"),
    ("Ken Adeyemi", "ken@jac.example"),
    ("Lena Roth", "lena@jac.example"),
    ("Marco Bianchi", "marco@jac.example"),
    ("Nina Kowalski", "nina@jac.example"),
    ("Contractor Carl", "contractor@freelance.example"),
];
const SUPPORT: &str = "support@jac.example";

const URGENT_SUBJECTS: &[&str] = &[
    "Production down: checkout returns 500 (order #{n})",
    "URGENT: nightly export failed, customers complaining ({n})",
    "Outage on the payments API since {t}",
    "We cannot log in to the admin portal - ticket {n}",
    "Site down for EU users",
    "Blocked: release {n} deployment fails ASAP please",
    "Deadline today - reports page is empty for account {n}",
    "Dringend: Zahlungen schlagen fehl (Auftrag {n})",
];
const HIGH_SUBJECTS: &[&str] = &[
    "Search results are stale, we have a workaround (case {n})",
    "Import of CSV {n} drops rows; for now we can re-run it by hand",
    "Slow dashboard for account {n}",
    "Problème d'export des factures {n}",
];
const MEDIUM_SUBJECTS: &[&str] = &[
    "Question about the API rate limits ({n})",
    "Invoice {n} shows the wrong VAT rate",
    "Feature request: CSV export of user list",
    "Password reset emails arrive late ({n})",
    "Typo on the pricing page",
    "How do we add a second admin? ({n})",
    "Webhook retries for endpoint {n}",
    "Änderung der Rechnungsadresse für Konto {n}",
    "Demande d'accès pour un nouvel utilisateur ({n})",
];
const URGENT_OPENERS: &[&str] = &[
    "This is urgent: production is down for all of our customers since {t}.",
    "Our customers are complaining, the checkout has been failing since {t}. Please treat this as an outage.",
    "We are blocked and have a deadline today. Nothing works since {t}.",
    "Nobody on our side can log in since {t}; please help ASAP.",
];
const HIGH_OPENERS: &[&str] = &[
    "Since {t} this is broken. For now we can work around it by running the job by hand, but it costs us time.",
    "We found a workaround (restarting the sync), but the problem comes back every few hours since {t}.",
];
const MEDIUM_OPENERS: &[&str] = &[
    "Could you have a look at this when you get a chance? We noticed it on {t}.",
    "A quick question from our side, no rush.",
    "Since {t} we see this from time to time; it is not critical.",
    "Könnten Sie sich das bitte ansehen? Es tritt seit {t} auf.",
    "Pourriez-vous regarder ce problème ? Il est apparu le {t}.",
];
const WORDS: &[&str] = &[
    "the",
    "export",
    "job",
    "fails",
    "after",
    "we",
    "changed",
    "settings",
    "for",
    "account",
    "and",
    "users",
    "see",
    "an",
    "error",
    "page",
    "when",
    "they",
    "open",
    "report",
    "it",
    "worked",
    "fine",
    "last",
    "week",
    "our",
    "team",
    "checked",
    "logs",
    "server",
    "database",
    "connection",
    "timeout",
    "again",
    "please",
    "let",
    "us",
    "know",
    "if",
    "you",
    "need",
    "more",
    "details",
    "screenshot",
    "attached",
    "browser",
    "cache",
    "cleared",
    "same",
    "result",
    "invoice",
    "customer",
    "order",
    "payment",
    "gateway",
    "request",
    "response",
    "status",
    "deployment",
    "release",
    "version",
    "config",
    "token",
    "expired",
    "refresh",
    "queue",
    "worker",
    "retry",
    "schedule",
    "nightly",
    "Straße",
    "naïve",
    "café",
    "Größe",
    "déjà",
    "fiancée",
    "Ærø",
    "smörgåsbord",
];
const LOG_LEVELS: &[&str] = &["ERROR", "WARN", "INFO", "ERROR", "DEBUG"];

// ---------------------------------------------------------------------------
// Small encoders (no extra dependencies)
// ---------------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Base64 in 76-character lines, as in a MIME body.
fn base64_lines(data: &[u8]) -> String {
    let flat = base64(data);
    let mut out = String::with_capacity(flat.len() + flat.len() / 76 + 1);
    for line in flat.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Quoted-printable (RFC 2045) of UTF-8 text whose lines end with `\n`.
fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 11 / 10);
    for line in text.split('\n') {
        let mut col = 0;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let plain = (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if plain {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if col + piece.len() > 75 {
                out.push_str("=\n");
                col = 0;
            }
            out.push_str(&piece);
            col += piece.len();
        }
        out.push('\n');
    }
    out.pop();
    out
}

/// An RFC 2047 header value: UTF-8 B-encoded words of at most ~60 characters each.
fn encoded_utf8(s: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 36 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\n ")
}

/// An RFC 2047 header value in ISO-8859-1, Q-encoded; `None` when `s` has characters beyond Latin-1.
fn encoded_latin1(s: &str) -> Option<String> {
    let mut q = String::new();
    for c in s.chars() {
        let cp = u32::from(c);
        if cp > 0xFF {
            return None;
        }
        match c {
            ' ' => q.push('_'),
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | ',' | '-' | '!' => q.push(c),
            _ => q.push_str(&format!("={cp:02X}")),
        }
    }
    Some(format!("=?ISO-8859-1?Q?{q}?="))
}

fn is_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii())
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Person {
    name: String,
    addr: String,
}

/// One generated message: when it arrived, the envelope sender and its bytes (LF line ends).
struct Generated {
    at: DateTime<Utc>,
    envelope: String,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Cte {
    Plain,
    Qp,
    B64,
}

enum Shape {
    /// text/plain
    Text,
    /// multipart/alternative: text/plain + text/html
    Alternative,
    /// multipart/mixed: text/plain + an application/octet-stream attachment of this many bytes
    Attachment(usize),
}

struct Draft {
    headers: Vec<(String, String)>,
    text: String,
    cte: Cte,
    shape: Shape,
}

struct Gen {
    rng: fastrand::Rng,
    clients: Vec<Person>,
    engineers: Vec<Person>,
    boundary: u64,
}

fn rfc2822(at: DateTime<Utc>, offset_mins: i32) -> String {
    let tz = FixedOffset::east_opt(offset_mins * 60).expect("valid offset");
    at.with_timezone(&tz).to_rfc2822()
}

fn mailbox_header(p: &Person, rng: &mut fastrand::Rng) -> String {
    if is_ascii(&p.name) {
        if p.name.contains('\'') {
            format!("\"{}\" <{}>", p.name, p.addr)
        } else {
            format!("{} <{}>", p.name, p.addr)
        }
    } else if rng.bool() {
        format!(
            "{} <{}>",
            encoded_latin1(&p.name).unwrap_or_else(|| encoded_utf8(&p.name)),
            p.addr
        )
    } else {
        format!("{} <{}>", encoded_utf8(&p.name), p.addr)
    }
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut seen = BTreeSet::new();
        let mut clients = Vec::new();
        while clients.len() < N_CLIENTS {
            let first = FIRST[rng.usize(..FIRST.len())];
            let last = LAST[rng.usize(..LAST.len())];
            // Domain weights: the three project domains get most of the traffic.
            let d = match rng.u32(..100) {
                0..=24 => 0,
                25..=44 => 1,
                45..=59 => 2,
                n => 3 + (n as usize % (CLIENT_DOMAINS.len() - 3)),
            };
            let ascii = |s: &str| -> String {
                s.chars()
                    .map(|c| match c {
                        'ø' => 'o',
                        'é' | 'è' => 'e',
                        'ü' => 'u',
                        'ë' => 'e',
                        'Å' => 'a',
                        'ö' => 'o',
                        c => c,
                    })
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_lowercase()
            };
            let local = match rng.u32(..3) {
                0 => format!("{}.{}", ascii(first), ascii(last)),
                1 => format!("{}{}", &ascii(first)[..1], ascii(last)),
                _ => format!("{}.{}{}", ascii(first), ascii(last), rng.u32(1..99)),
            };
            let addr = format!("{local}@{}", CLIENT_DOMAINS[d]);
            if seen.insert(addr.clone()) {
                clients.push(Person {
                    name: format!("{first} {last}"),
                    addr,
                });
            }
        }
        let engineers = ENGINEERS
            .iter()
            .map(|(n, a)| Person {
                name: n.to_string(),
                addr: a.to_string(),
            })
            .collect();
        Gen {
            rng,
            clients,
            engineers,
            boundary: 0,
        }
    }

    fn words(&mut self, n: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[self.rng.usize(..WORDS.len())]);
        }
        s
    }

    /// A paragraph of ~`len` bytes wrapped at ~72 columns.
    fn paragraph(&mut self, len: usize) -> String {
        let mut out = String::new();
        let mut line = String::new();
        let mut sentence_start = true;
        while out.len() + line.len() < len {
            let mut w = WORDS[self.rng.usize(..WORDS.len())].to_string();
            if sentence_start {
                let mut cs = w.chars();
                w = cs
                    .next()
                    .map(|c| c.to_uppercase().chain(cs).collect())
                    .unwrap_or_default();
                sentence_start = false;
            }
            if self.rng.u32(..9) == 0 {
                w.push('.');
                sentence_start = true;
            }
            if line.len() + w.len() + 1 > 72 {
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&w);
        }
        out.push_str(&line);
        if !sentence_start {
            out.push('.');
        }
        out.push('\n');
        out
    }

    fn log_lines(&mut self, at: DateTime<Utc>, len: usize) -> String {
        let mut out = String::from("Log excerpt:\n\n");
        let mut t = at - Duration::minutes(30);
        while out.len() < len {
            t += Duration::milliseconds(self.rng.i64(10..20_000));
            let lvl = LOG_LEVELS[self.rng.usize(..LOG_LEVELS.len())];
            let w = self.words(5);
            out.push_str(&format!(
                "    {} {lvl:<5} worker-{} job={} id={} {w}\n",
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                self.rng.u32(1..9),
                self.rng.u32(1000..9999),
                self.rng.u32(..1_000_000)
            ));
        }
        out
    }

    /// Bodies between 1 KB and ~50 KB, log-uniformly distributed (headers included roughly).
    fn target_size(&mut self) -> usize {
        let (lo, hi) = (1_000f64.ln(), 50_000f64.ln());
        (lo + self.rng.f64() * (hi - lo)).exp() as usize
    }

    /// Pads `text` to about `target` bytes with prose, logs or (for replies) quoted history.
    fn pad(
        &mut self,
        mut text: String,
        target: usize,
        at: DateTime<Utc>,
        quote: Option<&str>,
    ) -> String {
        if let Some(q) = quote {
            let mut quoted = String::new();
            for l in q.lines() {
                if text.len() + quoted.len() >= target {
                    break;
                }
                quoted.push_str(if l.starts_with('>') { ">" } else { "> " });
                quoted.push_str(l);
                quoted.push('\n');
            }
            if !quoted.is_empty() {
                text.push_str(&format!(
                    "\nOn {}, the customer wrote:\n",
                    at.format("%a %d %b %Y %H:%M")
                ));
                text.push_str(&quoted);
            }
        }
        while text.len() < target {
            let remaining = target - text.len();
            text.push('\n');
            if self.rng.u32(..3) == 0 && remaining > 600 {
                let n = remaining.min(6_000);
                let logs = self.log_lines(at, n);
                text.push_str(&logs);
            } else {
                let n = remaining.min(200 + self.rng.usize(..900));
                let p = self.paragraph(n);
                text.push_str(&p);
            }
            // A few lines that an mbox must quote (mboxrd): "From " and ">From " at line start.
            if self.rng.u32(..40) == 0 {
                text.push_str("From what we can tell, this started after the upgrade.\n");
            }
            if self.rng.u32(..120) == 0 {
                text.push_str(">From the earlier thread: same symptom.\n");
            }
        }
        text
    }

    fn cte_for(&mut self, text: &str) -> Cte {
        let r = self.rng.u32(..100);
        if is_ascii(text) {
            match r {
                0..=9 => Cte::Qp,
                10..=14 => Cte::B64,
                _ => Cte::Plain,
            }
        } else {
            match r {
                0..=24 => Cte::Qp,
                25..=39 => Cte::B64,
                _ => Cte::Plain,
            }
        }
    }

    /// A MIME shape and the size of text that makes the whole message about `target_size()` bytes.
    fn sized(&mut self) -> (Shape, usize) {
        let target = self.target_size();
        match self.shape() {
            Shape::Text => (Shape::Text, target),
            // The HTML alternative repeats the text.
            Shape::Alternative => (Shape::Alternative, (target / 2).max(500)),
            // An attachment is base64 (4/3 of its size) on top of the text.
            Shape::Attachment(n) => (
                Shape::Attachment(n),
                target.saturating_sub(n * 4 / 3).max(600),
            ),
        }
    }

    fn shape(&mut self) -> Shape {
        match self.rng.u32(..1000) {
            0..=1 => Shape::Attachment(200_000 + self.rng.usize(..800_000)), // a few large ones
            2..=59 => Shape::Attachment(2_000 + self.rng.usize(..30_000)),
            60..=199 => Shape::Alternative,
            _ => Shape::Text,
        }
    }

    fn next_boundary(&mut self) -> String {
        self.boundary += 1;
        format!("=_bench_{:08x}_{}", self.rng.u32(..), self.boundary)
    }

    fn render(&mut self, d: Draft) -> Vec<u8> {
        let mut s = String::with_capacity(d.text.len() * 14 / 10 + 1024);
        for (n, v) in &d.headers {
            s.push_str(n);
            s.push_str(": ");
            s.push_str(v);
            s.push('\n');
        }
        s.push_str("MIME-Version: 1.0\n");
        let charset = if is_ascii(&d.text) {
            "us-ascii"
        } else {
            "utf-8"
        };
        let text_part = |cte: Cte, text: &str| -> (String, String) {
            match cte {
                Cte::Plain => (
                    if charset == "utf-8" { "8bit" } else { "7bit" }.to_string(),
                    text.to_string(),
                ),
                Cte::Qp => ("quoted-printable".to_string(), quoted_printable(text)),
                Cte::B64 => ("base64".to_string(), base64_lines(text.as_bytes())),
            }
        };
        match d.shape {
            Shape::Text => {
                let (cte, body) = text_part(d.cte, &d.text);
                s.push_str(&format!("Content-Type: text/plain; charset={charset}; format=flowed\nContent-Transfer-Encoding: {cte}\n\n{body}"));
            }
            Shape::Alternative => {
                let b = self.next_boundary();
                let (cte, body) = text_part(d.cte, &d.text);
                let html: String = d
                    .text
                    .lines()
                    .map(|l| {
                        format!(
                            "<p>{}</p>\n",
                            l.replace('&', "&amp;")
                                .replace('<', "&lt;")
                                .replace('>', "&gt;")
                        )
                    })
                    .collect();
                let (hcte, hbody) = text_part(
                    if d.cte == Cte::B64 { Cte::B64 } else { Cte::Qp },
                    &format!("<html><body>\n{html}</body></html>\n"),
                );
                s.push_str(&format!(
                    "Content-Type: multipart/alternative; boundary=\"{b}\"\n\nThis is a multi-part message in MIME format.\n\n--{b}\nContent-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n{body}\n--{b}\nContent-Type: text/html; charset={charset}\nContent-Transfer-Encoding: {hcte}\n\n{hbody}\n--{b}--\n"
                ));
            }
            Shape::Attachment(n) => {
                let b = self.next_boundary();
                let (cte, body) = text_part(d.cte, &d.text);
                let mut blob = vec![0u8; n];
                self.rng.fill(&mut blob);
                let name = ["screenshot.png", "export.csv.gz", "logs.zip", "invoice.pdf"]
                    [self.rng.usize(..4)];
                s.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"{b}\"\n\n--{b}\nContent-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n{body}\n--{b}\nContent-Type: application/octet-stream; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{}--{b}--\n",
                    base64_lines(&blob)
                ));
            }
        }
        s.into_bytes()
    }

    fn subject_header(&mut self, subject: &str) -> String {
        if is_ascii(subject) {
            return subject.to_string();
        }
        match (self.rng.u32(..10), encoded_latin1(subject)) {
            (0..=3, Some(latin1)) => latin1,
            (0..=7, _) => encoded_utf8(subject),
            _ => subject.to_string(), // raw UTF-8 in a header, as some clients send
        }
    }

    fn fill(&mut self, template: &str, n: u32, at: DateTime<Utc>) -> String {
        template
            .replace("{n}", &n.to_string())
            .replace("{t}", &at.format("%H:%M on %d %b").to_string())
    }

    /// Every message of one support thread, in time order.
    fn thread(&mut self, ticket: usize, start: DateTime<Utc>, out: &mut Vec<Generated>) {
        let client = self.clients[self.rng.usize(..self.clients.len())].clone();
        let cdomain = client
            .addr
            .split('@')
            .nth(1)
            .unwrap_or("client.example")
            .to_string();
        let tz = [0, 60, 60, -300, 120, 0, 330][self.rng.usize(..7)];
        let n = self.rng.u32(1000..99_999);
        let (subject, opener) = match self.rng.u32(..100) {
            0..=24 => (
                URGENT_SUBJECTS[self.rng.usize(..URGENT_SUBJECTS.len())],
                URGENT_OPENERS[self.rng.usize(..URGENT_OPENERS.len())],
            ),
            25..=44 => (
                HIGH_SUBJECTS[self.rng.usize(..HIGH_SUBJECTS.len())],
                HIGH_OPENERS[self.rng.usize(..HIGH_OPENERS.len())],
            ),
            _ => (
                MEDIUM_SUBJECTS[self.rng.usize(..MEDIUM_SUBJECTS.len())],
                MEDIUM_OPENERS[self.rng.usize(..MEDIUM_OPENERS.len())],
            ),
        };
        let subject = self.fill(subject, n, start);
        let opener = self.fill(opener, n, start);
        let mut t = start;
        let mut refs: Vec<String> = Vec::new();

        // 1. The client's first message (1.5 % without Message-ID, 3 % delivered twice).
        let first_id = format!(
            "{:x}.{}.{}@{}",
            self.rng.u64(..),
            ticket,
            n,
            if self.rng.bool() {
                cdomain.as_str()
            } else {
                "mx.mail.example"
            }
        );
        let has_id = self.rng.u32(..1000) >= 15;
        let (shape, target) = self.sized();
        let first_text = self.pad(format!("Hello support,\n\n{opener}\n"), target, t, None);
        let first_text = format!("{first_text}\nBest regards,\n{}\n", client.name);
        let mut h = vec![
            ("Return-Path".to_string(), format!("<{}>", client.addr)),
            ("Received".to_string(), format!("from mx.{cdomain} (mx.{cdomain} [192.0.2.{}])\n\tby mail.jac.example with ESMTPS id {:X}\n\tfor <{SUPPORT}>; {}", self.rng.u8(1..254), self.rng.u64(..), rfc2822(t, 0))),
            ("From".to_string(), mailbox_header(&client, &mut self.rng)),
            ("To".to_string(), format!("JAC Support <{SUPPORT}>")),
            ("Subject".to_string(), self.subject_header(&subject)),
            ("Date".to_string(), rfc2822(t, tz)),
        ];
        if has_id {
            h.push(("Message-ID".to_string(), format!("<{first_id}>")));
            refs.push(first_id.clone());
        }
        if self.rng.u32(..5) == 0 {
            h.push((
                "Cc".to_string(),
                format!(
                    "{}, ops@{cdomain}",
                    self.clients[self.rng.usize(..self.clients.len())].addr
                ),
            ));
        }
        let cte = self.cte_for(&first_text);
        let bytes = self.render(Draft {
            headers: h,
            text: first_text.clone(),
            cte,
            shape,
        });
        if self.rng.u32(..100) < 3 {
            out.push(Generated {
                at: t + Duration::seconds(self.rng.i64(30..600)),
                envelope: client.addr.clone(),
                bytes: bytes.clone(),
            });
        }
        out.push(Generated {
            at: t,
            envelope: client.addr.clone(),
            bytes,
        });
        let mut last_client_text = first_text;
        let tag = format!("[JAC-{ticket}]");

        // 2. The acknowledgment an earlier system sent (70 %).
        let mut ack_id = None;
        if self.rng.u32(..10) < 7 {
            t += Duration::seconds(self.rng.i64(5..90));
            let id = format!("ack.{:x}@jac.example", self.rng.u64(..));
            let text = format!(
                "Dear {},\n\nthank you for your message. We have opened ticket {} for it\nand will send you an update within one business hour.\n\nJAC Support\n",
                client.name,
                &tag[1..tag.len() - 1]
            );
            let mut h = vec![
                ("From".to_string(), format!("JAC Support <{SUPPORT}>")),
                ("To".to_string(), client.addr.clone()),
                ("Cc".to_string(), "pm@jac.example".to_string()),
                (
                    "Subject".to_string(),
                    self.subject_header(&format!("Re: {subject} {tag}")),
                ),
                ("Date".to_string(), rfc2822(t, 0)),
                ("Message-ID".to_string(), format!("<{id}>")),
                ("Auto-Submitted".to_string(), "auto-replied".to_string()),
            ];
            if has_id {
                h.push(("In-Reply-To".to_string(), format!("<{first_id}>")));
                h.push(("References".to_string(), format!("<{first_id}>")));
            }
            let bytes = self.render(Draft {
                headers: h,
                text,
                cte: Cte::Plain,
                shape: Shape::Text,
            });
            out.push(Generated {
                at: t,
                envelope: SUPPORT.to_string(),
                bytes,
            });
            ack_id = Some(id);
        }

        // 3. Engineers' replies, client follow-ups, internal notes, robots.
        let replies = match self.rng.u32(..100) {
            0..=19 => 0,
            20..=74 => 1,
            75..=94 => 2,
            _ => 3,
        };
        let engineer = self.engineers[self.rng.usize(..self.engineers.len())].clone();
        let mut last_engineer_id: Option<String> = None;
        for r in 0..replies {
            t += Duration::minutes(self.rng.i64(5..(if r == 0 { 240 } else { 2_880 })));
            if self.rng.u32(..100) < 12 {
                // An internal note between engineers on the thread.
                let other = self.engineers[self.rng.usize(..self.engineers.len())].clone();
                let id = format!("note.{:x}@jac.example", self.rng.u64(..));
                let target = self.target_size().min(8_000);
                let what = self.words(3);
                let text = self.pad(
                    format!(
                        "{},\n\ncan you take this one? I think it is the {what} again.\n",
                        other.name.split(' ').next().unwrap_or("")
                    ),
                    target,
                    t,
                    Some(&last_client_text),
                );
                let mut h = vec![
                    ("From".to_string(), mailbox_header(&engineer, &mut self.rng)),
                    ("To".to_string(), other.addr.clone()),
                    ("Cc".to_string(), SUPPORT.to_string()),
                    (
                        "Subject".to_string(),
                        format!("Re: {} {tag}", self.subject_header(&subject)),
                    ),
                    ("Date".to_string(), rfc2822(t, 0)),
                    ("Message-ID".to_string(), format!("<{id}>")),
                ];
                if let Some(last) = refs.last() {
                    h.push(("In-Reply-To".to_string(), format!("<{last}>")));
                    h.push((
                        "References".to_string(),
                        refs.iter()
                            .map(|r| format!("<{r}>"))
                            .collect::<Vec<_>>()
                            .join("\n "),
                    ));
                }
                let cte = self.cte_for(&text);
                let bytes = self.render(Draft {
                    headers: h,
                    text,
                    cte,
                    shape: Shape::Text,
                });
                out.push(Generated {
                    at: t,
                    envelope: engineer.addr.clone(),
                    bytes,
                });
                t += Duration::minutes(self.rng.i64(1..60));
            }
            // The engineer's reply: client in To, support in Cc.
            let id = format!("{:x}.reply@jac.example", self.rng.u64(..));
            let (shape, target) = self.sized();
            let what = self.words(2);
            let text = self.pad(
                format!("Hi {},\n\nthanks for the report. We are looking into the {what} and will update you by {}.\n", client.name.split(' ').next().unwrap_or(""), (t + Duration::hours(2)).format("%H:%M")),
                target,
                t,
                Some(&last_client_text),
            );
            let text = format!("{text}\n-- \n{}\nJAC Consulting\n", engineer.name);
            let mut h = vec![
                ("From".to_string(), mailbox_header(&engineer, &mut self.rng)),
                ("To".to_string(), mailbox_header(&client, &mut self.rng)),
                ("Cc".to_string(), format!("JAC Support <{SUPPORT}>")),
                (
                    "Subject".to_string(),
                    self.subject_header(&format!("Re: {subject} {tag}")),
                ),
                ("Date".to_string(), rfc2822(t, 0)),
                ("Message-ID".to_string(), format!("<{id}>")),
            ];
            if let Some(last) = refs.last() {
                h.push(("In-Reply-To".to_string(), format!("<{last}>")));
                h.push((
                    "References".to_string(),
                    refs.iter()
                        .map(|r| format!("<{r}>"))
                        .collect::<Vec<_>>()
                        .join("\n "),
                ));
            }
            let cte = self.cte_for(&text);
            let bytes = self.render(Draft {
                headers: h,
                text,
                cte,
                shape,
            });
            out.push(Generated {
                at: t,
                envelope: engineer.addr.clone(),
                bytes,
            });
            refs.push(id.clone());
            last_engineer_id = Some(id.clone());

            // The client's out-of-office answers it (8 %).
            if self.rng.u32(..100) < 8 {
                let at = t + Duration::seconds(self.rng.i64(2..120));
                let h = vec![
                    ("Return-Path".to_string(), format!("<{}>", client.addr)),
                    ("From".to_string(), mailbox_header(&client, &mut self.rng)),
                    ("To".to_string(), engineer.addr.clone()),
                    ("Cc".to_string(), SUPPORT.to_string()),
                    (
                        "Subject".to_string(),
                        self.subject_header(&format!("Automatic reply: Re: {subject} {tag}")),
                    ),
                    ("Date".to_string(), rfc2822(at, tz)),
                    (
                        "Message-ID".to_string(),
                        format!("<ooo.{:x}@{cdomain}>", self.rng.u64(..)),
                    ),
                    ("In-Reply-To".to_string(), format!("<{id}>")),
                    ("Auto-Submitted".to_string(), "auto-replied".to_string()),
                    ("X-Autoreply".to_string(), "yes".to_string()),
                ];
                let text = format!("I am out of the office until {}. For urgent matters please contact ops@{cdomain}.\n", (at + Duration::days(7)).format("%d %B"));
                let bytes = self.render(Draft {
                    headers: h,
                    text,
                    cte: Cte::Plain,
                    shape: Shape::Text,
                });
                out.push(Generated {
                    at,
                    envelope: client.addr.clone(),
                    bytes,
                });
            }

            // The client follows up (55 %): "Re:", no tag, In-Reply-To and References.
            if self.rng.u32(..100) < 55 {
                t += Duration::minutes(self.rng.i64(5..2_880));
                let cid = format!("{:x}.{}@{cdomain}", self.rng.u64(..), r);
                let (shape, target) = self.sized();
                let para = self.paragraph(160);
                let text = self.pad(
                    format!("Hi,\n\n{} Thanks.\n", para.trim_end()),
                    target,
                    t,
                    None,
                );
                let h = vec![
                    ("Return-Path".to_string(), format!("<{}>", client.addr)),
                    ("From".to_string(), mailbox_header(&client, &mut self.rng)),
                    ("To".to_string(), mailbox_header(&engineer, &mut self.rng)),
                    ("Cc".to_string(), SUPPORT.to_string()),
                    (
                        "Subject".to_string(),
                        self.subject_header(&format!("Re: {subject}")),
                    ),
                    ("Date".to_string(), rfc2822(t, tz)),
                    ("Message-ID".to_string(), format!("<{cid}>")),
                    ("In-Reply-To".to_string(), format!("<{id}>")),
                    (
                        "References".to_string(),
                        refs.iter()
                            .map(|r| format!("<{r}>"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                ];
                let cte = self.cte_for(&text);
                let bytes = self.render(Draft {
                    headers: h,
                    text: text.clone(),
                    cte,
                    shape,
                });
                out.push(Generated {
                    at: t,
                    envelope: client.addr.clone(),
                    bytes,
                });
                refs.push(cid);
                last_client_text = text;
            }
        }

        // 4. A bounce (7 %): of an engineer's reply, else of the acknowledgment.
        let bounced = last_engineer_id.or(ack_id);
        if let (Some(bid), true) = (bounced, self.rng.u32(..100) < 7) {
            t += Duration::seconds(self.rng.i64(5..300));
            let b = self.next_boundary();
            let rcpt = format!("former.colleague@{cdomain}");
            let body = format!(
                "This is a multi-part message in MIME format.\n\n--{b}\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\nThis is the mail system at host mx.{cdomain}.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n<{rcpt}>: host mx.{cdomain} said: 550 5.1.1 <{rcpt}>:\n    Recipient address rejected: User unknown in virtual mailbox table\n\n--{b}\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.{cdomain}\nArrival-Date: {d}\n\nFinal-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--{b}\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\nFrom: JAC Support <{SUPPORT}>\nTo: {rcpt}\nSubject: Re: {subj}\nMessage-ID: <{bid}>\nDate: {d}\n\n--{b}--\n",
                d = rfc2822(t, 0),
                subj = if is_ascii(&subject) { subject.clone() } else { encoded_utf8(&subject) },
            );
            let mut s = format!(
                "Return-Path: <>\nFrom: MAILER-DAEMON@mx.{cdomain} (Mail Delivery System)\nTo: {SUPPORT}\nSubject: Undelivered Mail Returned to Sender\nDate: {}\nMessage-ID: <bounce.{:x}@mx.{cdomain}>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{b}\"\n\n",
                rfc2822(t, 0),
                self.rng.u64(..)
            );
            s.push_str(&body);
            out.push(Generated {
                at: t,
                envelope: "MAILER-DAEMON".to_string(),
                bytes: s.into_bytes(),
            });
        }
    }

    /// Mail that belongs to no thread: list mail and internal notes.
    fn filler(&mut self, k: usize, start: DateTime<Utc>, span_secs: i64) -> Generated {
        let at = start + Duration::seconds(self.rng.i64(0..span_secs));
        if self.rng.u32(..4) != 0 {
            let issue = k;
            let mut h = vec![
                ("Return-Path".to_string(), "<announce-bounces@lists.vendor.example>".to_string()),
                ("From".to_string(), "Vendor Cloud News <news@lists.vendor.example>".to_string()),
                ("To".to_string(), SUPPORT.to_string()),
                ("Subject".to_string(), format!("Vendor Cloud weekly #{issue}: maintenance windows and new regions")),
                ("Date".to_string(), rfc2822(at, -300)),
                ("List-Id".to_string(), "Vendor Cloud announcements <announce.lists.vendor.example>".to_string()),
                ("List-Unsubscribe".to_string(), format!("<mailto:announce-request@lists.vendor.example?subject=unsubscribe>, <https://vendor.example/u/{:x}>", self.rng.u64(..))),
                ("Precedence".to_string(), "bulk".to_string()),
            ];
            if self.rng.u32(..10) >= 3 {
                h.push((
                    "Message-ID".to_string(),
                    format!("<news.{issue}.{:x}@lists.vendor.example>", self.rng.u64(..)),
                ));
            }
            let target = self.target_size() / 2; // plus its HTML alternative
            let text = self.pad("This week at Vendor Cloud:\n".to_string(), target, at, None);
            let cte = self.cte_for(&text);
            let bytes = self.render(Draft {
                headers: h,
                text,
                cte,
                shape: Shape::Alternative,
            });
            Generated {
                at,
                envelope: "announce-bounces@lists.vendor.example".to_string(),
                bytes,
            }
        } else {
            let a = self.engineers[self.rng.usize(..self.engineers.len())].clone();
            let b = self.engineers[self.rng.usize(..self.engineers.len())].clone();
            let h = vec![
                ("From".to_string(), mailbox_header(&a, &mut self.rng)),
                ("To".to_string(), mailbox_header(&b, &mut self.rng)),
                ("Cc".to_string(), SUPPORT.to_string()),
                (
                    "Subject".to_string(),
                    format!("On-call rota for week {}", at.format("%V")),
                ),
                ("Date".to_string(), rfc2822(at, 0)),
                (
                    "Message-ID".to_string(),
                    format!("<rota.{k}.{:x}@jac.example>", self.rng.u64(..)),
                ),
            ];
            let target = self.target_size().min(4_000);
            let text = self.pad(
                "Swapping Tuesday and Thursday, if that is fine.\n".to_string(),
                target,
                at,
                None,
            );
            let bytes = self.render(Draft {
                headers: h,
                text,
                cte: Cte::Plain,
                shape: Shape::Text,
            });
            Generated {
                at,
                envelope: a.addr,
                bytes,
            }
        }
    }
}

struct Mailbox {
    messages: Vec<Generated>,
    threads: usize,
    /// Messages on no thread (list mail, rota notes).
    filler: usize,
}

fn generate() -> Mailbox {
    let mut g = Gen::new(SEED);
    let start = Utc
        .with_ymd_and_hms(2025, 1, 6, 0, 0, 0)
        .single()
        .expect("valid date");
    let span_days = 170;
    // Thread starts, mostly in business hours, sorted so ticket numbers follow time.
    let mut starts: Vec<DateTime<Utc>> = (0..N_THREADS)
        .map(|_| {
            let day = g.rng.i64(0..span_days);
            let secs = if g.rng.u32(..5) == 0 {
                g.rng.i64(0..86_400)
            } else {
                g.rng.i64(8 * 3600..18 * 3600)
            };
            start + Duration::days(day) + Duration::seconds(secs)
        })
        .collect();
    starts.sort();
    // Keep room for at least 300 unthreaded messages.
    let budget = N_MESSAGES - 300;
    let mut messages = Vec::with_capacity(N_MESSAGES);
    let mut threads = 0;
    for (i, s) in starts.iter().enumerate() {
        let mut one = Vec::new();
        g.thread(i + 1, *s, &mut one);
        if messages.len() + one.len() > budget {
            break;
        }
        messages.extend(one);
        threads += 1;
    }
    let mut filler = 0;
    while messages.len() < N_MESSAGES {
        filler += 1;
        let m = g.filler(filler, start, span_days * 86_400);
        messages.push(m);
    }
    // An archive is in arrival order.
    messages.sort_by_key(|m| m.at);
    Mailbox {
        messages,
        threads,
        filler,
    }
}

/// Writes an mboxrd file: `From sender asctime` separators, `>*From ` lines quoted with one more `>`.
fn write_mbox(path: &Path, messages: &[Generated]) -> std::io::Result<u64> {
    let f = std::fs::File::create(path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for m in messages {
        writeln!(
            w,
            "From {} {}",
            m.envelope,
            m.at.format("%a %b %e %H:%M:%S %Y")
        )?;
        for line in m.bytes.split_inclusive(|b| *b == b'\n') {
            let after = line.iter().position(|b| *b != b'>').unwrap_or(line.len());
            if line[after..].starts_with(b"From ") {
                w.write_all(b">")?;
            }
            w.write_all(line)?;
        }
        if !m.bytes.ends_with(b"\n") {
            w.write_all(b"\n")?;
        }
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

// ---------------------------------------------------------------------------
// Running onit
// ---------------------------------------------------------------------------

fn write_config(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("onit.toml");
    let body = format!(
        r#"[database]
url = "{url}"
[mailbox]
maildir = "{md}"
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
[[projects]]
name = "initech"
client_domains = ["initech.example"]
pm = "carol.pm@jac.example"
[calendar]
timezone = "Europe/London"
holidays = ["2025-12-25"]
"#,
        md = dir.join("Maildir").display(),
        out = dir.join("out").display(),
    );
    std::fs::write(&path, body).expect("write config");
    path
}

fn runtime_for(dir: &Path, url: &str) -> onit::config::Runtime {
    let cfg = write_config(dir, url);
    onit::config::Runtime::load(Some(&cfg))
        .unwrap_or_else(|e| panic!("benchmark configuration must validate: {e}"))
}

/// One timed import on a fresh database at `url`.
async fn one_import(dir: &Path, url: &str, mbox: &Path) -> Result<(ImportCounts, Run), String> {
    let rt = runtime_for(dir, url);
    let store = onit::store::Store::open(url, rt.max_connections)
        .await
        .map_err(|e| format!("opening {url}: {e:#}"))?;
    let (cpu0, cs0, started) = (cpu_secs(), context_switches(), Instant::now());
    let counts = onit::import::import(&store, &rt, &[mbox.to_path_buf()])
        .await
        .map_err(|e| format!("import: {e:#}"))?;
    let run = Run {
        secs: started.elapsed().as_secs_f64(),
        cpu: cpu_secs() - cpu0,
        switches: context_switches().saturating_sub(cs0),
    };
    store.close().await;
    Ok((counts, run))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn check_sane(c: &ImportCounts) {
    assert_eq!(
        c.messages, N_MESSAGES,
        "every message must be counted: {c:?}"
    );
    assert!(c.tickets > 0, "the archive must open tickets: {c:?}");
    assert_eq!(c.failed, 0, "no message may fail to store: {c:?}");
}

fn psql(sql: &str) -> bool {
    std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    // As the `onit import` command runs (src/cli.rs): its threads on the CPU it
    // started on (src/cpu_placement.rs), one runtime thread.
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let one_cpu = onit::cpu_placement::stay_on_this_cpu();
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    println!("onit import benchmark (release build; {cpus} CPU(s); medians of several runs)");
    println!();

    let t = Instant::now();
    let mailbox = generate();
    let gen_secs = t.elapsed().as_secs_f64();
    let tmp = tempfile::Builder::new()
        .prefix("onit-bench-import-")
        .tempdir()
        .expect("tempdir");
    let mbox = tmp.path().join("archive.mbox");
    let mbox_bytes = write_mbox(&mbox, &mailbox.messages).expect("write mbox");
    let raw: Vec<&[u8]> = mailbox
        .messages
        .iter()
        .map(|m| m.bytes.as_slice())
        .collect();
    let total_msg_bytes: usize = raw.iter().map(|b| b.len()).sum();
    let mut sizes: Vec<usize> = raw.iter().map(|b| b.len()).collect();
    sizes.sort_unstable();

    // The mbox must give back exactly the generated messages (checks the mboxrd writer).
    let back = onit::mailstore::read_import_path(&mbox).expect("read the mbox back");
    assert_eq!(
        back.len(),
        N_MESSAGES,
        "the mbox splits into {} messages, not {N_MESSAGES}",
        back.len()
    );
    let same = back
        .iter()
        .zip(&raw)
        .filter(|(b, r)| b.bytes.as_slice() == **r)
        .count();
    assert_eq!(
        same,
        N_MESSAGES,
        "mbox round trip changed {} message(s)",
        N_MESSAGES - same
    );
    drop(back);

    println!("mailbox   {N_MESSAGES} messages: {} threads + {} on no thread (list mail, rota notes); seed {SEED:#x}", mailbox.threads, mailbox.filler);
    println!(
        "          mbox {:.1} MB; message size median {:.1} KB, p90 {:.1} KB, p99 {:.1} KB, max {:.0} KB (generated in {gen_secs:.1} s)",
        mbox_bytes as f64 / 1e6,
        sizes[sizes.len() / 2] as f64 / 1e3,
        sizes[sizes.len() * 9 / 10] as f64 / 1e3,
        sizes[sizes.len() * 99 / 100] as f64 / 1e3,
        *sizes.last().expect("messages") as f64 / 1e3
    );
    println!();

    // Parse only: MailView::parse over every message.
    let mut parse_rates = Vec::new();
    for _ in 0..PARSE_RUNS {
        let t = Instant::now();
        let mut ok = 0usize;
        for r in &raw {
            if std::hint::black_box(MailView::parse(r)).is_ok() {
                ok += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(ok, N_MESSAGES, "every generated message must parse");
        parse_rates.push(N_MESSAGES as f64 / secs);
    }
    let parse_median = median(&parse_rates);
    drop(raw);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("threads kept on one CPU, as the command keeps them: {one_cpu}");

    // SQLite: five runs, each on a fresh database file.
    let mut sqlite = Vec::new();
    let mut counts: Option<ImportCounts> = None;
    let sqlite_runs = runs("ONIT_BENCH_SQLITE_RUNS", SQLITE_RUNS).max(1);
    for run in 1..=sqlite_runs {
        let dir = tempfile::Builder::new()
            .prefix("onit-bench-sqlite-")
            .tempdir()
            .expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("onit.db").display());
        let (c, r) = rt
            .block_on(one_import(dir.path(), &url, &mbox))
            .unwrap_or_else(|e| panic!("SQLite run {run}: {e}"));
        check_sane(&c);
        if let Some(prev) = &counts {
            assert_eq!(prev, &c, "SQLite run {run} counted differently from run 1");
        }
        counts = Some(c);
        sqlite.push(r);
    }
    let counts = counts.expect("at least one run");

    println!(
        "counts    messages {}, tickets {}, threaded {} ({} contacts, {} internal notes), automated {}, unthreaded {}, duplicates {}, unparseable {}, failed {}",
        counts.messages, counts.tickets, counts.threaded, counts.contacts, counts.internal_notes, counts.automated, counts.unthreaded, counts.duplicates, counts.unparseable, counts.failed
    );
    println!("          (identical in all {sqlite_runs} SQLite runs)");
    println!();
    let sqlite_median = print_series(
        "SQLite, fresh database file per run (import = read mbox + parse + sort + store)",
        &sqlite,
        None,
    );
    println!("  (CPU s: this process, all threads. switches/msg: its threads' context switches per message;");
    println!("   sqlx runs every SQLite statement on a worker thread, so each statement costs two hand-offs)");
    println!();
    println!(
        "parse only (MailView::parse, {PARSE_RUNS} runs): median {:.0} msg/s ({:.0} MB/s); runs {}",
        parse_median,
        parse_median * (total_msg_bytes as f64 / N_MESSAGES as f64) / 1e6,
        parse_rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let parse_share = sqlite_median / parse_median;
    println!(
        "          parsing is ~{:.0} % of the SQLite import time; storage and the rest ~{:.0} % (import rate ÷ parse rate = {:.2})",
        parse_share * 100.0,
        (1.0 - parse_share) * 100.0,
        parse_share
    );
    println!();

    // PostgreSQL: three runs on fresh databases, when a server answers.
    let pg_up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("addr"),
        StdDuration::from_secs(2),
    )
    .is_ok();
    if !pg_up {
        println!("PostgreSQL: nothing answers on 127.0.0.1:5432; skipped");
        return;
    }
    let pg_runs = runs("ONIT_BENCH_PG_RUNS", PG_RUNS);
    if pg_runs == 0 {
        println!("PostgreSQL: ONIT_BENCH_PG_RUNS=0; skipped");
        return;
    }
    // Extra URL parameters for experiments, e.g. ONIT_BENCH_PG_QUERY=sslmode=disable.
    let query = std::env::var("ONIT_BENCH_PG_QUERY")
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let ssl = psql_value("SHOW ssl").unwrap_or_else(|| "unknown".into());
    let tcp = match pg_series(&rt, pg_runs, &mbox, &counts, &|name| {
        format!("postgres://postgres@127.0.0.1:5432/{name}{query}")
    }) {
        Ok(v) => v,
        Err(e) => {
            println!("PostgreSQL: unreachable or failing ({e}); skipped");
            return;
        }
    };
    let tcp_median = print_series(
        &format!(
            "PostgreSQL 127.0.0.1:5432{query}, fresh database per run (dropped after); server ssl = {ssl}, so sqlx's default sslmode=prefer talks TLS"
        ),
        &tcp,
        Some(sqlite_median),
    );
    // Diagnostics: the same server without TLS, and through the Unix socket (no TCP at
    // all). Where these are much faster, the time above is spent waiting on the
    // connection (Nagle's algorithm against delayed ACKs), not in PostgreSQL.
    let diag_runs = runs("ONIT_BENCH_PG_DIAG_RUNS", PG_RUNS);
    let socket_dir = Path::new("/var/run/postgresql");
    type UrlFor = Box<dyn Fn(&str) -> String>;
    let mut diags: Vec<(String, UrlFor)> = vec![(
        "diagnostic: 127.0.0.1:5432?sslmode=disable (plain TCP, no TLS)".to_string(),
        Box::new(|name: &str| format!("postgres://postgres@127.0.0.1:5432/{name}?sslmode=disable")),
    )];
    if socket_dir.join(".s.PGSQL.5432").exists() {
        diags.push((
            format!(
                "diagnostic: the Unix socket in {} (no TCP)",
                socket_dir.display()
            ),
            Box::new(move |name: &str| {
                format!(
                    "postgres://postgres@localhost/{name}?host={}",
                    socket_dir.display()
                )
            }),
        ));
    }
    for (title, url_for) in diags.iter().take(if diag_runs == 0 { 0 } else { 2 }) {
        println!();
        match pg_series(&rt, diag_runs, &mbox, &counts, url_for.as_ref()) {
            Ok(v) => {
                let m = print_series(&format!("PostgreSQL, {title}"), &v, Some(sqlite_median));
                println!(
                    "  TLS/TCP median ÷ this median = {:.2}; the TLS/TCP runs used {:.1} CPU s of {:.1} s wall in this process (medians)",
                    tcp_median / m,
                    median(&tcp.iter().map(|r| r.cpu).collect::<Vec<_>>()),
                    median(&tcp.iter().map(|r| r.secs).collect::<Vec<_>>()),
                );
            }
            Err(e) => println!("PostgreSQL, {title}: failing ({e}); skipped"),
        }
    }
}

/// One value from psql (trimmed), if psql answers.
fn psql_value(sql: &str) -> Option<String> {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-Atq", "-c", sql])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One timed import: wall seconds and this process's CPU seconds (all threads).
struct Run {
    secs: f64,
    cpu: f64,
    /// Context switches of this process's threads (voluntary and not) during the import.
    switches: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        N_MESSAGES as f64 / self.secs
    }
}

/// User + system CPU time of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Context switches so far, summed over this process's live threads (/proc/self/task/*/status).
fn context_switches() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches:")
                || line.starts_with("nonvoluntary_ctxt_switches:")
            {
                total += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    total
}

/// Prints a series of runs and returns the median rate.
fn print_series(title: &str, runs: &[Run], sqlite_median: Option<f64>) -> f64 {
    let rates: Vec<f64> = runs.iter().map(Run::rate).collect();
    let m = median(&rates);
    println!("{title}");
    println!("  run   seconds   CPU s   switches/msg     msg/s");
    for (i, r) in runs.iter().enumerate() {
        println!(
            "  {:<5} {:>7.2} {:>7.1} {:>14.1} {:>9.0}",
            i + 1,
            r.secs,
            r.cpu,
            r.switches as f64 / N_MESSAGES as f64,
            r.rate()
        );
    }
    let spread = format!(
        "spread {:.0}–{:.0}",
        rates.iter().cloned().fold(f64::INFINITY, f64::min),
        rates.iter().cloned().fold(0.0, f64::max)
    );
    match sqlite_median {
        None => println!(
            "  median                               {:>9.0}   target ≥ {:.0}: {} ({:.2}× target; {spread})",
            m,
            TARGET_MSG_PER_SEC,
            if m >= TARGET_MSG_PER_SEC { "MET" } else { "MISSED" },
            m / TARGET_MSG_PER_SEC,
        ),
        Some(s) => println!(
            "  median                               {:>9.0}   ({:.2}× target; {:.2}× the SQLite median; {spread})",
            m,
            m / TARGET_MSG_PER_SEC,
            m / s
        ),
    }
    m
}

/// `runs` imports on fresh PostgreSQL databases (dropped after each), counts checked against SQLite's.
fn pg_series(
    rt: &tokio::runtime::Runtime,
    runs: usize,
    mbox: &Path,
    sqlite_counts: &ImportCounts,
    url_for: &dyn Fn(&str) -> String,
) -> Result<Vec<Run>, String> {
    let mut out = Vec::new();
    for run in 1..=runs {
        let name = format!(
            "onit_bench_{}_{}_{:x}",
            std::process::id(),
            run,
            fastrand::u32(..)
        );
        let url = url_for(&name);
        let dir = tempfile::Builder::new()
            .prefix("onit-bench-pg-")
            .tempdir()
            .expect("tempdir");
        let result = rt.block_on(one_import(dir.path(), &url, mbox));
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        let (c, r) = result?;
        check_sane(&c);
        if &c != sqlite_counts {
            return Err(format!("PostgreSQL counted differently from SQLite: {c:?}"));
        }
        out.push(r);
    }
    Ok(out)
}
