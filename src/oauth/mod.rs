//! OAuth2 access tokens for XOAUTH2 sign-in (`imap.auth` / `smtp.auth` =
//! "xoauth2"), kept alive for as long as the operator's consent lasts.
//!
//! Help desks lose mail here quietly: a refresh token the provider rotated is
//! not saved, or a refresh fails for days without anyone hearing of it, and
//! the mailbox stops once the last access token expires (Zammad #3411). So:
//!
//! - The grant lives in the database ([`grant`]), not in memory or a file:
//!   `onit oauth login` ([`device`]) stores the first refresh token, and every
//!   refresh runs under the grant's row lock and commits whatever refresh
//!   token the provider returns *before* the new access token is used. Among
//!   several instances one refreshes; the others read its result.
//! - The access token is refreshed `oauth.refresh_before_mins` before it
//!   expires, by the daemon's upkeep task even while IMAP idles on a session
//!   that needs no new token. A refresh that fails while the current token
//!   still works raises a `token-expiring` alert (subject `oauth:<account>`),
//!   so the operators hear of it before mail stops; so does a refresh token
//!   the provider says expires within [`REFRESH_TOKEN_WARNING`].
//! - Once no valid token remains, the sign-in fails, and each service reports
//!   it as it reports a refused password: IMAP returns a
//!   [`SignInError`](crate::imap::connect::SignInError) and its folder worker
//!   raises `sign-in-failed` (`imap:…`); SMTP keeps the mail, retries, and the
//!   outbox raises `sign-in-failed` (`smtp:…`).
//! - A good refresh resolves the `token-expiring` alert; a good sign-in, the
//!   services' own.
//!
//! With `oauth.token_command` an external program supplies the access tokens
//! and there is nothing to refresh or store.
//!
//! Tokens never reach a log line, an alert or `Debug` output: they travel as
//! [`Secret`]s, and errors from the token endpoint are reduced to the OAuth
//! error code and description ([`provider::EndpointError`]).

pub mod bearer;
pub mod device;
pub mod grant;
pub mod issuer;
pub mod provider;
pub mod xoauth2;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use oauth2::{RefreshToken, Scope, TokenResponse as _};
use tokio::sync::{watch, Mutex};
use tracing::{debug, info, warn};

use crate::alerts::{self, AlertKind};
use crate::config::{AuthMethod, OAuthRuntime, Runtime};
use crate::secret::Secret;
use crate::store::{from_ms, Store};
pub use provider::Provider;
use provider::{EndpointError, OAuthClient};

/// A refresh token that the provider says expires within this raises `token-expiring`.
pub const REFRESH_TOKEN_WARNING: Duration = Duration::days(7);
/// After a failed refresh, the current (still valid) token is used this long before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::seconds(60);
/// A token from `oauth.token_command` is reused this long (the command says nothing of expiry).
const COMMAND_TOKEN_REUSE: Duration = Duration::seconds(60);
/// `oauth.token_command` is killed after this long.
const COMMAND_TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// How often the daemon's upkeep task looks at the token.
const UPKEEP_EVERY: StdDuration = StdDuration::from_secs(60);
/// Providers that leave out `expires_in` issue tokens for an hour (Google, Microsoft).
const DEFAULT_LIFETIME: Duration = Duration::hours(1);

impl From<EndpointError> for TokenError {
    fn from(e: EndpointError) -> TokenError {
        match e {
            EndpointError::Refused { .. } => TokenError::Refused(e.to_string()),
            EndpointError::Unreachable(s) => TokenError::Unreachable(s),
        }
    }
}

pub use bearer::{Bearer, TokenError, Tokens};

impl Bearer for TokenSource {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret, TokenError>> {
        Box::pin(TokenSource::bearer(self))
    }
    fn rejected<'a>(&'a self, token: &'a Secret) -> BoxFuture<'a, ()> {
        Box::pin(TokenSource::rejected(self, token))
    }
    fn upkeep(&self, now: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(TokenSource::upkeep(self, now))
    }
}

/// Hands out access tokens for one account: from memory while fresh, else from
/// the database (another instance may have refreshed), else by a refresh at
/// the provider, or from `oauth.token_command`.
pub struct TokenSource {
    store: Store,
    /// For alerts (recipients, calendar, instance name). A copy taken before the
    /// token source was attached, so it holds no token source itself.
    rt: Arc<Runtime>,
    cfg: OAuthRuntime,
    /// The provider's client and the HTTP client; None with `token_command`.
    endpoint: Option<(OAuthClient, reqwest::Client)>,
    /// One refresh at a time in this process; other callers wait and take its result.
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.cfg.account)
            .field("provider", &self.cfg.provider)
            .field("command", &self.cfg.token_command.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// After a failed refresh: keep using the cached token until then.
    retry_after: Option<DateTime<Utc>>,
    /// A token the server refused: never hand it out again.
    rejected: Option<Secret>,
}

struct Cached {
    token: Secret,
    expires_at: DateTime<Utc>,
}

/// What a look at the stored grant gave.
enum Outcome {
    /// A token, fresh from the database or from a refresh.
    Fresh {
        token: Secret,
        expires_at: DateTime<Utc>,
        refresh_expires_at: Option<DateTime<Utc>>,
    },
    /// No new token; `current` is the stored one if it still works.
    Failed {
        error: TokenError,
        current: Option<(Secret, DateTime<Utc>)>,
    },
}

impl TokenSource {
    /// A token source for `rt.oauth` over `store`.
    pub fn new(store: Store, rt: Arc<Runtime>) -> Result<TokenSource> {
        let cfg = rt
            .oauth
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no [oauth] configuration in use"))?;
        let endpoint = match cfg.token_command {
            Some(_) => None,
            None => Some((
                provider::client(&cfg)?,
                provider::http_client(cfg.ca_file.as_deref())?,
            )),
        };
        Ok(TokenSource {
            store,
            rt,
            cfg,
            endpoint,
            state: Mutex::new(State::default()),
        })
    }

    /// The account the tokens are for (the XOAUTH2 `user=`).
    pub fn account(&self) -> &str {
        &self.cfg.account
    }

    /// The subject of this account's alerts.
    pub fn alert_subject(&self) -> String {
        format!("oauth:{}", self.cfg.account)
    }

    /// An access token to sign in with now.
    pub async fn bearer(&self) -> Result<Secret, TokenError> {
        self.obtain(Utc::now()).await
    }

    /// The server refused `token`: it is not handed out again (the next caller
    /// gets a refreshed one, or the command's next answer).
    pub async fn rejected(&self, token: &Secret) {
        let mut st = self.state.lock().await;
        if st.cached.as_ref().is_some_and(|c| &c.token == token) {
            st.cached = None;
        }
        st.retry_after = None;
        st.rejected = Some(token.clone());
    }

    /// The daemon's periodic look: refreshes ahead of expiry (and so alerts on a
    /// failing refresh) even when no sign-in needs a token right now.
    pub async fn upkeep(&self, now: DateTime<Utc>) {
        if self.cfg.token_command.is_some() {
            return;
        }
        if let Err(e) = self.obtain(now).await {
            debug!(error = %e, "OAuth upkeep: no token");
        }
    }

    async fn obtain(&self, now: DateTime<Utc>) -> Result<Secret, TokenError> {
        let mut st = self.state.lock().await;
        if let Some(cmd) = self.cfg.token_command.as_deref() {
            if let Some(c) = st.cached.as_ref().filter(|c| c.expires_at > now) {
                return Ok(c.token.clone());
            }
            return match run_command(cmd, &self.cfg.account).await {
                Ok(token) if st.rejected.as_ref() == Some(&token) => Err(TokenError::Command(
                    "it printed the token the server just refused".into(),
                )),
                Ok(token) => {
                    st.cached = Some(Cached {
                        token: token.clone(),
                        expires_at: now + COMMAND_TOKEN_REUSE,
                    });
                    st.rejected = None;
                    Ok(token)
                }
                Err(e) => Err(e),
            };
        }
        if let Some(c) = &st.cached {
            let fresh = c.expires_at - now > self.cfg.refresh_before;
            let waiting = c.expires_at > now && st.retry_after.is_some_and(|t| now < t);
            if fresh || waiting {
                return Ok(c.token.clone());
            }
        }
        let rejected = st.rejected.clone();
        match self.refresh(now, rejected.as_ref()).await {
            Outcome::Fresh {
                token,
                expires_at,
                refresh_expires_at,
            } => {
                st.cached = Some(Cached {
                    token: token.clone(),
                    expires_at,
                });
                st.retry_after = None;
                st.rejected = None;
                drop(st);
                self.healthy(refresh_expires_at, now).await;
                Ok(token)
            }
            Outcome::Failed {
                error: TokenError::Store(e),
                current,
            } => {
                // The database is down: not the grant's fault, so no alert. A token we
                // hold still works; there is nothing to store it in anyway.
                match current.or_else(|| {
                    st.cached
                        .as_ref()
                        .filter(|c| c.expires_at > now)
                        .map(|c| (c.token.clone(), c.expires_at))
                }) {
                    Some((token, _)) if rejected.as_ref() != Some(&token) => Ok(token),
                    _ => Err(TokenError::Store(e)),
                }
            }
            Outcome::Failed {
                error,
                current: Some((token, expires_at)),
            } => {
                warn!(account = %self.cfg.account, error = %error, expires_at = %expires_at.to_rfc3339(),
                      "OAuth refresh failed; using the current access token until it expires");
                st.cached = Some(Cached {
                    token: token.clone(),
                    expires_at,
                });
                st.retry_after = Some(now + RETRY_AFTER_FAILURE);
                drop(st);
                let detail = format!(
                    "{error}. The current access token works until {}; mail stops then.",
                    expires_at.to_rfc3339()
                );
                self.alert(AlertKind::TokenExpiring, &detail, now).await;
                Ok(token)
            }
            Outcome::Failed {
                error,
                current: None,
            } => {
                st.cached = None;
                warn!(account = %self.cfg.account, error = %error, "no OAuth access token");
                Err(error)
            }
        }
    }

    /// Under the grant's row lock: the stored token if another instance has just
    /// refreshed it, else a refresh at the provider, committed before it is used.
    async fn refresh(&self, now: DateTime<Utc>, rejected: Option<&Secret>) -> Outcome {
        let account = self.cfg.account.as_str();
        let failed = |error, current| Outcome::Failed { error, current };
        let mut tx = match self.store.begin().await {
            Ok(tx) => tx,
            Err(e) => return failed(TokenError::Store(e), None),
        };
        let row = match grant::lock(&mut tx, account).await {
            Ok(Some(row)) => row,
            Ok(None) => return failed(TokenError::NotSignedIn(account.to_string()), None),
            Err(e) => return failed(TokenError::Store(e), None),
        };
        let current = row
            .access()
            .filter(|(t, at)| *at > now && Some(t) != rejected);
        if let Some((token, expires_at)) = &current {
            if *expires_at - now > self.cfg.refresh_before {
                // Another instance refreshed while we waited for the lock.
                let _ = tx.rollback().await;
                return Outcome::Fresh {
                    token: token.clone(),
                    expires_at: *expires_at,
                    refresh_expires_at: row.refresh_expires_at.map(from_ms),
                };
            }
        }
        let Some(refresh_token) = row.refresh() else {
            return failed(TokenError::NotSignedIn(account.to_string()), current);
        };
        let Some((client, http)) = &self.endpoint else {
            return failed(
                TokenError::Unreachable("no token endpoint configured".into()),
                current,
            );
        };
        let secret = RefreshToken::new(refresh_token.expose().to_string());
        let answer = client
            .exchange_refresh_token(&secret)
            .add_scopes(self.cfg.scopes.iter().cloned().map(Scope::new))
            .request_async(http)
            .await;
        match answer {
            Ok(resp) => {
                let issued = issued_from(&resp, Some(&refresh_token), row.refresh_expires_at, now);
                let rotated = issued.refresh_token != refresh_token;
                if let Err(e) = grant::store_refresh(&mut tx, account, &issued, now).await {
                    return failed(TokenError::Store(e), current);
                }
                // Durable before anyone uses the new access token: a rotated refresh
                // token must never exist only in memory.
                if let Err(e) = tx.commit().await {
                    return failed(TokenError::Store(e), current);
                }
                info!(account, rotated, expires_at = %issued.access_expires_at.to_rfc3339(), "OAuth access token refreshed");
                Outcome::Fresh {
                    token: issued.access_token,
                    expires_at: issued.access_expires_at,
                    refresh_expires_at: issued.refresh_expires_at,
                }
            }
            Err(e) => {
                let error = TokenError::from(provider::endpoint_error(e));
                if let Err(e) = grant::store_error(&mut tx, account, &error.to_string(), now).await
                {
                    warn!(error = format!("{e:#}"), "cannot record the OAuth error");
                } else if let Err(e) = tx.commit().await {
                    warn!(error = format!("{e:#}"), "cannot record the OAuth error");
                }
                failed(error, current)
            }
        }
    }
    /// A token was had: the warning is over, unless the refresh token itself is
    /// about to expire. (Sign-in alerts are the services': a good sign-in ends them.)
    async fn healthy(&self, refresh_expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        let subject = self.alert_subject();
        match refresh_expires_at {
            Some(at) if at - now < REFRESH_TOKEN_WARNING => {
                let detail = format!(
                    "The provider says the refresh token expires at {}; mail stops then. Run `onit oauth login` before.",
                    at.to_rfc3339()
                );
                self.alert(AlertKind::TokenExpiring, &detail, now).await;
            }
            _ => self.resolve(AlertKind::TokenExpiring, &subject, now).await,
        }
    }
    async fn alert(&self, kind: AlertKind, detail: &str, now: DateTime<Utc>) {
        if let Err(e) = alerts::raise(
            &self.store,
            &self.rt,
            kind,
            &self.alert_subject(),
            detail,
            now,
        )
        .await
        {
            warn!(error = format!("{e:#}"), "cannot record the OAuth alert");
        }
    }

    async fn resolve(&self, kind: AlertKind, subject: &str, now: DateTime<Utc>) {
        if let Err(e) = alerts::resolve(&self.store, kind, subject, now).await {
            warn!(error = format!("{e:#}"), "cannot resolve the OAuth alert");
        }
    }
}

/// What a token response grants. A response without a refresh token keeps the
/// old one (and its known expiry); a new one replaces both.
fn issued_from(
    resp: &provider::TokenResponse,
    old_refresh: Option<&Secret>,
    old_refresh_expires_at: Option<i64>,
    now: DateTime<Utc>,
) -> grant::Issued {
    let new_refresh = resp
        .refresh_token()
        .map(|r| Secret::new(r.secret().clone()));
    let refresh_expires_at = match resp.extra_fields().refresh_token_expires_in {
        Some(secs) => Some(now + Duration::seconds(secs.min(i64::MAX as u64 / 2000) as i64)),
        None if new_refresh.is_some() && new_refresh.as_ref() != old_refresh => None,
        None => old_refresh_expires_at.map(from_ms),
    };
    let lifetime = resp
        .expires_in()
        .and_then(|d| Duration::from_std(d).ok())
        .unwrap_or(DEFAULT_LIFETIME);
    grant::Issued {
        refresh_token: new_refresh
            .or_else(|| old_refresh.cloned())
            .unwrap_or_default(),
        access_token: Secret::new(resp.access_token().secret().clone()),
        access_expires_at: now + lifetime,
        refresh_expires_at,
    }
}

/// Runs `oauth.token_command`; its first line of output is the token.
async fn run_command(cmd: &str, account: &str) -> Result<Secret, TokenError> {
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("ONIT_OAUTH_ACCOUNT", account)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, command.output()).await {
        Err(_) => {
            return Err(TokenError::Command(format!(
                "no answer within {}s",
                COMMAND_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(TokenError::Command(format!("cannot run it: {e}"))),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(TokenError::Command(format!(
            "{}{}",
            out.status,
            stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!(": {}", provider::one_line(l)))
                .unwrap_or_default()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().next().map(str::trim) {
        Some(t) if !t.is_empty() && !t.chars().any(|c| c.is_control()) => {
            Ok(Secret::new(t.to_string()))
        }
        _ => Err(TokenError::Command("it printed no token".into())),
    }
}

/// Gives the IMAP and SMTP configuration (those with auth = "xoauth2") one token
/// source over `store`, after storing `oauth.refresh_token` if the database has
/// no grant for the account yet. A configuration without XOAUTH2 is returned as it is.
pub async fn attach(mut rt: Runtime, store: &Store) -> Result<Runtime> {
    let Some(cfg) = rt.oauth.clone() else {
        return Ok(rt);
    };
    if cfg.token_command.is_none() && !cfg.seed_refresh_token.is_empty() {
        let provider = cfg.provider.map(Provider::as_str).unwrap_or("");
        if grant::seed(
            store,
            &cfg.account,
            provider,
            &cfg.seed_refresh_token,
            Utc::now(),
        )
        .await?
        {
            info!(account = %cfg.account, "stored oauth.refresh_token; from now on the database holds the grant");
        }
    }
    let tokens: Tokens = Arc::new(TokenSource::new(store.clone(), Arc::new(rt.clone()))?);
    if let Some(imap) = rt.imap.as_mut().filter(|i| i.auth == AuthMethod::Xoauth2) {
        imap.tokens = Some(tokens.clone());
    }
    if let Some(smtp) = rt.smtp.as_mut().filter(|s| s.auth == AuthMethod::Xoauth2) {
        smtp.tokens = Some(tokens.clone());
    }
    Ok(rt)
}

/// The token source of an attached configuration, if any.
pub fn tokens_of(rt: &Runtime) -> Option<Tokens> {
    rt.imap
        .as_ref()
        .and_then(|i| i.tokens.clone())
        .or_else(|| rt.smtp.as_ref().and_then(|s| s.tokens.clone()))
}

/// The daemon's upkeep: looks at the token every minute until `stop`.
pub async fn upkeep(tokens: Tokens, mut stop: watch::Receiver<bool>) {
    loop {
        tokens.upkeep(Utc::now()).await;
        tokio::select! {
            _ = tokio::time::sleep(UPKEEP_EVERY) => {}
            _ = crate::stop::requested(&mut stop) => {}
        }
        if crate::stop::is_requested(&stop) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(json: &str) -> provider::TokenResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_rotated_refresh_token_replaces_the_old_one_and_its_expiry() {
        let now = Utc::now();
        let old = Secret::new("rt-1");
        let r = response(
            r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3599,"refresh_token":"rt-2"}"#,
        );
        let i = issued_from(&r, Some(&old), Some(1), now);
        assert_eq!(i.refresh_token, Secret::new("rt-2"));
        assert_eq!(i.access_token, Secret::new("at-2"));
        assert_eq!(i.access_expires_at, now + Duration::seconds(3599));
        assert_eq!(i.refresh_expires_at, None);
    }

    #[test]
    fn without_a_new_refresh_token_the_old_one_stays() {
        let now = Utc::now();
        let old = Secret::new("rt-1");
        let r = response(r#"{"access_token":"at-2","token_type":"bearer"}"#);
        let i = issued_from(&r, Some(&old), Some(5_000), now);
        assert_eq!(i.refresh_token, old);
        assert_eq!(i.access_expires_at, now + DEFAULT_LIFETIME);
        assert_eq!(i.refresh_expires_at, Some(from_ms(5_000)));
        let r = response(
            r#"{"access_token":"at-3","token_type":"Bearer","expires_in":3600,"refresh_token_expires_in":86400}"#,
        );
        let i = issued_from(&r, Some(&old), None, now);
        assert_eq!(i.refresh_expires_at, Some(now + Duration::days(1)));
    }

    #[test]
    fn debug_output_hides_the_tokens() {
        let r = response(
            r#"{"access_token":"at-SECRET","token_type":"Bearer","refresh_token":"rt-SECRET"}"#,
        );
        let i = issued_from(&r, None, None, Utc::now());
        assert!(!format!("{r:?} {i:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn the_command_prints_the_token_on_its_first_line() {
        assert_eq!(
            run_command(
                "echo \"tok-$ONIT_OAUTH_ACCOUNT\"; echo second",
                "a@b.example"
            )
            .await
            .unwrap(),
            Secret::new("tok-a@b.example")
        );
        let e = run_command("echo 'vault sealed' >&2; exit 3", "a@b.example")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("vault sealed"), "{e}");
        assert!(matches!(
            run_command("true", "a@b.example").await,
            Err(TokenError::Command(_))
        ));
    }
}
