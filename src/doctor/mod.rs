//! `onit doctor`: tests the configuration against the real servers, one line
//! per check, in the order an operator would fix them: configuration,
//! database, time zone and calendar, OAuth token, IMAP, SMTP (with
//! `--send-test ADDR`, one real message, found again in the IMAP mailbox when
//! ADDR is the address onit reads), HTTP listener. A failed check names its
//! cause and the fix in words ([`crate::diagnosis`], the same hints the
//! daemon's own errors carry). Nothing is created or changed, except the one
//! test message: folders are opened read-only (EXAMINE), no flag is set.
//!
//! Exit status: 0 when every check passed, 1 otherwise.

mod database;
mod imap;
mod local;
mod smtp;

use std::path::Path;

use serde::Serialize;

use crate::diagnosis::{Diagnosis, Server};

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `configuration`, `database`, `calendar`, `oauth`, `imap`, `smtp`, `http`.
    pub group: &'static str,
    /// The step: `TCP`, `TLS`, `sign-in`, `folder INBOX`, …
    pub name: String,
    pub ok: bool,
    /// What was seen.
    pub detail: String,
    /// On failure: the known cause, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// On failure: what to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The SHA-256 fingerprint of the certificate the server presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Every check, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    fn pass(&mut self, group: &'static str, name: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            group,
            name: name.into(),
            ok: true,
            detail: detail.into(),
            cause: None,
            fix: None,
            fingerprint: None,
        });
    }

    fn fail(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        detail: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.checks.push(Check {
            group,
            name: name.into(),
            ok: false,
            detail: detail.into(),
            cause: Some(cause.into()).filter(|c: &String| !c.is_empty()),
            fix: Some(fix.into()).filter(|f: &String| !f.is_empty()),
            fingerprint: None,
        });
    }

    /// A failure from an error, with the diagnosis of a server's answer when it is a known one.
    fn fail_error(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        server: Server<'_>,
        e: &anyhow::Error,
    ) {
        let detail = format!("{e:#}");
        let Diagnosis { cause, fix } =
            crate::diagnosis::diagnose(server, &detail).unwrap_or(Diagnosis {
                cause: String::new(),
                fix: String::new(),
            });
        self.fail(group, name, detail, cause, fix);
    }

    /// Adds the certificate fingerprint to the last check.
    fn with_fingerprint(&mut self, f: Option<crate::tls::Fingerprint>) {
        if let (Some(last), Some(f)) = (self.checks.last_mut(), f) {
            last.fingerprint = Some(f.to_string());
        }
    }

    fn finish(mut self) -> Report {
        self.ok = self.checks.iter().all(|c| c.ok);
        self
    }
}

/// Runs every check. `file` is the configuration file (`--config`).
pub async fn run(file: Option<&Path>, send_test: Option<&str>) -> Report {
    let mut report = Report::default();
    let rt = match crate::config::Runtime::load(file) {
        Ok(rt) => rt,
        Err(crate::config::ConfigError(issues)) => {
            let detail = issues
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            report.fail(
                "configuration",
                "valid",
                detail,
                "the configuration is invalid",
                "fix the keys named (onit check-config lists them all)",
            );
            return report.finish();
        }
    };
    report.pass(
        "configuration",
        "valid",
        local::configuration_summary(file, &rt),
    );
    let store = database::check(&mut report, &rt).await;
    local::calendar(&mut report, &rt, chrono::Utc::now());
    let rt = local::oauth(&mut report, rt, store.as_ref()).await;
    if let Some(cfg) = rt
        .imap
        .as_ref()
        .filter(|_| rt.source == crate::config::SourceKind::Imap)
    {
        imap::check(&mut report, &rt, cfg).await;
    }
    if let Some(cfg) = rt
        .smtp
        .as_ref()
        .filter(|_| rt.transport == crate::config::TransportKind::Smtp)
    {
        smtp::check(&mut report, &rt, cfg, send_test).await;
    } else if let Some(addr) = send_test {
        report.fail(
            "smtp",
            "send test",
            format!("cannot send a test message to {addr}: outgoing.transport is not \"smtp\""),
            "",
            "set outgoing.transport = \"smtp\" and the [smtp] section",
        );
    }
    local::http(&mut report, &rt).await;
    if let Some(store) = store {
        store.close().await;
    }
    report.finish()
}

/// The report as text: one line per check, `✓` or `✗`, and under a failure its cause and fix.
pub fn report_text(r: &Report) -> String {
    let mut out = String::new();
    for c in &r.checks {
        out.push_str(&format!(
            "{} {:<13} {}: {}\n",
            if c.ok { "✓" } else { "✗" },
            c.group,
            c.name,
            c.detail
        ));
        if let Some(f) = &c.fingerprint {
            out.push_str(&format!("    certificate SHA-256 {f}\n"));
        }
        if let Some(cause) = &c.cause {
            out.push_str(&format!("    cause: {cause}\n"));
        }
        if let Some(fix) = &c.fix {
            out.push_str(&format!("    fix:   {fix}\n"));
        }
    }
    let failed = r.checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        out.push_str(&format!("all {} checks passed\n", r.checks.len()));
    } else {
        out.push_str(&format!("{failed} of {} checks failed\n", r.checks.len()));
    }
    out
}

/// `onit doctor`: prints the report; exit 0 when every check passed, 1 otherwise.
pub fn command(file: Option<&Path>, send_test: Option<&str>, json: bool) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("onit: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(run(file, send_test));
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("onit: {e}"),
        }
    } else {
        print!("{}", report_text(&report));
    }
    if report.ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_shows_cause_and_fix_under_a_failure() {
        let mut r = Report::default();
        r.pass("imap", "TCP", "connected to h:993");
        r.fail(
            "imap",
            "sign-in",
            "LOGIN refused",
            "wrong password",
            "set imap.password",
        );
        let r = r.finish();
        assert!(!r.ok);
        let t = report_text(&r);
        assert!(t.starts_with("✓ imap          TCP: connected to h:993\n✗ imap          sign-in: LOGIN refused\n    cause: wrong password\n    fix:   set imap.password\n"), "{t}");
        assert!(t.ends_with("1 of 2 checks failed\n"), "{t}");
    }
}
