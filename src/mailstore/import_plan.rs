//! `onit import` as a stream (issue 12, item 2): memory that does not grow with
//! the archive. An archive is stored in date order, and the last message of a
//! file can be the oldest, so it is read twice:
//!
//! 1. [`ImportPlan::walk`] reads each file once, in order, and keeps for each
//!    message only where it lies (a file, or a byte span of an mbox) and the
//!    time to sort it by, computed by the caller from the message's header. An
//!    mbox is mapped, not read, and its pages are handed back to the kernel as
//!    the walk goes, so a 1 GB file never becomes 1 GB of resident memory.
//! 2. After [`ImportPlan::sort`], [`ImportPlan::read`] reads one message at a
//!    time from where it lies (`pread` on the file; over
//!    `mailbox.max_message_bytes`, its header block only).
//!
//! What is kept per message is a few dozen bytes: 50,000 mails cost about 3 MB
//! of plan whatever their size. The files must not be truncated or rewritten
//! during the import (appending is harmless): a message that can no longer be
//! read where the walk saw it is an error for that message, named in the log.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::*;
use crate::oversize::{header_block, MAX_HEADER_BYTES};

/// How often the pages of an mbox being walked are handed back to the kernel.
const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_millis(2);

/// Where one message lies.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The whole file is the message.
    File,
    /// Message `n` (from 1) of an mbox, at `span`.
    Mbox { n: u32, span: MboxSpan },
}

/// One message of the plan: its place and the times the caller gave it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The time the archive is ordered by.
    pub at: DateTime<Utc>,
    /// The arrival time handed to ingest.
    pub arrival: DateTime<Utc>,
    source: u32,
    part: Part,
}

/// The messages of an import, in the order to store them once sorted.
#[derive(Debug, Default)]
pub struct ImportPlan {
    sources: Vec<PathBuf>,
    messages: Vec<Planned>,
    /// The file last read from (an mbox is read from many times in a row).
    open: std::cell::RefCell<Option<(u32, std::rc::Rc<File>)>>,
}

impl ImportPlan {
    /// Walks `paths` (as `onit import` reads them: see [`read_import_path`]),
    /// calling `times` with the header of each message (a [`RawMessage`] whose
    /// `bytes` are its header block, at most 1 MB) to get `(at, arrival)`.
    pub fn walk(
        paths: &[PathBuf],
        mut times: impl FnMut(&RawMessage) -> (DateTime<Utc>, DateTime<Utc>),
    ) -> anyhow::Result<ImportPlan> {
        let mut plan = ImportPlan::default();
        for p in paths {
            walk_import_path(p, &mut |file, role| plan.add_file(file, role, &mut times))
                .with_context(|| format!("reading {}", p.display()))?;
        }
        Ok(plan)
    }

    fn add_file(
        &mut self,
        path: &Path,
        role: FileRole,
        times: &mut impl FnMut(&RawMessage) -> (DateTime<Utc>, DateTime<Utc>),
    ) -> anyhow::Result<()> {
        let mut file =
            File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut head = Vec::new();
        (&mut file)
            .take(MAX_HEADER_BYTES as u64)
            .read_to_end(&mut head)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let source = u32::try_from(self.sources.len()).context("too many files to import")?;
        let origin = path.display().to_string();
        if role == FileRole::File && looks_like_mbox(&head) {
            drop(head);
            self.sources.push(path.to_path_buf());
            return self.add_mbox(&file, source, &origin, times);
        }
        let sample = RawMessage {
            bytes: header_block(&head).to_vec(),
            arrival: super::import_walk::mtime_of(&meta),
            arrival_is_file_time: true,
            origin,
            too_large: None,
        };
        let (at, arrival) = times(&sample);
        self.sources.push(path.to_path_buf());
        self.messages.push(Planned {
            at,
            arrival,
            source,
            part: Part::File,
        });
        Ok(())
    }

    fn add_mbox(
        &mut self,
        file: &File,
        source: u32,
        origin: &str,
        times: &mut impl FnMut(&RawMessage) -> (DateTime<Utc>, DateTime<Utc>),
    ) -> anyhow::Result<()> {
        // SAFETY: the map is only read. Rewriting or truncating the file while
        // onit imports it is the documented misuse (module comment).
        let map =
            unsafe { memmap2::Mmap::map(file) }.with_context(|| format!("cannot map {origin}"))?;
        let _ = map.advise(memmap2::Advice::Sequential);
        // The walk touches every page of the file, and a touched page of a
        // mapping counts as resident until it is unmapped. A message can be as
        // large as the file, so pages cannot wait for the next message: a
        // second thread hands the whole mapping back to the kernel every few
        // milliseconds. Only the page the walk is on comes back, as a minor
        // fault from the page cache; the map is read-only, so nothing is lost.
        let walked = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !walked.load(Ordering::Relaxed) {
                    std::thread::sleep(RELEASE_EVERY);
                    // SAFETY: a read-only file mapping: MADV_DONTNEED only drops
                    // its pages, read again from the file when next touched.
                    let _ = unsafe {
                        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, map.len())
                    };
                }
            });
            let mut n = 0u32;
            mbox_spans(&map, origin, |span| {
                n += 1;
                let head = header_block(&map[span.start..span.end]);
                let sample = RawMessage {
                    bytes: span.message(head),
                    arrival: span.arrival,
                    arrival_is_file_time: false,
                    origin: format!("{origin}#{n}"),
                    too_large: None,
                };
                let (at, arrival) = times(&sample);
                self.messages.push(Planned {
                    at,
                    arrival,
                    source,
                    part: Part::Mbox { n, span },
                });
            });
            walked.store(true, Ordering::Relaxed);
        });
        Ok(())
    }

    /// Orders the plan by `at`; messages with the same time keep the order
    /// they were found in.
    pub fn sort(&mut self) {
        self.messages.sort_by_key(|m| m.at);
    }

    /// The planned messages, in order.
    pub fn messages(&self) -> &[Planned] {
        &self.messages
    }

    /// How a planned message is named in the log ("archive.mbox#17", a path).
    pub fn origin(&self, m: &Planned) -> String {
        let path = self.sources[m.source as usize].display();
        match m.part {
            Part::File => path.to_string(),
            Part::Mbox { n, .. } => format!("{path}#{n}"),
        }
    }

    fn file(&self, source: u32, path: &Path) -> anyhow::Result<std::rc::Rc<File>> {
        let mut open = self.open.borrow_mut();
        if let Some((s, f)) = open.as_ref() {
            if *s == source {
                return Ok(f.clone());
            }
        }
        let f = std::rc::Rc::new(
            File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        *open = Some((source, f.clone()));
        Ok(f)
    }

    /// Reads one planned message. Over `max` bytes, only its header block is
    /// read and [`RawMessage::too_large`] holds its size (src/oversize.rs).
    pub fn read(&self, m: &Planned, max: u64) -> anyhow::Result<RawMessage> {
        let path = &self.sources[m.source as usize];
        let origin = self.origin(m);
        let file = self.file(m.source, path)?;
        let (offset, len, span) = match m.part {
            Part::File => {
                let len = file
                    .metadata()
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .len();
                (0, len, None)
            }
            Part::Mbox { span, .. } => (
                span.start as u64,
                (span.end - span.start) as u64,
                Some(span),
            ),
        };
        let too_large = (len > max).then_some(len);
        let want = if too_large.is_some() {
            len.min(MAX_HEADER_BYTES as u64)
        } else {
            len
        };
        let mut bytes = vec![0u8; usize::try_from(want).context("message too large for memory")?];
        file.read_exact_at(&mut bytes, offset)
            .with_context(|| format!("{origin} is no longer where the import found it"))?;
        if too_large.is_some() {
            let n = header_block(&bytes).len();
            bytes.truncate(n);
        }
        if let Some(span) = span {
            bytes = span.message(&bytes);
        }
        Ok(RawMessage {
            bytes,
            arrival: Some(m.arrival),
            arrival_is_file_time: matches!(m.part, Part::File),
            origin,
            too_large,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// What the plan holds per message is its place and times, not its text
    /// (README: "under 100 bytes"), so memory follows the count of messages only.
    #[test]
    fn a_planned_message_is_small() {
        assert!(
            std::mem::size_of::<Planned>() < 100,
            "{}",
            std::mem::size_of::<Planned>()
        );
    }

    /// The plan reads back exactly what reading the files whole gives: every
    /// kind of source (mboxrd quoting, Content-Length, CR-only, a BOM and blank
    /// lines before the first separator, a Maildir, an .eml, an empty file), same bytes and
    /// origins, in file order before sorting.
    #[test]
    fn the_plan_reads_what_reading_whole_files_reads() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(
            root.join("a.mbox"),
            b"\xEF\xBB\xBF\n\nFrom x Mon Jan  5 09:00:00 2026\nSubject: m1\n\n>From here\n>>From there\n\n\
              From y Mon Jan  5 09:00:01 2026\nSubject: m2\nContent-Length: 12\n\nFrom inside\n\n\
              From z Mon Jan  5 09:00:02 2026\nSubject: m3\n\nlast\n",
        )
        .unwrap();
        fs::write(
            root.join("b.mbox"),
            b"From x Mon Jan  5 09:00:00 2026\rSubject: cr\r\r>From q\r",
        )
        .unwrap();
        fs::write(root.join("c.eml"), b"Subject: c\r\n\r\nFrom here on\r\n").unwrap();
        fs::write(root.join("d.eml"), b"").unwrap();
        let md = Maildir::open(&root.join("md")).unwrap();
        md.deliver(b"Subject: md\n\nFrom a Maildir\n").unwrap();

        let whole = read_import_path(root).unwrap();
        let mut seen = 0;
        let plan = ImportPlan::walk(&[root.to_path_buf()], |m| {
            seen += 1;
            assert!(m.bytes.len() <= MAX_HEADER_BYTES);
            (Utc::now(), Utc::now())
        })
        .unwrap();
        assert_eq!(seen, whole.len());
        let read: Vec<RawMessage> = plan
            .messages()
            .iter()
            .map(|m| plan.read(m, u64::MAX).unwrap())
            .collect();
        assert_eq!(read.len(), whole.len());
        for (a, b) in read.iter().zip(&whole) {
            assert_eq!(
                String::from_utf8_lossy(&a.bytes),
                String::from_utf8_lossy(&b.bytes),
                "{}",
                b.origin
            );
            assert_eq!(a.origin, b.origin);
            assert_eq!(a.too_large, None);
        }
        assert_eq!(whole.len(), 7);
    }

    /// Over the limit, a message of an mbox is read as its header block only,
    /// its size kept; the plan's order is by the times the caller gave.
    #[test]
    fn an_oversized_mbox_message_is_read_from_its_header_and_the_plan_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mbox");
        let body = "x".repeat(10_000);
        fs::write(
            &path,
            format!(
                "From x Mon Jan  5 09:00:00 2026\nSubject: late\nDate: Tue, 06 Jan 2026 09:00:00 +0000\n\n{body}\n\n\
                 From y Mon Jan  5 09:00:01 2026\nSubject: early\nDate: Mon, 05 Jan 2026 09:00:00 +0000\n\nshort\n"
            ),
        )
        .unwrap();
        let mut plan = ImportPlan::walk(&[path], |m| {
            let early = String::from_utf8_lossy(&m.bytes).contains("early");
            let t = if early { 1 } else { 2 };
            let at = DateTime::<Utc>::from_timestamp(t, 0).unwrap();
            (at, at)
        })
        .unwrap();
        plan.sort();
        let read: Vec<RawMessage> = plan
            .messages()
            .iter()
            .map(|m| plan.read(m, 1_000).unwrap())
            .collect();
        assert!(read[0].bytes.starts_with(b"Subject: early"));
        assert_eq!(read[0].too_large, None);
        assert!(read[1].bytes.starts_with(b"Subject: late"));
        assert!(read[1].bytes.ends_with(b"\n\n"), "header block only");
        assert!(read[1].too_large.unwrap() > 10_000);
    }
}
