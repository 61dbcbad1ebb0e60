//! POLICY Standard 2: the proposed priority of a new ticket, and the rule that matched.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Ticket priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Urgent,
    High,
    Medium,
}

impl Priority {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Medium => "medium",
        }
    }

    /// Parses `urgent`, `high` or `medium` (case-insensitive).
    pub fn parse(s: &str) -> Option<Priority> {
        match s.trim().to_ascii_lowercase().as_str() {
            "urgent" => Some(Priority::Urgent),
            "high" => Some(Priority::High),
            "medium" => Some(Priority::Medium),
            _ => None,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Word lists compiled once; see `[priority]` in the configuration.
#[derive(Debug, Clone)]
pub struct PriorityRules {
    urgent: Option<Regex>,
    high: Option<Regex>,
}

fn compile(words: &[String]) -> Option<Regex> {
    let alts: Vec<String> = words
        .iter()
        .map(|w| w.trim().to_lowercase().replace('’', "'"))
        .filter(|w| !w.is_empty())
        .map(|w| {
            regex::escape(&w)
                .replace("\\ ", "\\s+")
                .replace(' ', "\\s+")
        })
        .collect();
    if alts.is_empty() {
        return None;
    }
    // Word boundaries so that "down" does not match "download" nor "countdown".
    Regex::new(&format!(
        r"(?i)(?:^|[^\p{{L}}\p{{N}}_])({})(?:$|[^\p{{L}}\p{{N}}_])",
        alts.join("|")
    ))
    .ok()
}

impl PriorityRules {
    /// Compiles the urgent and high word lists.
    pub fn new(urgent: &[String], high: &[String]) -> PriorityRules {
        PriorityRules {
            urgent: compile(urgent),
            high: compile(high),
        }
    }

    /// Proposes a priority from a new ticket's subject and the client's own text,
    /// with a human-readable reason naming the rule and the words that matched.
    pub fn propose(&self, subject: &str, own_text: &str) -> (Priority, String) {
        let subject = subject.replace('’', "'");
        let body = own_text.replace('’', "'");
        for (prio, re) in [
            (Priority::Urgent, &self.urgent),
            (Priority::High, &self.high),
        ] {
            let Some(re) = re else { continue };
            for (place, text) in [("subject", &subject), ("body", &body)] {
                if let Some(c) = re.captures(text) {
                    let word = c
                        .get(1)
                        .map(|m| m.as_str().to_lowercase())
                        .unwrap_or_default();
                    return (prio, format!("{prio}: \"{word}\" in the {place}"));
                }
            }
        }
        (
            Priority::Medium,
            "medium: no urgent or high words (an inconvenience, not a blockade)".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PriorityRules {
        let u: Vec<String> = [
            "outage",
            "down",
            "blocked",
            "cannot log in",
            "can't log in",
            "production",
            "asap",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let h: Vec<String> = ["workaround", "for now we can"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        PriorityRules::new(&u, &h)
    }

    #[test]
    fn urgent_words_win_over_high() {
        let (p, why) = rules().propose("Site DOWN", "we have a workaround");
        assert_eq!(p, Priority::Urgent);
        assert!(why.contains("\"down\""), "{why}");
    }

    #[test]
    fn word_boundaries_and_apostrophes() {
        assert_eq!(
            rules().propose("Download page slow", "").0,
            Priority::Medium
        );
        assert_eq!(
            rules().propose("help", "Users can’t  log in since 9").0,
            Priority::Urgent
        );
        assert_eq!(
            rules().propose("x", "For now we can export by hand").0,
            Priority::High
        );
        assert_eq!(
            rules().propose("Typo on the about page", "minor").0,
            Priority::Medium
        );
    }
}
