//! `onit check-config`: every error in one run, in the file's order, the same
//! order every run, "did you mean" for typos; `--env-file` reads secrets as
//! systemd does; the mailbox actually configured is shown.

use std::process::Command;

use crate::common::onit_bin;

fn check_config(dir: &std::path::Path, args: &[&str]) -> (String, String, Option<i32>) {
    let mut c = Command::new(onit_bin());
    c.arg("--config")
        .arg(dir.join("onit.toml"))
        .arg("check-config")
        .args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ONIT__") || k == "ONIT_CONFIG" {
            c.env_remove(k);
        }
    }
    let out = c.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        out.status.code(),
    )
}

const TYPOS: &str = r#"[mailbox]
sorce = "imap"

[calender]
timezone = "Europe/London"

[team]
domain = ["jac.example"]
default_pm = "pm@jac.example"

[imap]
port = "993"
host = "imap.jac.example"
username = "support@jac.example"
"#;

#[test]
fn check_config_reports_every_error_at_once_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("onit.toml"), TYPOS).unwrap();
    let (_, first, code) = check_config(dir.path(), &[]);
    assert_eq!(code, Some(2), "{first}");
    let lines: Vec<&str> = first.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        vec![
            "mailbox.sorce: unknown key; did you mean `source`?",
            "calender: unknown key; did you mean `calendar`?",
            "team.domain: unknown key; did you mean `domains`?",
            "imap.port: must be an integer, not a string",
        ],
        "{first}"
    );
    for _ in 0..3 {
        assert_eq!(
            check_config(dir.path(), &[]).1,
            first,
            "the order is stable"
        );
    }
    let (json, _, _) = check_config(dir.path(), &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["errors"][3]["key"], "imap.port");
}

#[test]
fn check_config_reads_secrets_from_an_env_file_and_shows_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("onit.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[mailbox]\nsource = \"imap\"\n[imap]\nhost = \"imap.jac.example\"\nusername = \"support@jac.example\"\nfolders = [\"INBOX\", \"Sent\"]\n[team]\ndomains = [\"jac.example\"]\ndefault_pm = \"pm@jac.example\"\n",
            dir.path().join("onit.db").display()
        ),
    )
    .unwrap();
    let (_, err, code) = check_config(dir.path(), &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("imap.password: required"), "{err}");
    let env = dir.path().join("onit.env");
    std::fs::write(&env, "# secrets\nONIT__IMAP__PASSWORD='s3cret'\n").unwrap();
    let (out, err, code) = check_config(dir.path(), &["--env-file", env.to_str().unwrap()]);
    // (--env-file is global: it also goes before the command.)
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("mailbox IMAP support@jac.example at imap.jac.example:993 (implicit TLS), folders INBOX, Sent"),
        "{out}"
    );
    assert!(!out.contains("s3cret"));
}
