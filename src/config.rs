//! Layered configuration: `config/default.toml`, then an operator's file
//! (`--config FILE` or `ONIT_CONFIG`), then `ONIT__SECTION__KEY` environment
//! variables. [`Settings`] is the raw, serde-shaped form; [`Settings::validate`]
//! turns it into a [`Runtime`] of parsed domain types, naming the key in every error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::address::{Domain, EmailAddress};
use crate::policy::calendar::BusinessCalendar;
use crate::ticket_ref::TicketPrefix;

/// The defaults shipped with the binary, so `onit` runs even without the repository's config/ folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Every configuration key, as deserialised. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub mailbox: MailboxSettings,
    pub outgoing: OutgoingSettings,
    pub team: TeamSettings,
    #[serde(default)]
    pub projects: Vec<ProjectSettings>,
    pub calendar: CalendarSettings,
    pub policy: PolicySettings,
    pub priority: PrioritySettings,
    pub automated: AutomatedSettings,
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
    pub log: LogSettings,
    pub digest: DigestSettings,
    pub ha: HaSettings,
    pub http: HttpSettings,
    pub ops: OpsSettings,
    pub oauth: OAuthSettings,
}

/// A secret (password, token): never printed by `Debug`, never logged.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret from a string.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it (the login).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(***)"
        })
    }
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS (IMAP 143, submission 587).
    Starttls,
    /// No TLS at all: for loopback tests only.
    None,
}

/// How onit signs in to the IMAP or SMTP server (`imap.auth`, `smtp.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// LOGIN (IMAP) or AUTH PLAIN/LOGIN (SMTP) with the configured password.
    Password,
    /// SASL XOAUTH2 with an OAuth2 access token from `[oauth]`.
    Xoauth2,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: String,
    pub auth: AuthMethod,
    pub username: String,
    pub password: Secret,
    pub password_file: String,
    pub folders: Vec<String>,
    pub poll_interval_secs: u64,
    pub after: String,
    pub batch_size: u32,
    pub command_timeout_secs: u64,
    pub idle_renew_secs: u64,
    pub reconnect_max_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: String,
    pub auth: AuthMethod,
    pub username: String,
    pub password: Secret,
    pub password_file: String,
    pub timeout_secs: u64,
    pub append_sent: String,
    pub sent_copy_folder: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

/// Where new mail is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Maildir,
    Imap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub source: SourceKind,
    pub maildir: PathBuf,
    pub poll_interval_secs: u64,
}

/// How outgoing mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingSettings {
    pub transport: TransportKind,
    pub dir: PathBuf,
    pub from: String,
    pub from_name: String,
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSettings {
    pub domains: Vec<String>,
    pub engineers: Vec<String>,
    pub support_addresses: Vec<String>,
    pub ticket_prefix: String,
    pub default_pm: String,
    pub reminders_to: Vec<String>,
    pub maintainers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    pub name: String,
    pub client_domains: Vec<String>,
    pub pm: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    pub timezone: String,
    pub workdays: Vec<String>,
    pub start: String,
    pub end: String,
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    pub ack_rate_per_hour: u32,
    pub first_response_secs: u64,
    pub reopen_days: u32,
    pub urgent_around_the_clock: bool,
    pub urgent_interval_mins: u32,
    pub eod_time: String,
    pub date_skew_past_hours: u32,
    pub date_skew_future_mins: u32,
    pub urgent_max_silence_hours: u32,
    pub promise_grace_mins: u32,
    pub lunchtime: String,
    pub morning: String,
    pub high_windows: Vec<String>,
    pub dismissive_phrases: Vec<String>,
    pub remind_before_mins: u32,
    pub open_list_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrioritySettings {
    pub urgent_words: Vec<String>,
    pub high_words: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomatedSettings {
    pub sender_local_parts: Vec<String>,
    pub sender_local_suffixes: Vec<String>,
    pub subject_prefixes: Vec<String>,
    pub subject_phrases: Vec<String>,
    pub body_phrases: Vec<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// `[ha]`: several instances on one PostgreSQL database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaSettings {
    pub instance_name: String,
    pub takeover_secs: u64,
    pub stall_alert_mins: u64,
}

/// `[http]`: the health and metrics endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: String,
}

/// `[ops]`: the operators, who get alerts about onit itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    pub alert_to: Vec<String>,
}

/// `[oauth]`: where XOAUTH2 access tokens come from (used when `imap.auth` or
/// `smtp.auth` is "xoauth2").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub provider: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_secret_file: String,
    pub tenant: String,
    pub token_url: String,
    pub device_auth_url: String,
    pub ca_file: String,
    pub scopes: Vec<String>,
    pub token_command: String,
    pub refresh_before_mins: u64,
    pub refresh_token: Secret,
    pub refresh_token_file: String,
}

/// `[digest]`: when the PM digests go out (local times in the calendar's zone).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSettings {
    pub daily_at: String,
    pub weekly_day: String,
    pub weekly_at: String,
}

impl DigestSettings {
    fn validate(&self, issue: &mut impl FnMut(&str, String)) -> Digest {
        use crate::policy::calendar::{parse_time, parse_weekday};
        let mut time = |key: &str, v: &str| {
            parse_time(v).unwrap_or_else(|_| {
                issue(key, format!("`{v}` is not a time like 17:00"));
                chrono::NaiveTime::MIN
            })
        };
        let daily_at = time("digest.daily_at", &self.daily_at);
        let weekly_at = time("digest.weekly_at", &self.weekly_at);
        let weekly_day = parse_weekday(&self.weekly_day).unwrap_or_else(|_| {
            issue(
                "digest.weekly_day",
                format!("`{}` is not a weekday like Fri", self.weekly_day),
            );
            chrono::Weekday::Fri
        });
        Digest {
            daily_at,
            weekly_day,
            weekly_at,
        }
    }
}

/// One problem with a configuration, tied to the key that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key, e.g. `calendar.timezone` or `projects[1].pm`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A configuration that could not be loaded or validated; lists every problem found.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<ConfigIssue>);

/// Keys whose environment override is a comma-separated list.
const LIST_KEYS: &[&str] = &[
    "team.domains",
    "team.engineers",
    "team.support_addresses",
    "calendar.workdays",
    "team.reminders_to",
    "team.maintainers",
    "policy.high_windows",
    "policy.dismissive_phrases",
    "calendar.holidays",
    "priority.urgent_words",
    "priority.high_words",
    "automated.sender_local_parts",
    "automated.sender_local_suffixes",
    "automated.subject_prefixes",
    "automated.subject_phrases",
    "automated.body_phrases",
    "imap.folders",
    "ops.alert_to",
    "oauth.scopes",
];

impl Settings {
    /// Loads defaults, then `file` (if any), then `ONIT__…` environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(vec![ConfigIssue {
                    key: "--config".into(),
                    message: format!("file {} does not exist", path.display()),
                }]));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let mut env = config::Environment::with_prefix("ONIT")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",");
        for key in LIST_KEYS {
            env = env.with_list_parse_key(key);
        }
        builder = builder.add_source(env);
        let cfg = builder.build().map_err(|e| {
            ConfigError(vec![ConfigIssue {
                key: "(file)".into(),
                message: e.to_string(),
            }])
        })?;
        serde_path_to_error::deserialize::<_, Settings>(cfg).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let (key, message) = match unknown_field_name(&inner) {
                Some(field) if path == "." || path.is_empty() => {
                    (field.clone(), "unknown key".to_string())
                }
                Some(field) if path.ends_with(&field) => (path, "unknown key".to_string()),
                Some(field) => (format!("{path}.{field}"), "unknown key".to_string()),
                None => (if path == "." { "(root)".into() } else { path }, inner),
            };
            ConfigError(vec![ConfigIssue { key, message }])
        })
    }

    /// Checks every value and builds the parsed runtime form; collects all problems, not just the first.
    pub fn validate(&self) -> Result<Runtime, ConfigError> {
        let mut issues: Vec<ConfigIssue> = Vec::new();
        let needs_imap = self.mailbox.source == SourceKind::Imap
            || (self.outgoing.transport == TransportKind::Smtp
                && !(self.smtp.append_sent.trim().is_empty()
                    && self.smtp.sent_copy_folder.trim().is_empty()));
        let imap = if needs_imap {
            self.imap.validate(&mut issues)
        } else {
            None
        };
        let smtp = if self.outgoing.transport == TransportKind::Smtp {
            self.smtp.validate(&mut issues)
        } else {
            None
        };
        let oauth = self
            .oauth_account(needs_imap, &mut issues)
            .and_then(|account| self.oauth.validate(account, &mut issues));
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                message,
            })
        };

        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            issue(
                "database.url",
                format!(
                    "`{}` is neither sqlite://PATH nor postgres://…",
                    self.database.url
                ),
            );
        }
        if self.database.max_connections == 0 {
            issue("database.max_connections", "must be at least 1".into());
        }
        let from = match EmailAddress::parse(&self.outgoing.from) {
            Ok(a) => Some(a),
            Err(e) => {
                issue("outgoing.from", e.to_string());
                None
            }
        };
        if self.outgoing.from_name.chars().any(|c| c.is_control()) {
            issue(
                "outgoing.from_name",
                "must not contain control characters".into(),
            );
        }
        if self.outgoing.retry_base_secs == 0
            || self.outgoing.retry_max_secs < self.outgoing.retry_base_secs
        {
            issue(
                "outgoing.retry_max_secs",
                "retry_base_secs must be ≥ 1 and retry_max_secs ≥ retry_base_secs".into(),
            );
        }
        let domains = parse_list(
            "team.domains",
            &self.team.domains,
            Domain::parse,
            &mut issue,
        );
        let engineers: BTreeSet<EmailAddress> = parse_list(
            "team.engineers",
            &self.team.engineers,
            EmailAddress::parse,
            &mut issue,
        )
        .into_iter()
        .collect();
        let mut support = parse_list(
            "team.support_addresses",
            &self.team.support_addresses,
            EmailAddress::parse,
            &mut issue,
        );
        if let Some(f) = &from {
            if !support.contains(f) {
                support.push(f.clone());
            }
        }
        if support.is_empty() {
            issue(
                "team.support_addresses",
                "at least one support address is needed".into(),
            );
        }
        let prefix = match TicketPrefix::parse(&self.team.ticket_prefix) {
            Ok(p) => Some(p),
            Err(e) => {
                issue("team.ticket_prefix", e.to_string());
                None
            }
        };
        let default_pm = if self.team.default_pm.trim().is_empty() {
            issue(
                "team.default_pm",
                "no PM: senders of no listed project need a default PM".into(),
            );
            None
        } else {
            match EmailAddress::parse(&self.team.default_pm) {
                Ok(a) => Some(a),
                Err(e) => {
                    issue("team.default_pm", e.to_string());
                    None
                }
            }
        };
        let mut projects = Vec::new();
        let mut names = BTreeSet::new();
        for (i, p) in self.projects.iter().enumerate() {
            if p.name.trim().is_empty() {
                issue(&format!("projects[{i}].name"), "must not be empty".into());
            } else if !names.insert(p.name.clone()) {
                issue(
                    &format!("projects[{i}].name"),
                    format!("`{}` is listed twice", p.name),
                );
            }
            let pm = match p.pm.as_deref().map(str::trim) {
                None | Some("") => {
                    issue(
                        &format!("projects[{i}].pm"),
                        format!("no PM for project `{}`", p.name),
                    );
                    None
                }
                Some(s) => match EmailAddress::parse(s) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        issue(&format!("projects[{i}].pm"), e.to_string());
                        None
                    }
                },
            };
            let mut client_domains = Vec::new();
            for (j, d) in p.client_domains.iter().enumerate() {
                match Domain::parse(d) {
                    Ok(d) => client_domains.push(d),
                    Err(e) => issue(&format!("projects[{i}].client_domains[{j}]"), e.to_string()),
                }
            }
            if let Some(pm) = pm {
                projects.push(Project {
                    name: p.name.clone(),
                    client_domains,
                    pm,
                });
            }
        }
        let calendar = match BusinessCalendar::from_config(
            &self.calendar.timezone,
            &self.calendar.workdays,
            &self.calendar.start,
            &self.calendar.end,
            &self.calendar.holidays,
        ) {
            Ok(c) => Some(c),
            Err(e) => {
                issue(calendar_key(&e), e.to_string());
                None
            }
        };
        let eod = match chrono::NaiveTime::parse_from_str(&self.policy.eod_time, "%H:%M") {
            Ok(t) => Some(t),
            Err(_) => {
                issue(
                    "policy.eod_time",
                    format!("`{}` is not a time like 16:30", self.policy.eod_time),
                );
                None
            }
        };
        let mut hm = |key: &str, v: &str| match chrono::NaiveTime::parse_from_str(v.trim(), "%H:%M")
        {
            Ok(t) => Some(t),
            Err(_) => {
                issue(key, format!("`{v}` is not a time like 13:30"));
                None
            }
        };
        let lunchtime = hm("policy.lunchtime", &self.policy.lunchtime);
        let morning = hm("policy.morning", &self.policy.morning);
        let open_list_at = hm("policy.open_list_at", &self.policy.open_list_at);
        let mut windows = Vec::new();
        for (i, w) in self.policy.high_windows.iter().enumerate() {
            let parsed = w.split_once('-').and_then(|(a, b)| {
                let a = chrono::NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
                let b = chrono::NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
                (a < b).then_some((a, b))
            });
            match parsed {
                Some((a, b)) => windows.push(crate::policy::cadence::Window {
                    name: crate::policy::cadence::window_name(i),
                    start: a,
                    end: b,
                }),
                None => issue(
                    &format!("policy.high_windows[{i}]"),
                    format!("`{w}` is not a window like 12:00-13:30"),
                ),
            }
        }
        let reminders_to = parse_list(
            "team.reminders_to",
            &self.team.reminders_to,
            EmailAddress::parse,
            &mut issue,
        );
        let maintainers = parse_list(
            "team.maintainers",
            &self.team.maintainers,
            EmailAddress::parse,
            &mut issue,
        );
        if self.policy.urgent_interval_mins == 0 {
            issue("policy.urgent_interval_mins", "must be at least 1".into());
        }
        for (key, list) in [
            ("priority.urgent_words", &self.priority.urgent_words),
            ("priority.high_words", &self.priority.high_words),
        ] {
            if list.iter().any(|w| w.trim().is_empty()) {
                issue(key, "contains an empty word".into());
            }
        }
        let digest = self.digest.validate(&mut issue);
        let alert_to = parse_list(
            "ops.alert_to",
            &self.ops.alert_to,
            EmailAddress::parse,
            &mut issue,
        );
        let http_listen = match self.http.listen.trim() {
            "" => None,
            v => match v.parse::<std::net::SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    issue(
                        "http.listen",
                        format!("`{v}` is not an address like 127.0.0.1:9184"),
                    );
                    None
                }
            },
        };
        if self.ha.takeover_secs < 3 {
            issue("ha.takeover_secs", "must be at least 3".into());
        }
        if self.ha.stall_alert_mins == 0 {
            issue("ha.stall_alert_mins", "must be at least 1".into());
        }

        if !issues.is_empty() {
            return Err(ConfigError(issues));
        }
        let (Some(from), Some(prefix), Some(default_pm), Some(calendar), Some(eod)) =
            (from, prefix, default_pm, calendar, eod)
        else {
            return Err(ConfigError(vec![ConfigIssue {
                key: "(config)".into(),
                message: "invalid".into(),
            }]));
        };
        Ok(Runtime {
            database_url: self.database.url.clone(),
            max_connections: self.database.max_connections,
            source: self.mailbox.source,
            maildir: self.mailbox.maildir.clone(),
            poll_interval: std::time::Duration::from_secs(self.mailbox.poll_interval_secs.max(1)),
            transport: self.outgoing.transport,
            outgoing_dir: self.outgoing.dir.clone(),
            retry_base: std::time::Duration::from_secs(self.outgoing.retry_base_secs),
            retry_max: std::time::Duration::from_secs(self.outgoing.retry_max_secs),
            log_format: self.log.format,
            imap,
            smtp,
            oauth,
            team: Team {
                domains,
                engineers,
                support,
                from,
                from_name: self.outgoing.from_name.clone(),
                prefix,
                default_pm,
                projects,
                reminders_to,
                maintainers,
            },
            calendar,
            digest,
            ops: Ops {
                alert_to,
                http_listen,
                instance_name: match self.ha.instance_name.trim() {
                    "" => default_instance_name(),
                    n => n.to_string(),
                },
                takeover: std::time::Duration::from_secs(self.ha.takeover_secs),
                stall_alert: chrono::Duration::minutes(self.ha.stall_alert_mins as i64),
            },
            policy: Policy {
                ack_rate_per_hour: self.policy.ack_rate_per_hour,
                first_response: chrono::Duration::seconds(self.policy.first_response_secs as i64),
                reopen_days: self.policy.reopen_days,
                urgent_around_the_clock: self.policy.urgent_around_the_clock,
                urgent_interval: chrono::Duration::minutes(self.policy.urgent_interval_mins as i64),
                eod_time: eod,
                date_skew_past: chrono::Duration::hours(self.policy.date_skew_past_hours as i64),
                date_skew_future: chrono::Duration::minutes(
                    self.policy.date_skew_future_mins as i64,
                ),
                urgent_max_silence: chrono::Duration::hours(
                    self.policy.urgent_max_silence_hours.max(1) as i64,
                ),
                promise_grace: chrono::Duration::minutes(self.policy.promise_grace_mins as i64),
                lunchtime: lunchtime.unwrap_or_default(),
                morning: morning.unwrap_or_default(),
                high_windows: windows,
                dismissive_phrases: self
                    .policy
                    .dismissive_phrases
                    .iter()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
                remind_before: chrono::Duration::minutes(self.policy.remind_before_mins as i64),
                open_list_at: open_list_at.unwrap_or_default(),
            },
            priority: crate::policy::priority::PriorityRules::new(
                &self.priority.urgent_words,
                &self.priority.high_words,
            ),
            automated: crate::classify::AutomatedSignals {
                sender_local_parts: self
                    .automated
                    .sender_local_parts
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
                sender_local_suffixes: self
                    .automated
                    .sender_local_suffixes
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
                subject_prefixes: self
                    .automated
                    .subject_prefixes
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
                subject_phrases: self
                    .automated
                    .subject_phrases
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
                body_phrases: self
                    .automated
                    .body_phrases
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
            },
        })
    }
}

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
    /// LOGIN with `password`, or AUTHENTICATE XOAUTH2 with a token from `tokens`.
    pub auth: AuthMethod,
    pub username: String,
    pub password: Secret,
    /// With `auth = Xoauth2`: where tokens come from. Set once the database is open
    /// ([`crate::oauth::attach`]); configuration alone cannot make one.
    pub tokens: Option<crate::oauth::Tokens>,
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
    /// AUTH with `password` (PLAIN/LOGIN), or XOAUTH2 with a token from `tokens`.
    pub auth: AuthMethod,
    /// Required with `auth = Xoauth2`; with a password, empty means no AUTH at all.
    pub username: Option<String>,
    pub password: Secret,
    /// With `auth = Xoauth2`: where tokens come from (see [`ImapRuntime::tokens`]).
    pub tokens: Option<crate::oauth::Tokens>,
    pub timeout: std::time::Duration,
    /// Append a copy of each sent message to this IMAP folder (uses the `[imap]` account).
    pub append_sent: Option<String>,
    /// The IMAP folder where the server itself keeps a copy of what we send
    /// (`crate::outgoing::sent_copy`): searched before resending after a crash.
    pub sent_copy_folder: Option<String>,
}

/// Reads a secret: the value itself, or the first line of `file` (which wins when set).
fn read_secret(key: &str, value: &Secret, file: &str, issues: &mut Vec<ConfigIssue>) -> Secret {
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

fn ca_path(key: &str, value: &str, issues: &mut Vec<ConfigIssue>) -> Option<PathBuf> {
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

/// `<section>.host` is set (it is `needed_by` something) and `<section>.port` is a port.
fn check_server(
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
    fn validate(&self, issues: &mut Vec<ConfigIssue>) -> Option<ImapRuntime> {
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
        if issues.len() > before {
            return None;
        }
        Some(ImapRuntime {
            host: self.host.trim().to_string(),
            port: self.port,
            tls: self.tls,
            ca_file,
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
    fn validate(&self, issues: &mut Vec<ConfigIssue>) -> Option<SmtpRuntime> {
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
        if issues.len() > before {
            return None;
        }
        Some(SmtpRuntime {
            host: self.host.trim().to_string(),
            port: self.port,
            tls: self.tls,
            ca_file,
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
    fn oauth_account(&self, needs_imap: bool, issues: &mut Vec<ConfigIssue>) -> Option<String> {
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

/// `http://` is only for a token endpoint on this machine (tests, a local proxy).
fn check_oauth_url(key: &str, url: &str, issues: &mut Vec<ConfigIssue>) {
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
    fn validate(&self, account: String, issues: &mut Vec<ConfigIssue>) -> Option<OAuthRuntime> {
        use crate::oauth::Provider;
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
    pub provider: Option<crate::oauth::Provider>,
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

/// Parses every entry of a list key, naming `key[i]` in the issue of each one that fails.
fn parse_list<T, E: std::fmt::Display>(
    key: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
    issue: &mut impl FnMut(&str, String),
) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        match parse(v) {
            Ok(t) => out.push(t),
            Err(e) => issue(&format!("{key}[{i}]"), e.to_string()),
        }
    }
    out
}

fn unknown_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn calendar_key(e: &crate::policy::calendar::CalendarError) -> &'static str {
    use crate::policy::calendar::CalendarError as E;
    match e {
        E::BadTimezone(_) => "calendar.timezone",
        E::BadWeekday(_) | E::NoWorkdays => "calendar.workdays",
        E::BadTime(_) | E::EmptyHours => "calendar.start",
        E::BadDate(_) => "calendar.holidays",
    }
}

/// A client project: its domains and its PM.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub client_domains: Vec<Domain>,
    pub pm: EmailAddress,
}

/// Who is who, per POLICY "People and addresses".
#[derive(Debug, Clone)]
pub struct Team {
    pub domains: Vec<Domain>,
    pub engineers: BTreeSet<EmailAddress>,
    /// The support addresses, including `outgoing.from`.
    pub support: Vec<EmailAddress>,
    pub from: EmailAddress,
    pub from_name: String,
    pub prefix: TicketPrefix,
    pub default_pm: EmailAddress,
    pub projects: Vec<Project>,
    /// Who reminders go to (`team.reminders_to`; the engineers when empty, then the support address).
    pub reminders_to: Vec<EmailAddress>,
    /// Who else receives each incident response report (`team.maintainers`; the client and PM always do).
    pub maintainers: Vec<EmailAddress>,
}

/// The name of the project that holds senders of no listed domain.
pub const DEFAULT_PROJECT: &str = "default";

impl Team {
    /// A support address (the mailbox onit watches or sends from).
    pub fn is_support(&self, a: &EmailAddress) -> bool {
        self.support.contains(a)
    }

    /// Team: listed engineers, any PM, any address at a team domain, and the support addresses.
    pub fn is_team(&self, a: &EmailAddress) -> bool {
        self.is_support(a)
            || self.engineers.contains(a)
            || self.domains.iter().any(|d| d.contains(a))
            || a == &self.default_pm
            || self.projects.iter().any(|p| &p.pm == a)
    }

    /// The project (name, PM) a client address belongs to; the default project otherwise.
    pub fn project_for(&self, client: &EmailAddress) -> (&str, &EmailAddress) {
        self.projects
            .iter()
            .find(|p| p.client_domains.iter().any(|d| d.contains(client)))
            .map(|p| (p.name.as_str(), &p.pm))
            .unwrap_or((DEFAULT_PROJECT, &self.default_pm))
    }

    /// The PM of a project by name (the default PM for unknown names).
    pub fn pm_of(&self, project: &str) -> &EmailAddress {
        self.projects
            .iter()
            .find(|p| p.name == project)
            .map(|p| &p.pm)
            .unwrap_or(&self.default_pm)
    }
}

/// Policy knobs from `[policy]`.
#[derive(Debug, Clone)]
pub struct Policy {
    pub ack_rate_per_hour: u32,
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
    format!("{}:{}", hostname(), std::process::id())
}

/// This machine's host name (for instance names and `onit status`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "onit".to_string())
}

impl Runtime {
    /// Loads and validates in one step.
    pub fn load(file: Option<&Path>) -> Result<Runtime, ConfigError> {
        Settings::load(file)?.validate()
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
