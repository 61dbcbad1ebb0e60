//! Email addresses as a parsed domain type: an [`EmailAddress`] that exists is
//! syntactically usable and normalised for comparison.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not an address we can route or compare.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// No `@`, or nothing on one side of it.
    #[error("`{0}` is not an email address (expected local@domain)")]
    Malformed(String),
    /// Whitespace, control characters or angle brackets inside the address.
    #[error("`{0}` contains characters not allowed in an address")]
    BadCharacters(String),
}

/// A mailbox address, normalised to lower case.
///
/// Local parts are case-sensitive in theory, but every mail system our users
/// meet treats them case-insensitively, and a ticket must not split because a
/// client typed `Bob@` once and `bob@` the next time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses and normalises an address; surrounding `<>` and whitespace are accepted.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',')
        {
            return Err(AddressError::BadCharacters(input.to_string()));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(AddressError::Malformed(input.to_string()));
        };
        let domain = domain.trim_end_matches('.');
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Malformed(input.to_string()));
        }
        if domain.starts_with('.') || domain.contains("..") || local.contains('@') {
            return Err(AddressError::Malformed(input.to_string()));
        }
        let normalized = format!("{}@{}", local.to_lowercase(), domain.to_lowercase());
        // The address must also be one our mail library will put on an envelope:
        // an EmailAddress that exists can always be written to and sent to.
        if normalized.parse::<lettre::Address>().is_err() {
            return Err(AddressError::Malformed(input.to_string()));
        }
        Ok(EmailAddress(normalized))
    }

    /// The whole address, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the last `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The part before the last `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }

    /// The address as rates count it: lower case (always) and without a `+tag`
    /// (`bob+x@c.example` is `bob@c.example`), so a sender cannot get round a
    /// per-address limit by varying the tag.
    pub fn rate_key(&self) -> String {
        let local = self.local_part();
        let base = local.split_once('+').map_or(local, |(b, _)| b);
        let base = if base.is_empty() { local } else { base };
        format!("{base}@{}", self.domain())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

/// A domain name, lower case, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Parses a bare domain (`client.example`); `@client.example` is accepted too.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let d = input.trim().trim_start_matches('@').trim_end_matches('.');
        if d.is_empty()
            || d.starts_with('.')
            || d.contains("..")
            || d.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '<' || c == '>')
        {
            return Err(AddressError::Malformed(input.to_string()));
        }
        Ok(Domain(d.to_lowercase()))
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `addr` is at this domain or one of its subdomains.
    pub fn contains(&self, addr: &EmailAddress) -> bool {
        let d = addr.domain();
        d == self.0
            || (d.len() > self.0.len()
                && d.ends_with(&self.0)
                && d[..d.len() - self.0.len()].ends_with('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_brackets() {
        let a = EmailAddress::parse(" <Bob.Smith@Client.Example.> ").unwrap();
        assert_eq!(a.as_str(), "bob.smith@client.example");
        assert_eq!(a.domain(), "client.example");
        assert_eq!(a.local_part(), "bob.smith");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "bob@externbobby@extern",
            "",
            "bob",
            "@x.example",
            "bob@",
            "bob smith@x.example",
            "a@b..c",
            "a\r\n@x.example",
            "a@x.example, c@d.example",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rate_key_drops_the_tag() {
        let k = |s: &str| EmailAddress::parse(s).unwrap().rate_key();
        assert_eq!(k("Bob+Spam1@Client.Example"), "bob@client.example");
        assert_eq!(k("bob@client.example"), "bob@client.example");
        assert_eq!(k("+x@client.example"), "+x@client.example");
    }

    #[test]
    fn domain_matches_subdomains_only_on_label_boundary() {
        let d = Domain::parse("client.example").unwrap();
        assert!(d.contains(&EmailAddress::parse("a@client.example").unwrap()));
        assert!(d.contains(&EmailAddress::parse("a@eu.client.example").unwrap()));
        assert!(!d.contains(&EmailAddress::parse("a@evilclient.example").unwrap()));
    }
}
