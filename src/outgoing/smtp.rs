//! `outgoing.transport = "smtp"`: hands each rendered message to an SMTP
//! server (submission with STARTTLS, SMTPS, or plain SMTP on loopback), with
//! the stored bytes sent as they are and the envelope from the outbox row.
//!
//! # Delivery is at least once, with a window as small as SMTP allows
//!
//! The outbox worker marks an attempt `sending` in the database (and commits)
//! before this transport opens a connection, and records the outcome only
//! after the server has answered. Every attempt of an item sends the same
//! bytes with the same Message-ID, because the message is rendered once, when
//! it is queued. An ambiguous failure (a timeout, a dropped connection, or a
//! crash of onit) is retried. If the server had already accepted DATA with its
//! final `250` when that happened, and onit had not yet recorded the send, the
//! retry delivers a second copy. That copy has the same Message-ID, so
//! receiving mail clients show one message, and onit, which stores each
//! Message-ID once, takes a copy that reaches a mailbox it reads (a Cc, a
//! Sent folder) for the duplicate it is.
//!
//! SMTP has no transactional handshake after the final `250`: the server
//! takes responsibility for the message when it sends that reply, and there
//! is no command to ask afterwards whether a given message was taken. So the
//! send returns as soon as that `250` is in, with the connection still open
//! ([`OpenSession`]); the worker commits `sent` and only then sends QUIT, off
//! the send path. The window is one commit, unless onit crashes or the reply
//! is lost; `smtp.sent_copy_folder` closes it where the server files its own
//! copy of what we send (`super::sent_copy`).
//!
//! # Errors
//!
//! A 5xx reply inside the mail transaction (to MAIL FROM, RCPT TO or the end
//! of DATA) is [`SendError::Permanent`] with the server's text: it is recorded
//! on the ticket and not retried. Everything else is [`SendError::Transient`]
//! and retried with backoff: connection refused, TLS failures (a wrong
//! certificate may be fixed by the operator), timeouts, 4xx replies,
//! connections that break in the middle, and also a 5xx while the session is
//! being set up (greeting, EHLO, STARTTLS, AUTH). A `535` to AUTH says that
//! onit's account is wrong, not the message: once the operator has fixed the
//! password, every waiting message goes out, instead of each having been
//! written off as undeliverable. Each attempt opens its own connection (no
//! pool), so a connection that broke earlier can never fail a later message.
//! An envelope that cannot be built from the row (a malformed address) is
//! permanent: the same row will never yield another envelope.
//!
//! `smtp.timeout` bounds the whole session of one message (connect, TLS,
//! AUTH and the transaction), not only the TCP connect that lettre itself
//! times. The password is only handed to lettre, whose credentials never
//! print it; it is never logged here.
//!
//! With `smtp.auth = "xoauth2"` each session asks the token source for an
//! access token (AUTH XOAUTH2). A token that cannot be had, or one the server
//! refuses, is a sign-in failure like a refused password: the mail waits (it
//! is retried, never dropped) and goes out once the operator has signed in
//! again (`onit oauth login`). A refused token is not offered again.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Tls, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::Error as SmtpError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tracing::debug;

use super::SendError;
use crate::config::{AuthMethod, Secret, SmtpRuntime, TlsMode};
use crate::store::OutboxRow;

/// Sends through one SMTP server: everything a session needs, prepared once.
pub struct SmtpTransport {
    host: String,
    port: u16,
    /// lettre's TLS mode with its parameters (roots, server name) built once.
    tls: Tls,
    credentials: Option<Credentials>,
    /// With `smtp.auth = "xoauth2"`: the account and where its tokens come from.
    oauth: Option<(String, crate::oauth::Tokens)>,
    /// The EHLO name (this host's name), looked up once.
    hello: ClientId,
    timeout: Duration,
    /// `host:port` for messages.
    server: String,
    /// `smtp.tls_fingerprint`: the only certificate accepted.
    pin: Option<crate::tls::Fingerprint>,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("auth", &self.credentials.is_some())
            .field("xoauth2", &self.oauth.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The TLS parameters for `host`: the roots of `ca_file` only, or the system's
/// roots; with a pinned fingerprint, any certificate at this stage (the session
/// compares the certificate with the pin before it sends anything but EHLO).
pub fn tls_parameters(
    host: &str,
    ca_file: Option<&Path>,
    pin: Option<crate::tls::Fingerprint>,
) -> Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_string());
    if pin.is_some() {
        builder = builder
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    } else if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading smtp.ca_file {}", path.display()))?;
        let count = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing smtp.ca_file {}", path.display()))?
            .len();
        anyhow::ensure!(
            count > 0,
            "smtp.ca_file {} holds no certificate",
            path.display()
        );
        let cert = Certificate::from_pem(&pem)
            .with_context(|| format!("parsing smtp.ca_file {}", path.display()))?;
        builder = builder
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    // Default store: rustls-native-certs (lettre's feature). The crypto provider is
    // ring, the only one compiled in (lettre takes the process default, else ring).
    builder
        .build()
        .with_context(|| format!("setting up TLS for {host}"))
}

/// How long a QUIT after an accepted message may take.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// A session whose server has accepted the message: only QUIT is left.
pub struct OpenSession(AsyncSmtpConnection);

impl OpenSession {
    /// QUIT: a courtesy once the send is recorded, bounded, and how it goes changes nothing.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(QUIT_WAIT, self.0.abort()).await;
    }
}

/// Where in the session an error happened.
enum Failure {
    /// Connecting (TCP, implicit TLS, greeting, EHLO), STARTTLS or AUTH: about
    /// the session, never the message. The name of the step comes along.
    Session(&'static str, SmtpError),
    /// MAIL FROM, RCPT TO, DATA: the server's answer to this message.
    Transaction(SmtpError),
    /// The server's certificate is not the pinned one (or could not be read).
    Pin(String),
}

/// Checks the session's certificate against `smtp.tls_fingerprint`.
pub fn check_pin(conn: &AsyncSmtpConnection, pin: crate::tls::Fingerprint) -> Result<(), String> {
    let der = conn
        .peer_certificate()
        .map_err(|e| format!("cannot read the server's certificate: {e}"))?;
    let seen = crate::tls::Fingerprint::of(&der);
    if seen == pin {
        Ok(())
    } else {
        Err(format!(
            "the server's certificate (SHA-256 {seen}) is not the pinned tls_fingerprint {pin}"
        ))
    }
}

impl SmtpTransport {
    /// A transport for the `[smtp]` settings. Nothing is connected yet.
    pub fn new(cfg: &SmtpRuntime) -> Result<SmtpTransport> {
        let tls = match cfg.tls {
            TlsMode::Implicit => Tls::Wrapper(tls_parameters(
                &cfg.host,
                cfg.ca_file.as_deref(),
                cfg.tls_fingerprint,
            )?),
            // Required: STARTTLS or no session at all, never a fallback to plain text.
            TlsMode::Starttls => Tls::Required(tls_parameters(
                &cfg.host,
                cfg.ca_file.as_deref(),
                cfg.tls_fingerprint,
            )?),
            TlsMode::None => Tls::None,
        };
        let (credentials, oauth) = match cfg.auth {
            AuthMethod::Password => (
                cfg.username
                    .as_ref()
                    .map(|user| Credentials::new(user.clone(), cfg.password.expose().to_string())),
                None,
            ),
            AuthMethod::Xoauth2 => {
                let user = cfg
                    .username
                    .clone()
                    .context("smtp.auth = \"xoauth2\" needs smtp.username")?;
                let tokens = cfg
                    .tokens
                    .clone()
                    .context("smtp.auth = \"xoauth2\" but no token source is set up")?;
                (None, Some((user, tokens)))
            }
        };
        debug!(host = %cfg.host, port = cfg.port, tls = ?cfg.tls, auth = credentials.is_some(), xoauth2 = oauth.is_some(), "SMTP transport ready");
        Ok(SmtpTransport {
            host: cfg.host.clone(),
            port: cfg.port,
            tls,
            credentials,
            oauth,
            hello: ClientId::default(),
            timeout: cfg.timeout,
            server: format!("{}:{}", cfg.host, cfg.port),
            pin: cfg.tls_fingerprint,
        })
    }

    /// Sends one message; Ok once the server's final `250` is in, with the
    /// session still open for its QUIT (see the module's doc).
    pub(super) async fn send(&self, item: &OutboxRow) -> Result<OpenSession, SendError> {
        let envelope = envelope(item).map_err(SendError::Permanent)?;
        // lettre ends DATA with "\r\n.\r\n" whatever the message ends with, so the
        // message's own final line break is left to it: the server then receives
        // exactly the stored bytes (with an extra blank line otherwise).
        let raw = item.raw.strip_suffix(b"\r\n").unwrap_or(&item.raw);
        // The token first: without one there is no point in connecting. The token
        // source bounds its own wait (the token endpoint's timeouts).
        let token = match &self.oauth {
            Some((_, tokens)) => Some(tokens.bearer().await.map_err(|e| match e {
                crate::oauth::TokenError::Store(e) => {
                    SendError::Transient(format!("no OAuth token for SMTP (database): {e:#}"))
                }
                e => SendError::SignIn(format!("no OAuth token for SMTP AUTH XOAUTH2: {e}")),
            })?),
            None => None,
        };
        let result =
            tokio::time::timeout(self.timeout, self.session(&envelope, raw, token.as_ref())).await;
        if let (Some((_, tokens)), Some(token), Ok(Err(Failure::Session("AUTH", e)))) =
            (&self.oauth, &token, &result)
        {
            if e.is_permanent() {
                tokens.rejected(token).await;
            }
        }
        let hinted = |text: String| {
            crate::diagnosis::with_hint(
                crate::diagnosis::Server {
                    service: crate::diagnosis::Service::Smtp,
                    host: &self.host,
                    port: self.port,
                },
                &text,
            )
        };
        match result {
            Ok(Err(Failure::Pin(e))) => Err(SendError::Transient(hinted(format!(
                "SMTP session with {}: {e}",
                self.server
            )))),
            Err(_) => Err(SendError::Transient(format!(
                "SMTP session with {} timed out after {:?}",
                self.server, self.timeout
            ))),
            Ok(Ok(conn)) => Ok(OpenSession(conn)),
            Ok(Err(Failure::Transaction(e))) if e.is_permanent() => Err(SendError::Permanent(
                format!("{} refused the message: {}", self.server, describe(&e)),
            )),
            Ok(Err(Failure::Transaction(e))) => Err(SendError::Transient(format!(
                "sending via {}: {}",
                self.server,
                describe(&e)
            ))),
            Ok(Err(Failure::Session("AUTH", e))) if e.is_permanent() => {
                Err(SendError::SignIn(hinted(format!(
                    "{} refused the credentials: {}",
                    self.server,
                    describe(&e)
                ))))
            }
            Ok(Err(Failure::Session(step, e))) => Err(SendError::Transient(hinted(format!(
                "SMTP session with {} failed at {step}: {}",
                self.server,
                describe(&e)
            )))),
        }
    }

    /// One session up to the server's acceptance: connect (TLS), AUTH, one
    /// transaction. The connection is returned for the QUIT.
    async fn session(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        token: Option<&Secret>,
    ) -> Result<AsyncSmtpConnection, Failure> {
        let implicit = match &self.tls {
            Tls::Wrapper(p) => Some(p.clone()),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            implicit,
            None,
        )
        .await
        .map_err(|e| Failure::Session("connect", e))?;
        if let Tls::Required(p) = &self.tls {
            conn.starttls(p.clone(), &self.hello)
                .await
                .map_err(|e| Failure::Session("STARTTLS", e))?;
        }
        if let Some(pin) = self.pin {
            if let Err(e) = check_pin(&conn, pin) {
                conn.abort().await;
                return Err(Failure::Pin(e));
            }
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|e| Failure::Session("AUTH", e))?;
        }
        if let (Some((user, _)), Some(token)) = (&self.oauth, token) {
            auth_xoauth2(&mut conn, user, token)
                .await
                .map_err(|e| Failure::Session("AUTH", e))?;
        }
        let reply = conn
            .send(envelope, raw)
            .await
            .map_err(Failure::Transaction)?;
        debug!(server = %self.server, reply = %reply.message().collect::<Vec<_>>().join(" "), "accepted");
        Ok(conn)
    }
}

/// AUTH XOAUTH2, by hand: lettre's own XOAUTH2 gives up on the server's error
/// challenge (a `334` carrying a JSON report) instead of answering it with an
/// empty line, which loses the server's final `535`. Answering it makes a
/// refused token end in that `535`: a sign-in failure with the server's words,
/// not a broken session.
pub async fn auth_xoauth2(
    conn: &mut AsyncSmtpConnection,
    user: &str,
    token: &Secret,
) -> Result<(), SmtpError> {
    use base64::Engine;
    let initial = base64::engine::general_purpose::STANDARD.encode(
        crate::oauth::xoauth2::initial_response(user, token.expose()),
    );
    let reply = conn
        .command(Line(format!("AUTH XOAUTH2 {initial}")))
        .await?;
    if reply.has_code(334) {
        // The error report; the empty answer brings the final (5xx) reply, an Err.
        conn.command(Line(String::new())).await?;
    }
    Ok(())
}

/// One command line for [`AsyncSmtpConnection::command`]. No `Debug`: it may hold a token.
struct Line(String);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// The SMTP envelope: `mail_from`, and the comma-separated `rcpt_to`.
fn envelope(item: &OutboxRow) -> Result<Envelope, String> {
    let from = item
        .mail_from
        .trim()
        .parse::<Address>()
        .map_err(|e| format!("envelope sender `{}`: {e}", item.mail_from))?;
    let to = item
        .rcpt_to
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Address>()
                .map_err(|e| format!("envelope recipient `{s}`: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| format!("envelope for `{}`: {e}", item.rcpt_to))
}

/// An SMTP error on one line: a server reply as its code and text
/// (`554 5.7.1 <x@y>: Recipient address rejected: Access denied`), anything
/// else as the error and its causes.
pub fn describe(e: &SmtpError) -> String {
    use std::error::Error as _;
    match (e.status(), e.source()) {
        (Some(code), Some(text)) => format!("{code} {text}"),
        _ => crate::error_line::error_line(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(from: &str, rcpt: &str) -> OutboxRow {
        OutboxRow {
            id: 1,
            kind: crate::ticket::OutboxKind::Ack,
            dedupe_key: "ack:1".into(),
            ticket_id: Some(1),
            message_id: "x@jac.example".into(),
            mail_from: from.into(),
            to_addr: rcpt.into(),
            rcpt_to: rcpt.into(),
            raw: b"Subject: x\r\n\r\nx\r\n".to_vec(),
            status: crate::store::OutboxStatus::Sending,
            attempts: 1,
            created_at: 0,
            next_attempt_at: 0,
            attempt_started_at: None,
            sent_at: None,
            last_error: None,
        }
    }

    #[test]
    fn envelope_takes_every_recipient() {
        let e = envelope(&row(
            "support@jac.example",
            "bob@acme.example, alice.pm@jac.example",
        ))
        .unwrap();
        assert_eq!(
            e.from().map(|a| a.to_string()).as_deref(),
            Some("support@jac.example")
        );
        let to: Vec<String> = e.to().iter().map(|a| a.to_string()).collect();
        assert_eq!(to, vec!["bob@acme.example", "alice.pm@jac.example"]);
    }

    #[test]
    fn a_bad_envelope_is_reported() {
        assert!(envelope(&row("support@jac.example", "")).is_err());
        assert!(envelope(&row("not an address", "bob@acme.example")).is_err());
        assert!(envelope(&row("support@jac.example", "bob@acme.example,nope")).is_err());
    }
}
