//! The whole-history compliance report (`onit compliance` without `--since`),
//! made part by part and written as it is merged: the report is every rule
//! ever broken, in time order, 3.5 M violations (617 MB of text) at the scale
//! bench's 1 M tickets, and held whole it kept 1.08 GB resident (issue 17).
//!
//! Each part's tickets are read and evaluated together
//! (`compliance::each_part`); the part's violations, sorted, go to an
//! unnamed temporary file (in `TMPDIR`, removed when closed). Writing the
//! report merges the parts' files. A ticket's violations all come from its
//! own part, so merging by the report's order ([`report_order`]: time,
//! ticket, rule) and, on a tie, by part gives the order one stable sort of
//! the whole load gave: the same report, byte for byte
//! (`tests/it/compliance.rs`).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::compliance::{each_part, report_order, write_text_from, DueView};
use crate::config::Runtime;
use crate::json_array::{new_line, PrettyArray};
use crate::policy::history::Violation;
use crate::policy::rules::RULE_IDS;
use crate::store::Store;

/// A whole-history report whose violations wait on disk, each part's sorted.
pub struct PartedReport {
    /// The instant evaluated.
    pub at: DateTime<Utc>,
    /// Every open ticket's next due time, in ticket order.
    pub open_tickets: Vec<DueView>,
    violations: usize,
    parts: Vec<Part>,
}

/// One part's violations, in the report's order, in a temporary file.
struct Part {
    file: BufReader<File>,
    left: usize,
}

/// Reads and evaluates every ticket, `per_part` at a time, at `at`.
pub async fn whole_history(
    store: &Store,
    rt: &Runtime,
    at: DateTime<Utc>,
    per_part: u32,
) -> Result<PartedReport> {
    let mut report = PartedReport {
        at,
        open_tickets: Vec::new(),
        violations: 0,
        parts: Vec::new(),
    };
    each_part(store, rt, at, per_part, |part| {
        report.open_tickets.extend(part.open_tickets);
        if !part.violations.is_empty() {
            report.violations += part.violations.len();
            report.parts.push(
                Part::spill(&part.violations)
                    .context("keeping a part of the report in a temporary file (TMPDIR)")?,
            );
        }
        Ok(())
    })
    .await?;
    Ok(report)
}

impl PartedReport {
    /// How many rules were broken in all.
    pub fn violations(&self) -> usize {
        self.violations
    }

    /// The report's violations in its order, read back from the parts.
    fn merged(self) -> io::Result<(Merged, Vec<DueView>)> {
        let mut heap = BinaryHeap::with_capacity(self.parts.len());
        let mut parts = self.parts;
        for (i, p) in parts.iter_mut().enumerate() {
            if let Some(v) = p.next()? {
                heap.push(Reverse(Head { v, part: i }));
            }
        }
        Ok((Merged { parts, heap }, self.open_tickets))
    }

    /// Writes the report as `compliance::write_report_text` writes a [`Report`].
    pub fn write_text(self, w: &mut impl Write, rt: &Runtime) -> io::Result<()> {
        let (at, count) = (self.at, self.violations);
        let (merged, open) = self.merged()?;
        write_text_from(w, at, None, count, merged, &open, rt)
    }

    /// Writes the report as `serde_json::to_writer_pretty` writes a [`Report`].
    pub fn write_json(self, w: &mut impl Write) -> io::Result<()> {
        let at = self.at;
        let (merged, open) = self.merged()?;
        w.write_all(b"{")?;
        new_line(w, 1)?;
        w.write_all(b"\"at\": ")?;
        crate::views::ser_time(&at, &mut serde_json::Serializer::new(&mut *w))?;
        w.write_all(b",")?;
        new_line(w, 1)?;
        w.write_all(b"\"since\": null,")?;
        new_line(w, 1)?;
        w.write_all(b"\"violations\": ")?;
        let mut array = PrettyArray::nested(&mut *w, 1);
        for v in merged {
            array.push(&v?)?;
        }
        array.finish()?;
        w.write_all(b",")?;
        new_line(w, 1)?;
        w.write_all(b"\"open_tickets\": ")?;
        let mut array = PrettyArray::nested(&mut *w, 1);
        for t in &open {
            array.push(t)?;
        }
        array.finish()?;
        new_line(w, 0)?;
        w.write_all(b"}")
    }
}

/// The parts' violations merged into the report's order.
struct Merged {
    parts: Vec<Part>,
    heap: BinaryHeap<Reverse<Head>>,
}

impl Iterator for Merged {
    type Item = io::Result<Violation>;

    fn next(&mut self) -> Option<io::Result<Violation>> {
        let Reverse(Head { v, part }) = self.heap.pop()?;
        match self.parts[part].next() {
            Ok(Some(next)) => self.heap.push(Reverse(Head { v: next, part })),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        Some(Ok(v))
    }
}

/// The next violation of a part, and which part.
struct Head {
    v: Violation,
    part: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        report_order(&self.v, &other.v).then(self.part.cmp(&other.part))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl Part {
    /// `violations` written to a new temporary file, ready to be read back.
    fn spill(violations: &[Violation]) -> io::Result<Part> {
        let mut w = BufWriter::new(tempfile::tempfile()?);
        for v in violations {
            encode(&mut w, v)?;
        }
        let mut file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        Ok(Part {
            file: BufReader::new(file),
            left: violations.len(),
        })
    }

    fn next(&mut self) -> io::Result<Option<Violation>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        decode(&mut self.file).map(Some)
    }
}

/// A violation as a part's file keeps it: the instant (seconds, nanoseconds),
/// the rule's index in [`RULE_IDS`], then the ticket and the detail, each
/// with its length.
fn encode(w: &mut impl Write, v: &Violation) -> io::Result<()> {
    let rule = RULE_IDS
        .iter()
        .position(|r| *r == v.rule)
        .ok_or_else(|| io::Error::other(format!("not a rule id: {}", v.rule)))?;
    w.write_all(&v.at.timestamp().to_le_bytes())?;
    w.write_all(&v.at.timestamp_subsec_nanos().to_le_bytes())?;
    w.write_all(&[rule as u8])?;
    for s in [&v.ticket, &v.detail] {
        w.write_all(&(s.len() as u64).to_le_bytes())?;
        w.write_all(s.as_bytes())?;
    }
    Ok(())
}

fn decode(r: &mut impl Read) -> io::Result<Violation> {
    fn bytes<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
        let mut b = [0; N];
        r.read_exact(&mut b)?;
        Ok(b)
    }
    fn text(r: &mut impl Read) -> io::Result<String> {
        let len = u64::from_le_bytes(bytes(r)?);
        let mut s = Vec::new();
        r.take(len).read_to_end(&mut s)?;
        String::from_utf8(s).map_err(io::Error::other)
    }
    let secs = i64::from_le_bytes(bytes(r)?);
    let nanos = u32::from_le_bytes(bytes(r)?);
    let [rule] = bytes::<1>(r)?;
    let bad = || io::Error::other("a part of the report came back damaged");
    Ok(Violation {
        at: DateTime::from_timestamp(secs, nanos).ok_or_else(bad)?,
        rule: RULE_IDS.get(usize::from(rule)).ok_or_else(bad)?,
        ticket: text(r)?,
        detail: text(r)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_comes_back_from_its_part_as_it_went() {
        let vs: Vec<Violation> = RULE_IDS
            .iter()
            .enumerate()
            .map(|(i, rule)| Violation {
                ticket: format!("JAC-{i}"),
                rule,
                at: DateTime::from_timestamp(
                    1_795_000_000 + i as i64,
                    123_456_789 * (i as u32 % 2),
                )
                .unwrap(),
                detail: format!("détail {i}\nwith a line break and \u{2028}"),
            })
            .collect();
        let mut p = Part::spill(&vs).unwrap();
        for v in &vs {
            let back = p.next().unwrap().unwrap();
            assert_eq!(
                (&back.ticket, back.rule, back.at, &back.detail),
                (&v.ticket, v.rule, v.at, &v.detail)
            );
        }
        assert!(p.next().unwrap().is_none());
    }
}
