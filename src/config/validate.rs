//! [`Settings::load`] (defaults, file, environment) and [`Settings::validate`]:
//! every key checked, every problem reported at once with the key that has it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::address::{Domain, EmailAddress};
use crate::policy::calendar::BusinessCalendar;
use crate::ticket_ref::TicketPrefix;

use super::*;

impl Settings {
    /// Loads defaults, then `file` (if any), then `ONIT__…` environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let (settings, mut issues, text) = Settings::load_all(file);
        match settings {
            Some(s) if issues.is_empty() => Ok(s),
            _ => {
                super::keys::in_file_order(&text, &mut issues);
                Err(ConfigError(issues))
            }
        }
    }

    /// Loads and validates, with every issue of the file and of the values at
    /// once, in the order of the file's lines.
    pub(super) fn load_and_validate(file: Option<&Path>) -> Result<Runtime, ConfigError> {
        let (settings, mut issues, text) = Settings::load_all(file);
        match settings.map(|s| s.validate()) {
            Some(Ok(mut rt)) if issues.is_empty() => {
                if let Some(dir) = file.and_then(Path::parent) {
                    rt.database_url = sqlite_url_from(&rt.database_url, dir);
                }
                return Ok(rt);
            }
            Some(Err(e)) => issues.extend(e.0),
            _ => {}
        }
        super::keys::in_file_order(&text, &mut issues);
        Err(ConfigError(issues))
    }

    /// The settings from what could be read (keys found wrong left out), the
    /// issues found on the way, and the file's text.
    fn load_all(file: Option<&Path>) -> (Option<Settings>, Vec<ConfigIssue>, String) {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        let mut issues = Vec::new();
        let mut text = String::new();
        if let Some(path) = file {
            text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    let message = if path.exists() {
                        format!("cannot read {}: {e}", path.display())
                    } else {
                        format!("file {} does not exist", path.display())
                    };
                    let issue = ConfigIssue {
                        key: "--config".into(),
                        message,
                    };
                    return (None, vec![issue], text);
                }
            };
            match super::keys::check(&text) {
                Ok((found, cleaned)) => {
                    issues = found;
                    builder = builder
                        .add_source(config::File::from_str(&cleaned, config::FileFormat::Toml));
                }
                Err(issue) => return (None, vec![issue], text),
            }
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
        let cfg = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                issues.push(ConfigIssue {
                    key: "(file)".into(),
                    message: e.to_string(),
                });
                return (None, issues, text);
            }
        };
        match serde_path_to_error::deserialize::<_, Settings>(cfg) {
            Ok(s) => (Some(s), issues, text),
            Err(e) => {
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
                issues.push(ConfigIssue { key, message });
                (None, issues, text)
            }
        }
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
        let ack_max_age = match parse_age(&self.mailbox.ack_max_age) {
            Some(d) => d,
            None => {
                issue(
                    "mailbox.ack_max_age",
                    format!(
                        "`{}` is not a duration like 24h, 90m or 2d",
                        self.mailbox.ack_max_age
                    ),
                );
                chrono::Duration::zero()
            }
        };
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
        let people: Vec<&EmailAddress> = engineers
            .iter()
            .chain(support.iter())
            .chain(default_pm.iter())
            .chain(projects.iter().map(|p| &p.pm))
            .collect();
        let monitoring = self.monitoring.validate(&people, &domains, &mut issue);
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
        for (key, v) in [
            (
                "policy.max_new_tickets_per_sender_per_hour",
                self.policy.max_new_tickets_per_sender_per_hour,
            ),
            (
                "policy.max_new_tickets_per_domain_per_hour",
                self.policy.max_new_tickets_per_domain_per_hour,
            ),
        ] {
            if v == 0 {
                issue(key, "must be at least 1".into());
            }
        }
        if self.mailbox.max_message_bytes < 64 * 1024 {
            issue("mailbox.max_message_bytes", "must be at least 65536".into());
        }
        if self.mailbox.max_recipients == 0 {
            issue("mailbox.max_recipients", "must be at least 1".into());
        }
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
            max_recipients: self.mailbox.max_recipients,
            ack_max_age,
            max_message_bytes: self.mailbox.max_message_bytes,
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
            trust: self.trust.validate(),
            monitoring,
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
                ack_rate_total_per_hour: self.policy.ack_rate_total_per_hour,
                ack_rate_per_domain_per_hour: self.policy.ack_rate_per_domain_per_hour,
                command_replies_per_hour: self.policy.command_replies_per_hour,
                max_new_tickets_per_sender_per_hour: self
                    .policy
                    .max_new_tickets_per_sender_per_hour,
                max_new_tickets_per_domain_per_hour: self
                    .policy
                    .max_new_tickets_per_domain_per_hour,
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
                frustration_phrases: self
                    .policy
                    .frustration_phrases
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

/// Parses every entry of a list key, naming `key[i]` in the issue of each one that fails.
pub(super) fn parse_list<T, E: std::fmt::Display>(
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

pub(super) fn unknown_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

pub(super) fn calendar_key(e: &crate::policy::calendar::CalendarError) -> &'static str {
    use crate::policy::calendar::CalendarError as E;
    match e {
        E::BadTimezone(_) => "calendar.timezone",
        E::BadWeekday(_) | E::NoWorkdays => "calendar.workdays",
        E::BadTime(_) | E::EmptyHours => "calendar.start",
        E::BadDate(_) => "calendar.holidays",
    }
}

impl TrustSettings {
    /// The `[trust]` section in parsed form: ids and hosts lower case, blanks dropped,
    /// receiving hosts defaulting to the authserv-ids.
    pub fn validate(&self) -> crate::trust::Trust {
        let clean = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let authserv_ids = clean(&self.authserv_ids);
        let mut receiving_hosts = clean(&self.receiving_hosts);
        if receiving_hosts.is_empty() {
            receiving_hosts = crate::trust::default_receiving_hosts(&authserv_ids);
        }
        crate::trust::Trust {
            authserv_ids,
            receiving_hosts,
            folders: self
                .folders
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
            team: self.team,
            acknowledge: self.acknowledge,
        }
    }
}

/// `24h`, `90m`, `2d`, `30s`, `0`: a duration of whole units.
pub(super) fn parse_age(text: &str) -> Option<chrono::Duration> {
    let t = text.trim();
    if t == "0" {
        return Some(chrono::Duration::zero());
    }
    let unit = t.chars().last()?;
    let n: i64 = t[..t.len() - unit.len_utf8()].trim().parse().ok()?;
    if n < 0 {
        return None;
    }
    match unit {
        's' => Some(chrono::Duration::seconds(n)),
        'm' => Some(chrono::Duration::minutes(n)),
        'h' => Some(chrono::Duration::hours(n)),
        'd' => Some(chrono::Duration::days(n)),
        _ => None,
    }
}

/// A `sqlite:` URL whose relative path is read from `dir` (the configuration
/// file's folder), so a command run from another folder opens the same file.
/// Absolute paths, in-memory databases and other URLs are left as they are.
pub(super) fn sqlite_url_from(url: &str, dir: &Path) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_string();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with('/') || path.contains(":memory:") {
        return url.to_string();
    }
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let joined = dir.join(path);
    match query {
        Some(q) => format!("sqlite://{}?{q}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn ages_are_whole_units() {
        assert_eq!(parse_age("24h"), Some(chrono::Duration::hours(24)));
        assert_eq!(parse_age("90m"), Some(chrono::Duration::minutes(90)));
        assert_eq!(parse_age("2d"), Some(chrono::Duration::days(2)));
        assert_eq!(parse_age("0"), Some(chrono::Duration::zero()));
        assert_eq!(parse_age("24"), None);
        assert_eq!(parse_age("-1h"), None);
        assert_eq!(parse_age("1w"), None);
    }

    #[test]
    fn a_relative_sqlite_path_is_read_from_the_config_folder() {
        let d = Path::new("/etc/onit");
        assert_eq!(
            sqlite_url_from("sqlite://onit.db", d),
            "sqlite:///etc/onit/onit.db"
        );
        assert_eq!(
            sqlite_url_from("sqlite:data/onit.db?mode=rwc", d),
            "sqlite:///etc/onit/data/onit.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_from("sqlite:///var/lib/onit/onit.db", d),
            "sqlite:///var/lib/onit/onit.db"
        );
        assert_eq!(sqlite_url_from("sqlite::memory:", d), "sqlite::memory:");
        assert_eq!(sqlite_url_from("postgres://h/db", d), "postgres://h/db");
    }
}
