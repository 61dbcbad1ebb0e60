//! The OAuth2 providers onit knows (their endpoints and mail scopes), and the
//! HTTP side of talking to a token endpoint: one rustls (ring) configuration,
//! timeouts on every request, no redirects, and error messages that never
//! carry a token.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, ErrorResponseType, ExtraTokenFields, HttpClientError, RequestTokenError,
    StandardErrorResponse, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::config::OAuthRuntime;

pub use super::issuer::Provider;

/// Fields of a token response beyond RFC 6749: some providers (Google for apps
/// in testing, for one) say when the refresh token itself stops working.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GrantExtras {
    /// Seconds until the refresh token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_in: Option<u64>,
}

impl ExtraTokenFields for GrantExtras {}

/// A token endpoint's answer. Its `Debug` redacts the tokens (oauth2's secret types).
pub type TokenResponse = StandardTokenResponse<GrantExtras, BasicTokenType>;

/// An OAuth2 client with a token endpoint and, maybe, a device authorization endpoint.
pub type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Connecting to a token endpoint gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request (connect, TLS, request, response) gives up after this long. A
/// refresh holds the grant's row lock meanwhile, so this also bounds how long
/// another instance (or, on SQLite, any writer) waits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP client for token endpoints: rustls with ring through [`crate::tls`]
/// (the one TLS configuration onit has), timeouts on everything, and no
/// redirects (a token endpoint never needs one, and following one could send
/// credentials elsewhere).
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client> {
    let tls = crate::tls::client_config(ca_file)?;
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("onit/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("setting up the HTTP client for OAuth")
}

/// The OAuth2 client for `[oauth]`. The client id and secret go in the request
/// body, which Google, Microsoft and RFC 6749 servers all accept.
pub fn client(cfg: &OAuthRuntime) -> Result<OAuthClient> {
    let token_url = cfg
        .token_url
        .clone()
        .context("oauth.token_url is not set")?;
    let mut client = oauth2::Client::new(ClientId::new(cfg.client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(token_url).context("oauth.token_url")?)
        .set_device_authorization_url_option(
            cfg.device_auth_url
                .clone()
                .map(DeviceAuthorizationUrl::new)
                .transpose()
                .context("oauth.device_auth_url")?,
        );
    if !cfg.client_secret.is_empty() {
        client =
            client.set_client_secret(ClientSecret::new(cfg.client_secret.expose().to_string()));
    }
    Ok(client)
}

/// Why a request to a token endpoint failed, without the response body (a
/// successful response that failed to parse would hold a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// The provider answered with an OAuth error (`invalid_grant`, …): asking again will not help.
    Refused {
        /// The OAuth error code.
        code: String,
        /// The provider's description, when it gave one.
        description: Option<String>,
    },
    /// No answer (connection, TLS, timeout) or one that is not OAuth: may mend by itself.
    Unreachable(String),
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointError::Refused {
                code,
                description: Some(d),
            } => write!(f, "{code}: {}", one_line(d)),
            EndpointError::Refused { code, .. } => f.write_str(code),
            EndpointError::Unreachable(s) => f.write_str(s),
        }
    }
}

/// Classifies an oauth2 request error.
pub fn endpoint_error<T: ErrorResponseType + std::fmt::Display + 'static>(
    e: RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<T>>,
) -> EndpointError {
    match e {
        RequestTokenError::ServerResponse(r) => EndpointError::Refused {
            code: r.error().to_string(),
            description: r.error_description().cloned(),
        },
        RequestTokenError::Request(e) => {
            EndpointError::Unreachable(crate::error_line::error_line(&e))
        }
        RequestTokenError::Parse(e, _body) => EndpointError::Unreachable(format!(
            "the token endpoint's answer is not an OAuth2 response (at `{}`)",
            e.path()
        )),
        RequestTokenError::Other(s) => EndpointError::Unreachable(one_line(&s)),
    }
}

pub use crate::error_line::one_line;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_and_name_their_endpoints() {
        assert_eq!(Provider::parse("Google"), Some(Provider::Google));
        assert_eq!(Provider::parse("microsoft"), Some(Provider::Microsoft));
        assert_eq!(Provider::parse("yahoo"), None);
        assert_eq!(
            Provider::Microsoft.token_url("contoso.example").as_deref(),
            Some("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token")
        );
        assert!(Provider::Microsoft
            .default_scopes()
            .contains(&"offline_access"));
        assert_eq!(Provider::Custom.token_url("common"), None);
    }

    #[test]
    fn refusals_keep_the_code_and_never_the_body() {
        let body = br#"{"access_token":"ya29.SECRET","expires_in":"soon"}"#.to_vec();
        let parse = serde_path_to_error::deserialize::<_, TokenResponse>(
            &mut serde_json::Deserializer::from_slice(&body),
        )
        .unwrap_err();
        let e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse> =
            RequestTokenError::Parse(parse, body);
        let text = endpoint_error(e).to_string();
        assert!(!text.contains("SECRET"), "{text}");
        let refused: BasicErrorResponse = serde_json::from_str(
            r#"{"error":"invalid_grant","error_description":"Token has been\nexpired or revoked."}"#,
        )
        .unwrap();
        assert_eq!(
            endpoint_error::<oauth2::basic::BasicErrorResponseType>(
                RequestTokenError::ServerResponse(refused)
            )
            .to_string(),
            "invalid_grant: Token has been expired or revoked."
        );
    }
}
