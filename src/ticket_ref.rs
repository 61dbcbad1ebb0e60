//! Ticket ids (`JAC-7`) as parsed domain types, and finding a `[JAC-7]` tag in a subject.

use std::fmt;

/// Why a ticket id or prefix was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TicketRefError {
    #[error("ticket prefix `{0}` must be 1–16 ASCII letters or digits, starting with a letter")]
    BadPrefix(String),
    #[error("`{0}` is not a ticket id like JAC-7")]
    BadRef(String),
}

/// The configured prefix of ticket ids, stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicketPrefix(String);

impl TicketPrefix {
    /// Parses a prefix such as `JAC`.
    pub fn parse(s: &str) -> Result<Self, TicketRefError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 16
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(TicketPrefix(s.to_ascii_uppercase()))
        } else {
            Err(TicketRefError::BadPrefix(s.to_string()))
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A ticket id: prefix and number, e.g. `JAC-7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicketRef {
    pub prefix: TicketPrefix,
    pub number: i64,
}

impl TicketRef {
    /// Parses `JAC-7` (case-insensitive prefix, surrounding brackets allowed).
    pub fn parse(s: &str) -> Result<Self, TicketRefError> {
        let t = s.trim().trim_start_matches('[').trim_end_matches(']');
        let (p, n) = t
            .rsplit_once('-')
            .ok_or_else(|| TicketRefError::BadRef(s.to_string()))?;
        let prefix = TicketPrefix::parse(p).map_err(|_| TicketRefError::BadRef(s.to_string()))?;
        let number = n
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| TicketRefError::BadRef(s.to_string()))?;
        if !n.chars().all(|c| c.is_ascii_digit()) {
            return Err(TicketRefError::BadRef(s.to_string()));
        }
        Ok(TicketRef { prefix, number })
    }

    /// Finds the first `[PREFIX-N]` tag for this prefix in a subject.
    pub fn find_in_subject(subject: &str, prefix: &TicketPrefix) -> Option<TicketRef> {
        tags(subject, prefix).into_iter().next().map(|(_, r)| r)
    }
}

/// Every `[PREFIX-N]` tag of `prefix` in `subject`, in order: its byte range
/// (brackets included) and the reference. The one reading of a ticket tag,
/// for threading, subject matching and our own subjects alike. The prefix is
/// matched without regard to ASCII case; N is 1 to 12 digits and not zero.
pub fn tags(subject: &str, prefix: &TicketPrefix) -> Vec<(std::ops::Range<usize>, TicketRef)> {
    // ASCII upper-casing keeps every byte offset, so ranges index `subject` too.
    let upper = subject.to_ascii_uppercase();
    let needle = format!("[{}-", prefix.as_str().to_ascii_uppercase());
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = upper[from..].find(&needle) {
        let open = from + pos;
        let start = open + needle.len();
        let digits = upper[start..]
            .bytes()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let after = start + digits;
        let number = (digits > 0 && digits <= 12 && upper[after..].starts_with(']'))
            .then(|| upper[start..after].parse::<i64>().ok())
            .flatten()
            .filter(|n| *n > 0);
        match number {
            Some(number) => {
                out.push((
                    open..after + 1,
                    TicketRef {
                        prefix: prefix.clone(),
                        number,
                    },
                ));
                from = after + 1;
            }
            None => from = start,
        }
    }
    out
}

impl fmt::Display for TicketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.prefix.as_str(), self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids() {
        let r = TicketRef::parse("jac-12").unwrap();
        assert_eq!(r.to_string(), "JAC-12");
        assert!(TicketRef::parse("JAC-").is_err());
        assert!(TicketRef::parse("JAC-0").is_err());
        assert!(TicketRef::parse("JAC-+3").is_err());
        assert!(TicketRef::parse("12").is_err());
    }

    #[test]
    fn finds_tag_in_subject() {
        let p = TicketPrefix::parse("JAC").unwrap();
        assert_eq!(
            TicketRef::find_in_subject("Re: login broken [JAC-7]", &p).map(|r| r.number),
            Some(7)
        );
        assert_eq!(
            TicketRef::find_in_subject("Re: [jac-7] x", &p).map(|r| r.number),
            Some(7)
        );
        assert_eq!(
            TicketRef::find_in_subject("[JAC-x] [JAC-9]", &p).map(|r| r.number),
            Some(9)
        );
        assert_eq!(TicketRef::find_in_subject("JAC-7 no brackets", &p), None);
        assert_eq!(TicketRef::find_in_subject("[XJAC-7]", &p), None);
        assert_eq!(
            TicketRef::find_in_subject("[JAC-99999999999999999999]", &p),
            None
        );
    }
}
