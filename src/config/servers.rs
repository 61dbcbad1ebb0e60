//! The `[imap]` and `[smtp]` sections validated: hosts, ports, TLS, secrets
//! read from the environment or a file, and what happens to mail on the server.

use std::path::PathBuf;

use super::*;

/// What to do with a message on the server once its transaction has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterProcessing {
    /// Leave it as it is (onit tracks UIDs, so nothing is read twice).
    Leave,
    /// Set \Seen.
    Seen,
    /// Move it to this folder.
    Move(String),
}

/// A validated `[imap]` section.
#[derive(Debug, Clone)]
pub struct ImapRuntime {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    /// `imap.tls_fingerprint`: only the certificate with this SHA-256 is accepted.
    pub tls_fingerprint: Option<crate::tls::Fingerprint>,
    /// LOGIN with `password`, or AUTHENTICATE XOAUTH2 with a token from `tokens`.
    pub auth: AuthMethod,
    pub username: String,
    pub password: Secret,
    /// With `auth = Xoauth2`: where tokens come from. Set once the database is open
    /// ([`crate::oauth::attach`]); configuration alone cannot make one.
    pub tokens: Option<crate::oauth::bearer::Tokens>,
    pub folders: Vec<String>,
    pub poll_interval: std::time::Duration,
    pub after: AfterProcessing,
    pub batch_size: u32,
    pub command_timeout: std::time::Duration,
    pub idle_renew: std::time::Duration,
    pub reconnect_max: std::time::Duration,
}

/// A validated `[smtp]` section.
#[derive(Debug, Clone)]
pub struct SmtpRuntime {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    /// `smtp.tls_fingerprint`: only the certificate with this SHA-256 is accepted.
    pub tls_fingerprint: Option<crate::tls::Fingerprint>,
    /// AUTH with `password` (PLAIN/LOGIN), or XOAUTH2 with a token from `tokens`.
    pub auth: AuthMethod,
    /// Required with `auth = Xoauth2`; with a password, empty means no AUTH at all.
    pub username: Option<String>,
    pub password: Secret,
    /// With `auth = Xoauth2`: where tokens come from (see [`ImapRuntime::tokens`]).
    pub tokens: Option<crate::oauth::bearer::Tokens>,
    pub timeout: std::time::Duration,
    /// Append a copy of each sent message to this IMAP folder (uses the `[imap]` account).
    pub append_sent: Option<String>,
    /// The IMAP folder where the server itself keeps a copy of what we send
    /// (`crate::outgoing::sent_copy`): searched before resending after a crash.
    pub sent_copy_folder: Option<String>,
}

/// Reads a secret: the value itself, or the first line of `file` (which wins when set).
pub(super) fn read_secret(
    key: &str,
    value: &Secret,
    file: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Secret {
    if file.trim().is_empty() {
        return value.clone();
    }
    match std::fs::read_to_string(file.trim()) {
        Ok(text) => Secret::new(text.lines().next().unwrap_or("").trim_end().to_string()),
        Err(e) => {
            issues.push(ConfigIssue {
                key: format!("{key}_file"),
                message: format!("cannot read {}: {e}", file.trim()),
            });
            Secret::default()
        }
    }
}

pub(super) fn ca_path(key: &str, value: &str, issues: &mut Vec<ConfigIssue>) -> Option<PathBuf> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let p = PathBuf::from(v);
    if !p.is_file() {
        issues.push(ConfigIssue {
            key: key.into(),
            message: format!("{v} is not a readable file"),
        });
    }
    Some(p)
}

pub(super) fn fingerprint(
    key: &str,
    value: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<crate::tls::Fingerprint> {
    if value.trim().is_empty() {
        return None;
    }
    crate::tls::Fingerprint::parse(value)
        .map_err(|message| {
            issues.push(ConfigIssue {
                key: key.into(),
                message,
            })
        })
        .ok()
}

/// `<section>.host` is set (it is `needed_by` something) and `<section>.port` is a port.
pub(super) fn check_server(
    section: &str,
    host: &str,
    port: u16,
    needed_by: &str,
    issues: &mut Vec<ConfigIssue>,
) {
    if host.trim().is_empty() {
        issues.push(ConfigIssue {
            key: format!("{section}.host"),
            message: format!("required when {needed_by}"),
        });
    }
    if port == 0 {
        issues.push(ConfigIssue {
            key: format!("{section}.port"),
            message: "must be a TCP port".into(),
        });
    }
}

impl ImapSettings {
    pub(super) fn validate(&self, issues: &mut Vec<ConfigIssue>) -> Option<ImapRuntime> {
        let before = issues.len();
        check_server(
            "imap",
            &self.host,
            self.port,
            "mailbox.source = \"imap\"",
            issues,
        );
        if self.username.trim().is_empty() {
            issues.push(ConfigIssue {
                key: "imap.username".into(),
                message: "required when mailbox.source = \"imap\"".into(),
            });
        }
        let password = read_secret("imap.password", &self.password, &self.password_file, issues);
        if self.auth == AuthMethod::Password && password.is_empty() && issues.len() == before {
            issues.push(ConfigIssue {
                key: "imap.password".into(),
                message: "required (or imap.password_file, or ONIT__IMAP__PASSWORD)".into(),
            });
        }
        if self.folders.is_empty() || self.folders.iter().any(|f| f.trim().is_empty()) {
            issues.push(ConfigIssue {
                key: "imap.folders".into(),
                message: "list at least one folder, none empty".into(),
            });
        }
        let after = match self.after.trim() {
            "leave" => Some(AfterProcessing::Leave),
            "seen" => Some(AfterProcessing::Seen),
            other => match other.strip_prefix("move:") {
                Some(f) if !f.trim().is_empty() => {
                    Some(AfterProcessing::Move(f.trim().to_string()))
                }
                _ => {
                    issues.push(ConfigIssue {
                        key: "imap.after".into(),
                        message: format!("`{other}` is not leave, seen or move:FOLDER"),
                    });
                    None
                }
            },
        };
        if self.batch_size == 0 {
            issues.push(ConfigIssue {
                key: "imap.batch_size".into(),
                message: "must be at least 1".into(),
            });
        }
        if self.idle_renew_secs == 0 || self.idle_renew_secs > 29 * 60 {
            issues.push(ConfigIssue {
                key: "imap.idle_renew_secs".into(),
                message:
                    "must be between 1 and 1740 (RFC 2177: servers may drop IDLE after 30 minutes)"
                        .into(),
            });
        }
        let ca_file = ca_path("imap.ca_file", &self.ca_file, issues);
        let tls_fingerprint = fingerprint("imap.tls_fingerprint", &self.tls_fingerprint, issues);
        if issues.len() > before {
            return None;
        }
        Some(ImapRuntime {
            host: self.host.trim().to_string(),
            port: self.port,
            tls: self.tls,
            ca_file,
            tls_fingerprint,
            auth: self.auth,
            username: self.username.clone(),
            password,
            tokens: None,
            folders: self.folders.clone(),
            poll_interval: std::time::Duration::from_secs(self.poll_interval_secs.max(1)),
            after: after?,
            batch_size: self.batch_size,
            command_timeout: std::time::Duration::from_secs(self.command_timeout_secs.max(1)),
            idle_renew: std::time::Duration::from_secs(self.idle_renew_secs),
            reconnect_max: std::time::Duration::from_secs(self.reconnect_max_secs.max(1)),
        })
    }
}

impl SmtpSettings {
    pub(super) fn validate(&self, issues: &mut Vec<ConfigIssue>) -> Option<SmtpRuntime> {
        let before = issues.len();
        check_server(
            "smtp",
            &self.host,
            self.port,
            "outgoing.transport = \"smtp\"",
            issues,
        );
        let password = read_secret("smtp.password", &self.password, &self.password_file, issues);
        let username = Some(self.username.trim().to_string()).filter(|u| !u.is_empty());
        if self.auth == AuthMethod::Xoauth2 && username.is_none() {
            issues.push(ConfigIssue {
                key: "smtp.username".into(),
                message: "required with smtp.auth = \"xoauth2\" (the account the token is for)"
                    .into(),
            });
        }
        if self.auth == AuthMethod::Password
            && username.is_some()
            && password.is_empty()
            && issues.len() == before
        {
            issues.push(ConfigIssue { key: "smtp.password".into(), message: "smtp.username is set but no password (or smtp.password_file, or ONIT__SMTP__PASSWORD)".into() });
        }
        let ca_file = ca_path("smtp.ca_file", &self.ca_file, issues);
        let tls_fingerprint = fingerprint("smtp.tls_fingerprint", &self.tls_fingerprint, issues);
        if issues.len() > before {
            return None;
        }
        Some(SmtpRuntime {
            host: self.host.trim().to_string(),
            port: self.port,
            tls: self.tls,
            ca_file,
            tls_fingerprint,
            auth: self.auth,
            username,
            password,
            tokens: None,
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            append_sent: Some(self.append_sent.trim().to_string()).filter(|s| !s.is_empty()),
            sent_copy_folder: Some(self.sent_copy_folder.trim().to_string())
                .filter(|s| !s.is_empty()),
        })
    }
}

impl Settings {
    /// The one account `[oauth]` signs in: `imap.username` when IMAP (in use) signs in
    /// with XOAUTH2, else `smtp.username`. None when no section in use says "xoauth2"
    /// (or its username is missing, which that section's validation reports).
    pub(super) fn oauth_account(
        &self,
        needs_imap: bool,
        issues: &mut Vec<ConfigIssue>,
    ) -> Option<String> {
        let imap = (needs_imap && self.imap.auth == AuthMethod::Xoauth2)
            .then(|| self.imap.username.trim())
            .filter(|u| !u.is_empty());
        let smtp = (self.outgoing.transport == TransportKind::Smtp
            && self.smtp.auth == AuthMethod::Xoauth2)
            .then(|| self.smtp.username.trim())
            .filter(|u| !u.is_empty());
        match (imap, smtp) {
            (Some(i), Some(s)) if !i.eq_ignore_ascii_case(s) => {
                issues.push(ConfigIssue {
                    key: "smtp.username".into(),
                    message: format!(
                        "must be imap.username (`{i}`) when both sign in with XOAUTH2: [oauth] holds one account's tokens"
                    ),
                });
                None
            }
            (Some(u), _) | (None, Some(u)) => Some(u.to_string()),
            (None, None) => None,
        }
    }
}
