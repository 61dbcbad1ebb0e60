//! Client concerns seen early (the seed: "in case of emotional responses from
//! stakeholders, focus on their problems and questions"; POLICY Standard 2:
//! dissatisfied customers make an issue urgent). Pure: a client's own words in,
//! the signals that matched out, for the record and the PM's digest.
//!
//! Readings: a configured phrase (`policy.frustration_phrases`, case-insensitive,
//! whole words); a run of three or more `!`; or shouting: at least 20 letters of
//! which four in five are capitals. Quotes and signatures never count (own words
//! only), so a client quoting our own "URGENT" heading is not shouting.

/// The signals of frustration in `own_words`, in the order found; empty when none.
pub fn signals(own_words: &str, phrases: &[String]) -> Vec<String> {
    let lower = own_words.to_lowercase().replace('’', "'");
    let mut out: Vec<String> = Vec::new();
    for p in phrases {
        let p = p.trim().to_lowercase();
        if !p.is_empty() && contains_words(&lower, &p) && !out.contains(&p) {
            out.push(p);
        }
    }
    if own_words.contains("!!!") {
        out.push("!!!".into());
    }
    let letters: Vec<char> = own_words.chars().filter(|c| c.is_alphabetic()).collect();
    let capitals = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 20 && capitals * 5 >= letters.len() * 4 {
        out.push("capitals".into());
    }
    out
}

/// `needle` in `hay` on word boundaries.
fn contains_words(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases() -> Vec<String> {
        [
            "unacceptable",
            "third time",
            "escalate",
            "very disappointed",
            "cancel our contract",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn phrases_exclamations_and_capitals() {
        assert_eq!(
            signals(
                "This is UNACCEPTABLE. It is the third time this week!!!",
                &phrases()
            ),
            ["unacceptable", "third time", "!!!"]
        );
        assert_eq!(
            signals("WHY IS THE SITE STILL DOWN WE ARE LOSING MONEY", &phrases()),
            ["capitals"]
        );
        assert_eq!(
            signals("We will escalate this and cancel our contract.", &phrases()),
            ["escalate", "cancel our contract"]
        );
    }

    #[test]
    fn calm_mail_and_lookalike_words_are_not_flagged() {
        assert!(signals("Hi, the export fails with error 500. Thanks!", &phrases()).is_empty());
        assert!(signals("The escalation matrix is attached.", &phrases()).is_empty());
        assert!(signals("FYI: API", &phrases()).is_empty());
    }
}
