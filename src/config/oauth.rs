//! The `[oauth]` section validated: the provider's endpoints and scopes filled
//! in, secrets read, `http://` refused except on this machine.

use std::path::PathBuf;

use super::*;

/// `http://` is only for a token endpoint on this machine (tests, a local proxy).
pub(super) fn check_oauth_url(key: &str, url: &str, issues: &mut Vec<ConfigIssue>) {
    let message = match oauth2::TokenUrl::new(url.to_string()) {
        Err(e) => format!("`{url}` is not a URL: {e}"),
        Ok(u) => match (u.url().scheme(), u.url().host_str()) {
            ("https", Some(_)) => return,
            ("http", Some("127.0.0.1" | "localhost" | "[::1]")) => return,
            ("http", _) => format!("`{url}` must be https:// (http:// only on loopback)"),
            _ => format!("`{url}` is not an https:// URL"),
        },
    };
    issues.push(ConfigIssue {
        key: key.into(),
        message,
    });
}

impl OAuthSettings {
    pub(super) fn validate(
        &self,
        account: String,
        issues: &mut Vec<ConfigIssue>,
    ) -> Option<OAuthRuntime> {
        use crate::oauth::issuer::Provider;
        let before = issues.len();
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                message,
            })
        };
        if !(1..=24 * 60).contains(&self.refresh_before_mins) {
            issue(
                "oauth.refresh_before_mins",
                "must be between 1 and 1440".into(),
            );
        }
        let token_command = Some(self.token_command.trim().to_string()).filter(|c| !c.is_empty());
        let provider = match self.provider.trim() {
            "" if token_command.is_some() => None,
            "" => {
                issue(
                    "oauth.provider",
                    "required with auth = \"xoauth2\": google, microsoft or custom (or set oauth.token_command)".into(),
                );
                None
            }
            p => match Provider::parse(p) {
                Some(p) => Some(p),
                None => {
                    issue(
                        "oauth.provider",
                        format!("`{p}` is not google, microsoft or custom"),
                    );
                    None
                }
            },
        };
        let tenant = self.tenant.trim();
        if provider == Some(Provider::Microsoft)
            && (tenant.is_empty()
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            issue(
                "oauth.tenant",
                format!(
                    "`{tenant}` is not a tenant (common, organizations, a domain or a tenant id)"
                ),
            );
        }
        let pick = |value: &str, default: Option<String>| {
            Some(value.trim().to_string())
                .filter(|v| !v.is_empty())
                .or(default)
        };
        let (mut token_url, mut device_auth_url, mut scopes) = (None, None, Vec::new());
        if let Some(p) = provider {
            token_url = pick(&self.token_url, p.token_url(tenant));
            device_auth_url = pick(&self.device_auth_url, p.device_auth_url(tenant));
            scopes = if self.scopes.is_empty() {
                p.default_scopes().iter().map(|s| s.to_string()).collect()
            } else {
                self.scopes.iter().map(|s| s.trim().to_string()).collect()
            };
        }
        if token_command.is_none() {
            if self.client_id.trim().is_empty() {
                issue(
                    "oauth.client_id",
                    "required (the application registered with the provider), unless oauth.token_command is set".into(),
                );
            }
            if provider == Some(Provider::Custom) && token_url.is_none() {
                issue(
                    "oauth.token_url",
                    "required with oauth.provider = \"custom\"".into(),
                );
            }
        }
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            issue(
                "oauth.scopes",
                "list each scope on its own, none empty".into(),
            );
        }
        if let Some(u) = &token_url {
            check_oauth_url("oauth.token_url", u, issues);
        }
        if let Some(u) = &device_auth_url {
            check_oauth_url("oauth.device_auth_url", u, issues);
        }
        let client_secret = read_secret(
            "oauth.client_secret",
            &self.client_secret,
            &self.client_secret_file,
            issues,
        );
        let seed_refresh_token = read_secret(
            "oauth.refresh_token",
            &self.refresh_token,
            &self.refresh_token_file,
            issues,
        );
        let ca_file = ca_path("oauth.ca_file", &self.ca_file, issues);
        if issues.len() > before {
            return None;
        }
        Some(OAuthRuntime {
            account,
            provider,
            client_id: self.client_id.trim().to_string(),
            client_secret,
            token_url,
            device_auth_url,
            ca_file,
            scopes,
            token_command,
            refresh_before: chrono::Duration::minutes(self.refresh_before_mins as i64),
            seed_refresh_token,
        })
    }
}

/// A validated `[oauth]` section, with the provider's endpoints and scopes filled in.
#[derive(Debug, Clone)]
pub struct OAuthRuntime {
    /// The mailbox account the tokens are for (`imap.username`, else `smtp.username`):
    /// the key they are stored under and the `user=` of XOAUTH2.
    pub account: String,
    /// None only when `token_command` supplies the tokens.
    pub provider: Option<crate::oauth::issuer::Provider>,
    pub client_id: String,
    /// Empty for a public client.
    pub client_secret: Secret,
    /// The token endpoint (the provider's, or `oauth.token_url`); None only with `token_command`.
    pub token_url: Option<String>,
    /// The device authorization endpoint, for `onit oauth login`.
    pub device_auth_url: Option<String>,
    /// A private CA for the provider's endpoints; the system's roots otherwise.
    pub ca_file: Option<PathBuf>,
    pub scopes: Vec<String>,
    /// A shell command whose first line of output is an access token; replaces the refresh flow.
    pub token_command: Option<String>,
    /// An access token is refreshed this long before it expires.
    pub refresh_before: chrono::Duration,
    /// `oauth.refresh_token`: stored once, when the database has no grant for the account yet.
    pub seed_refresh_token: Secret,
}
