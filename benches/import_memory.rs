//! Peak resident memory of `onit import` (issue 12, item 2): generated mbox
//! files of 10,000 and 50,000 client mails, and one 30 MB and one 150 MB
//! message (as a .eml file and inside an mbox between small mails). Each import
//! runs the release `onit` binary on a fresh SQLite database under
//! `/usr/bin/time -v`, whose "Maximum resident set size" is the peak RSS.
//!
//! `ONIT_IMPORT_MEMORY_RUNS` (default 3) runs per input; the median is shown.
//! `ONIT_IMPORT_MEMORY_SIZES` (default `10000,50000`) the mail counts.
//! `ONIT_IMPORT_MEMORY_BIN` measures another `onit` binary on the same inputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SUPPORT: &str = "support@jac.example";
const CLIENTS: [&str; 3] = ["acme.example", "globex.example", "initech.example"];

/// One client mail of about 2.4 KB (text and HTML, as mail clients send),
/// the size of the mails in the issue's 118 MB / 50,000-mail mbox.
fn client_mail(i: usize) -> String {
    let domain = CLIENTS[i % CLIENTS.len()];
    let day = 1 + (i / 2000) % 28;
    let (h, m, s) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
    let text = format!(
        "Hello,\n\nOur service number {i} stopped answering at {h:02}:{m:02}. \
         Users see errors on the order page and the nightly export did not run.\n\
         Could you have a look?\n\nThanks,\nUser {i}\n"
    );
    let filler = "Details of the failure as seen from our side. ".repeat(12);
    format!(
        "From: User {i} <user{i}@{domain}>\n\
         To: {SUPPORT}\n\
         Subject: Service {i} is down\n\
         Date: Tue, {day:02} Dec 2025 {h:02}:{m:02}:{s:02} +0000\n\
         Message-ID: <bench.{i}@{domain}>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/alternative; boundary=\"b{i}\"\n\
         \n\
         --b{i}\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         {text}{filler}\n\
         --b{i}\n\
         Content-Type: text/html; charset=utf-8\n\
         \n\
         <html><body><p>{text}</p><p>{filler}</p></body></html>\n\
         --b{i}--\n"
    )
}

/// A mail with one attachment of about `mb` megabytes (base64 lines).
fn big_mail(mb: usize, i: usize) -> String {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n";
    let lines = mb * 1024 * 1024 / line.len();
    let mut s = format!(
        "From: Big {i} <big{i}@acme.example>\n\
         To: {SUPPORT}\n\
         Subject: logs attached {i}\n\
         Date: Tue, 02 Dec 2025 10:00:00 +0000\n\
         Message-ID: <big.{i}@acme.example>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"x\"\n\
         \n\
         --x\n\
         Content-Type: text/plain\n\
         \n\
         The logs are attached.\n\
         --x\n\
         Content-Type: application/octet-stream; name=\"logs.bin\"\n\
         Content-Transfer-Encoding: base64\n\
         \n"
    );
    s.reserve(lines * line.len() + 16);
    for _ in 0..lines {
        s.push_str(line);
    }
    s.push_str("--x--\n");
    s
}

fn write_mbox(path: &Path, mails: impl Iterator<Item = String>) -> u64 {
    let f = std::fs::File::create(path).expect("create mbox");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for m in mails {
        writeln!(w, "From bench@example Tue Dec  2 10:00:00 2025").unwrap();
        w.write_all(m.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("onit.toml");
    std::fs::write(
        &path,
        format!(
            r#"[database]
url = "sqlite://{db}"
[mailbox]
maildir = "{md}"
[outgoing]
transport = "file"
dir = "{out}"
from = "{SUPPORT}"
[team]
domains = ["jac.example"]
support_addresses = ["{SUPPORT}"]
default_pm = "pm@jac.example"
[calendar]
timezone = "Europe/London"
"#,
            db = dir.join("onit.db").display(),
            md = dir.join("Maildir").display(),
            out = dir.join("out").display(),
        ),
    )
    .expect("write config");
    path
}

/// Peak RSS (MB) and seconds of one `onit import` of `input` on a fresh
/// database, as `/usr/bin/time -v` reports it. (The child's own `wait4` figure
/// from this process would not do: Linux carries the high-water mark of the
/// forked copy of this process, with the generated inputs, across `exec`.)
fn one_import(input: &Path) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path());
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(onit_bin())
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg(input)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run onit import under /usr/bin/time (Debian package time)");
    let secs = started.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "onit import of {}: {err}",
        input.display()
    );
    let kb: f64 = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("/usr/bin/time -v prints the maximum resident set size");
    (kb / 1024.0, secs)
}

/// The `onit` to measure: this build's, or `ONIT_IMPORT_MEMORY_BIN` (an
/// older build, for a before/after on the same inputs).
fn onit_bin() -> PathBuf {
    std::env::var_os("ONIT_IMPORT_MEMORY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_onit")))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("ONIT_IMPORT_MEMORY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let sizes: Vec<usize> = std::env::var("ONIT_IMPORT_MEMORY_SIZES")
        .unwrap_or_else(|_| "10000,50000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let work = tempfile::tempdir().expect("tempdir");
    let mut inputs: Vec<(String, PathBuf)> = Vec::new();
    for &n in &sizes {
        let p = work.path().join(format!("mails-{n}.mbox"));
        let bytes = write_mbox(&p, (0..n).map(client_mail));
        inputs.push((format!("{n} mails, mbox ({:.0} MB)", bytes as f64 / 1e6), p));
    }
    for mb in [30, 150] {
        let eml = work.path().join(format!("big-{mb}.eml"));
        std::fs::write(&eml, big_mail(mb, 0)).expect("write eml");
        inputs.push((format!("one {mb} MB message, .eml"), eml));
        let mbox = work.path().join(format!("big-{mb}.mbox"));
        write_mbox(
            &mbox,
            (0..10)
                .map(client_mail)
                .chain(std::iter::once(big_mail(mb, 1)))
                .chain((10..20).map(client_mail)),
        );
        inputs.push((
            format!("one {mb} MB message inside an mbox of 21 mails"),
            mbox,
        ));
    }
    println!("| input | peak RSS (median of {runs}) | runs | time |");
    println!("|---|---|---|---|");
    for (label, path) in &inputs {
        let (mut rss, mut secs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (r, s) = one_import(path);
            rss.push(r);
            secs.push(s);
        }
        let all = rss
            .iter()
            .map(|r| format!("{r:.1}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {label} | {:.1} MB | {all} | {:.1} s |",
            median(rss.clone()),
            median(secs)
        );
    }
}
