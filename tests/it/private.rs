//! Private by default (issue 12, item 6): every file and folder `onit` creates
//! is 0600 / 0700 even when it is started with umask 000, and a full IMAP +
//! SMTP session logged at `RUST_LOG=trace` shows no password.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::common::{onit_bin, Base, Db, Env, Mail, BOTH};
use crate::imap::{client_mail, smtp_send};
use crate::imap_read;
use crate::mailstack;

/// Every path under `root` (the root itself left out).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// `onit ARGS` with umask 000 (through the shell, as an operator's shell would start it).
fn onit_umask_000(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(onit_bin())
        .arg("--config")
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

/// The paths under the test's folder that are not 0600 files / 0700 folders,
/// among those not in `before` (the test's own) or in the Maildir's cur/ (moved by onit).
fn not_private(env: &Env, before: &HashSet<PathBuf>) -> Vec<String> {
    let cur = env.maildir().join("cur");
    walk(env.dir.path())
        .into_iter()
        .filter(|p| !before.contains(p) || p.starts_with(&cur) && p != &cur)
        .filter_map(|p| {
            let meta = std::fs::symlink_metadata(&p).ok()?;
            let mode = meta.permissions().mode() & 0o777;
            let want = if meta.is_dir() { 0o700 } else { 0o600 };
            (mode != want).then(|| format!("{} {:o}", p.display(), mode))
        })
        .collect()
}

#[test]
fn every_file_onit_creates_is_private_under_umask_000() {
    for db in BOTH {
        let env = Env::new(db, "");
        // The client's mail, delivered the way an MDA under umask 022 would (0644).
        let md = env.maildir();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        for i in 0..3 {
            let p = md.join(format!("new/{i}.test"));
            let m = Mail::new(
                &format!("user{i}@acme.example"),
                "support@jac.example",
                &format!("Checkout down {i}"),
                &format!("m{i}@acme.example"),
            );
            std::fs::write(&p, m.bytes()).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mbox = env.dir.path().join("old.mbox");
        std::fs::write(
            &mbox,
            "From carol@beta.example Thu Nov 26 10:00:00 2026\nFrom: carol@beta.example\nTo: support@jac.example\nSubject: Old\nMessage-ID: <old@beta.example>\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\nold\n",
        )
        .unwrap();
        // The test's own: the log file and the backups' folder.
        let log = env.dir.path().join("onit.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let backup = env.dir.path().join("backups/onit-backup.db");
        std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
        let before: HashSet<PathBuf> = walk(env.dir.path()).into_iter().collect();

        // The daemon, looked at while it runs (SQLite's -wal and -shm exist only then).
        let mut child = onit_umask_000(&env, &["run"])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn onit run");
        let started = Instant::now();
        while env.sent_files().len() < 3 || std::fs::read_dir(md.join("new")).unwrap().count() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{db:?}: onit run did not handle the mail: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let db_file = env.dir.path().join("onit.db");
        let mut running = not_private(&env, &before);
        if db == Db::Sqlite {
            for side in ["onit.db-wal", "onit.db-shm", "onit.db.onit-lock"] {
                assert!(
                    env.dir.path().join(side).exists(),
                    "{db:?}: {side} while running"
                );
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(child.wait().unwrap().success());

        // Then the other commands that write files.
        let mut args: Vec<Vec<String>> = vec![vec!["import".into(), mbox.display().to_string()]];
        if db == Db::Sqlite {
            args.push(vec!["backup".into(), backup.display().to_string()]);
        }
        for a in &args {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let out = onit_umask_000(&env, &a).output().unwrap();
            assert!(
                out.status.success(),
                "{db:?} {a:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        running.extend(not_private(&env, &before));
        running.sort();
        running.dedup();
        assert!(
            running.is_empty(),
            "{db:?}: created with group/other access: {running:#?}"
        );
        // What was checked: the acknowledgments, the moved mail, and for SQLite the database.
        let created = walk(env.dir.path())
            .into_iter()
            .filter(|p| !before.contains(p))
            .count();
        assert!(created >= 5, "{db:?}: only {created} files created");
        assert_eq!(std::fs::read_dir(md.join("cur")).unwrap().count(), 3);
        if db == Db::Sqlite {
            assert_eq!(std::fs::metadata(&db_file).unwrap().mode() & 0o777, 0o600);
            assert!(backup.exists());
        }
    }
}

/// Every way `secret` could be written by a client library: as it is, and in
/// the base64 of AUTH PLAIN and AUTH LOGIN.
fn secret_forms(user: &str, secret: &str) -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        secret.to_string(),
        b64(secret),
        b64(&format!("\0{user}\0{secret}")),
        b64(&format!("{user}\0{user}\0{secret}")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_log_of_imap_and_smtp_sign_ins_holds_no_password() {
    let stack = mailstack::shared();
    for db in BOTH {
        let support = mailstack::fresh("support", "jac.example");
        let client = mailstack::fresh("client", "client.example");
        let sender = mailstack::fresh("onit", "jac.example");
        let base = Base {
            from: Some(support.clone()),
            transport: Some("smtp".into()),
            ..Base::default()
        };
        // IMAP with LOGIN, SMTP with AUTH (implicit TLS), passwords from the environment.
        let extra = format!(
            "[imap]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"implicit\"\nca_file = \"{ca}\"\nusername = \"{support}\"\nfolders = [\"INBOX\"]\ncommand_timeout_secs = 10\nreconnect_max_secs = 2\npoll_interval_secs = 1\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"implicit\"\nca_file = \"{ca}\"\nusername = \"{sender}\"\ntimeout_secs = 10\n",
            stack.imaps_port,
            stack.smtps_port,
            ca = stack.ca_file.display(),
        );
        let env = Env::with(db, &base, &extra);
        let log = env.dir.path().join("onit.log");
        let mut c = Command::new(onit_bin());
        c.arg("--config")
            .arg(&env.config_path)
            .arg("run")
            .current_dir(env.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("ONIT__") || k == "ONIT_FAULT" {
                c.env_remove(k);
            }
        }
        let mut child = c
            .env("ONIT__MAILBOX__SOURCE", "imap")
            .env("ONIT__IMAP__PASSWORD", &stack.password)
            .env("ONIT__SMTP__PASSWORD", &stack.password)
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn onit run");
        let mail = client_mail(
            &client,
            &support,
            "Trace me",
            &format!("{:x}@client.example", fastrand::u64(..)),
            "",
        );
        smtp_send(stack, &client, &[&support], &mail).await;
        // The acknowledgment reaching the client proves both sign-ins happened.
        let got = imap_read::wait_for(stack, &client, "INBOX", 1, Duration::from_secs(60)).await;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(got.len(), 1, "{db:?}: no acknowledgment: {text}");
        assert!(text.contains("TRACE"), "{db:?}: the log is at trace level");
        for who in [&support, &sender] {
            for form in secret_forms(who, &stack.password) {
                assert!(
                    !text.contains(&form),
                    "{db:?}: the password ({form}) is in the trace log"
                );
            }
        }
    }
}
