//! The communication policy as pure functions: nothing here does I/O or reads
//! the clock; `now` and every fact are arguments.

pub mod archive_time;
pub mod cadence;
pub mod calendar;
pub mod contact_time;
pub mod dismissive;
pub mod evaluate;
pub mod frustration;
pub mod history;
pub mod html_quoting;
pub mod own_words;
pub mod priority;
pub mod promises;
pub mod quoting;
pub mod rules;
