//! POLICY `dismissive-language`: phrases that tell a client their problem is
//! not real ("works for me"), found in the author's own words.
//!
//! The list is literal and configurable: a phrase counts only if it is in
//! the list, so "we could not reproduce it yet" is not flagged by the
//! defaults (add "could not reproduce" to the configured list to flag it).
//! Text in double quotes is not the author's either and is skipped: onit's
//! own acknowledgment repeats the client's subject in quotes (`Your request
//! "Works for me on Chrome, not Safari" is logged…`).
//! Matching is on whole words, case-insensitive, ignores the apostrophe
//! style (’ ' ‘ or none: "cant reproduce") and treats any run of spaces or
//! line breaks as one space. It does not read intent: "3pm works for me" in
//! a message arranging a call is flagged too, which the list's owner can
//! avoid by configuring the phrases they mean.

use super::promises::mask_quotations;
use super::quoting::own_text;

/// Characters read as an apostrophe; they are dropped before comparing, so
/// "can't", "can’t" and "cant" are the same words.
const APOSTROPHES: &[char] = &['\'', '’', '‘', '`', '´', 'ʼ'];

/// POLICY defaults: can't reproduce, cannot reproduce, unable to reproduce,
/// works for me, works on my machine.
pub fn default_phrases() -> Vec<String> {
    [
        "can't reproduce",
        "cannot reproduce",
        "unable to reproduce",
        "works for me",
        "works on my machine",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The respectful form the digest suggests instead: acknowledge the problem
/// and propose a screenshare.
pub fn respectful_suggestion() -> &'static str {
    "Acknowledge the problem and offer a screenshare, for example: \"Thank you for the details; \
     we haven't managed to make this happen on our side yet, so could we arrange a short \
     screenshare where you show us what you are seeing?\""
}

/// Lower case, apostrophes dropped, whitespace runs as one space, trimmed.
fn normalize(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !APOSTROPHES.contains(c))
        .collect();
    lower.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first occurrence of `needle` in `hay` that starts and ends on a word
/// boundary ("it works for meeting rooms" holds no "works for me").
fn find_words(hay: &str, needle: &str) -> Option<usize> {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    hay.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        // A boundary is only needed where the phrase itself has a word
        // character at its edge.
        (!is_word(needle.chars().next()) || !is_word(before))
            && (!is_word(needle.chars().next_back()) || !is_word(after))
    })
}

/// The first phrase from `phrases` found in the author's own words (quotes
/// and signature removed with [`own_text`], double-quoted text skipped),
/// returned as written in the list.
///
/// "First" is reading order in the message: the phrase that occurs earliest
/// wins, and of phrases starting at the same place, the one listed first.
/// Empty phrases are ignored.
pub fn find_dismissive(text: &str, phrases: &[String]) -> Option<String> {
    let hay = normalize(&mask_quotations(&own_text(text)));
    phrases
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let needle = normalize(p);
            if needle.is_empty() {
                return None;
            }
            find_words(&hay, &needle).map(|pos| (pos, i))
        })
        .min()
        .map(|(_, i)| phrases[i].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(text: &str) -> Option<String> {
        find_dismissive(text, &default_phrases())
    }

    #[test]
    fn each_default_phrase_in_any_case_and_apostrophe() {
        let rows: &[(&str, Option<&str>)] = &[
            ("Sorry, I can't reproduce this.", Some("can't reproduce")),
            ("Sorry, I CAN'T REPRODUCE this.", Some("can't reproduce")),
            ("we can’t  reproduce it", Some("can't reproduce")),
            ("we can‘t reproduce it", Some("can't reproduce")),
            ("we cant reproduce it", Some("can't reproduce")),
            ("We can't\nreproduce it on staging", Some("can't reproduce")),
            ("We Cannot Reproduce the error.", Some("cannot reproduce")),
            ("We were unable to reproduce.", Some("unable to reproduce")),
            ("Unable   to\treproduce", Some("unable to reproduce")),
            ("It works for me.", Some("works for me")),
            ("Works for me!", Some("works for me")),
            ("works for me", Some("works for me")),
            (
                "Hmm, works on my machine (Chrome 120).",
                Some("works on my machine"),
            ),
            ("WORKS ON MY MACHINE", Some("works on my machine")),
            // Not in the literal list.
            ("we could not reproduce it yet", None),
            (
                "We have not been able to reproduce it yet; can we do a screenshare?",
                None,
            ),
            // Word boundaries.
            ("it works for meeting rooms", None),
            ("our framework for meetings", None),
            ("the new framework for me is fine", None),
            ("reworks for me", None),
            ("it works for members only", None),
            ("we cannot reproducehere", None),
            ("Thanks for the details, we are looking into it.", None),
            ("", None),
        ];
        for (text, want) in rows {
            assert_eq!(defaults(text).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn a_configured_list_is_literal() {
        let list = vec!["could not reproduce".to_string()];
        assert_eq!(
            find_dismissive("we could not reproduce it yet", &list).as_deref(),
            Some("could not reproduce")
        );
        assert_eq!(find_dismissive("It works for me.", &list), None);
        assert_eq!(find_dismissive("anything", &[]), None);
        let blank = vec!["  ".to_string(), String::new()];
        assert_eq!(find_dismissive("anything at all", &blank), None);
    }

    #[test]
    fn returns_the_phrase_as_written_in_the_list() {
        let list = vec!["Can’t  Reproduce".to_string()];
        assert_eq!(
            find_dismissive("sorry, we can't reproduce", &list).as_deref(),
            Some("Can’t  Reproduce")
        );
    }

    #[test]
    fn first_in_reading_order() {
        assert_eq!(
            defaults("Works for me, and we cannot reproduce it.").as_deref(),
            Some("works for me")
        );
        let list = vec!["reproduce".to_string(), "cannot reproduce".to_string()];
        assert_eq!(
            find_dismissive("we cannot reproduce it", &list).as_deref(),
            Some("cannot reproduce")
        );
        let same_start = vec!["works for me".to_string(), "works".to_string()];
        assert_eq!(
            find_dismissive("it works for me", &same_start).as_deref(),
            Some("works for me")
        );
    }

    #[test]
    fn quoted_text_and_signatures_do_not_count() {
        assert_eq!(defaults("Understood.\n> It works for me\n"), None);
        assert_eq!(
            defaults(
                "Sorry about this, looking now.\n\nOn Thu, 26 Nov 2026 at 09:00, Ann <ann@jac.example> wrote:\nWe can't reproduce it.\n"
            ),
            None
        );
        assert_eq!(
            defaults("Looking now.\n-- \nAnn\nworks on my machine\n"),
            None
        );
        assert_eq!(
            defaults("You were told \"works for me\"? Sorry.\n> works for me"),
            None
        );
        assert_eq!(
            defaults("Your request “It works for me on Chrome” is logged."),
            None
        );
    }

    #[test]
    fn suggestion_acknowledges_and_proposes_a_screenshare() {
        let s = respectful_suggestion();
        assert!(s.contains("screenshare"));
        assert!(s.to_lowercase().contains("acknowledge"));
        assert!(
            defaults(s).is_none(),
            "the suggestion must not itself be dismissive"
        );
    }
}
