//! Puts the git commit into `onit --version` (ONIT_COMMIT): from git when the
//! source is a clone, else from the ONIT_COMMIT environment variable (a
//! packager's), else "unknown commit" (a tarball without .git still builds).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=ONIT_COMMIT");
    let commit = std::env::var("ONIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
            Some(if dirty {
                format!("{hash}-modified")
            } else {
                hash
            })
        })
        .unwrap_or_else(|| "unknown commit".into());
    // Rebuild when HEAD moves: the HEAD file, and the branch it points to. (Not
    // on every change of the index: "-modified" is as of the last commit's build.)
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-env=ONIT_COMMIT={commit}");
}
