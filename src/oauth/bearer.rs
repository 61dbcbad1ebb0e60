//! What a sign-in needs of OAuth: an access token now, and a way to say the
//! server refused it. The IMAP and SMTP configurations hold a [`Tokens`] (the
//! daemon's `TokenSource` behind it) without depending on the token machinery,
//! which itself reads the configuration.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::secret::Secret;

/// Why no access token could be had. Callers turn it into a sign-in failure
/// (IMAP) or a transient send failure (SMTP).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No refresh token is stored for the account.
    #[error("no OAuth grant stored for {0}: run `onit oauth login`")]
    NotSignedIn(String),
    /// The token endpoint refused the refresh (`invalid_grant`: consent revoked or expired).
    #[error("the token endpoint refused the refresh ({0}); run `onit oauth login` again")]
    Refused(String),
    /// The token endpoint could not be reached or gave no OAuth answer.
    #[error("cannot refresh at the token endpoint: {0}")]
    Unreachable(String),
    /// `oauth.token_command` failed.
    #[error("oauth.token_command failed: {0}")]
    Command(String),
    /// The database failed: not the token's fault, so no alert.
    #[error("reading or storing the OAuth grant: {0:#}")]
    Store(anyhow::Error),
}

/// A source of access tokens for one account.
pub trait Bearer: Send + Sync + std::fmt::Debug {
    /// An access token to sign in with now.
    fn bearer(&self) -> BoxFuture<'_, Result<Secret, TokenError>>;
    /// The server refused `token`: it is not handed out again.
    fn rejected<'a>(&'a self, token: &'a Secret) -> BoxFuture<'a, ()>;
    /// The daemon's periodic look at the token (refresh ahead, alerts).
    fn upkeep(&self, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, ()>;
}

/// The token source shared by the IMAP and SMTP configuration.
pub type Tokens = Arc<dyn Bearer>;
