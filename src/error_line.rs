//! Errors from other libraries and servers, as one line for logs, the outbox's
//! `last_error` and alert mails. lettre and reqwest put the useful part in the
//! causes and repeat some of it, and server text may hold line breaks.

/// An error and its causes on one line, each cause once, bounded (see [`one_line`]).
pub fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    let mut parts: Vec<&str> = s.split(": ").collect();
    parts.dedup();
    one_line(&parts.join(": "))
}

/// Text from elsewhere on one line (control characters and runs of white space
/// become one space) and at most 300 characters long.
pub fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        format!("{}…", flat.chars().take(300).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_are_said_once() {
        let e =
            std::io::Error::other("Connection error: Connection error: invalid peer certificate");
        assert_eq!(error_line(&e), "Connection error: invalid peer certificate");
    }

    #[test]
    fn server_text_is_one_bounded_line() {
        assert_eq!(
            one_line("invalid_grant\r\n  expired\tor revoked"),
            "invalid_grant expired or revoked"
        );
        let long = "x".repeat(400);
        assert_eq!(one_line(&long).chars().count(), 301);
    }
}
