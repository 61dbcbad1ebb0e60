//! Integration tests: one binary (one link step) holding every module.

mod common;
mod corpus;
mod ingest;
mod run_once;
