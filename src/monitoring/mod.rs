//! Monitoring alerts are owned (the seed's "Take ownership of monitoring
//! issues": if a monitoring issue arises and hasn't been addressed, take
//! responsibility for reporting and addressing it).
//!
//! Mail from a `[monitoring] senders` entry (Alertmanager, Grafana, Datadog,
//! UptimeRobot, cron …) is classified `monitoring` before any other rule but
//! "our own" (`crate::classify`), and opens an **internal** ticket per alert,
//! marked `monitoring` (`tickets.alert_key`, `tickets.alert_source`), keyed by
//! the alert's own key ([`alert`]) and the sender entry that matched. Readings:
//!
//! * **One ticket per alert.** A later mail of the same source and key threads
//!   onto the ticket that is not closed. A *resolved* notification marks it
//!   `resolved` (event `alert_resolved`: the source resolved it). A new
//!   *firing* of a resolved alert **reopens that ticket** (its history stays in
//!   one place); once a person closed it (`#close`), a new firing opens a new
//!   ticket. A resolved notification for no ticket is kept, on no ticket.
//! * **No backscatter.** Nothing is ever sent to a monitoring sender: no
//!   acknowledgment (and so no PM Cc), no reply about commands, no notice; the
//!   incident report of a closed alert goes to the PM and maintainers only.
//! * **Trust** (issue 11: act only on what is proven). An alert is never lost:
//!   a mail that claims a monitoring sender but whose verdict is not `pass`
//!   still opens or threads onto its ticket, its `alert` event marked
//!   *unproven*. Only a proven (`pass`) mail may resolve: an unproven resolved
//!   notification is recorded and leaves the ticket open. (A forged *firing*
//!   can at worst open an internal ticket; a forged *resolved* could silence a
//!   real outage, so it is the one that must be proven.) Unproven mail that
//!   would open a new alert ticket counts against the flood limits of
//!   `crate::flood` like a client's: beyond them it is held (kept, listed,
//!   releasable), so a forger cannot bury the team in tickets; proven alerts
//!   are never held (an alert storm is real).
//! * **Not client work.** A monitoring ticket is internal: the policy's
//!   client-contact rules (first-response, cadence, eod-update, pm-cc …) do not
//!   apply to it, so it is left out of every rule evaluation (`onit
//!   compliance`, the stored due time, reminders of due updates, the 16:00
//!   list, the digests' broken rules and open tickets): the policy loader
//!   reads only tickets with no alert key (`store::policy_rows`).
//! * **Ownership** ([`ownership`]): an alert with no team note, update or
//!   command within `monitoring.own_within_mins` of firing reminds the team
//!   (once per firing); `#owner` records who took it (event `owner`, as
//!   ownership, never as blame) and ends the reminders. The PM's digest lists
//!   unowned alerts first.

pub mod alert;
pub mod ownership;
pub mod senders;

pub use alert::{Alert, AlertState};
pub use senders::{Monitoring, MonitoringSender};
