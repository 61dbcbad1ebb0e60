//! Prometheus metrics. Every metric name lives here, so the set is one list
//! (docs/operations.md, "Monitor", repeats it). Code elsewhere calls the small
//! functions below; without an installed recorder (the CLI commands, unit tests)
//! they do nothing.
//!
//! Counters count what this process did since it started, as Prometheus
//! expects (`rate()` copes with restarts); gauges that describe the shared
//! database (outbox depth, last good sync) are read from it at scrape time, so
//! every instance reports the same truth whichever of them leads.

use crate::ticket::OutboxKind;
use std::sync::OnceLock;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Mails stored, by class (`client`, `engineer`, `automated`, …). Counter.
pub const MAILS_INGESTED: &str = "onit_mails_ingested_total";
/// Tickets opened. Counter.
pub const TICKETS_OPENED: &str = "onit_tickets_opened_total";
/// Acknowledgments accepted by the transport. Counter.
pub const ACKS_SENT: &str = "onit_acks_sent_total";
/// Acknowledgments that failed for good. Counter.
pub const ACKS_FAILED: &str = "onit_acks_failed_total";
/// Any outgoing mail sent, failed for good, or retried, by kind. Counters.
pub const OUTBOX_SENT: &str = "onit_outbox_sent_total";
pub const OUTBOX_FAILED: &str = "onit_outbox_failed_total";
pub const OUTBOX_RETRIES: &str = "onit_outbox_retries_total";
/// Mails waiting to be sent (pending or being sent). Gauge, read at scrape time.
pub const OUTBOX_DEPTH: &str = "onit_outbox_depth";
/// Age of the oldest mail waiting, in seconds (0 when none). Gauge, read at scrape time.
pub const OUTBOX_OLDEST_AGE: &str = "onit_outbox_oldest_age_seconds";
/// 1 while this instance holds a connection to the folder (label `folder`). Gauge.
pub const IMAP_CONNECTED: &str = "onit_imap_connected";
/// Unix time of the last good sync of each folder, by any instance. Gauge, read at scrape time.
pub const IMAP_LAST_SYNC: &str = "onit_imap_last_sync_timestamp_seconds";
/// Rules broken in the last 7 days, by rule id (POLICY.md's ids). Gauge, updated by the leader.
pub const RULES_BROKEN: &str = "onit_rules_broken";
/// From a client mail's arrival to its acknowledgment's acceptance by the transport. Histogram.
pub const ACK_LATENCY: &str = "onit_ack_latency_seconds";
/// 1 for each role this instance leads (label `role`). Gauge.
pub const LEADER: &str = "onit_leader";
/// Alerts raised (new incidents), by kind. Counter.
pub const ALERTS_RAISED: &str = "onit_alerts_raised_total";
/// Alerts open now. Gauge, read at scrape time.
pub const ALERTS_OPEN: &str = "onit_alerts_open";
/// 1, labelled with the running version. Gauge.
pub const BUILD_INFO: &str = "onit_build_info";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(ACK_LATENCY.to_string()),
            &[
                0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ],
        )?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let _ = HANDLE.set(handle.clone());
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}

/// A mail was stored with this class.
pub fn ingested(class: &str) {
    counter!(MAILS_INGESTED, "class" => class.to_string()).increment(1);
}

/// A ticket was opened.
pub fn ticket_opened() {
    counter!(TICKETS_OPENED).increment(1);
}

/// An outgoing mail of `kind` was accepted; `latency` is set for acknowledgments.
pub fn sent(kind: OutboxKind, latency: Option<std::time::Duration>) {
    counter!(OUTBOX_SENT, "kind" => kind.as_str()).increment(1);
    if kind == OutboxKind::Ack {
        counter!(ACKS_SENT).increment(1);
        if let Some(l) = latency {
            histogram!(ACK_LATENCY).record(l.as_secs_f64());
        }
    }
}

/// An outgoing mail of `kind` failed for good.
pub fn failed(kind: OutboxKind) {
    counter!(OUTBOX_FAILED, "kind" => kind.as_str()).increment(1);
    if kind == OutboxKind::Ack {
        counter!(ACKS_FAILED).increment(1);
    }
}

/// An outgoing mail of `kind` will be retried.
pub fn retried(kind: OutboxKind) {
    counter!(OUTBOX_RETRIES, "kind" => kind.as_str()).increment(1);
}

/// This instance connected to, or lost, a folder.
pub fn imap_connected(folder: &str, up: bool) {
    gauge!(IMAP_CONNECTED, "folder" => folder.to_string()).set(if up { 1.0 } else { 0.0 });
}

/// This instance took or lost a role.
pub fn leader(role: &str, leads: bool) {
    gauge!(LEADER, "role" => role.to_string()).set(if leads { 1.0 } else { 0.0 });
}

/// A new alert incident.
pub fn alert_raised(kind: &'static str) {
    counter!(ALERTS_RAISED, "kind" => kind).increment(1);
}

/// Rules broken in the window, by rule id; rules not in `counts` are set to 0.
pub fn rules_broken(counts: &std::collections::BTreeMap<String, usize>) {
    for rule in crate::policy::rules::RULE_IDS {
        let n = counts.get(*rule).copied().unwrap_or(0);
        gauge!(RULES_BROKEN, "rule" => *rule).set(n as f64);
    }
}

/// Gauges read from the database just before a scrape.
#[derive(Debug, Default, Clone)]
pub struct DbGauges {
    pub outbox_depth: i64,
    pub outbox_oldest_age_secs: f64,
    pub alerts_open: i64,
    /// (folder, unix seconds of the last good sync)
    pub last_sync: Vec<(String, f64)>,
}

/// Sets the scrape-time gauges.
pub fn set_db_gauges(g: &DbGauges) {
    gauge!(OUTBOX_DEPTH).set(g.outbox_depth as f64);
    gauge!(OUTBOX_OLDEST_AGE).set(g.outbox_oldest_age_secs);
    gauge!(ALERTS_OPEN).set(g.alerts_open as f64);
    for (folder, at) in &g.last_sync {
        gauge!(IMAP_LAST_SYNC, "folder" => folder.clone()).set(*at);
    }
}
