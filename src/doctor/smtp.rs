//! SMTP: TCP, TLS (and the certificate), EHLO, AUTH and, with `--send-test
//! ADDR`, one real message, looked for in the IMAP mailbox when ADDR is the
//! address onit reads. The test message carries our own kind of Message-ID
//! and `Auto-Submitted: auto-generated`, so onit takes it for its own mail,
//! never for a client's.

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;

use crate::config::{AuthMethod, Runtime, SmtpRuntime, TlsMode};
use crate::diagnosis::{Server, Service};
use crate::outgoing::smtp::{check_pin, describe, tls_parameters};
use crate::tls::Fingerprint;

use super::Report;

const G: &str = "smtp";

/// How long the test message may take to reach the IMAP mailbox.
const ROUND_TRIP_WAIT: Duration = Duration::from_secs(30);

fn server(cfg: &SmtpRuntime) -> Server<'_> {
    Server {
        service: Service::Smtp,
        host: &cfg.host,
        port: cfg.port,
    }
}

/// Opens a session (TCP, implicit TLS or STARTTLS, EHLO); `accept_any`: the
/// certificate is not checked (only to read its fingerprint, then abort).
async fn open(cfg: &SmtpRuntime, accept_any: bool) -> anyhow::Result<AsyncSmtpConnection> {
    let pin = if accept_any {
        // Any pin makes the parameters accept every certificate.
        Some(Fingerprint::of(b""))
    } else {
        cfg.tls_fingerprint
    };
    let params = match cfg.tls {
        TlsMode::None => None,
        _ => Some(tls_parameters(&cfg.host, cfg.ca_file.as_deref(), pin)?),
    };
    let hello = ClientId::default();
    let implicit = params.clone().filter(|_| cfg.tls == TlsMode::Implicit);
    let mut conn = tokio::time::timeout(
        cfg.timeout,
        AsyncSmtpConnection::connect_tokio1(
            (cfg.host.as_str(), cfg.port),
            Some(cfg.timeout),
            &hello,
            implicit,
            None,
        ),
    )
    .await
    .map_err(|_| anyhow::anyhow!("SMTP greeting timed out after {}s", cfg.timeout.as_secs()))?
    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    if let (TlsMode::Starttls, Some(p)) = (cfg.tls, params) {
        tokio::time::timeout(cfg.timeout, conn.starttls(p, &hello))
            .await
            .map_err(|_| {
                anyhow::anyhow!("SMTP STARTTLS timed out after {}s", cfg.timeout.as_secs())
            })?
            .map_err(|e| anyhow::anyhow!("STARTTLS: {}", describe(&e)))?;
    }
    Ok(conn)
}

/// Runs the SMTP checks, stopping at the first step that fails.
pub(super) async fn check(
    report: &mut Report,
    rt: &Runtime,
    cfg: &SmtpRuntime,
    send_test: Option<&str>,
) {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    match tokio::time::timeout(cfg.timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => report.pass(G, "TCP", format!("connected to {addr}")),
        Ok(Err(e)) => {
            return report.fail_error(
                G,
                "TCP",
                server(cfg),
                &anyhow::Error::new(e).context(format!("connecting to {addr}")),
            )
        }
        Err(_) => {
            return report.fail_error(
                G,
                "TCP",
                server(cfg),
                &anyhow::anyhow!("connecting to {addr} timed out"),
            )
        }
    }
    let mut conn = match open(cfg, false).await {
        Ok(c) => c,
        Err(e) => {
            report.fail_error(G, "TLS and EHLO", server(cfg), &e);
            // The certificate the server presents, read without trusting it.
            if cfg.tls != TlsMode::None {
                if let Ok(mut c) = open(cfg, true).await {
                    report.with_fingerprint(c.peer_certificate().ok().map(|d| Fingerprint::of(&d)));
                    c.abort().await;
                }
            }
            return;
        }
    };
    let seen = conn.peer_certificate().ok().map(|d| Fingerprint::of(&d));
    if let Some(pin) = cfg.tls_fingerprint {
        if let Err(e) = check_pin(&conn, pin) {
            conn.abort().await;
            report.fail_error(G, "TLS", server(cfg), &anyhow::anyhow!(e));
            report.with_fingerprint(seen);
            return;
        }
    }
    match cfg.tls {
        TlsMode::None => report.pass(G, "TLS", "none (smtp.tls = \"none\": loopback only)"),
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
                    super::imap::trusted_by(cfg.ca_file.as_deref(), cfg.tls_fingerprint.is_some())
                ),
            );
            report.with_fingerprint(seen);
        }
    }
    report.pass(G, "EHLO", conn.server_info().to_string());
    if !auth(report, cfg, &mut conn).await {
        conn.abort().await;
        return;
    }
    if let Some(to) = send_test {
        send(report, rt, cfg, conn, to).await;
    } else {
        let _ = tokio::time::timeout(cfg.timeout, conn.quit()).await;
    }
}

/// AUTH as configured; false when it failed.
async fn auth(report: &mut Report, cfg: &SmtpRuntime, conn: &mut AsyncSmtpConnection) -> bool {
    let result = match (cfg.auth, &cfg.username) {
        (AuthMethod::Password, None) => {
            report.pass(
                G,
                "AUTH",
                "none (smtp.username is empty: the server must accept mail from this host)",
            );
            return true;
        }
        (AuthMethod::Password, Some(user)) => {
            let creds = Credentials::new(user.clone(), cfg.password.expose().to_string());
            tokio::time::timeout(cfg.timeout, conn.auth(DEFAULT_MECHANISMS, &creds))
                .await
                .map(|r| r.map(|_| ()).map_err(|e| describe(&e)))
        }
        (AuthMethod::Xoauth2, user) => {
            let user = user.clone().unwrap_or_default();
            let token = match cfg.tokens.as_ref() {
                Some(t) => t.bearer().await.map_err(|e| e.to_string()),
                None => Err("no token source (see the oauth check)".to_string()),
            };
            match token {
                Ok(token) => tokio::time::timeout(
                    cfg.timeout,
                    crate::outgoing::smtp::auth_xoauth2(conn, &user, &token),
                )
                .await
                .map(|r| r.map_err(|e| describe(&e))),
                Err(e) => Ok(Err(e)),
            }
        }
    };
    let who = cfg.username.clone().unwrap_or_default();
    match result {
        Ok(Ok(())) => {
            report.pass(G, "AUTH", format!("signed in as {who}"));
            true
        }
        Ok(Err(e)) => {
            report.fail_error(
                G,
                "AUTH",
                server(cfg),
                &anyhow::anyhow!("AUTH as {who}: {e}"),
            );
            false
        }
        Err(_) => {
            report.fail_error(G, "AUTH", server(cfg), &anyhow::anyhow!("AUTH timed out"));
            false
        }
    }
}

/// One real message to `to`, then (when `to` is the mailbox onit reads) found again by IMAP.
async fn send(
    report: &mut Report,
    rt: &Runtime,
    cfg: &SmtpRuntime,
    mut conn: AsyncSmtpConnection,
    to: &str,
) {
    let to_addr = match crate::address::EmailAddress::parse(to) {
        Ok(a) => a,
        Err(e) => {
            conn.abort().await;
            return report.fail(
                G,
                "send test",
                format!("`{to}`: {e}"),
                "",
                "give an address",
            );
        }
    };
    let from = &rt.team.from;
    let message_id = crate::compose::new_message_id("doctor", from.domain());
    let date = chrono::Utc::now().to_rfc2822();
    let raw = format!(
        "From: {from}\r\nTo: {to_addr}\r\nSubject: onit doctor test message\r\nDate: {date}\r\nMessage-ID: <{message_id}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis message was sent by `onit doctor --send-test` to check that mail goes out.\r\nIt can be deleted.\r\n"
    );
    let envelope = match (from.as_str().parse(), to_addr.as_str().parse()) {
        (Ok(f), Ok(t)) => Envelope::new(Some(f), vec![t]),
        _ => {
            conn.abort().await;
            return report.fail(G, "send test", "cannot build the envelope", "", "");
        }
    };
    let envelope = match envelope {
        Ok(e) => e,
        Err(e) => {
            conn.abort().await;
            return report.fail(G, "send test", e.to_string(), "", "");
        }
    };
    let sent = tokio::time::timeout(cfg.timeout, conn.send(&envelope, raw.as_bytes())).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
    match sent {
        Ok(Ok(reply)) => report.pass(
            G,
            "send test",
            format!(
                "{to_addr} accepted: {} (Message-ID <{message_id}>)",
                reply.message().collect::<Vec<_>>().join(" ")
            ),
        ),
        Ok(Err(e)) => {
            return report.fail_error(
                G,
                "send test",
                server(cfg),
                &anyhow::anyhow!("sending to {to_addr}: {}", describe(&e)),
            )
        }
        Err(_) => {
            return report.fail_error(
                G,
                "send test",
                server(cfg),
                &anyhow::anyhow!("sending timed out"),
            )
        }
    }
    let Some(imap) = rt
        .imap
        .as_ref()
        .filter(|_| rt.source == crate::config::SourceKind::Imap)
    else {
        return;
    };
    let ours = imap.username.eq_ignore_ascii_case(to_addr.as_str())
        || rt.team.support.iter().any(|s| s == &to_addr);
    if !ours {
        return;
    }
    let folder = imap
        .folders
        .iter()
        .find(|f| f.eq_ignore_ascii_case("INBOX"))
        .or(imap.folders.first())
        .cloned()
        .unwrap_or_else(|| "INBOX".into());
    let started = Instant::now();
    match super::imap::find_message(imap, &folder, &message_id, ROUND_TRIP_WAIT).await {
        Ok(true) => report.pass(
            G,
            "round trip",
            format!(
                "the test message arrived in {folder} after {:.1}s",
                started.elapsed().as_secs_f64()
            ),
        ),
        Ok(false) => report.fail(
            G,
            "round trip",
            format!(
                "the test message is not in {folder} after {}s",
                ROUND_TRIP_WAIT.as_secs()
            ),
            "the server accepted the message but did not deliver it to this mailbox",
            "look for it in the spam folder, and in the mail server's log under its Message-ID",
        ),
        Err(e) => report.fail_error(
            G,
            "round trip",
            Server {
                service: Service::Imap,
                host: &imap.host,
                port: imap.port,
            },
            &e,
        ),
    }
}
