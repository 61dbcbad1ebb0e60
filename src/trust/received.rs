//! `Received:` trace fields (RFC 5321 section 4.4), read only as far as trust
//! needs: which host recorded the hop (`by`) and whether the hop came from
//! another host (`from`). Pure.

use super::auth_results::strip_comments;

/// The parts of one `Received:` field that trust reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The `from` clause was present: the message came over the network from another host.
    pub from_host: Option<String>,
    /// The host that added the field, lower case, without a trailing dot.
    pub by_host: Option<String>,
}

/// Reads a `Received:` value. Comments are removed first, so `(helo=…)` and
/// `(Postfix)` never count as clauses.
pub fn parse(value: &str) -> Hop {
    let text = strip_comments(value);
    // The date follows the last ';'; clauses come before it.
    let clauses = text.rsplit_once(';').map(|(c, _)| c).unwrap_or(&text);
    let words: Vec<&str> = clauses.split_whitespace().collect();
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
            .map(|h| {
                h.trim_matches(|c| c == '[' || c == ']')
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            .filter(|h| !h.is_empty())
    };
    Hop {
        from_host: after("from"),
        by_host: after("by"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_gmail_and_local_hops() {
        let h = parse("from client.example (client.example [192.0.2.7])\r\n\tby mx.jac.example (Postfix) with ESMTPS id 4F3;\r\n\tThu, 26 Nov 2026 10:00:00 +0000 (GMT)");
        assert_eq!(h.from_host.as_deref(), Some("client.example"));
        assert_eq!(h.by_host.as_deref(), Some("mx.jac.example"));
        let h = parse("from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n        by mx.google.com with SMTPS id a640c23a62f3a;\r\n        Tue, 01 Dec 2026 02:11:32 -0800 (PST)");
        assert_eq!(h.by_host.as_deref(), Some("mx.google.com"));
        // Gmail's last, internal hop has no `from` clause.
        let h = parse("by 2002:a05:6a10:a0d0:b0:5c1:2f7c:1e83 with SMTP id k16csp1;\r\n        Tue, 01 Dec 2026 02:11:33 -0800 (PST)");
        assert_eq!(h.from_host, None);
        assert!(h.by_host.is_some());
    }

    #[test]
    fn words_in_comments_are_not_clauses() {
        let h = parse("(from evil.example by mx.jac.example) from a.example by b.example; date");
        assert_eq!(h.from_host.as_deref(), Some("a.example"));
        assert_eq!(h.by_host.as_deref(), Some("b.example"));
        let h = parse("garbage");
        assert_eq!(h.by_host, None);
    }
}
