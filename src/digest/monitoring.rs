//! The digest's first section: monitoring alerts nobody owns yet
//! (crate::monitoring). Its own template block (`monitoring.txt`,
//! `monitoring.html`), above everything else the PM reads. It names alerts,
//! never a person: an alert without an owner is the team's to take.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::store::{from_ms, TicketRow};

/// One open alert nobody has taken (`#owner`).
#[derive(Debug, Clone, Serialize)]
pub struct UnownedAlert {
    /// `JAC-9`.
    pub ticket: String,
    pub subject: String,
    /// The `[monitoring] senders` entry it came from.
    pub source: String,
    /// When its ticket opened (local, short).
    pub opened: String,
    /// How long ago ("1h 20m").
    pub age: String,
}

/// The unowned alerts of `pm` opened by `at`, oldest first; times and ages
/// written as the rest of the digest writes them (`time`, `age`).
pub fn unowned_alerts(
    alerts: &[TicketRow],
    pm: &str,
    at: DateTime<Utc>,
    time: impl Fn(DateTime<Utc>) -> String,
    age: impl Fn(Duration) -> String,
) -> Vec<UnownedAlert> {
    let mut mine: Vec<&TicketRow> = alerts
        .iter()
        .filter(|t| t.owner.is_none() && t.pm.to_lowercase() == pm)
        .filter(|t| from_ms(t.opened_at) <= at)
        .collect();
    mine.sort_by_key(|t| (t.opened_at, t.number));
    mine.into_iter()
        .map(|t| UnownedAlert {
            ticket: t.reference(),
            subject: crate::message::subject_text(&t.subject),
            source: t.alert_source.clone().unwrap_or_default(),
            opened: time(from_ms(t.opened_at)),
            age: age(at - from_ms(t.opened_at)),
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use chrono::TimeZone;

    use super::super::{build, render, Inputs, Kind, Request};
    use crate::store::TicketRow;

    fn alert(number: i64, subject: &str, opened: chrono::DateTime<chrono::Utc>) -> TicketRow {
        TicketRow {
            reporter: "alertmanager@ops.jac.example".into(),
            alert_key: Some(subject.to_lowercase()),
            alert_source: Some("alertmanager@ops.jac.example".into()),
            ..TicketRow::for_test(number, subject, opened)
        }
    }

    #[test]
    fn unowned_alerts_come_first_oldest_first_and_escaped() {
        let rt = crate::config::Runtime::load(None).unwrap();
        let at = chrono_tz::Europe::London
            .with_ymd_and_hms(2026, 11, 26, 17, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut owned = alert(3, "[FIRING:1] Owned", at - chrono::Duration::hours(3));
        owned.owner = Some("dan@jac.example".into());
        let inputs = Inputs {
            unowned_alerts: vec![
                alert(
                    2,
                    "[FIRING:2] <b>DiskFull</b>",
                    at - chrono::Duration::hours(1),
                ),
                alert(1, "[FIRING:1] HighLatency", at - chrono::Duration::hours(2)),
                owned,
                alert(4, "[FIRING:1] Later", at + chrono::Duration::hours(1)),
            ],
            ..Inputs::empty(at - chrono::Duration::days(1))
        };
        let d = build(
            &inputs,
            &rt,
            &Request {
                kind: Kind::Daily,
                pm: "PM@jac.example".into(),
                at,
                since: at - chrono::Duration::days(1),
                sent_late: None,
            },
        );
        let ids: Vec<&str> = d.unowned_alerts.iter().map(|a| a.ticket.as_str()).collect();
        assert_eq!(ids, ["JAC-1", "JAC-2"], "owned and future alerts left out");
        assert!(!d.is_empty());
        let (text, html) = render(&d).unwrap();
        let section = text
            .find("MONITORING ALERTS WITH NO OWNER (2)")
            .expect(&text);
        assert!(
            section < text.find("RULES BROKEN").unwrap(),
            "the first section: {text}"
        );
        assert!(
            text.contains("JAC-1  opened Thu 26 Nov 15:00 (2h ago)"),
            "{text}"
        );
        assert!(!html.contains("<b>DiskFull"), "{html}");
        assert!(html.contains("&lt;b&gt;DiskFull"), "{html}");
        let top = html.find("id=\"unowned-alerts\"").expect(&html);
        assert!(top < html.find("id=\"summary\"").unwrap(), "{html}");
    }
}
