//! `onit import` sources: files, folders, Maildirs and mbox files walked in a
//! stable order, hidden and metadata files skipped and reported.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::*;

/// Read a path given to `onit import`.
///
/// - A directory that has `cur/` or `new/` subfolders is a Maildir: the files of
///   `new/` then `cur/` are read (each sorted by name, hidden names skipped),
///   `tmp/` is skipped (deliveries in progress). Other non-hidden subdirectories
///   are walked as nested folders; other files at its root (index files and the
///   like) are not messages and are reported in the log.
/// - Any other directory is walked recursively, sorted by path, skipping hidden
///   files and directories; each file is treated as below.
/// - A file whose first non-empty bytes are `From ` is an mbox (see [`split_mbox`]).
/// - Any other file is one message (.eml or anything). An empty file is returned
///   as a message with empty bytes so the caller records it as unparseable.
///
/// A file that cannot be read fails the whole call with an error naming it:
/// an import must not quietly come back short.
pub fn read_import_path(path: &Path) -> anyhow::Result<Vec<RawMessage>> {
    read_import_path_within(path, u64::MAX)
}

/// As [`read_import_path`], a single-message file larger than `max` bytes
/// (`mailbox.max_message_bytes`) read from its header only, its size in
/// [`RawMessage::too_large`] (src/oversize.rs). The file size decides, before
/// anything is read.
pub fn read_import_path_within(path: &Path, max: u64) -> anyhow::Result<Vec<RawMessage>> {
    let mut out = Vec::new();
    walk_import_path(path, &mut |file, role| {
        match role {
            FileRole::MaildirMessage => out.push(read_single(file, max)?),
            FileRole::File => read_file_into(file, &mut out, max)?,
        }
        Ok(())
    })?;
    Ok(out)
}

/// What a file found by [`walk_import_path`] is to an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// A file in a Maildir's `new/` or `cur/`: exactly one message, even if it
    /// happens to begin with a `From ` envelope line.
    MaildirMessage,
    /// Any other file: an mbox when its first non-empty bytes are `From `,
    /// otherwise one message.
    File,
}

/// Walks a path given to `onit import` as [`read_import_path`] describes,
/// calling `visit` with each file to read, in the stable order given there.
pub fn walk_import_path(
    path: &Path,
    visit: &mut dyn FnMut(&Path, FileRole) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let meta = fs::metadata(path)
        .with_context(|| format!("cannot access import path {}", path.display()))?;
    if meta.is_dir() {
        walk_dir(path, visit)
    } else {
        visit(path, FileRole::File)
    }
}

pub(super) fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

pub(super) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// Non-hidden entries of `dir`, sorted by file name.
pub(super) fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<(OsString, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in
        fs::read_dir(dir).with_context(|| format!("cannot list directory {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list directory {}", dir.display()))?;
        let name = entry.file_name();
        if is_hidden(&name) {
            continue;
        }
        entries.push((name, entry.path()));
    }
    entries.sort();
    Ok(entries)
}

type Visit<'a> = dyn FnMut(&Path, FileRole) -> anyhow::Result<()> + 'a;

fn walk_dir(dir: &Path, visit: &mut Visit<'_>) -> anyhow::Result<()> {
    if is_maildir(dir) {
        return walk_maildir(dir, visit);
    }
    for (_, path) in sorted_entries(dir)? {
        walk_entry(&path, visit)?;
    }
    Ok(())
}

/// One entry of a walked directory: recurse into real directories, read files.
fn walk_entry(path: &Path, visit: &mut Visit<'_>) -> anyhow::Result<()> {
    let lmeta =
        fs::symlink_metadata(path).with_context(|| format!("cannot access {}", path.display()))?;
    if lmeta.is_dir() {
        return walk_dir(path, visit);
    }
    let meta = fs::metadata(path).with_context(|| format!("cannot access {}", path.display()))?;
    if meta.is_dir() {
        // Following directory symlinks can loop forever; name it instead.
        warn!(path = %path.display(), "not following symlink to a directory during import");
    } else if meta.is_file() {
        visit(path, FileRole::File)?;
    } else {
        // Reading a FIFO or device could block or never end.
        warn!(path = %path.display(), "skipping special file (not a regular file) during import");
    }
    Ok(())
}

fn walk_maildir(dir: &Path, visit: &mut Visit<'_>) -> anyhow::Result<()> {
    report_hidden_subfolders(dir);
    // new/ before cur/: unprocessed mail first, the order a mail client sees it.
    let mut entries = sorted_entries(dir)?;
    let rank = |name: &OsString| match name.to_str() {
        Some("new") => 0,
        Some("cur") => 1,
        _ => 2,
    };
    entries.sort_by_key(|(name, _)| rank(name));
    for (name, path) in entries {
        match name.to_str() {
            Some("new") | Some("cur") if path.is_dir() => {
                for (_, file) in sorted_entries(&path)? {
                    let meta = fs::metadata(&file)
                        .with_context(|| format!("cannot access {}", file.display()))?;
                    if meta.is_file() {
                        visit(&file, FileRole::MaildirMessage)?;
                    } else {
                        warn!(path = %file.display(), "skipping non-file entry in Maildir folder");
                    }
                }
            }
            Some("tmp") if path.is_dir() => {
                let pending = fs::read_dir(&path).map(|d| d.count()).unwrap_or(0);
                if pending > 0 {
                    info!(path = %path.display(), pending, "not importing Maildir tmp/ (deliveries in progress)");
                }
            }
            _ if path.is_dir() => walk_dir(&path, visit)?,
            _ if is_maildir_metadata(&name) => {
                debug!(path = %path.display(), "skipping Maildir metadata file");
            }
            _ => {
                warn!(path = %path.display(), "not importing file at Maildir root (only new/ and cur/ hold messages)");
            }
        }
    }
    Ok(())
}

/// Maildir++ keeps folders such as `.Sent` or `.Trash` as hidden subdirectories
/// of the inbox. They are not imported with it (Sent and Trash are rarely what
/// a support inbox wants), but say so, so that nobody wonders where they went.
pub(super) fn report_hidden_subfolders(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if is_hidden(&name) && name != "." && name != ".." && is_maildir(&entry.path()) {
            info!(path = %entry.path().display(), "Maildir++ subfolder not imported; pass its path to import it");
        }
    }
}

/// Files that mail servers keep at a Maildir root and that are never messages.
pub(super) fn is_maildir_metadata(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    [
        "dovecot",
        "courier",
        "maildirfolder",
        "maildirsize",
        "subscriptions",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

pub(super) fn mtime_of(meta: &fs::Metadata) -> Option<DateTime<Utc>> {
    meta.modified().ok().map(DateTime::<Utc>::from)
}

/// Read a file as exactly one message, with its mtime as arrival.
pub(super) fn read_single(path: &Path, max: u64) -> anyhow::Result<RawMessage> {
    if let Some(m) = read_oversized(path, max)? {
        return Ok(m);
    }
    let (bytes, mtime) =
        read_with_mtime(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(RawMessage {
        bytes,
        arrival: mtime,
        arrival_is_file_time: true,
        origin: path.display().to_string(),
        too_large: None,
    })
}

/// A file larger than `max` that is not an mbox: its header block only.
fn read_oversized(path: &Path, max: u64) -> anyhow::Result<Option<RawMessage>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot access {}", path.display()))?;
    if meta.len() <= max {
        return Ok(None);
    }
    let header = crate::oversize::read_header(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if looks_like_mbox(&header) {
        return Ok(None);
    }
    Ok(Some(RawMessage {
        bytes: header,
        arrival: mtime_of(&meta),
        arrival_is_file_time: true,
        origin: path.display().to_string(),
        too_large: Some(meta.len()),
    }))
}

pub(super) fn read_file_into(
    path: &Path,
    out: &mut Vec<RawMessage>,
    max: u64,
) -> anyhow::Result<()> {
    if let Some(m) = read_oversized(path, max)? {
        out.push(m);
        return Ok(());
    }
    let (bytes, mtime) =
        read_with_mtime(path).with_context(|| format!("cannot read {}", path.display()))?;
    if looks_like_mbox(&bytes) {
        let messages = split_mbox(&bytes, &path.display().to_string());
        debug!(path = %path.display(), count = messages.len(), "read mbox");
        out.extend(messages);
    } else {
        out.push(RawMessage {
            bytes,
            arrival: mtime,
            arrival_is_file_time: true,
            origin: path.display().to_string(),
            too_large: None,
        });
    }
    Ok(())
}

/// Read bytes and mtime through one handle so both describe the same file.
pub(super) fn read_with_mtime(path: &Path) -> io::Result<(Vec<u8>, Option<DateTime<Utc>>)> {
    let mut file = fs::File::open(path)?;
    let meta = file.metadata()?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok((bytes, mtime_of(&meta)))
}
