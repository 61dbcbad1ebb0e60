//! IMAP: TCP, TLS or STARTTLS and the certificate, sign-in, capabilities,
//! each watched folder (opened read-only with EXAMINE: no flag changes), with
//! the folders that do exist listed and the special-use `\Sent` one named.

use futures::TryStreamExt;

use crate::config::{AuthMethod, ImapRuntime, Runtime, TlsMode};
use crate::diagnosis::{Server, Service};
use crate::imap::connect::{self, timed, ImapSession};
use crate::tls::SeenCertificate;

use super::Report;

const G: &str = "imap";

fn server(cfg: &ImapRuntime) -> Server<'_> {
    Server {
        service: Service::Imap,
        host: &cfg.host,
        port: cfg.port,
    }
}

/// How the certificate was trusted, for the TLS line.
pub(super) fn trusted_by(ca_file: Option<&std::path::Path>, pin: bool) -> String {
    match (pin, ca_file) {
        (true, _) => "pinned by tls_fingerprint".into(),
        (false, Some(p)) => format!("verified against {}", p.display()),
        (false, None) => "verified against the system's CA certificates".into(),
    }
}

/// A folder the server lists, with its special use.
struct Listed {
    name: String,
    sent: bool,
}

/// Runs the IMAP checks, stopping at the first step that fails.
pub(super) async fn check(report: &mut Report, _rt: &Runtime, cfg: &ImapRuntime) {
    let tcp = match connect::tcp(cfg).await {
        Ok(t) => t,
        Err(e) => return report.fail_error(G, "TCP", server(cfg), &e),
    };
    report.pass(G, "TCP", format!("connected to {}:{}", cfg.host, cfg.port));
    let seen = SeenCertificate::default();
    let client = match connect::secure(cfg, tcp, &seen).await {
        Ok(c) => c,
        Err(e) => {
            report.fail_error(G, "TLS", server(cfg), &e);
            report.with_fingerprint(seen.get());
            return;
        }
    };
    match cfg.tls {
        TlsMode::None => report.pass(G, "TLS", "none (imap.tls = \"none\": loopback only)"),
        mode => {
            report.pass(
                G,
                "TLS",
                format!(
                    "{}, certificate {}",
                    if mode == TlsMode::Implicit {
                        "implicit TLS"
                    } else {
                        "STARTTLS"
                    },
                    trusted_by(cfg.ca_file.as_deref(), cfg.tls_fingerprint.is_some())
                ),
            );
            report.with_fingerprint(seen.get());
        }
    }
    let mut session = match connect::sign_in(cfg, client).await {
        Ok(s) => s,
        Err(e) => return report.fail_error(G, "sign-in", server(cfg), &e),
    };
    report.pass(
        G,
        "sign-in",
        format!(
            "{} as {}",
            match cfg.auth {
                AuthMethod::Password => "LOGIN",
                AuthMethod::Xoauth2 => "AUTHENTICATE XOAUTH2",
            },
            cfg.username
        ),
    );
    capabilities(report, cfg, &mut session).await;
    folders(report, cfg, &mut session).await;
    let _ = timed(cfg.command_timeout, "LOGOUT", session.logout()).await;
}

async fn capabilities(report: &mut Report, cfg: &ImapRuntime, session: &mut ImapSession) {
    match timed(cfg.command_timeout, "CAPABILITY", session.capabilities()).await {
        Ok(caps) => {
            let named: Vec<&str> = ["IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "CONDSTORE"]
                .into_iter()
                .filter(|c| caps.has_str(c))
                .collect();
            let idle = if caps.has_str("IDLE") {
                "new mail is seen at once (IDLE)".to_string()
            } else {
                format!(
                    "no IDLE: onit polls every {}s (imap.poll_interval_secs)",
                    cfg.poll_interval.as_secs()
                )
            };
            report.pass(G, "capabilities", format!("{}; {idle}", named.join(" ")));
        }
        Err(e) => report.fail_error(G, "capabilities", server(cfg), &e),
    }
}

async fn list(cfg: &ImapRuntime, session: &mut ImapSession) -> anyhow::Result<Vec<Listed>> {
    timed(cfg.command_timeout, "LIST", async {
        let names: Vec<_> = session
            .list(Some(""), Some("*"))
            .await?
            .try_collect()
            .await?;
        Ok::<_, async_imap::error::Error>(
            names
                .iter()
                .map(|n| Listed {
                    name: n.name().to_string(),
                    sent: n
                        .attributes()
                        .iter()
                        .any(|a| matches!(a, async_imap::types::NameAttribute::Sent)),
                })
                .collect(),
        )
    })
    .await
}

async fn folders(report: &mut Report, cfg: &ImapRuntime, session: &mut ImapSession) {
    let listed = match list(cfg, session).await {
        Ok(l) => l,
        Err(e) => return report.fail_error(G, "folders", server(cfg), &e),
    };
    let sent = listed.iter().find(|l| l.sent).map(|l| l.name.clone());
    let names: Vec<String> = listed
        .iter()
        .map(|l| {
            if l.sent {
                format!("{} (\\Sent)", l.name)
            } else {
                l.name.clone()
            }
        })
        .collect();
    let exists = |f: &str| {
        listed.iter().any(|l| {
            l.name == f || (f.eq_ignore_ascii_case("INBOX") && l.name.eq_ignore_ascii_case("INBOX"))
        })
    };
    for folder in &cfg.folders {
        let name = format!("folder {folder}");
        if !exists(folder) {
            let suggestion = match &sent {
                Some(s) => format!(
                    "use one of the folders the server has; its Sent folder (special-use \\Sent) is `{s}`"
                ),
                None => "use one of the folders the server has".into(),
            };
            report.fail(
                G,
                name,
                format!(
                    "`{folder}` does not exist; the server has: {}",
                    names.join(", ")
                ),
                "the folder does not exist",
                format!("{suggestion} (imap.folders)"),
            );
            continue;
        }
        match timed(cfg.command_timeout, "EXAMINE", session.examine(folder)).await {
            Ok(mb) => report.pass(
                G,
                name,
                format!(
                    "{} messages, UIDVALIDITY {}",
                    mb.exists,
                    mb.uid_validity
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "none (the server sent none)".into())
                ),
            ),
            Err(e) => report.fail_error(G, name, server(cfg), &e),
        }
    }
}

/// The test message's Message-ID is in `folder` (searched for up to `wait`).
pub(super) async fn find_message(
    cfg: &ImapRuntime,
    folder: &str,
    message_id: &str,
    wait: std::time::Duration,
) -> anyhow::Result<bool> {
    let mut session = connect::connect(cfg).await?;
    let started = std::time::Instant::now();
    let found = loop {
        timed(cfg.command_timeout, "EXAMINE", session.examine(folder)).await?;
        let hits = timed(
            cfg.command_timeout,
            "SEARCH",
            session.uid_search(format!("HEADER Message-ID \"{message_id}\"")),
        )
        .await?;
        if !hits.is_empty() {
            break true;
        }
        if started.elapsed() >= wait {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let _ = timed(cfg.command_timeout, "LOGOUT", session.logout()).await;
    Ok(found)
}
