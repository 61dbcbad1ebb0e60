//! The configuration as deserialised: every key of every section (unknown
//! keys are errors), and the issues a validation reports.

use std::path::PathBuf;

use serde::Deserialize;

use super::*;

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
    pub trust: TrustSettings,
    pub monitoring: MonitoringSettings,
}

/// `[monitoring]`: mail from monitoring systems (see [`crate::monitoring`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    pub senders: Vec<String>,
    pub own_within_mins: u32,
}

impl MonitoringSettings {
    /// The section in parsed form. A sender must not be one of the team's
    /// people (`people`: engineers, PMs, support addresses) nor cover a team
    /// domain: their mail would stop being team mail. A subdomain of a team
    /// domain (`ops.jac.example`) is fine.
    pub(super) fn validate(
        &self,
        people: &[&EmailAddress],
        team_domains: &[crate::address::Domain],
        issue: &mut impl FnMut(&str, String),
    ) -> crate::monitoring::senders::Monitoring {
        use crate::monitoring::senders::{Monitoring, MonitoringSender};
        let mut senders = Vec::new();
        for (i, entry) in self.senders.iter().enumerate() {
            let key = format!("monitoring.senders[{i}]");
            let Some(s) = MonitoringSender::parse(entry) else {
                issue(
                    &key,
                    format!("`{entry}` is neither an address nor a domain"),
                );
                continue;
            };
            if let Some(p) = people.iter().find(|p| s.matches(p)) {
                issue(
                    &key,
                    format!("`{entry}` covers {p}, a team member or support address: their mail would become alerts"),
                );
                continue;
            }
            let covered = team_domains.iter().find(|d| {
                EmailAddress::parse(&format!("x@{}", d.as_str())).is_ok_and(|a| s.matches(&a))
            });
            if let (MonitoringSender::Domain(_), Some(d)) = (&s, covered) {
                issue(
                    &key,
                    format!("`{entry}` covers the team domain {}: name the monitoring system's own address or subdomain", d.as_str()),
                );
                continue;
            }
            senders.push(s);
        }
        if self.own_within_mins == 0 {
            issue("monitoring.own_within_mins", "must be at least 1".into());
        }
        Monitoring {
            senders,
            own_within: chrono::Duration::minutes(i64::from(self.own_within_mins.max(1))),
        }
    }
}

/// `[trust]`: who is proven to have sent a message (see [`crate::trust`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSettings {
    pub authserv_ids: Vec<String>,
    pub receiving_hosts: Vec<String>,
    pub folders: Vec<String>,
    pub team: crate::trust::TeamTrust,
    pub acknowledge: crate::trust::AckTrust,
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
    pub tls_fingerprint: String,
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
    pub tls_fingerprint: String,
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
    /// At most this many To/Cc addresses of one message are recorded.
    pub max_recipients: usize,
    pub ack_max_age: String,
    /// A message larger than this is read from its header only (src/oversize.rs).
    pub max_message_bytes: u64,
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
    pub ack_rate_total_per_hour: u32,
    pub ack_rate_per_domain_per_hour: u32,
    pub command_replies_per_hour: u32,
    pub max_new_tickets_per_sender_per_hour: u32,
    pub max_new_tickets_per_domain_per_hour: u32,
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
    pub frustration_phrases: Vec<String>,
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
    pub(super) fn validate(&self, issue: &mut impl FnMut(&str, String)) -> Digest {
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
pub(super) const LIST_KEYS: &[&str] = &[
    "team.domains",
    "team.engineers",
    "team.support_addresses",
    "calendar.workdays",
    "team.reminders_to",
    "team.maintainers",
    "policy.high_windows",
    "policy.dismissive_phrases",
    "policy.frustration_phrases",
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
    "monitoring.senders",
];
