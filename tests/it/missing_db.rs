//! Read commands never create a database: every command but `run`, `migrate`,
//! `import` and `backup` refuses a database that does not exist, naming the
//! resolved path; a relative path is read from the configuration file's folder.

use std::process::Command;

use crate::common::onit_bin;

fn onit(config: &std::path::Path, cwd: &std::path::Path, args: &[&str]) -> (String, String, bool) {
    let mut c = Command::new(onit_bin());
    c.arg("--config").arg(config).args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("ONIT__") || k == "ONIT_CONFIG" {
            c.env_remove(k);
        }
    }
    let out = c.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        out.status.success(),
    )
}

#[test]
fn read_commands_refuse_a_missing_database_and_name_its_path() {
    let etc = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = etc.path().join("onit.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"sqlite://state/onit.db\"\n[team]\ndomains = [\"jac.example\"]\ndefault_pm = \"pm@jac.example\"\n",
    )
    .unwrap();
    let db = etc.path().join("state/onit.db");
    for args in [
        &["tickets"][..],
        &["tickets", "--json"],
        &["ticket", "JAC-1"],
        &["report", "JAC-1"],
        &["status"],
        &["compliance"],
        &["digest", "daily"],
        &["ticket", "JAC-1", "note", "hello"],
    ] {
        let (out, err, ok) = onit(&config, elsewhere.path(), args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(
            err.contains(&format!("no database file {}", db.display())),
            "{args:?}: {err}"
        );
        assert!(
            !etc.path().join("state").exists(),
            "{args:?} created something"
        );
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "{args:?}"
        );
    }
    // `migrate` creates it, next to the configuration file, from any folder.
    let (_, err, ok) = onit(&config, elsewhere.path(), &["migrate"]);
    assert!(ok, "{err}");
    assert!(db.is_file());
    let (out, err, ok) = onit(&config, elsewhere.path(), &["tickets", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]");
}
