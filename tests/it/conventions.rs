//! The conventions operators expect: `--version` with the commit, shell
//! completions, `--json` on the printing commands, times in the calendar's zone.

use crate::common::{expect_ok, onit_bin, onit_command, Db, Env};

#[test]
fn version_names_the_commit_and_completions_know_every_command() {
    let out = std::process::Command::new(onit_bin())
        .arg("--version")
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    // `onit 0.1.0 (1a2b3c4d5e6f)`: a clone's commit, or "unknown commit" in a tarball.
    let inside = v
        .trim()
        .strip_prefix(concat!("onit ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|r| r.strip_suffix(')'));
    let inside = inside.unwrap_or_else(|| panic!("{v}"));
    assert!(
        inside == "unknown commit"
            || inside
                .trim_end_matches("-modified")
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
        "{v}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(onit_bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && script.contains("doctor") && script.contains("check-config"),
            "{shell}"
        );
    }
}

#[test]
fn printing_commands_answer_in_json_and_show_local_times() {
    let env = Env::new(Db::Sqlite, "");
    let v: serde_json::Value = serde_json::from_str(&expect_ok(
        &["migrate"],
        onit_command(&env, &["migrate", "--json"]).output().unwrap(),
    ))
    .unwrap();
    assert_eq!(v["ok"], true);
    let dest = env.dir.path().join("copy.db");
    let args = ["backup", dest.to_str().unwrap(), "--json"];
    let v: serde_json::Value = serde_json::from_str(&expect_ok(
        &args,
        onit_command(&env, &args).output().unwrap(),
    ))
    .unwrap();
    assert_eq!(v["tickets"], 0);
    let table = expect_ok(
        &["tickets"],
        onit_command(&env, &["tickets"]).output().unwrap(),
    );
    assert!(table.contains("NEXT DUE (Europe/London)"), "{table}");
}
