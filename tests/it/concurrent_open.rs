//! Issue 14, item 6: any number of onit processes may open a SQLite path that
//! has no database yet. `run --once`, `migrate` and three `status` start at the
//! same moment on a fresh path, 50 times; every one of them must succeed.
//! Since issue 15 (read commands never create a database) a `status` that
//! starts before `run` or `migrate` has made the file refuses cleanly, naming
//! the path; anything else (a lock error, a half-made database) is a failure.

use std::process::Stdio;

use crate::common::{onit_command, Db, Env};

#[test]
fn run_migrate_and_status_together_on_a_new_sqlite_path() {
    const ROUNDS: usize = 50;
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let env = Env::new(Db::Sqlite, "");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(env.maildir().join(sub)).unwrap();
        }
        let commands: [&[&str]; 5] = [
            &["run", "--once"],
            &["migrate"],
            &["status"],
            &["status"],
            &["status"],
        ];
        let children: Vec<_> = commands
            .iter()
            .map(|args| {
                let child = onit_command(&env, args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn onit");
                (args, child)
            })
            .collect();
        for (args, child) in children {
            let out = child.wait_with_output().expect("wait for onit");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let refused_cleanly = args[0] == "status" && stderr.contains("no database file");
            if !out.status.success() && !refused_cleanly {
                failures.push(format!(
                    "round {round}: onit {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let store = env.url.trim_start_matches("sqlite://").to_string();
        assert!(std::path::Path::new(&store).exists());
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) in {ROUNDS} rounds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
