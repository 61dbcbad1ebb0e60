//! Opening an IMAP session: TCP, then implicit TLS, STARTTLS or (for loopback
//! tests) none, then LOGIN (`imap.auth = "password"`) or AUTHENTICATE XOAUTH2
//! with an OAuth2 access token (`"xoauth2"`). Every step runs under the
//! command timeout: async-imap has no timeouts of its own.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::{AuthMethod, ImapRuntime, TlsMode};

/// A plain or TLS connection, so one session type serves every `imap.tls` mode.
#[derive(Debug)]
pub enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The server refused our credentials, or no credentials could be had (an
/// OAuth token that cannot be fetched). Unlike a network fault this will not
/// mend by itself, so the folder worker raises a `sign-in-failed` alert.
#[derive(Debug, thiserror::Error)]
#[error("sign-in as {user} failed: {reason}")]
pub struct SignInError {
    pub user: String,
    pub reason: String,
}

/// True when the error chain holds a [`SignInError`].
pub fn is_sign_in_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<SignInError>().is_some())
}

/// An authenticated session.
pub type ImapSession = Session<ImapStream>;

/// Runs one IMAP step under the command timeout.
pub async fn timed<T, E: Into<anyhow::Error>>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r
            .map_err(Into::into)
            .with_context(|| format!("IMAP {what}")),
        Err(_) => Err(anyhow!("IMAP {what} timed out after {}s", limit.as_secs())),
    }
}

/// Wraps `tcp` in TLS for `cfg.host`, trusting `cfg`'s CA file or pinned
/// fingerprint; the certificate the server presented lands in `seen`.
pub async fn tls_wrap(
    cfg: &ImapRuntime,
    tcp: TcpStream,
    seen: &crate::tls::SeenCertificate,
) -> Result<ImapStream> {
    let trust = crate::tls::Trust {
        ca_file: cfg.ca_file.as_deref(),
        pin: cfg.tls_fingerprint,
    };
    let config = crate::tls::server_config(trust, seen)?;
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
        .with_context(|| format!("`{}` is not a valid TLS server name", cfg.host))?;
    let tls = timed(
        cfg.command_timeout,
        "TLS handshake",
        TlsConnector::from(config).connect(name, tcp),
    )
    .await?;
    Ok(ImapStream::Tls(Box::new(tls)))
}

/// The TCP connection to `imap.host:imap.port`.
pub async fn tcp(cfg: &ImapRuntime) -> Result<TcpStream> {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let tcp = timed(cfg.command_timeout, "connect", TcpStream::connect(&addr))
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// TLS as `imap.tls` says (implicit, or STARTTLS after the greeting), up to
/// the point where the client may sign in.
pub async fn secure(
    cfg: &ImapRuntime,
    tcp: TcpStream,
    seen: &crate::tls::SeenCertificate,
) -> Result<Client<ImapStream>> {
    let t = cfg.command_timeout;
    let stream = match cfg.tls {
        TlsMode::Implicit => tls_wrap(cfg, tcp, seen).await?,
        TlsMode::None | TlsMode::Starttls => ImapStream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    let greeting = timed(t, "greeting", client.read_response()).await?;
    anyhow::ensure!(
        greeting.is_some(),
        "IMAP server closed the connection before its greeting"
    );
    if cfg.tls == TlsMode::Starttls {
        timed(
            t,
            "STARTTLS",
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await?;
        let ImapStream::Plain(tcp) = client.into_inner() else {
            return Err(anyhow!("STARTTLS on a connection that is already TLS"));
        };
        return Ok(Client::new(tls_wrap(cfg, tcp, seen).await?));
    }
    Ok(client)
}

/// Connects and signs in. The password is only ever handed to LOGIN, the
/// access token only to AUTHENTICATE.
pub async fn connect(cfg: &ImapRuntime) -> Result<ImapSession> {
    let tcp = tcp(cfg).await?;
    let client = secure(cfg, tcp, &crate::tls::SeenCertificate::default()).await?;
    sign_in(cfg, client).await
}

/// LOGIN or AUTHENTICATE XOAUTH2 (`imap.auth`) on a secured connection.
pub async fn sign_in(cfg: &ImapRuntime, client: Client<ImapStream>) -> Result<ImapSession> {
    let t = cfg.command_timeout;
    if cfg.auth == AuthMethod::Xoauth2 {
        return authenticate_xoauth2(cfg, client).await;
    }
    let session =
        match tokio::time::timeout(t, client.login(&cfg.username, cfg.password.expose())).await {
            Ok(Ok(s)) => s,
            Ok(Err((e, _))) => {
                return Err(SignInError {
                    user: cfg.username.clone(),
                    reason: format!("IMAP LOGIN: {e}"),
                }
                .into())
            }
            Err(_) => return Err(anyhow!("IMAP login timed out after {}s", t.as_secs())),
        };
    Ok(session)
}

/// The known cause of an IMAP error with this account, and its fix.
pub fn diagnose(cfg: &ImapRuntime, e: &anyhow::Error) -> Option<crate::diagnosis::Diagnosis> {
    crate::diagnosis::diagnose(
        crate::diagnosis::Server {
            service: crate::diagnosis::Service::Imap,
            host: &cfg.host,
            port: cfg.port,
        },
        &format!("{e:#}"),
    )
}

/// AUTHENTICATE XOAUTH2 with a token from the configuration's token source. No
/// token, or a refusal (NO/BAD), is a [`SignInError`]; a refused token is not
/// offered again.
async fn authenticate_xoauth2(
    cfg: &ImapRuntime,
    client: Client<ImapStream>,
) -> Result<ImapSession> {
    let t = cfg.command_timeout;
    let tokens = cfg
        .tokens
        .as_ref()
        .context("imap.auth = \"xoauth2\" but no token source is set up")?;
    let sign_in_error = |reason: String| SignInError {
        user: cfg.username.clone(),
        reason,
    };
    let token = match tokens.bearer().await {
        Ok(t) => t,
        Err(crate::oauth::TokenError::Store(e)) => {
            return Err(e.context("no OAuth token for IMAP (database)"))
        }
        Err(e) => return Err(sign_in_error(format!("no OAuth token: {e}")).into()),
    };
    let mut report = None;
    let auth = crate::oauth::xoauth2::ImapXoauth2::new(&cfg.username, token.expose(), &mut report);
    let result = tokio::time::timeout(t, client.authenticate("XOAUTH2", auth)).await;
    match result {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text), _))) => {
            tokens.rejected(&token).await;
            Err(sign_in_error(format!(
                "IMAP AUTHENTICATE XOAUTH2 refused: {}{}",
                text.trim(),
                report
                    .map(|r| format!(" (server said {r})"))
                    .unwrap_or_default()
            ))
            .into())
        }
        Ok(Err((e, _))) => Err(anyhow::Error::new(e).context("IMAP AUTHENTICATE XOAUTH2")),
        Err(_) => Err(anyhow!(
            "IMAP AUTHENTICATE timed out after {}s",
            t.as_secs()
        )),
    }
}
