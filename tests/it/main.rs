//! Integration tests: one binary (one link step) holding every module.

mod backup;
mod clean_stop;
mod commands;
mod common;
mod compliance;
mod concurrent_open;
mod corpus;
mod digest;
mod exactly_once;
mod ha;
mod imap;
mod imap_read;
mod ingest;
mod mailstack;
mod oauth;
mod ops;
mod run_once;
mod smtp;
