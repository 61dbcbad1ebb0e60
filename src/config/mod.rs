//! Layered configuration: `config/default.toml`, then an operator's file
//! (`--config FILE` or `ONIT_CONFIG`), then `ONIT__SECTION__KEY` environment
//! variables. [`Settings`] is the raw, serde-shaped form; [`Settings::validate`]
//! turns it into a [`Runtime`] of parsed domain types, naming the key in every error.

pub mod env_file;
mod keys;
mod oauth;
mod servers;
mod settings;
mod validate;

use std::path::{Path, PathBuf};

use crate::address::EmailAddress;
use crate::policy::calendar::BusinessCalendar;

pub use crate::secret::Secret;
pub use oauth::*;
pub use servers::*;
pub use settings::*;

/// The defaults shipped with the binary, so `onit` runs even without the repository's config/ folder.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

pub use crate::team::{Project, Team, DEFAULT_PROJECT};

/// Policy knobs from `[policy]`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Acknowledgments per hour to one sender (address without its `+tag`).
    pub ack_rate_per_hour: u32,
    /// Acknowledgments per hour in all.
    pub ack_rate_total_per_hour: u32,
    /// Acknowledgments per hour to one sender domain.
    pub ack_rate_per_domain_per_hour: u32,
    /// Replies per hour to one team sender about commands not applied.
    pub command_replies_per_hour: u32,
    /// New tickets one sender (normalised) may open per hour; more is held (src/flood.rs).
    pub max_new_tickets_per_sender_per_hour: u32,
    /// New tickets one domain may open per hour; more is held.
    pub max_new_tickets_per_domain_per_hour: u32,
    pub first_response: chrono::Duration,
    pub reopen_days: u32,
    pub urgent_around_the_clock: bool,
    pub urgent_interval: chrono::Duration,
    pub eod_time: chrono::NaiveTime,
    pub date_skew_past: chrono::Duration,
    pub date_skew_future: chrono::Duration,
    /// `urgent-hourly` breaks after this much business time without a contact.
    pub urgent_max_silence: chrono::Duration,
    /// `promise-kept`: a contact this late still keeps a promise.
    pub promise_grace: chrono::Duration,
    /// "by lunchtime" means this time.
    pub lunchtime: chrono::NaiveTime,
    /// "tomorrow morning" means this time.
    pub morning: chrono::NaiveTime,
    /// `high-checkpoints` windows.
    pub high_windows: Vec<crate::policy::cadence::Window>,
    /// `dismissive-language` phrases.
    pub dismissive_phrases: Vec<String>,
    /// Client concerns: phrases that signal frustration (crate::policy::frustration).
    pub frustration_phrases: Vec<String>,
    /// Reminders go out this long before a due time.
    pub remind_before: chrono::Duration,
    /// The daily list of open tickets with no contact yet today goes out at this local time.
    pub open_list_at: chrono::NaiveTime,
}

/// When the PM digests go out, from `[digest]` (local times in the calendar's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// The daily compliance digest: on business days at this time.
    pub daily_at: chrono::NaiveTime,
    /// The weekly status: on this weekday (the business day before it when it is a holiday) …
    pub weekly_day: chrono::Weekday,
    /// … at this time.
    pub weekly_at: chrono::NaiveTime,
}

/// A validated configuration in parsed form: what the rest of onit runs on.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub database_url: String,
    pub max_connections: u32,
    pub source: SourceKind,
    pub maildir: PathBuf,
    pub poll_interval: std::time::Duration,
    /// `mailbox.max_recipients`: To/Cc addresses recorded per message.
    pub max_recipients: usize,
    /// `mailbox.ack_max_age`: mail older than this on arrival is history, not acknowledged.
    pub ack_max_age: chrono::Duration,
    /// `mailbox.max_message_bytes`: larger messages are read from their header only.
    pub max_message_bytes: u64,
    pub transport: TransportKind,
    pub outgoing_dir: PathBuf,
    pub retry_base: std::time::Duration,
    pub retry_max: std::time::Duration,
    pub log_format: LogFormat,
    /// Present when `mailbox.source = "imap"`.
    pub imap: Option<ImapRuntime>,
    /// Present when `outgoing.transport = "smtp"`.
    pub smtp: Option<SmtpRuntime>,
    /// Present when `imap.auth` or `smtp.auth` (of a section in use) is "xoauth2".
    pub oauth: Option<OAuthRuntime>,
    pub team: Team,
    /// `[trust]`: what proves a sender.
    pub trust: crate::trust::Trust,
    /// `[monitoring]`: which senders are monitoring systems, and when an alert needs an owner.
    pub monitoring: crate::monitoring::senders::Monitoring,
    pub calendar: BusinessCalendar,
    pub policy: Policy,
    pub priority: crate::policy::priority::PriorityRules,
    pub automated: crate::classify::AutomatedSignals,
    /// When the PM digests go out (`[digest]`).
    pub digest: Digest,
    /// `[ha]`, `[http]` and `[ops]`: running onit itself.
    pub ops: Ops,
}

/// How onit runs as a service: instances, health endpoint, operator alerts.
#[derive(Debug, Clone)]
pub struct Ops {
    /// Who gets alerts about onit itself (a stalled mailbox, a failing sign-in).
    /// Empty: the default PM, so an alert is never silent.
    pub alert_to: Vec<EmailAddress>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; None: not at all.
    pub http_listen: Option<std::net::SocketAddr>,
    /// This instance's name in `onit status` and the leases table.
    pub instance_name: String,
    /// A dead leader's roles are taken over within this time.
    pub takeover: std::time::Duration,
    /// A mailbox with no good sync for this long raises an alert.
    pub stall_alert: chrono::Duration,
}

impl Runtime {
    /// The cadence settings the due-time rules take.
    pub fn cadence(&self) -> crate::policy::cadence::CadencePolicy {
        crate::policy::cadence::CadencePolicy {
            urgent_interval: self.policy.urgent_interval,
            urgent_around_the_clock: self.policy.urgent_around_the_clock,
            eod_time: self.policy.eod_time,
            high_windows: self.policy.high_windows.clone(),
        }
    }

    /// How promises ("by end of day", "by lunchtime") are read.
    pub fn promise_reading(&self) -> crate::policy::promises::PromiseReading {
        crate::policy::promises::PromiseReading {
            eod: self.policy.eod_time,
            lunchtime: self.policy.lunchtime,
            morning: self.policy.morning,
        }
    }

    /// The operators' addresses, or the default PM when none are configured.
    pub fn alert_recipients(&self) -> Vec<EmailAddress> {
        if self.ops.alert_to.is_empty() {
            vec![self.team.default_pm.clone()]
        } else {
            self.ops.alert_to.clone()
        }
    }
}

/// `host:pid`, unique among running instances.
fn default_instance_name() -> String {
    format!("{}:{}", crate::host::hostname(), std::process::id())
}

impl Runtime {
    /// One line: the mailbox actually read, and where mail goes out.
    pub fn summary(&self) -> String {
        let tls = |t: TlsMode| match t {
            TlsMode::Implicit => "implicit TLS",
            TlsMode::Starttls => "STARTTLS",
            TlsMode::None => "no TLS",
        };
        let mailbox = match (&self.source, &self.imap) {
            (SourceKind::Imap, Some(i)) => format!(
                "IMAP {} at {}:{} ({}), folders {}",
                i.username,
                i.host,
                i.port,
                tls(i.tls),
                i.folders.join(", ")
            ),
            _ => format!("Maildir {}", self.maildir.display()),
        };
        let out = match (&self.transport, &self.smtp) {
            (TransportKind::Smtp, Some(s)) => {
                format!("SMTP {}:{} ({})", s.host, s.port, tls(s.tls))
            }
            _ => format!("files in {}", self.outgoing_dir.display()),
        };
        format!(
            "mailbox {mailbox}; outgoing {out}; database {}; {} project(s); calendar {}",
            crate::store::redact(&self.database_url),
            self.team.projects.len(),
            self.calendar.tz()
        )
    }
}

impl Runtime {
    /// Loads and validates in one step.
    /// Every issue of the file and its values at once, in the file's order.
    pub fn load(file: Option<&Path>) -> Result<Runtime, ConfigError> {
        Settings::load_and_validate(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, body: &str) -> PathBuf {
        let p = dir.path().join("c.toml");
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn defaults_validate() {
        Runtime::load(None).expect("default.toml must validate");
    }

    #[test]
    fn unknown_key_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(&d, "[team]\ndomainz = [\"x.example\"]\n");
        let err = Settings::load(Some(&p)).unwrap_err();
        assert_eq!(err.0[0].key, "team.domainz", "{err}");
    }

    #[test]
    fn bad_zone_and_missing_pm_are_both_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            &d,
            "[calendar]\ntimezone = \"Mars/Base\"\n[team]\ndefault_pm = \"\"\n[[projects]]\nname = \"acme\"\nclient_domains = [\"acme.example\"]\n",
        );
        let err = Settings::load(Some(&p)).unwrap().validate().unwrap_err();
        let keys: Vec<_> = err.0.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&"calendar.timezone"), "{keys:?}");
        assert!(keys.contains(&"team.default_pm"), "{keys:?}");
        assert!(keys.contains(&"projects[0].pm"), "{keys:?}");
    }

    fn issues_of(body: &str) -> Vec<ConfigIssue> {
        let d = tempfile::tempdir().unwrap();
        let p = write(&d, body);
        match Settings::load(Some(&p)) {
            Err(e) => e.0,
            Ok(s) => s.validate().err().map(|e| e.0).unwrap_or_default(),
        }
    }

    const IMAP_XOAUTH2: &str = "[mailbox]\nsource = \"imap\"\n[imap]\nhost = \"imap.example.com\"\nusername = \"support@jac.example\"\nauth = \"xoauth2\"\n";

    #[test]
    fn oauth_xoauth2_needs_no_password_but_names_the_oauth_keys() {
        let keys: Vec<String> = issues_of(IMAP_XOAUTH2).into_iter().map(|i| i.key).collect();
        assert_eq!(keys, vec!["oauth.provider", "oauth.client_id"]);
        let keys: Vec<String> = issues_of(
            "[mailbox]\nsource = \"imap\"\n[imap]\nhost = \"h\"\nusername = \"u@jac.example\"\n",
        )
        .into_iter()
        .map(|i| i.key)
        .collect();
        assert_eq!(
            keys,
            vec!["imap.password"],
            "the password stays required with auth = password"
        );
    }

    #[test]
    fn oauth_microsoft_gets_its_endpoints_and_scopes() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            &d,
            &format!("{IMAP_XOAUTH2}[oauth]\nprovider = \"microsoft\"\nclient_id = \"abc\"\ntenant = \"contoso.example\"\n"),
        );
        let rt = Runtime::load(Some(&p)).unwrap();
        let o = rt.oauth.expect("oauth in use");
        assert_eq!(o.account, "support@jac.example");
        assert_eq!(
            o.token_url.as_deref(),
            Some("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token")
        );
        assert!(o.scopes.iter().any(|s| s == "offline_access"));
        assert_eq!(o.refresh_before, chrono::Duration::minutes(30));
        assert_eq!(rt.imap.unwrap().auth, AuthMethod::Xoauth2);
    }

    #[test]
    fn oauth_keys_are_named_in_each_error() {
        let issues = issues_of(&format!(
            "{IMAP_XOAUTH2}[oauth]\nprovider = \"custom\"\nclient_id = \"abc\"\ndevice_auth_url = \"http://idp.example/device\"\nrefresh_before_mins = 0\nscopes = [\"a b\"]\nclient_secret_file = \"/nonexistent/secret\"\n"
        ));
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        for k in [
            "oauth.refresh_before_mins",
            "oauth.token_url",
            "oauth.scopes",
            "oauth.device_auth_url",
            "oauth.client_secret_file",
        ] {
            assert!(keys.contains(&k), "{k} missing from {issues:?}");
        }
        let bad = issues_of(&format!("{IMAP_XOAUTH2}[oauth]\nprovider = \"yahoo\"\n"));
        assert_eq!(bad[0].key, "oauth.provider", "{bad:?}");
        let unknown = issues_of("[oauth]\nclient_idd = \"x\"\n");
        assert_eq!(unknown[0].key, "oauth.client_idd", "{unknown:?}");
    }

    #[test]
    fn oauth_token_command_replaces_the_provider() {
        let issues = issues_of(&format!(
            "{IMAP_XOAUTH2}[oauth]\ntoken_command = \"vault read -field=token secret/mail\"\n"
        ));
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn oauth_smtp_alone_needs_a_username_and_one_account_for_both() {
        let smtp = "[outgoing]\ntransport = \"smtp\"\n[smtp]\nhost = \"smtp.example.com\"\nauth = \"xoauth2\"\n";
        let keys: Vec<String> = issues_of(&format!(
            "{smtp}[oauth]\nprovider = \"google\"\nclient_id = \"c\"\n"
        ))
        .into_iter()
        .map(|i| i.key)
        .collect();
        assert_eq!(keys, vec!["smtp.username"]);
        let both = "[mailbox]\nsource = \"imap\"\n[outgoing]\ntransport = \"smtp\"\n[imap]\nhost = \"h\"\nusername = \"support@jac.example\"\nauth = \"xoauth2\"\n[smtp]\nhost = \"h\"\nauth = \"xoauth2\"\nusername = \"other@jac.example\"\n[oauth]\nprovider = \"google\"\nclient_id = \"c\"\n";
        let keys: Vec<String> = issues_of(both).into_iter().map(|i| i.key).collect();
        assert_eq!(keys, vec!["smtp.username"]);
    }

    #[test]
    fn bad_enum_value_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(&d, "[mailbox]\nsource = \"pop3\"\n");
        let err = Settings::load(Some(&p)).unwrap_err();
        assert_eq!(err.0[0].key, "mailbox.source", "{err}");
    }
}
