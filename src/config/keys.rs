//! The operator's file checked key by key against the shipped defaults (which
//! hold every key) before it is deserialised: every unknown key (with "did you
//! mean"), every value of the wrong type, all at once; and every issue put in
//! the order of the lines it is about, so a run lists them as the file reads.
//!
//! The keys found wrong are left out of what is then loaded, so validation
//! still runs on the rest and its issues come in the same run.

use super::{ConfigIssue, DEFAULT_TOML};

/// The keys of one `[[projects]]` entry (the defaults have none to copy).
const PROJECT_KEYS: &[(&str, &str)] = &[
    ("name", "string"),
    ("client_domains", "array"),
    ("pm", "string"),
];

fn kind(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "string",
        toml::Value::Integer(_) => "integer",
        toml::Value::Float(_) => "float",
        toml::Value::Boolean(_) => "boolean",
        toml::Value::Datetime(_) => "date-time",
        toml::Value::Array(_) => "array",
        toml::Value::Table(_) => "table",
    }
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

fn fits(expected: &str, found: &str) -> bool {
    expected == found || (expected == "float" && found == "integer")
}

/// The edit distance between two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The known name closest to `name`, when close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    known
        .map(|k| (distance(&lower, k), k))
        .filter(|(d, k)| {
            *d <= (k.len() / 3).max(1) || k.starts_with(&lower) || lower.starts_with(k)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown(key: String, name: &str, known: Vec<&str>) -> ConfigIssue {
    let message = match did_you_mean(name, known.iter().copied()) {
        Some(k) => format!("unknown key; did you mean `{k}`?"),
        None => "unknown key".to_string(),
    };
    ConfigIssue { key, message }
}

fn check_table(
    prefix: &str,
    user: &mut toml::Table,
    schema: &toml::Table,
    issues: &mut Vec<ConfigIssue>,
) {
    let names: Vec<String> = user.keys().cloned().collect();
    for name in names {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let Some(expected) = schema.get(&name) else {
            let mut known: Vec<&str> = schema.keys().map(String::as_str).collect();
            if prefix.is_empty() {
                known.push("projects");
            }
            if prefix.is_empty() && name == "projects" {
                check_projects(user, issues);
                continue;
            }
            issues.push(unknown(key, &name, known));
            user.remove(&name);
            continue;
        };
        let found = kind(&user[&name]);
        if !fits(kind(expected), found) {
            issues.push(ConfigIssue {
                key,
                message: format!(
                    "must be {}, not {}",
                    article(kind(expected)),
                    article(found)
                ),
            });
            user.remove(&name);
            continue;
        }
        if let (Some(toml::Value::Table(inner)), toml::Value::Table(s)) =
            (user.get_mut(&name), expected)
        {
            check_table(&key, inner, s, issues);
        }
    }
}

fn check_projects(user: &mut toml::Table, issues: &mut Vec<ConfigIssue>) {
    let Some(toml::Value::Array(list)) = user.get_mut("projects") else {
        issues.push(ConfigIssue {
            key: "projects".into(),
            message: "must be [[projects]] tables".into(),
        });
        user.remove("projects");
        return;
    };
    for (i, p) in list.iter_mut().enumerate() {
        let toml::Value::Table(t) = p else {
            issues.push(ConfigIssue {
                key: format!("projects[{i}]"),
                message: "must be a table ([[projects]])".into(),
            });
            continue;
        };
        let names: Vec<String> = t.keys().cloned().collect();
        for name in names {
            let key = format!("projects[{i}].{name}");
            match PROJECT_KEYS.iter().find(|(k, _)| *k == name) {
                None => {
                    issues.push(unknown(
                        key,
                        &name,
                        PROJECT_KEYS.iter().map(|(k, _)| *k).collect(),
                    ));
                    t.remove(&name);
                }
                Some((_, expected)) if !fits(expected, kind(&t[&name])) => {
                    issues.push(ConfigIssue {
                        key,
                        message: format!(
                            "must be {}, not {}",
                            article(expected),
                            article(kind(&t[&name]))
                        ),
                    });
                    t.remove(&name);
                }
                Some(_) => {}
            }
        }
    }
}

/// Checks an operator's file: its issues, and the file without the keys found
/// wrong (TOML), to load and validate the rest.
pub(super) fn check(text: &str) -> Result<(Vec<ConfigIssue>, String), ConfigIssue> {
    let mut user: toml::Table = toml::from_str(text).map_err(|e| ConfigIssue {
        key: "(file)".into(),
        message: format!("not valid TOML: {}", e.to_string().trim()),
    })?;
    let schema: toml::Table = toml::from_str(DEFAULT_TOML).expect("default.toml parses");
    let mut issues = Vec::new();
    check_table("", &mut user, &schema, &mut issues);
    let cleaned = toml::to_string(&user).map_err(|e| ConfigIssue {
        key: "(file)".into(),
        message: e.to_string(),
    })?;
    Ok((issues, cleaned))
}

/// The line (from 1) of `key` (`section.key`, `section`, `projects[1].pm`) in
/// `text`, found by reading table headers and `name =` lines.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let (section, rest) = match key.split_once('.') {
        Some((s, r)) => (s, Some(r)),
        None => (key, None),
    };
    let (section, index) = match section.split_once('[') {
        Some((s, i)) => (s, i.trim_end_matches(']').parse::<usize>().ok()),
        None => (section, None),
    };
    let mut current = String::new();
    let mut seen_arrays = 0usize;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix("[[") {
            current = h.split("]]").next().unwrap_or("").trim().to_string();
            if current == section {
                if index == Some(seen_arrays) && rest.is_none() {
                    return Some(n + 1);
                }
                seen_arrays += 1;
            }
            continue;
        }
        if let Some(h) = l.strip_prefix('[') {
            current = h.split(']').next().unwrap_or("").trim().to_string();
            if current == section && rest.is_none() {
                return Some(n + 1);
            }
            continue;
        }
        let Some(name) = rest.map(|r| r.split('.').next().unwrap_or(r)) else {
            continue;
        };
        let here =
            current == section && (index.is_none() || index == Some(seen_arrays.saturating_sub(1)));
        if here {
            if let Some((k, _)) = l.split_once('=') {
                if k.trim().trim_matches('"') == name {
                    return Some(n + 1);
                }
            }
        }
        if current.is_empty() && rest.is_some() {
            // A dotted key at the top: `team.domain = …`.
            if let Some((k, _)) = l.split_once('=') {
                if k.trim() == key {
                    return Some(n + 1);
                }
            }
        }
    }
    None
}

/// Puts issues in the order of the lines they are about; issues about keys
/// not in the file (a required key left out) keep their order, after them.
pub(super) fn in_file_order(text: &str, issues: &mut [ConfigIssue]) {
    issues.sort_by_key(|i| line_of(text, &i.key).unwrap_or(usize::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE_TYPOS: &str = "[mailbox]\nsorce = \"imap\"\n\n[calender]\ntimezone = \"Europe/London\"\n\n[team]\ndomain = [\"jac.example\"]\n";

    #[test]
    fn every_unknown_key_is_named_with_a_suggestion() {
        let (mut issues, cleaned) = check(THREE_TYPOS).unwrap();
        in_file_order(THREE_TYPOS, &mut issues);
        let shown: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "mailbox.sorce: unknown key; did you mean `source`?",
                "calender: unknown key; did you mean `calendar`?",
                "team.domain: unknown key; did you mean `domains`?",
            ]
        );
        assert!(
            !cleaned.contains("sorce") && !cleaned.contains("calender"),
            "{cleaned}"
        );
    }

    #[test]
    fn a_type_error_hides_nothing() {
        let text = "[imap]\nport = \"993\"\nfolderz = [\"INBOX\"]\n[[projects]]\nname = \"acme\"\npmm = \"x@jac.example\"\n";
        let (mut issues, _) = check(text).unwrap();
        in_file_order(text, &mut issues);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, vec!["imap.port", "imap.folderz", "projects[0].pmm"]);
        assert_eq!(issues[0].message, "must be an integer, not a string");
        assert!(issues[2].message.contains("`pm`"), "{:?}", issues[2]);
    }

    #[test]
    fn lines_are_found_for_sections_keys_and_projects() {
        let text = "[team]\ndomains = []\n[[projects]]\nname = \"a\"\n[[projects]]\nname = \"b\"\npm = \"p\"\n";
        assert_eq!(line_of(text, "team"), Some(1));
        assert_eq!(line_of(text, "team.domains"), Some(2));
        assert_eq!(line_of(text, "projects[1].pm"), Some(7));
        assert_eq!(line_of(text, "projects[0].name"), Some(4));
        assert_eq!(line_of(text, "imap.password"), None);
    }

    #[test]
    fn suggestions_are_only_for_near_misses() {
        let known = ["source", "maildir", "poll_interval_secs"];
        assert_eq!(did_you_mean("sorce", known.iter().copied()), Some("source"));
        assert_eq!(
            did_you_mean("poll_interval", known.iter().copied()),
            Some("poll_interval_secs")
        );
        assert_eq!(did_you_mean("frobnicate", known.iter().copied()), None);
    }
}
