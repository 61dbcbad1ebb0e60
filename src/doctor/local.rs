//! The checks that need no mail server: what the configuration says, the
//! time zone and calendar, the OAuth token, the HTTP listener.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Runtime;
use crate::store::Store;

use super::Report;

/// The file and what it configures.
pub(super) fn configuration_summary(file: Option<&Path>, rt: &Runtime) -> String {
    let file = file
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    format!("{file}: {}", rt.summary())
}

/// The calendar's zone and what time it is there.
pub(super) fn calendar(report: &mut Report, rt: &Runtime, now: DateTime<Utc>) {
    let tz = rt.calendar.tz();
    let local = now.with_timezone(&tz);
    let open = if rt.calendar.is_open(now) {
        "within business hours"
    } else {
        "outside business hours"
    };
    report.pass(
        "calendar",
        "time zone",
        format!(
            "{tz}: now {} ({open}, {} to {})",
            local.format("%Y-%m-%d %H:%M %Z"),
            rt.calendar.start().format("%H:%M"),
            rt.calendar.end().format("%H:%M")
        ),
    );
}

/// XOAUTH2: a token can be had now. Returns the runtime with its token source attached.
pub(super) async fn oauth(report: &mut Report, rt: Runtime, store: Option<&Store>) -> Runtime {
    if rt.oauth.is_none() {
        return rt;
    }
    let Some(store) = store else {
        report.fail(
            "oauth",
            "token",
            "no database yet, so no stored grant",
            "not signed in",
            "run `onit oauth login`",
        );
        return rt;
    };
    let rt = match crate::oauth::attach(rt.clone(), store).await {
        Ok(rt) => rt,
        Err(e) => {
            report.fail(
                "oauth",
                "token",
                format!("{e:#}"),
                "",
                "run `onit oauth login`",
            );
            return rt;
        }
    };
    let tokens = rt
        .imap
        .as_ref()
        .and_then(|i| i.tokens.clone())
        .or_else(|| rt.smtp.as_ref().and_then(|s| s.tokens.clone()));
    let Some(tokens) = tokens else {
        return rt;
    };
    match tokens.bearer().await {
        Ok(_) => {
            let expiry = crate::oauth::device::status(store, &rt)
                .await
                .ok()
                .and_then(|s| s.access_expires_at)
                .map(|t| {
                    format!(
                        ", access token valid until {}",
                        t.with_timezone(&rt.calendar.tz())
                            .format("%Y-%m-%d %H:%M %Z")
                    )
                })
                .unwrap_or_default();
            report.pass(
                "oauth",
                "token",
                format!("an access token can be had{expiry}"),
            );
        }
        Err(e) => report.fail(
            "oauth",
            "token",
            e.to_string(),
            "no access token",
            "run `onit oauth login` (and check [oauth] and the provider's consent)",
        ),
    }
    rt
}

/// `http.listen`: onit answers there, or the address is free for it.
pub(super) async fn http(report: &mut Report, rt: &Runtime) {
    let Some(addr) = rt.ops.http_listen else {
        return;
    };
    let connect =
        tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await;
    if let Ok(Ok(mut s)) = connect {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            s.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
                .await?;
            s.read_to_end(&mut answer).await
        })
        .await;
        let status = String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        report.pass(
            "http",
            "listener",
            format!("{addr} answers /healthz: {status}"),
        );
        return;
    }
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            drop(l);
            report.pass(
                "http",
                "listener",
                format!("{addr} is free: `onit run` serves /healthz, /readyz and /metrics there"),
            );
        }
        Err(e) => report.fail(
            "http",
            "listener",
            format!("cannot listen on {addr}: {e}"),
            "the address is taken or not this machine's",
            "choose another http.listen, or stop what listens there",
        ),
    }
}
