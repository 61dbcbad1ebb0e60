//! Footnotes: the seed's "report additional issues" ("focus first on the main
//! problem; mention others as a footnote"). A team update's own words may end
//! with lines such as `Additional issue: the nightly backup also failed` or
//! `Also noticed: …`; each is recorded on the ticket (`additional_issue`), listed
//! in the PM's digest so none is forgotten, and put under "Exposure / impacts" in
//! the incident report. `#additional TEXT` does the same as a command.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::store::{TicketRow, Tx};
use crate::ticket::lifecycle::{self, By};
use crate::ticket::EventKind;

/// The line beginnings that mark a footnote (lower case; a colon follows).
const MARKERS: [&str; 4] = [
    "additional issue",
    "additional issues",
    "also noticed",
    "side note",
];

/// The footnotes in a message's own words (quotes and signatures already removed).
pub fn additional_issues(own_words: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in own_words.lines() {
        let l = line.trim().trim_start_matches(['*', '-', '>', ' ']);
        let Some((head, rest)) = l.split_once(':') else {
            continue;
        };
        let head = head.trim().to_lowercase();
        let text = crate::message::single_line(rest.trim());
        if MARKERS.contains(&head.as_str()) && !text.is_empty() {
            out.push(text);
        }
    }
    out
}

/// Records one additional issue on `t`.
pub async fn record(
    tx: &mut Tx<'_>,
    t: &TicketRow,
    text: &str,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<()> {
    let text = crate::message::single_line(text);
    lifecycle::record(tx, t.id, at, EventKind::AdditionalIssue, by, &text).await
}

/// Records the footnotes of a team message (a contact or an internal note) on `t`.
pub async fn from_team_mail(
    tx: &mut Tx<'_>,
    t: &TicketRow,
    own_words: &str,
    by: By<'_>,
    at: DateTime<Utc>,
) -> Result<usize> {
    let found = additional_issues(own_words);
    for text in &found {
        record(tx, t, text, by, at).await?;
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footnote_lines_are_found_and_nothing_else() {
        let text = "We restarted the gateway; checkout works again.\n\
                    Next update by 16:00.\n\n\
                    Additional issue: the nightly backup job also failed at 02:00.\n\
                    Also noticed: disk usage on db-2 is at 91%\n\
                    The additional issue count is zero\n\
                    Note: nothing\n";
        assert_eq!(
            additional_issues(text),
            vec![
                "the nightly backup job also failed at 02:00.".to_string(),
                "disk usage on db-2 is at 91%".to_string()
            ]
        );
        assert!(additional_issues("Additional issue:\n").is_empty());
    }
}
