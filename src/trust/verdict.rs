//! The verdict on one message's sender: `pass`, `fail` or `none`, and how.
//!
//! Readings (the issue and RFC 8601 section 5 leave these to the reader):
//! - **Which fields count.** Only `Authentication-Results` fields whose
//!   authserv-id is in `trust.authserv_ids`, and only where our receiving server
//!   writes them. The *entry hop* is the topmost `Received:` field whose `from`
//!   host is not one of ours (`trust.receiving_hosts`): the hop by which the
//!   message came in from outside. Postfix with OpenDKIM writes its field above
//!   that hop; Gmail writes it just below (after `Received-SPF`). So: the
//!   trusted fields above the entry hop count; when there are none, the
//!   trusted fields in the block of trace fields right below it count (when one
//!   of our hosts recorded the hop), up to the first other field or `Received:`. Anything further down was written
//!   before the message reached us, by whoever sent it. A hop without `from`
//!   (local delivery, Gmail's internal `Received: by 2002:…`) is not an entry hop.
//! - **Several fields.** Our servers add their fields on top, so for each
//!   method the topmost trusted result counts: a look-alike that still stands in
//!   the counted block (a sender's field directly below Gmail's) can add a
//!   method our server did not report, never overrule one it did. Borders should
//!   report dkim, spf and dmarc on every message, or strip look-alikes (RFC 8601
//!   section 5).
//! - **Alignment** is relaxed (RFC 7489): the DKIM `d=` (or `header.i` domain)
//!   or the SPF `smtp.mailfrom` domain equals the `From:` domain or one is a
//!   subdomain of the other. A domain of one label never aligns.
//! - **`pass`**: DMARC pass for the `From:` domain, Microsoft's `compauth=pass`,
//!   an aligned DKIM pass, or a trusted folder. **`fail`**: several `From:`
//!   fields or mailboxes, an address in the display name that is not the
//!   sender's, several `Sender:` fields or one at another domain, DMARC or
//!   `compauth` fail, or an aligned DKIM or SPF failure with no pass. An aligned
//!   SPF pass alone is `none` (it proves the envelope, which DMARC would need
//!   aligned with `From:` and which forwarding breaks), but allows an
//!   acknowledgment.

use super::auth_results::{self, MethodResult};
use super::received;
use super::{SenderFacts, TraceField, Trust};
use crate::address::EmailAddress;

/// How sure onit is of a message's sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    None,
}

impl Verdict {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::None => "none",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "pass" => Some(Verdict::Pass),
            "fail" => Some(Verdict::Fail),
            "none" => Some(Verdict::None),
            _ => None,
        }
    }
}

/// The verdict and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub verdict: Verdict,
    /// For the record: `dmarc=pass (mx.jac.example)`, `trusted folder Sent`, `two From: fields`.
    pub how: String,
    /// SPF passed for an envelope domain aligned with `From:` (enough for an acknowledgment).
    pub spf_aligned: bool,
}

impl Authentication {
    fn new(verdict: Verdict, how: impl Into<String>) -> Authentication {
        Authentication {
            verdict,
            how: how.into(),
            spf_aligned: false,
        }
    }

    /// The sender is proven (`pass`).
    pub fn is_pass(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// Proven well enough to be sent an automatic acknowledgment.
    pub fn allows_acknowledgment(&self) -> bool {
        self.is_pass() || (self.spf_aligned && self.verdict != Verdict::Fail)
    }
}

/// Judges a message's sender. `from` is the parsed `From:` address, `folder`
/// the IMAP folder it was read from (when it was).
pub fn judge(
    facts: &SenderFacts,
    from: Option<&EmailAddress>,
    folder: Option<&str>,
    trust: &Trust,
) -> Authentication {
    if let Some(trick) = from_trick(facts, from) {
        return Authentication::new(Verdict::Fail, trick);
    }
    if let Some(f) = folder.filter(|f| trust.is_trusted_folder(f)) {
        return Authentication::new(Verdict::Pass, format!("trusted folder {f}"));
    }
    let Some(from) = from else {
        return Authentication::new(Verdict::None, "no sender address");
    };
    let results = trusted_results(facts, trust);
    if results.is_empty() {
        return Authentication::new(Verdict::None, "no trusted Authentication-Results");
    }
    let domain = from.domain();
    let of = |m: &'static str| results.iter().filter(move |(_, r)| r.method == m);
    for (id, r) in of("dmarc") {
        let for_from = r.prop("header.from").is_none_or(|d| eq_domain(d, domain));
        if for_from && r.result == "pass" {
            return Authentication::new(Verdict::Pass, format!("dmarc=pass ({})", shown(id)));
        }
    }
    for (id, r) in of("compauth") {
        if r.result == "pass" {
            return Authentication::new(Verdict::Pass, format!("compauth=pass ({})", shown(id)));
        }
    }
    for (id, r) in of("dkim") {
        if r.result == "pass" {
            if let Some(d) = dkim_domain(r).filter(|d| aligned(d, domain)) {
                return Authentication::new(
                    Verdict::Pass,
                    format!("dkim=pass header.d={d} ({})", shown(id)),
                );
            }
        }
    }
    for (id, r) in of("dmarc") {
        let for_from = r.prop("header.from").is_none_or(|d| eq_domain(d, domain));
        if for_from && matches!(r.result.as_str(), "fail" | "quarantine" | "reject") {
            return Authentication::new(
                Verdict::Fail,
                format!("dmarc={} ({})", r.result, shown(id)),
            );
        }
    }
    for (id, r) in of("compauth") {
        if r.result == "fail" {
            return Authentication::new(Verdict::Fail, format!("compauth=fail ({})", shown(id)));
        }
    }
    for (id, r) in of("dkim") {
        if r.result == "fail" && dkim_domain(r).is_some_and(|d| aligned(&d, domain)) {
            return Authentication::new(Verdict::Fail, format!("dkim=fail ({})", shown(id)));
        }
    }
    let spf_domain = |r: &MethodResult| {
        r.prop("smtp.mailfrom").map(|m| {
            m.rsplit_once('@')
                .map_or(m, |(_, d)| d)
                .to_ascii_lowercase()
        })
    };
    let mut out = Authentication::new(Verdict::None, "no aligned pass");
    for (id, r) in of("spf") {
        let Some(d) = spf_domain(r).filter(|d| aligned(d, domain)) else {
            continue;
        };
        match r.result.as_str() {
            "pass" => {
                out.spf_aligned = true;
                out.how = format!("spf=pass smtp.mailfrom={d} ({}), aligned", shown(id));
            }
            "fail" => {
                return Authentication::new(Verdict::Fail, format!("spf=fail ({})", shown(id)));
            }
            _ => {}
        }
        break;
    }
    if !out.spf_aligned {
        if let Some((_, r)) = of("dkim").find(|(_, r)| r.result == "pass") {
            out.how = format!(
                "dkim=pass for {}, not aligned with {domain}",
                dkim_domain(r).unwrap_or_default()
            );
        }
    }
    out
}

fn shown(id: &str) -> &str {
    if id.is_empty() {
        super::MICROSOFT_365
    } else {
        id
    }
}

/// The `From:`/`Sender:` tricks that make a message `fail` whatever else it carries.
fn from_trick(facts: &SenderFacts, from: Option<&EmailAddress>) -> Option<String> {
    if facts.from_fields > 1 {
        return Some(format!("{} From: fields", facts.from_fields));
    }
    if facts.from_mailboxes > 1 {
        return Some(format!("{} mailboxes in From:", facts.from_mailboxes));
    }
    if let (Some(shown), Some(from)) = (&facts.address_in_name, from) {
        if !shown.eq_ignore_ascii_case(from.as_str()) {
            return Some(format!(
                "From: display name shows another address ({shown})"
            ));
        }
    }
    if facts.sender.len() > 1 {
        return Some(format!("{} Sender: fields", facts.sender.len()));
    }
    if let (Some(sender), Some(from)) = (facts.sender.first(), from) {
        let addr = sender
            .rsplit_once('<')
            .map_or(sender.as_str(), |(_, a)| a.trim_end_matches('>'));
        match EmailAddress::parse(addr) {
            Ok(s) if aligned(s.domain(), from.domain()) => {}
            _ => return Some(format!("Sender: {addr} is not at the From: domain")),
        }
    }
    None
}

/// The trusted results, in header order, with their authserv-id; for each
/// method only those of the topmost trusted field that reports it.
fn trusted_results(facts: &SenderFacts, trust: &Trust) -> Vec<(String, MethodResult)> {
    let trusted = |v: &str| auth_results::parse(v).filter(|ar| trust.trusts_id(&ar.authserv_id));
    let entry = facts.trace.iter().position(|f| match f {
        TraceField::Received(v) => received::parse(v)
            .from_host
            .is_some_and(|h| !trust.is_our_host(&h)),
        _ => false,
    });
    let above = &facts.trace[..entry.unwrap_or(facts.trace.len())];
    let mut fields: Vec<auth_results::AuthResults> = above
        .iter()
        .filter_map(|f| match f {
            TraceField::AuthResults(v) => trusted(v),
            _ => None,
        })
        .collect();
    // Below the entry hop only when one of our hosts recorded it (Gmail's layout).
    let entry_is_ours = entry.is_some_and(|e| match &facts.trace[e] {
        TraceField::Received(v) => received::parse(v)
            .by_host
            .is_some_and(|h| trust.is_our_host(&h)),
        _ => false,
    });
    if fields.is_empty() && entry_is_ours {
        if let Some(e) = entry {
            fields = facts.trace[e + 1..]
                .iter()
                .map_while(|f| match f {
                    TraceField::AuthResults(v) => Some(trusted(v)),
                    _ => None,
                })
                .flatten()
                .collect();
        }
    }
    let mut out: Vec<(String, MethodResult)> = Vec::new();
    let mut seen_methods: Vec<String> = Vec::new();
    for ar in fields {
        let methods: Vec<String> = ar.results.iter().map(|r| r.method.clone()).collect();
        for r in ar.results {
            if !seen_methods.contains(&r.method) {
                out.push((ar.authserv_id.clone(), r));
            }
        }
        for m in methods {
            if !seen_methods.contains(&m) {
                seen_methods.push(m);
            }
        }
    }
    out
}

fn dkim_domain(r: &MethodResult) -> Option<String> {
    r.prop("header.d")
        .or_else(|| {
            r.prop("header.i")
                .map(|i| i.rsplit_once('@').map_or(i, |(_, d)| d))
        })
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

fn eq_domain(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b)
}

/// Relaxed alignment: equal, or one a subdomain of the other; never a one-label domain.
pub fn aligned(a: &str, b: &str) -> bool {
    let a = a.trim_end_matches('.').to_ascii_lowercase();
    let b = b.trim_end_matches('.').to_ascii_lowercase();
    if !a.contains('.') || !b.contains('.') {
        return false;
    }
    let sub = |x: &str, y: &str| {
        x.len() > y.len() && x.ends_with(y) && x[..x.len() - y.len()].ends_with('.')
    };
    a == b || sub(&a, &b) || sub(&b, &a)
}

#[cfg(test)]
mod tests;
