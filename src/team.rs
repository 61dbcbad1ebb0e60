//! Who is who (POLICY "People and addresses"): the team (engineers, PMs,
//! support addresses, team domains) and the client projects with their PMs.
//! Built from `[team]` and `[[projects]]` by the configuration; read by
//! classification, threading and everything that addresses mail.

use std::collections::BTreeSet;

use crate::address::{Domain, EmailAddress};
use crate::ticket_ref::TicketPrefix;

/// A client project: its domains and its PM.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub client_domains: Vec<Domain>,
    pub pm: EmailAddress,
}

/// Who is who, per POLICY "People and addresses".
#[derive(Debug, Clone)]
pub struct Team {
    pub domains: Vec<Domain>,
    pub engineers: BTreeSet<EmailAddress>,
    /// The support addresses, including `outgoing.from`.
    pub support: Vec<EmailAddress>,
    pub from: EmailAddress,
    pub from_name: String,
    pub prefix: TicketPrefix,
    pub default_pm: EmailAddress,
    pub projects: Vec<Project>,
    /// Who reminders go to (`team.reminders_to`; the engineers when empty, then the support address).
    pub reminders_to: Vec<EmailAddress>,
    /// Who else receives each incident response report (`team.maintainers`; the client and PM always do).
    pub maintainers: Vec<EmailAddress>,
}

/// The name of the project that holds senders of no listed domain.
pub const DEFAULT_PROJECT: &str = "default";

impl Team {
    /// A support address (the mailbox onit watches or sends from).
    pub fn is_support(&self, a: &EmailAddress) -> bool {
        self.support.contains(a)
    }

    /// Team: listed engineers, any PM, any address at a team domain, and the support addresses.
    pub fn is_team(&self, a: &EmailAddress) -> bool {
        self.is_support(a)
            || self.engineers.contains(a)
            || self.domains.iter().any(|d| d.contains(a))
            || a == &self.default_pm
            || self.projects.iter().any(|p| &p.pm == a)
    }

    /// The project (name, PM) a client address belongs to; the default project otherwise.
    pub fn project_for(&self, client: &EmailAddress) -> (&str, &EmailAddress) {
        self.projects
            .iter()
            .find(|p| p.client_domains.iter().any(|d| d.contains(client)))
            .map(|p| (p.name.as_str(), &p.pm))
            .unwrap_or((DEFAULT_PROJECT, &self.default_pm))
    }

    /// The PM of a project by name (the default PM for unknown names).
    pub fn pm_of(&self, project: &str) -> &EmailAddress {
        self.projects
            .iter()
            .find(|p| p.name == project)
            .map(|p| &p.pm)
            .unwrap_or(&self.default_pm)
    }
}
