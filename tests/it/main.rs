//! Integration tests: one binary (one link step) holding every module.

mod archive_dates;
mod auto_reply;
mod backup;
mod bounce_corpus;
mod check_config;
mod clean_stop;
mod commands;
mod common;
mod compliance;
mod concurrent_open;
mod corpus;
mod digest;
mod doctor;
mod exactly_once;
mod ha;
mod imap;
mod imap_read;
mod ingest;
mod mailstack;
mod missing_db;
mod oauth;
mod ops;
mod own_words;
mod responders;
mod run_once;
mod smtp;
