//! onit: a daemon that runs a consultancy's support mailbox by its
//! incident-communication policy. See README.md for the tour.

pub mod acknowledgment;
pub mod address;
pub mod alerts;
pub mod backup;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod compliance;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod error_line;
pub mod fault;
pub mod health;
pub mod http;
pub mod imap;
pub mod import;
pub mod ingest;
pub mod leadership;
pub mod mailstore;
pub mod message;
pub mod metrics;
pub mod notices;
pub mod oauth;
pub mod outgoing;
pub mod policy;
pub mod reminders;
pub mod report;
pub mod store;
pub mod threading;
pub mod ticket_ref;
pub mod tls;
pub mod views;
