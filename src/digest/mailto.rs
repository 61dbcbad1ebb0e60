//! The `mailto:` link (RFC 6068) each ticket line of a digest carries: a reply
//! to the client's thread, with the PM and the support address in Cc, the
//! ticket's tag in the subject and `In-Reply-To` the thread's last message, so
//! the reply threads in the client's mail program and onto the ticket.
//!
//! Every value in it is written by someone else (the subject and the
//! Message-ID by whoever sent the mail), so:
//! * the subject is made one line (`acknowledgment::ack_subject`: no line
//!   break can start a header or a body) and every character outside RFC
//!   3986's unreserved set is percent-encoded as UTF-8, `&`, `=`, `?`, `%`
//!   and `#` included: a value can never end its field or start another;
//! * `In-Reply-To` carries a Message-ID only when it is a valid one
//!   (`compose::threading_id`), in angle brackets, encoded the same way;
//! * addresses are parsed ones (`EmailAddress`), encoded except for `@`.
//!
//! The HTML digest escapes the link once more (the template engine does).

use crate::address::EmailAddress;

/// What a reply link is made of.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    /// The reporter.
    pub to: &'a EmailAddress,
    /// The PM and the support address (duplicates and the reporter are dropped).
    pub cc: &'a [&'a EmailAddress],
    /// The ticket's subject as the client wrote it.
    pub subject: &'a str,
    /// `JAC-2`.
    pub tag: &'a str,
    /// The Message-ID of the thread's last message, without angle brackets.
    pub in_reply_to: Option<&'a str>,
}

/// Appends `s` percent-encoded as UTF-8: everything but RFC 3986's
/// unreserved characters (and `@` when `keep_at`).
fn encode_into(out: &mut String, s: &str, keep_at: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_at && b == b'@') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The `mailto:` link of `r` (written into one string: a digest makes one per
/// open ticket, thousands at a time).
pub fn mailto(r: &Reply<'_>) -> String {
    let subject = crate::acknowledgment::ack_subject(r.subject, r.tag);
    let mut link = String::with_capacity(96 + subject.len() * 3 / 2);
    link.push_str("mailto:");
    encode_into(&mut link, r.to.as_str(), true);
    link.push('?');
    let mut cc: Vec<&EmailAddress> = Vec::new();
    for a in r.cc {
        if *a != r.to && !cc.contains(a) {
            cc.push(a);
        }
    }
    for (i, a) in cc.iter().enumerate() {
        link.push_str(if i == 0 { "cc=" } else { "," });
        encode_into(&mut link, a.as_str(), true);
    }
    if !cc.is_empty() {
        link.push('&');
    }
    link.push_str("subject=");
    encode_into(&mut link, &subject, false);
    if let Some(id) = r.in_reply_to.and_then(crate::compose::threading_id) {
        // `<id>`, encoded: `%3C` … `%3E`.
        link.push_str("&in-reply-to=%3C");
        encode_into(&mut link, &id, false);
        link.push_str("%3E");
    }
    link
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Percent-decodes `s` (UTF-8); `None` on a malformed escape.
    fn decode(s: &str) -> Option<String> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    }

    /// A link parsed back as RFC 6068 reads it: the decoded path, and each
    /// `name=value` field decoded. Panics on anything RFC 6068 does not allow
    /// unencoded in a link (a space, a line break, a quote, angle brackets,
    /// non-ASCII).
    pub(crate) fn parse(link: &str) -> (String, Vec<(String, String)>) {
        assert!(
            link.bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b)),
            "not a valid URI: {link:?}"
        );
        let rest = link.strip_prefix("mailto:").expect("mailto: scheme");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        assert!(!query.contains('?') && !link.contains('#'), "{link}");
        let fields = query
            .split('&')
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (k, v) = f.split_once('=').expect("name=value");
                (decode(k).unwrap(), decode(v).expect("valid escapes"))
            })
            .collect();
        (decode(path).unwrap(), fields)
    }

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn a_reply_to_the_thread_with_pm_and_support_in_cc() {
        let (client, pm, support) = (
            addr("ops@acme.example"),
            addr("pm@jac.example"),
            addr("support@jac.example"),
        );
        let link = mailto(&Reply {
            to: &client,
            cc: &[&pm, &support, &pm],
            subject: "Checkout down",
            tag: "JAC-2",
            in_reply_to: Some("abc.123@acme.example"),
        });
        assert_eq!(
            link,
            "mailto:ops@acme.example?cc=pm@jac.example,support@jac.example&subject=Re%3A%20Checkout%20down%20%5BJAC-2%5D&in-reply-to=%3Cabc.123%40acme.example%3E"
        );
        let (to, fields) = parse(&link);
        assert_eq!(to, "ops@acme.example");
        assert_eq!(
            fields,
            vec![
                ("cc".into(), "pm@jac.example,support@jac.example".into()),
                ("subject".into(), "Re: Checkout down [JAC-2]".into()),
                ("in-reply-to".into(), "<abc.123@acme.example>".into()),
            ]
        );
    }

    #[test]
    fn hostile_subjects_and_ids_cannot_break_out() {
        let (client, pm) = (addr("a+b@acme.example"), addr("pm@jac.example"));
        let subject = "Re: 50% off & more?\r\nBcc: evil@x.example&body=hi#frag=1 — Ünïcødé 日本";
        let link = mailto(&Reply {
            to: &client,
            cc: &[&pm],
            subject,
            tag: "JAC-9",
            in_reply_to: Some("x@y>&bcc=evil@x.example"),
        });
        let (to, fields) = parse(&link);
        assert_eq!(to, "a+b@acme.example");
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        // No bcc, no body, no second subject: the hostile Message-ID is dropped.
        assert_eq!(names, vec!["cc", "subject"]);
        let subj = &fields[1].1;
        assert!(!subj.contains('\r') && !subj.contains('\n'), "{subj:?}");
        assert!(subj.starts_with("Re: 50% off & more?"), "{subj}");
        assert!(
            subj.contains("Bcc: evil@x.example&body=hi#frag=1"),
            "{subj}"
        );
        assert!(subj.contains("Ünïcødé 日本"), "{subj}");
        assert!(subj.ends_with("[JAC-9]"), "{subj}");
        // A valid Message-ID may hold `&`, `=`, `?` (RFC 5322 atext): encoded, it
        // stays one field.
        let link = mailto(&Reply {
            to: &client,
            cc: &[],
            subject: "x",
            tag: "JAC-9",
            in_reply_to: Some("a&bcc=evil?x=1@y.example"),
        });
        assert_eq!(
            parse(&link).1,
            vec![
                ("subject".into(), "Re: x [JAC-9]".into()),
                ("in-reply-to".into(), "<a&bcc=evil?x=1@y.example>".into())
            ]
        );
        // A subject already carrying the tag keeps one.
        let link = mailto(&Reply {
            to: &client,
            cc: &[],
            subject: "Re: down [JAC-9]",
            tag: "JAC-9",
            in_reply_to: None,
        });
        assert_eq!(
            parse(&link).1,
            vec![("subject".into(), "Re: down [JAC-9]".into())]
        );
    }
}
