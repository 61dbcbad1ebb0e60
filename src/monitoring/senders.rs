//! `[monitoring] senders`: who counts as a monitoring system (Alertmanager,
//! Grafana, Datadog, UptimeRobot, cron mail …). Pure: read by classification;
//! no configuration or storage here.

use crate::address::{Domain, EmailAddress};

/// One configured monitoring sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitoringSender {
    /// Exactly this address (`alertmanager@ops.jac.example`).
    Address(EmailAddress),
    /// Any address at this domain or one of its subdomains (`grafana.jac.example`).
    Domain(Domain),
}

impl MonitoringSender {
    /// Parses an entry: an address when it holds `@` before its last character,
    /// a domain otherwise (`@grafana.jac.example` is the domain).
    pub fn parse(entry: &str) -> Option<MonitoringSender> {
        let e = entry.trim();
        if e.trim_start_matches('@').contains('@') {
            EmailAddress::parse(e).ok().map(MonitoringSender::Address)
        } else {
            Domain::parse(e).ok().map(MonitoringSender::Domain)
        }
    }

    /// True when `a` is this sender.
    pub fn matches(&self, a: &EmailAddress) -> bool {
        match self {
            MonitoringSender::Address(x) => x == a,
            MonitoringSender::Domain(d) => d.contains(a),
        }
    }

    /// The entry as configured (normalised): the alert's source as tickets store it.
    pub fn as_str(&self) -> &str {
        match self {
            MonitoringSender::Address(a) => a.as_str(),
            MonitoringSender::Domain(d) => d.as_str(),
        }
    }
}

/// The `[monitoring]` section in parsed form.
#[derive(Debug, Clone)]
pub struct Monitoring {
    pub senders: Vec<MonitoringSender>,
    /// An alert nobody attended to within this time reminds the team.
    pub own_within: chrono::Duration,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            senders: Vec::new(),
            own_within: chrono::Duration::minutes(30),
        }
    }
}

impl Monitoring {
    /// The configured sender `from` matches (the first, in the configured order).
    pub fn source_of(&self, from: &EmailAddress) -> Option<&MonitoringSender> {
        self.senders.iter().find(|s| s.matches(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn addresses_and_domains_with_their_subdomains() {
        let m = Monitoring {
            senders: ["alertmanager@ops.jac.example", "grafana.jac.example"]
                .iter()
                .map(|s| MonitoringSender::parse(s).unwrap())
                .collect(),
            ..Monitoring::default()
        };
        let src = |s: &str| m.source_of(&a(s)).map(|x| x.as_str().to_string());
        assert_eq!(
            src("Alertmanager@OPS.jac.example").as_deref(),
            Some("alertmanager@ops.jac.example")
        );
        assert_eq!(src("other@ops.jac.example"), None, "an address is exact");
        assert_eq!(
            src("alerts@grafana.jac.example").as_deref(),
            Some("grafana.jac.example")
        );
        assert_eq!(
            src("alerts@eu.grafana.jac.example").as_deref(),
            Some("grafana.jac.example"),
            "a domain covers its subdomains"
        );
        assert_eq!(src("alerts@evilgrafana.jac.example"), None);
        assert_eq!(src("alerts@jac.example"), None, "not the parent domain");
        assert!(MonitoringSender::parse("@grafana.jac.example")
            .is_some_and(|s| matches!(s, MonitoringSender::Domain(_))));
        assert!(MonitoringSender::parse("not an address@").is_none());
        assert!(MonitoringSender::parse("").is_none());
    }
}
