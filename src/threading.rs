//! POLICY "Threading": which ticket a message belongs to. The pure parts live
//! here (subject normalisation, who may use a tag); the lookups run inside the
//! ingest transaction (see `ingest`).

use crate::ticket_ref::TicketPrefix;

/// Reply and forward prefixes stripped from subjects (English, German, Nordic, Dutch, French, Spanish, Italian…).
const PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "aw", "sv", "vs", "wg", "antw", "doorst", "tr", "rv", "rif", "r", "odp",
    "ynt", "enc",
];

/// The subject used to match a reply that lost its threading headers: reply
/// prefixes (`Re:`, `Fwd:`, `AW:`, `SV:`, `Re[2]:` …), the ticket tag and
/// surrounding whitespace removed, case folded.
pub fn normalize_subject(subject: &str, prefix: &TicketPrefix) -> String {
    // Every [PREFIX-N] tag becomes a space (from the end, so ranges stay valid).
    let mut s = subject.to_string();
    for (range, _) in crate::ticket_ref::tags(subject, prefix).into_iter().rev() {
        s.replace_range(range, " ");
    }
    let s = s.to_lowercase();
    strip_reply_prefixes(s.trim())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes leading reply and forward prefixes (`Re:`, `Fwd:`, `AW:`, `Re[2]:` …) from a lower-case subject.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim_start();
    loop {
        let before = rest;
        for p in PREFIXES {
            if let Some(after) = strip_reply_prefix(rest, p) {
                rest = after.trim_start();
                break;
            }
        }
        if before == rest {
            return rest;
        }
    }
}

fn strip_reply_prefix<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    let after = s.strip_prefix(p)?;
    // "Re:", "Re :", "Re[2]:", "Re(2):", "RE: " — but not "Reply" or "Rex:".
    let after = after.trim_start_matches(' ');
    let after = if let Some(inner) = after.strip_prefix('[').or_else(|| after.strip_prefix('(')) {
        let close = inner.find([']', ')'])?;
        if !inner[..close].chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        &inner[close + 1..]
    } else {
        after
    };
    after.strip_prefix(':').or_else(|| after.strip_prefix('：'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_tags_and_case() {
        let p = TicketPrefix::parse("JAC").unwrap();
        assert_eq!(
            normalize_subject("Re: RE: Login  broken", &p),
            "login broken"
        );
        assert_eq!(
            normalize_subject("AW: SV: Fwd: login broken [JAC-12]", &p),
            "login broken"
        );
        assert_eq!(normalize_subject("Re[2]: login broken", &p), "login broken");
        assert_eq!(normalize_subject("Re : login broken", &p), "login broken");
        assert_eq!(
            normalize_subject("Reply needed: login", &p),
            "reply needed: login"
        );
        assert_eq!(normalize_subject("Rex: login", &p), "rex: login");
        assert_eq!(normalize_subject("", &p), "");
    }
}
