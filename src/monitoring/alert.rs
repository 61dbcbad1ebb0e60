//! What one monitoring mail says: which alert it is about (its key) and
//! whether that alert fires or is resolved. Pure.
//!
//! The key is the alert's own: an Alertmanager-style `groupKey` when the mail
//! shows one (a header such as `X-Alertmanager-Group-Key`, or a `groupKey:` /
//! `"groupKey": "…"` line in the body); otherwise the subject with its status
//! prefix removed, whitespace collapsed and case folded:
//!
//! * Alertmanager and Grafana: `[FIRING:2] HighLatency (api prod)`,
//!   `[FIRING:1, RESOLVED:1] …` (still firing), `[RESOLVED] …`; Grafana's
//!   legacy `[Alerting]`, `[No Data]`, `[OK]`;
//! * Datadog: `Triggered: …`, `Re-Triggered: …`, `Warn: …`, `Recovered: …`
//!   (also after a bracketed tag such as `[Monitor Alert]`);
//! * UptimeRobot: `Monitor is DOWN: …`, `Monitor is UP: …`;
//! * cron: `Cron <root@host> cmd` is its own key (a cron mail never resolves);
//! * any other mail: the subject without `Re:`/`Fwd:` prefixes, firing.

/// Whether the alert fires or has cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    /// `firing` or `resolved`, as events say it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One monitoring mail, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The alert's own key (lower case, at most [`MAX_KEY_CHARS`]).
    pub key: String,
    pub state: AlertState,
}

/// Keys are cut to this many characters (a stored column, matched exactly).
pub const MAX_KEY_CHARS: usize = 300;

/// Reads a monitoring mail: `group_key` is the value of a group-key header, if any.
pub fn read(subject: &str, body: &str, group_key: Option<&str>) -> Alert {
    let (state, rest) = status_of(subject.trim());
    let key = group_key
        .map(str::to_string)
        .or_else(|| group_key_in_body(body))
        .map(|g| normalise(&format!("groupkey {g}")))
        .filter(|k| k.len() > "groupkey ".len())
        .unwrap_or_else(|| normalise(rest));
    Alert { key, state }
}

fn normalise(s: &str) -> String {
    let s = crate::message::single_line(s).to_lowercase();
    let s = crate::threading::strip_reply_prefixes(s.trim());
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::message::cut_chars(&joined, MAX_KEY_CHARS)
}

/// Case-insensitive `strip_prefix`.
fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The state a subject's status prefix states, and the subject without it.
fn status_of(subject: &str) -> (AlertState, &str) {
    // Reply prefixes are stripped from a lower-case copy (ASCII case folding keeps
    // every byte offset), then cut from the subject at the same place.
    let lower = subject.to_ascii_lowercase();
    let stripped = crate::threading::strip_reply_prefixes(&lower);
    let s = &subject[subject.len() - stripped.len()..];
    if let Some(close) = s.strip_prefix('[').and_then(|r| r.find(']')) {
        let inner = s[1..1 + close].to_ascii_lowercase();
        let rest = &s[close + 2..];
        let firing = ["firing", "alerting", "no data", "nodata", "pending"];
        if firing.iter().any(|w| inner.contains(w)) {
            return (AlertState::Firing, rest);
        }
        if inner.starts_with("resolved") || inner == "ok" {
            return (AlertState::Resolved, rest);
        }
        // Another bracketed tag (`[Monitor Alert]`): the status may follow it.
        if let Some(found) = word_status(rest.trim_start()) {
            return found;
        }
        return (AlertState::Firing, s);
    }
    word_status(s).unwrap_or((AlertState::Firing, s))
}

/// Datadog's and UptimeRobot's status words at the start of a subject.
fn word_status(s: &str) -> Option<(AlertState, &str)> {
    const WORDS: [(&str, AlertState); 9] = [
        ("recovered from warn:", AlertState::Resolved),
        ("recovered:", AlertState::Resolved),
        ("re-triggered:", AlertState::Firing),
        ("triggered:", AlertState::Firing),
        ("re-warn:", AlertState::Firing),
        ("warn:", AlertState::Firing),
        ("no data:", AlertState::Firing),
        ("monitor is down:", AlertState::Firing),
        ("monitor is up:", AlertState::Resolved),
    ];
    WORDS
        .iter()
        .find_map(|(w, state)| strip_ci(s, w).map(|rest| (*state, rest)))
}

/// A `groupKey` an Alertmanager-style template put in the body: `groupKey: X`,
/// `groupKey = X` or `"groupKey": "X"` at the start of a line.
fn group_key_in_body(body: &str) -> Option<String> {
    body.lines().find_map(|l| {
        let l = l.trim_start().trim_start_matches('"');
        let rest = strip_ci(l, "groupkey")?;
        let rest = rest.trim_start_matches('"').trim_start();
        let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('='))?;
        let v = rest
            .trim()
            .trim_end_matches(',')
            .trim_matches('"')
            .replace("\\\"", "\"");
        (!v.trim().is_empty()).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertState::{Firing, Resolved};

    fn r(subject: &str) -> (String, AlertState) {
        let a = read(subject, "", None);
        (a.key, a.state)
    }

    #[test]
    fn alertmanager_and_grafana_prefixes() {
        let firing = r("[FIRING:2] HighLatency (api prod)");
        let resolved = r("[RESOLVED] HighLatency (api  prod)");
        assert_eq!(firing, ("highlatency (api prod)".into(), Firing));
        assert_eq!(resolved, ("highlatency (api prod)".into(), Resolved));
        assert_eq!(r("[FIRING:1, RESOLVED:1] DiskFull").1, Firing);
        assert_eq!(r("[RESOLVED:3] DiskFull"), ("diskfull".into(), Resolved));
        assert_eq!(r("[Alerting] CPU alert"), ("cpu alert".into(), Firing));
        assert_eq!(r("[OK] CPU alert"), ("cpu alert".into(), Resolved));
        assert_eq!(r("[No Data] CPU alert"), ("cpu alert".into(), Firing));
    }

    #[test]
    fn datadog_uptimerobot_cron_and_other_mail() {
        assert_eq!(
            r("Triggered: CPU high on web-1"),
            ("cpu high on web-1".into(), Firing)
        );
        assert_eq!(
            r("[Monitor Alert] Recovered: CPU high on web-1"),
            ("cpu high on web-1".into(), Resolved)
        );
        assert_eq!(
            r("Monitor is DOWN: Shop ( https://shop.example/ )"),
            ("shop ( https://shop.example/ )".into(), Firing)
        );
        assert_eq!(
            r("Monitor is UP: Shop ( https://shop.example/ )").1,
            Resolved
        );
        assert_eq!(
            r("Cron <root@db-1> /usr/local/bin/backup.sh"),
            ("cron <root@db-1> /usr/local/bin/backup.sh".into(), Firing)
        );
        assert_eq!(
            r("Re: Disk almost full on db-2"),
            ("disk almost full on db-2".into(), Firing)
        );
        assert_eq!(r("[Ticket] something").0, "[ticket] something");
    }

    #[test]
    fn a_visible_group_key_wins_over_the_subject() {
        let gk = "{}/{severity=\"page\"}:{alertname=\"HighLatency\"}";
        let a = read("[FIRING:2] HighLatency (api prod)", "", Some(gk));
        let b = read(
            "[RESOLVED] HighLatency (api)",
            &format!(
                "Status: resolved\n  \"groupKey\": \"{}\",\n",
                gk.replace('"', "\\\"")
            ),
            None,
        );
        assert_eq!(a.key, b.key, "the same group, whatever the subject says");
        assert!(a.key.starts_with("groupkey {}/"), "{}", a.key);
        assert_eq!((a.state, b.state), (Firing, Resolved));
        let c = read("[FIRING:1] X", "groupKey: abc\n", None);
        assert_eq!(c.key, "groupkey abc");
        assert_eq!(read("[FIRING:1] X", "groupKey:\n", None).key, "x");
    }
}
