//! Who really sent a message, and how sure onit is of it.
//!
//! Anyone can write any `From:`. onit believes a sender only on proof: an RFC
//! 8601 `Authentication-Results` field written by one of the operator's own
//! receiving servers (`trust.authserv_ids`) that says DMARC passed, or DKIM
//! passed for the `From:` domain; or the message was read from a folder only the
//! team can write (`trust.folders`). Everything here is pure: the message's
//! header facts ([`SenderFacts`], read by the parser) and the configuration in,
//! an [`Authentication`] out.

pub mod auth_results;
pub mod received;
pub mod verdict;

pub use verdict::{judge, Authentication, Verdict};

/// `trust.team`: what makes mail from a team address team mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamTrust {
    /// Only a `pass` verdict: anything else claiming a team address is an impersonation.
    Authenticated,
    /// The `From:` header alone (archives, test set-ups): anyone can act as the team.
    Header,
}

/// `trust.acknowledge`: who gets the automatic acknowledgment of a new ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckTrust {
    /// Senders proven by DMARC, aligned DKIM or aligned SPF; the rest are held for a person.
    Authenticated,
    /// Every sender (within the rate caps).
    Any,
}

/// The `[trust]` section, parsed.
#[derive(Debug, Clone)]
pub struct Trust {
    /// authserv-ids of our own receiving servers, lower case (`mx.google.com`).
    /// `microsoft365` stands for Microsoft 365's fields, which carry no authserv-id.
    pub authserv_ids: Vec<String>,
    /// Hosts whose `Received:` hops are ours (`by` host equal, or a suffix when the
    /// entry starts with `.`). Defaults to the authserv-ids.
    pub receiving_hosts: Vec<String>,
    /// IMAP folders only the team can write (the support mailbox's Sent folder).
    pub folders: Vec<String>,
    pub team: TeamTrust,
    pub acknowledge: AckTrust,
}

impl Trust {
    /// Whether anything configured can ever prove a sender.
    pub fn can_prove_anyone(&self) -> bool {
        !self.authserv_ids.is_empty() || !self.folders.is_empty()
    }

    /// Whether mail from `folder` is team-written by configuration.
    pub fn is_trusted_folder(&self, folder: &str) -> bool {
        self.folders.iter().any(|f| f == folder)
    }

    fn trusts_id(&self, id: &str) -> bool {
        let id = if id.is_empty() { MICROSOFT_365 } else { id };
        self.authserv_ids.iter().any(|t| t == id)
    }

    fn is_our_host(&self, host: &str) -> bool {
        self.receiving_hosts.iter().any(|h| {
            if let Some(suffix) = h.strip_prefix('.') {
                host.ends_with(h.as_str()) || host == suffix
            } else {
                host == h
            }
        })
    }

    /// The warning onit gives at every start, in `onit status` and in the digest
    /// footer while the team is trusted by header; `None` when it is not.
    pub fn header_trust_warning(&self) -> Option<&'static str> {
        (self.team == TeamTrust::Header).then_some(
            "trust.team = \"header\": anyone who writes a team address in From: can close tickets, \
             write updates and change the compliance record; use \"authenticated\" on a live mailbox",
        )
    }
}

impl Trust {
    /// The risks of this configuration, in words, for every start, `onit status`
    /// and `onit check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(w) = self.header_trust_warning() {
            out.push(w.to_string());
        }
        if self.team == TeamTrust::Authenticated && !self.can_prove_anyone() {
            out.push(
                "trust.team = \"authenticated\" but neither trust.authserv_ids nor trust.folders is set: \
                 no team mail can be proven, so every one is refused as an impersonation"
                    .into(),
            );
        }
        if self.acknowledge == AckTrust::Authenticated && self.authserv_ids.is_empty() {
            out.push(
                "trust.acknowledge = \"authenticated\" but trust.authserv_ids is empty: every \
                 acknowledgment is held until a person releases it (`onit ticket ID ack`)"
                    .into(),
            );
        }
        out
    }
}

/// The `trust.authserv_ids` entry that stands for Microsoft 365's id-less fields.
pub const MICROSOFT_365: &str = "microsoft365";

/// The receiving hosts implied by the authserv-ids when `trust.receiving_hosts` is empty.
pub fn default_receiving_hosts(authserv_ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in authserv_ids {
        if id == MICROSOFT_365 {
            out.push(".outlook.com".to_string());
        } else {
            out.push(id.clone());
        }
    }
    out
}

/// A header field, in header order, as trust reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceField {
    AuthResults(String),
    Received(String),
    /// Any run of other fields (the message's own, or a server's that trust does
    /// not read): it ends a receiving server's block of trace fields. Trace fields
    /// such as `Received-SPF` and `ARC-*` do not count.
    Other,
}

/// What the parser saw of the sender headers, for [`judge`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderFacts {
    /// `Authentication-Results` and `Received` fields, top (newest) first.
    pub trace: Vec<TraceField>,
    /// How many `From:` fields the message has.
    pub from_fields: usize,
    /// How many mailboxes the (first) `From:` names.
    pub from_mailboxes: usize,
    /// An address written in the `From:` display name, when there is one
    /// (`"eng1@jac.example" <x@evil.example>`).
    pub address_in_name: Option<String>,
    /// The `Sender:` fields' values, raw.
    pub sender: Vec<String>,
}

impl SenderFacts {
    /// Reads the facts from the header fields in order (name, raw value).
    pub fn from_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> SenderFacts {
        let mut f = SenderFacts::default();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("Authentication-Results") {
                f.trace.push(TraceField::AuthResults(value.to_string()));
            } else if name.eq_ignore_ascii_case("Received") {
                f.trace.push(TraceField::Received(value.to_string()));
            } else {
                let lower = name.to_ascii_lowercase();
                if lower == "from" {
                    f.from_fields += 1;
                } else if lower == "sender" {
                    f.sender.push(value.trim().to_string());
                }
                let trace = lower == "received-spf"
                    || lower.starts_with("arc-")
                    || lower == "x-received"
                    || lower == "return-path"
                    || lower == "delivered-to";
                if !trace && f.trace.last() != Some(&TraceField::Other) {
                    f.trace.push(TraceField::Other);
                }
            }
        }
        f
    }
}

/// Mail domains shared by strangers (personal mail): an address there is on a
/// ticket's client side only as its reporter or a recorded participant.
pub const PERSONAL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "hey.com",
];

/// Whether `who` belongs to the same organisation as `reporter` (POLICY "People
/// and addresses": the client side is the reporter plus addresses at the
/// reporter's domain). Personal-mail domains never make two people one organisation.
pub fn same_organisation(reporter: &str, who: &crate::address::EmailAddress) -> bool {
    let Some((_, domain)) = reporter.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    domain == who.domain() && !PERSONAL_DOMAINS.contains(&domain.as_str())
}
