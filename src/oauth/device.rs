//! `onit oauth login`: the operator's first consent, by the device
//! authorization flow (RFC 8628). onit asks the provider for a code, prints
//! where to enter it (on any machine with a browser), polls the token endpoint
//! until the operator has agreed, and stores the refresh token in the
//! database for the configured account. `onit oauth status` shows what is
//! stored, never a token.
//!
//! Google's device flow offers only a few scopes, and Gmail's
//! (`https://mail.google.com/`) is not among them: Google answers
//! `invalid_scope`. For Gmail, obtain the refresh token with another tool and
//! give it to onit once (`oauth.refresh_token_file`), or use
//! `oauth.token_command`.

use std::io::Write;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use oauth2::{DeviceAuthorizationResponse, EmptyExtraDeviceAuthorizationFields, Scope};
use serde::Serialize;

use super::{grant, provider, Provider};
use crate::alerts::{self, AlertKind};
use crate::config::{OAuthRuntime, Runtime};
use crate::store::{from_ms, Store};

/// The `[oauth]` in use, or why there is none.
fn oauth_config(rt: &Runtime) -> Result<&OAuthRuntime> {
    rt.oauth.as_ref().context(
        "no [oauth] in use: set imap.auth or smtp.auth = \"xoauth2\" (for a section in use) and configure [oauth] first",
    )
}

/// Runs the device flow for the configured account and stores the grant.
/// `provider`, when given, must be `oauth.provider` (the daemon refreshes there).
/// Instructions go to `out`; returns when the grant is stored, or fails when the
/// operator declines or the code expires.
pub async fn login(
    store: &Store,
    rt: &Runtime,
    provider: Option<Provider>,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let cfg = oauth_config(rt)?;
    if cfg.token_command.is_some() {
        bail!("oauth.token_command is set: tokens come from that command, there is nothing to sign in to");
    }
    let configured = cfg.provider.context("oauth.provider is not set")?;
    if let Some(p) = provider.filter(|p| *p != configured) {
        bail!(
            "--provider {} but oauth.provider = \"{}\": set oauth.provider = \"{}\" so the daemon refreshes where the grant comes from",
            p.as_str(),
            configured.as_str(),
            p.as_str()
        );
    }
    if cfg.device_auth_url.is_none() {
        bail!("oauth.device_auth_url is required to sign in with a custom provider");
    }
    let client = provider::client(cfg)?;
    let http = provider::http_client(cfg.ca_file.as_deref())?;
    let scopes = || cfg.scopes.iter().cloned().map(Scope::new);
    let details: DeviceAuthorizationResponse<EmptyExtraDeviceAuthorizationFields> = client
        .exchange_device_code()
        .context("oauth.device_auth_url")?
        .add_scopes(scopes())
        .request_async(&http)
        .await
        .map_err(|e| {
            let e = provider::endpoint_error(e);
            let hint = if configured == Provider::Google && e.to_string().contains("scope") {
                " (Google's device flow does not offer the Gmail scope: store a refresh token obtained elsewhere with oauth.refresh_token_file, or use oauth.token_command)"
            } else {
                ""
            };
            anyhow::anyhow!("the provider refused the sign-in request: {e}{hint}")
        })?;
    let minutes = details.expires_in().as_secs().div_ceil(60);
    writeln!(
        out,
        "To let onit read and send mail as {account}, open\n\n    {uri}\n\nin a browser (on any machine), sign in as {account} and enter the code\n\n    {code}\n\nwithin {minutes} minutes.{complete}\nWaiting for the sign-in…",
        account = cfg.account,
        uri = details.verification_uri().as_str(),
        code = details.user_code().secret(),
        complete = details
            .verification_uri_complete()
            .map(|u| format!("\n(Or open {} directly.)", u.secret()))
            .unwrap_or_default(),
    )?;
    out.flush()?;
    let resp = client
        .exchange_device_access_token(&details)
        .request_async(&http, tokio::time::sleep, None)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the sign-in did not complete: {}",
                provider::endpoint_error(e)
            )
        })?;
    let now = Utc::now();
    let issued = super::issued_from(&resp, None, None, now);
    if issued.refresh_token.is_empty() {
        bail!("the provider returned no refresh token, so onit could not renew access (Microsoft: keep offline_access in oauth.scopes)");
    }
    let mut tx = store.begin().await?;
    grant::store_login(&mut tx, &cfg.account, configured.as_str(), &issued, now).await?;
    tx.commit().await?; // A new grant ends the warning about the old one; the services' sign-in
                        // alerts end with their next good sign-in.
    alerts::resolve(
        store,
        AlertKind::TokenExpiring,
        &format!("oauth:{}", cfg.account),
        now,
    )
    .await?;
    writeln!(
        out,
        "Signed in. The refresh token for {} is stored in the database; onit renews the access token (valid until {}) by itself.{}",
        cfg.account,
        issued.access_expires_at.to_rfc3339(),
        issued
            .refresh_expires_at
            .map(|at| format!(" The provider says this grant ends at {}: sign in again before then.", at.to_rfc3339()))
            .unwrap_or_default()
    )?;
    Ok(())
}

/// What `onit oauth status` shows: the grant's state, never a token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenStatus {
    pub account: String,
    /// "refresh" (onit keeps the grant) or "command" (`oauth.token_command`).
    pub source: &'static str,
    pub provider: Option<String>,
    /// A refresh token is stored.
    pub signed_in: bool,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The stored grant's state for the configured account.
pub async fn status(store: &Store, rt: &Runtime) -> Result<TokenStatus> {
    let cfg = oauth_config(rt)?;
    if cfg.token_command.is_some() {
        return Ok(TokenStatus {
            account: cfg.account.clone(),
            source: "command",
            provider: None,
            signed_in: true,
            access_expires_at: None,
            refresh_expires_at: None,
            refreshed_at: None,
            last_error: None,
            last_error_at: None,
        });
    }
    let row = grant::read(store, &cfg.account).await?;
    Ok(TokenStatus {
        account: cfg.account.clone(),
        source: "refresh",
        provider: row
            .as_ref()
            .map(|r| r.provider.clone())
            .filter(|p| !p.is_empty())
            .or_else(|| cfg.provider.map(|p| p.as_str().to_string())),
        signed_in: row.as_ref().is_some_and(|r| r.refresh().is_some()),
        access_expires_at: row.as_ref().and_then(|r| r.access_expires_at).map(from_ms),
        refresh_expires_at: row.as_ref().and_then(|r| r.refresh_expires_at).map(from_ms),
        refreshed_at: row.as_ref().and_then(|r| r.refreshed_at).map(from_ms),
        last_error: row.as_ref().and_then(|r| r.last_error.clone()),
        last_error_at: row.as_ref().and_then(|r| r.last_error_at).map(from_ms),
    })
}

/// `onit oauth status` as text.
pub fn status_text(s: &TokenStatus, now: DateTime<Utc>) -> String {
    let when = |t: Option<DateTime<Utc>>| match t {
        None => "unknown".to_string(),
        Some(t) if t > now => format!("{} (in {})", t.to_rfc3339(), span(t - now)),
        Some(t) => format!("{} ({} ago)", t.to_rfc3339(), span(now - t)),
    };
    let mut text = format!(
        "account        {}\nprovider       {}\n",
        s.account,
        s.provider.as_deref().unwrap_or("-")
    );
    if s.source == "command" {
        text.push_str("tokens         from oauth.token_command\n");
        return text;
    }
    text.push_str(&format!(
        "signed in      {}\n",
        if s.signed_in {
            "yes"
        } else {
            "no: run `onit oauth login`"
        }
    ));
    text.push_str(&format!(
        "access token   expires {}\n",
        when(s.access_expires_at)
    ));
    if s.refresh_expires_at.is_some() {
        text.push_str(&format!(
            "refresh token  expires {}\n",
            when(s.refresh_expires_at)
        ));
    }
    text.push_str(&format!("last refresh   {}\n", when(s.refreshed_at)));
    if let Some(e) = &s.last_error {
        text.push_str(&format!(
            "last error     {} ({})\n",
            e,
            when(s.last_error_at)
        ));
    }
    text
}

fn span(d: Duration) -> String {
    let m = d.num_minutes();
    if m < 120 {
        format!("{m} min")
    } else if m < 48 * 60 {
        format!("{} h", m / 60)
    } else {
        format!("{} days", m / (24 * 60))
    }
}
