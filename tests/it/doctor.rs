//! `onit doctor` against the real mail stack (Dovecot + Postfix on loopback):
//! all ✓ on a good set-up with a `--send-test` round trip; the right cause and
//! fix for a wrong password, a missing folder, a certificate of an unknown
//! issuer (✓ once pinned, or once `ca_file` is the server's own certificate),
//! implicit TLS on the STARTTLS port, and a stopped SMTP server.

use std::path::Path;

use onit::tls::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::common::{onit_command, Base, Db, Env};
use crate::mailstack::{self, Stack};

/// A configuration reading `support`'s mailbox and sending through the stack.
/// `imap` and `smtp` are extra lines for the two sections (replacing defaults).
pub struct Setup {
    imap_port: u16,
    imap_tls: &'static str,
    imap_trust: String,
    folders: &'static str,
    smtp_port: u16,
    smtp_tls: &'static str,
    smtp_trust: String,
    password: String,
}

impl Setup {
    pub fn good(stack: &Stack) -> Setup {
        Setup {
            imap_port: stack.imaps_port,
            imap_tls: "implicit",
            imap_trust: format!("ca_file = \"{}\"", stack.ca_file.display()),
            folders: "\"INBOX\", \"Sent\"",
            smtp_port: stack.smtp_port,
            smtp_tls: "starttls",
            smtp_trust: format!("ca_file = \"{}\"", stack.ca_file.display()),
            password: stack.password.clone(),
        }
    }

    pub fn env(&self, support: &str) -> Env {
        let base = Base {
            from: Some(support.to_string()),
            transport: Some("smtp".into()),
            ..Base::default()
        };
        let extra = format!(
            "[imap]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{}\"\n{}\nusername = \"{support}\"\npassword = \"{}\"\nfolders = [{}]\ncommand_timeout_secs = 10\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{}\"\n{}\nusername = \"{support}\"\npassword = \"{}\"\ntimeout_secs = 10\n",
            self.imap_port,
            self.imap_tls,
            self.imap_trust,
            self.password,
            self.folders,
            self.smtp_port,
            self.smtp_tls,
            self.smtp_trust,
            self.password,
        );
        let env = Env::with(Db::Sqlite, &base, &extra);
        // The mailbox source, as an operator would set it.
        let body = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(
            &env.config_path,
            body.replace("[mailbox]\n", "[mailbox]\nsource = \"imap\"\n"),
        )
        .unwrap();
        env
    }
}

/// Runs `onit doctor --json [args]`: its report and whether it exited 0.
fn doctor(env: &Env, args: &[&str]) -> (Value, bool) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = onit_command(env, &all).output().expect("run onit doctor");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let code = out.status.code();
    assert!(code == Some(0) || code == Some(1), "exit {code:?}");
    assert_eq!(report["ok"].as_bool(), Some(code == Some(0)), "{report:#}");
    (report, out.status.success())
}

/// The check `group`/`name`.
fn check<'a>(report: &'a Value, group: &str, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == group && c["name"] == name)
        .unwrap_or_else(|| panic!("no check {group}/{name} in {report:#}"))
}

fn failed(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            format!(
                "{}/{}",
                c["group"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or("").to_string()
}

/// The fingerprint of the stack's server certificate (`DIR/tls/server.pem`).
fn server_fingerprint(stack: &Stack) -> Fingerprint {
    let pem = stack.dir.join("tls/server.pem");
    let der = CertificateDer::pem_file_iter(&pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    Fingerprint::of(&der)
}

fn server_pem(stack: &Stack) -> String {
    stack.dir.join("tls/server.pem").display().to_string()
}

#[test]
fn doctor_passes_a_good_set_up_and_round_trips_a_test_message() {
    let stack = mailstack::shared();
    let support = mailstack::fresh("support", "jac.example");
    let env = Setup::good(stack).env(&support);
    let (report, ok) = doctor(&env, &["--send-test", &support]);
    assert!(ok, "failed: {:?}\n{report:#}", failed(&report));
    let names: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["group"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect();
    for n in [
        "configuration/valid",
        "database/reachable",
        "calendar/time zone",
        "imap/TCP",
        "imap/TLS",
        "imap/sign-in",
        "imap/capabilities",
        "imap/folder INBOX",
        "imap/folder Sent",
        "smtp/TCP",
        "smtp/TLS",
        "smtp/EHLO",
        "smtp/AUTH",
        "smtp/send test",
        "smtp/round trip",
    ] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
    // In order: configuration first, SMTP after IMAP.
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("configuration/valid") < pos("database/reachable"));
    assert!(pos("imap/folder Sent") < pos("smtp/TCP"));
    let fp = server_fingerprint(stack).to_string();
    assert_eq!(text(check(&report, "imap", "TLS"), "fingerprint"), fp);
    assert_eq!(text(check(&report, "smtp", "TLS"), "fingerprint"), fp);
    assert!(text(check(&report, "imap", "capabilities"), "detail").contains("IDLE"));
    assert!(text(check(&report, "calendar", "time zone"), "detail").starts_with("Europe/London"));
    // Nothing was created: doctor never makes a database.
    assert!(!env.dir.path().join("onit.db").exists());
    // The text form: one line per check, ✓ each.
    let out = onit_command(&env, &["doctor"]).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("✓ imap") && l.contains("sign-in")),
        "{t}"
    );
    assert!(!t.contains('✗'), "{t}");
}

#[test]
fn doctor_names_a_wrong_password_for_imap_and_smtp_and_so_does_the_daemon() {
    let stack = mailstack::shared();
    let support = mailstack::fresh("support", "jac.example");
    let mut setup = Setup::good(stack);
    setup.password = "not-the-password".into();
    let env = setup.env(&support);
    let (report, ok) = doctor(&env, &[]);
    assert!(!ok);
    assert_eq!(
        failed(&report),
        vec!["imap/sign-in", "smtp/AUTH"],
        "{report:#}"
    );
    for (g, n, key) in [
        ("imap", "sign-in", "imap.password"),
        ("smtp", "AUTH", "smtp.password"),
    ] {
        let c = check(&report, g, n);
        assert_eq!(text(c, "cause"), "wrong user name or password", "{c:#}");
        assert!(text(c, "fix").contains(key), "{c:#}");
    }
    // The daemon's own error carries the same hint.
    let out = onit_command(&env, &["run", "--once"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("hint: wrong user name or password"),
        "{stderr}"
    );
}

#[test]
fn doctor_lists_the_folders_that_exist_when_one_does_not() {
    let stack = mailstack::shared();
    let support = mailstack::fresh("support", "jac.example");
    let mut setup = Setup::good(stack);
    setup.folders = "\"INBOX\", \"Sent Items\"";
    let env = setup.env(&support);
    let (report, ok) = doctor(&env, &[]);
    assert!(!ok);
    assert_eq!(
        failed(&report),
        vec!["imap/folder Sent Items"],
        "{report:#}"
    );
    let c = check(&report, "imap", "folder Sent Items");
    assert_eq!(text(c, "cause"), "the folder does not exist");
    assert!(text(c, "detail").contains("Sent (\\Sent)"), "{c:#}");
    assert!(text(c, "detail").contains("Archive"), "{c:#}");
    assert!(text(c, "fix").contains("`Sent`"), "{c:#}");
    assert!(check(&report, "imap", "folder INBOX")["ok"] == true);
}

#[test]
fn doctor_explains_an_unknown_certificate_and_passes_once_it_is_pinned() {
    let stack = mailstack::shared();
    let support = mailstack::fresh("support", "jac.example");
    let fp = server_fingerprint(stack);
    // No ca_file: the system's roots do not know the stack's private CA.
    let mut setup = Setup::good(stack);
    setup.imap_trust = String::new();
    setup.smtp_trust = String::new();
    let (report, ok) = doctor(&setup.env(&support), &[]);
    assert!(!ok);
    assert_eq!(
        failed(&report),
        vec!["imap/TLS", "smtp/TLS and EHLO"],
        "{report:#}"
    );
    for (g, n) in [("imap", "TLS"), ("smtp", "TLS and EHLO")] {
        let c = check(&report, g, n);
        assert!(text(c, "cause").contains("self-signed"), "{c:#}");
        assert!(
            text(c, "fix").contains(&format!("{g}.tls_fingerprint")),
            "{c:#}"
        );
        // The fingerprint it saw, to pin.
        assert_eq!(text(c, "fingerprint"), fp.to_string(), "{c:#}");
    }
    // Pinned: ✓, whoever signed it.
    setup.imap_trust = format!("tls_fingerprint = \"{fp}\"");
    setup.smtp_trust = format!("tls_fingerprint = \"{}\"", fp.to_string().to_lowercase());
    let (report, ok) = doctor(&setup.env(&support), &[]);
    assert!(ok, "{:?}\n{report:#}", failed(&report));
    assert!(text(check(&report, "imap", "TLS"), "detail").contains("pinned"));
    // ca_file holding the server's own certificate (not its CA): ✓ too.
    setup.imap_trust = format!("ca_file = \"{}\"", server_pem(stack));
    setup.smtp_trust = format!("ca_file = \"{}\"", stack.ca_file.display());
    let (report, ok) = doctor(&setup.env(&support), &[]);
    assert!(ok, "{:?}\n{report:#}", failed(&report));
    // Another certificate pinned: refused, and the fix says why.
    let other = Fingerprint::of(b"another certificate");
    setup.imap_trust = format!("tls_fingerprint = \"{other}\"");
    let (report, _) = doctor(&setup.env(&support), &[]);
    let c = check(&report, "imap", "TLS");
    assert_eq!(c["ok"], false);
    assert!(
        text(c, "cause").contains("another certificate than the pinned one"),
        "{c:#}"
    );
    assert_eq!(text(c, "fingerprint"), fp.to_string());
}

#[test]
fn doctor_says_when_implicit_tls_meets_a_starttls_port() {
    let stack = mailstack::shared();
    let support = mailstack::fresh("support", "jac.example");
    let mut setup = Setup::good(stack);
    setup.imap_port = stack.imap_port;
    setup.smtp_tls = "implicit";
    let (report, ok) = doctor(&setup.env(&support), &[]);
    assert!(!ok);
    assert_eq!(
        failed(&report),
        vec!["imap/TLS", "smtp/TLS and EHLO"],
        "{report:#}"
    );
    for (g, n) in [("imap", "TLS"), ("smtp", "TLS and EHLO")] {
        let c = check(&report, g, n);
        assert!(text(c, "cause").contains("plain text first"), "{c:#}");
        assert!(
            text(c, "fix").contains(&format!("{g}.tls = \\\"starttls\\\"").replace("\\", "")),
            "{c:#}"
        );
    }
}

#[test]
fn doctor_names_a_stopped_smtp_server() {
    let stack = mailstack::private("doctor");
    let support = mailstack::fresh("support", "jac.example");
    let env = Setup::good(&stack).env(&support);
    stack.ctl("stop-postfix");
    let (report, ok) = doctor(&env, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), vec!["smtp/TCP"], "{report:#}");
    let c = check(&report, "smtp", "TCP");
    assert!(text(c, "cause").contains("nothing listens"), "{c:#}");
    assert!(text(c, "fix").contains("smtp.port"), "{c:#}");
    assert!(Path::new(&stack.dir).exists());
}
