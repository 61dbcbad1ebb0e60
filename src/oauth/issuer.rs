//! The OAuth2 providers onit knows: their names, endpoints and mail scopes.
//! Plain data, so the configuration can name a provider without depending on
//! the token machinery.

use serde::Serialize;

/// Who issues the tokens (`oauth.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Gmail and Google Workspace.
    Google,
    /// Microsoft 365 / Outlook.com (Entra ID).
    Microsoft,
    /// Any other OAuth2 server: `oauth.token_url` (and `device_auth_url` for login) are required.
    Custom,
}

impl Provider {
    /// Parses a configuration value.
    pub fn parse(s: &str) -> Option<Provider> {
        match s.trim().to_ascii_lowercase().as_str() {
            "google" => Some(Provider::Google),
            "microsoft" => Some(Provider::Microsoft),
            "custom" => Some(Provider::Custom),
            _ => None,
        }
    }

    /// The configuration and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Custom => "custom",
        }
    }

    /// The provider's token endpoint.
    pub fn token_url(self, tenant: &str) -> Option<String> {
        match self {
            Provider::Google => Some("https://oauth2.googleapis.com/token".into()),
            Provider::Microsoft => Some(format!(
                "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
            )),
            Provider::Custom => None,
        }
    }

    /// The provider's device authorization endpoint (RFC 8628).
    pub fn device_auth_url(self, tenant: &str) -> Option<String> {
        match self {
            Provider::Google => Some("https://oauth2.googleapis.com/device/code".into()),
            Provider::Microsoft => Some(format!(
                "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode"
            )),
            Provider::Custom => None,
        }
    }

    /// The scopes that allow IMAP and SMTP (and, for Microsoft, a refresh token at all).
    pub fn default_scopes(self) -> &'static [&'static str] {
        match self {
            Provider::Google => &["https://mail.google.com/"],
            Provider::Microsoft => &[
                "https://outlook.office.com/IMAP.AccessAsUser.All",
                "https://outlook.office.com/SMTP.Send",
                "offline_access",
            ],
            Provider::Custom => &[],
        }
    }
}
