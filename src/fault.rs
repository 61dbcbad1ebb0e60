//! Crash points for the crash-safety tests. When the environment variable
//! `ONIT_FAULT` names a point, the process aborts there, exactly as a `kill -9`
//! at that instant would leave things; `ONIT_FAULT=panic:<point>` panics
//! there instead, as a bug in that one task would (the daemon's supervision
//! must notice: `crate::supervision`). Unset (always, in production), each
//! point costs one cached lookup.

use std::sync::OnceLock;

static FAULT: OnceLock<Option<String>> = OnceLock::new();

/// Aborts the process if `ONIT_FAULT` equals `name`; panics if it equals `panic:<name>`.
pub fn point(name: &str) {
    let f = FAULT.get_or_init(|| std::env::var("ONIT_FAULT").ok().filter(|s| !s.is_empty()));
    let Some(f) = f.as_deref() else { return };
    if f == name {
        eprintln!("onit: ONIT_FAULT={name}: aborting here on purpose");
        std::process::abort();
    }
    if f.strip_prefix("panic:") == Some(name) {
        panic!("ONIT_FAULT=panic:{name}: panicking here on purpose");
    }
}
