//! RFC 8601 `Authentication-Results` header fields, parsed. Pure: a header
//! value in (unfolded or not), its authserv-id and its results out.
//!
//! The grammar allows comments (nested, with escapes) and folding whitespace
//! almost anywhere, even inside `method = result` and `ptype . property`, and
//! quoted strings as values (RFC 8601 section 2.2 and Appendix B's examples).
//! Anything that does not parse is dropped rather than guessed at: a result we
//! cannot read proves nothing.

/// One `method=result` statement with its reason and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// The method, lower case, without its version (`dkim`, `spf`, `dmarc`, `compauth`).
    pub method: String,
    /// The result, lower case (`pass`, `fail`, `none`, …).
    pub result: String,
    /// `reason=…`, when given.
    pub reason: Option<String>,
    /// `ptype.property=value` pairs, ptype and property lower case (`header.d`, `smtp.mailfrom`).
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    /// The value of a property such as `header.d`.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed `Authentication-Results` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// The authserv-id, lower case; empty when the field has none (Microsoft 365
    /// writes its results without one, against the RFC).
    pub authserv_id: String,
    /// The results, in the order written (empty for `none`).
    pub results: Vec<MethodResult>,
}

/// Parses one field value. `None` when it is not an `Authentication-Results` value at all.
pub fn parse(value: &str) -> Option<AuthResults> {
    let text = strip_comments(value);
    let mut segments = split_top_level(&text, ';').into_iter();
    let first = segments.next()?;
    let first_tokens = tokens(&first);
    let mut results = Vec::new();
    let authserv_id = if first_tokens.iter().any(|t| t.contains('=')) {
        // No authserv-id: the first segment is already a result (Microsoft 365).
        results.extend(method_result(&first_tokens));
        String::new()
    } else {
        // authserv-id [version]
        let id = first_tokens.first()?;
        if let Some(v) = first_tokens.get(1) {
            if !v.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
        }
        if first_tokens.len() > 2 {
            return None;
        }
        unquote(id).to_ascii_lowercase()
    };
    for seg in segments {
        let t = tokens(&seg);
        if t.len() == 1 && t[0].eq_ignore_ascii_case("none") {
            continue;
        }
        if let Some(r) = method_result(&t) {
            results.push(r);
        }
    }
    if authserv_id.is_empty() && results.is_empty() {
        return None;
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// `method[/version]=result [reason=…] [ptype.prop=value …]`, already tokenised.
fn method_result(t: &[String]) -> Option<MethodResult> {
    let (head, rest) = t.split_first()?;
    let (method, result) = head.split_once('=')?;
    let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
    let result = unquote(result).to_ascii_lowercase();
    if method.is_empty()
        || result.is_empty()
        || !method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    let mut reason = None;
    let mut props = Vec::new();
    for item in rest {
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        let k = k.to_ascii_lowercase();
        let v = unquote(v);
        if k == "reason" {
            reason = Some(v);
        } else if k.contains('.') {
            props.push((k, v));
        }
    }
    Some(MethodResult {
        method,
        result,
        reason,
        props,
    })
}

/// Removes RFC 5322 comments (nested, with `\` escapes), outside quoted strings;
/// each comment becomes one space. Also unfolds lines.
pub fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if depth > 0 || quoted => {
                let next = chars.next();
                if quoted {
                    out.push('\\');
                    if let Some(n) = next {
                        out.push(n);
                    }
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            '\r' | '\n' if depth == 0 => out.push(' '),
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// Splits on `sep` outside quoted strings.
fn split_top_level(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(String::new());
            continue;
        }
        out.last_mut().expect("never empty").push(c);
    }
    out
}

/// Whitespace-separated tokens, with the whitespace the grammar allows around
/// `=`, `.` and `/` removed first (`dkim / 1 = fail policy . expired = 1`
/// becomes `dkim/1=fail policy.expired=1`).
fn tokens(s: &str) -> Vec<String> {
    let mut joined = String::with_capacity(s.len());
    let mut quoted = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && c.is_whitespace() {
            // Drop this run of whitespace when it touches a joining character.
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let before = joined.chars().last();
            let after = chars.get(j).copied();
            let joins = |c: Option<char>| matches!(c, Some('=') | Some('.') | Some('/'));
            if !joins(before) && !joins(after) {
                joined.push(' ');
            }
            i = j;
            continue;
        }
        joined.push(c);
        i += 1;
    }
    split_top_level(&joined, ' ')
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A `value` without its quotes and escapes.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let mut out = String::new();
        let mut escaped = false;
        for c in v[1..v.len() - 1].chars() {
            if escaped {
                out.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else {
                out.push(c);
            }
        }
        out
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> AuthResults {
        parse(v).unwrap_or_else(|| panic!("parses: {v}"))
    }

    #[test]
    fn rfc8601_appendix_b_examples() {
        // B.2: nothing done.
        let r = one("example.org 1; none");
        assert_eq!(r.authserv_id, "example.org");
        assert!(r.results.is_empty());
        // B.3: SPF, folded.
        let r = one("example.com;\r\n          spf=pass smtp.mailfrom=example.net");
        assert_eq!(r.results[0].method, "spf");
        assert_eq!(r.results[0].result, "pass");
        assert_eq!(r.results[0].prop("smtp.mailfrom"), Some("example.net"));
        // B.4: several methods with comments.
        let r = one("example.com;\r\n    auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n    spf=pass smtp.mailfrom=example.net");
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].prop("smtp.auth"), Some("sender@example.net"));
        // B.5: quoted reasons, header.i with a leading @.
        let r = one("example.com;\r\n  dkim=pass reason=\"good signature\"\r\n    header.i=@mail-router.example.net;\r\n  dkim=fail reason=\"bad signature\"\r\n    header.i=@newyork.example.com");
        assert_eq!(r.results[0].reason.as_deref(), Some("good signature"));
        assert_eq!(r.results[1].result, "fail");
        assert_eq!(r.results[1].prop("header.i"), Some("@newyork.example.com"));
        // B.7: comments and whitespace everywhere.
        let r = one("foo.example.net (foobar) 1 (baz);\r\n    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n      policy (A dot can go here) . (like that) expired\r\n      (this surprised me) = (as I wasn't expecting it) 1362471462");
        assert_eq!(r.authserv_id, "foo.example.net");
        assert_eq!(r.results[0].method, "dkim");
        assert_eq!(r.results[0].result, "fail");
        assert_eq!(r.results[0].prop("policy.expired"), Some("1362471462"));
    }

    #[test]
    fn microsoft_365_writes_no_authserv_id() {
        let r = one("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=contoso.com; dkim=pass (signature was verified) header.d=contoso.com;dmarc=pass action=none header.from=contoso.com;compauth=pass reason=100");
        assert_eq!(r.authserv_id, "");
        let methods: Vec<&str> = r.results.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(methods, ["spf", "dkim", "dmarc", "compauth"]);
        assert_eq!(r.results[3].reason.as_deref(), Some("100"));
    }

    #[test]
    fn quoted_authserv_id_and_a_semicolon_inside_quotes() {
        let r = one("\"mx.jac.example\"; dkim=pass reason=\"a;b\" header.d=jac.example");
        assert_eq!(r.authserv_id, "mx.jac.example");
        assert_eq!(r.results[0].reason.as_deref(), Some("a;b"));
        assert_eq!(r.results[0].prop("header.d"), Some("jac.example"));
    }

    #[test]
    fn garbage_proves_nothing() {
        assert!(parse("").is_none());
        assert!(parse("   ").is_none());
        assert!(parse("mx.jac.example extra words; dkim=pass").is_none());
        // A result we cannot read is dropped, the others stay.
        let r = one("mx.jac.example; =pass; dkim=pass header.d=jac.example");
        assert_eq!(r.results.len(), 1);
    }
}
