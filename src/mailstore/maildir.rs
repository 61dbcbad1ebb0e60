//! The live Maildir queue: new mail taken from `new/`, moved to `cur/` once
//! its transaction has committed, with names unique per host (Maildir spec).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::*;

/// Daemon side: a Maildir at `root` (with new/, cur/, tmp/).
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// A message read from new/ by [`Maildir::read_bounded`].
#[derive(Debug, Clone)]
pub struct BoundedMessage {
    /// The whole message, or its header block when `too_large`.
    pub bytes: Vec<u8>,
    /// The file's modification time.
    pub arrival: Option<DateTime<Utc>>,
    pub origin: String,
    /// The file's size when it was over the limit and only its header was read.
    pub too_large: Option<u64>,
}

/// A message waiting in a Maildir's new/ folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirEntry {
    /// Full path of the file in new/.
    pub path: PathBuf,
    /// The file's unique name (lossily decoded if not UTF-8; `path` is exact).
    pub name: String,
    /// The file's modification time, used for ordering and as arrival time.
    pub mtime: Option<DateTime<Utc>>,
}

impl Maildir {
    /// Opens it, creating new/ cur/ tmp/ if missing (0700, `crate::private_files`).
    pub fn open(root: &Path) -> io::Result<Maildir> {
        for sub in ["new", "cur", "tmp"] {
            crate::private_files::create_dir_all(&root.join(sub))?;
        }
        Ok(Maildir {
            root: root.to_path_buf(),
        })
    }

    /// The Maildir's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Entries of new/ sorted by (mtime, file name) — oldest first. Skips names starting with '.'.
    ///
    /// A file that disappears while listing (another process took it) is left
    /// out; one whose metadata cannot be read is still listed (mtime `None`) so
    /// that [`Maildir::read`] reports the real error instead of it vanishing.
    pub fn list_new(&self) -> io::Result<Vec<MaildirEntry>> {
        let dir = self.root.join("new");
        let mut entries = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let file_name = entry.file_name();
            if is_hidden(&file_name) {
                continue;
            }
            let path = entry.path();
            let mtime = match fs::metadata(&path) {
                Ok(meta) if meta.is_file() => mtime_of(&meta),
                Ok(_) => {
                    warn!(path = %path.display(), "ignoring non-file entry in Maildir new/");
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    debug!(path = %path.display(), "entry vanished while listing new/");
                    continue;
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot stat Maildir entry; listing it anyway");
                    None
                }
            };
            entries.push(MaildirEntry {
                path,
                name: file_name.to_string_lossy().into_owned(),
                mtime,
            });
        }
        entries.sort_by(|a, b| (a.mtime, &a.name).cmp(&(b.mtime, &b.name)));
        Ok(entries)
    }

    /// Reads one entry's bytes and mtime into a RawMessage (origin = its path).
    pub fn read(&self, entry: &MaildirEntry) -> io::Result<RawMessage> {
        let (bytes, mtime) = read_with_mtime(&entry.path)?;
        Ok(RawMessage {
            bytes,
            arrival: mtime,
            arrival_is_file_time: true,
            origin: entry.path.display().to_string(),
            too_large: None,
        })
    }

    /// Reads a message, or only its header block when the file is larger than
    /// `max_bytes` (`mailbox.max_message_bytes`, src/oversize.rs): the file size
    /// decides, so a huge file is never read into memory.
    pub fn read_bounded(&self, entry: &MaildirEntry, max_bytes: u64) -> io::Result<BoundedMessage> {
        let size = fs::metadata(&entry.path)?.len();
        if size <= max_bytes {
            let m = self.read(entry)?;
            return Ok(BoundedMessage {
                bytes: m.bytes,
                arrival: m.arrival,
                origin: m.origin,
                too_large: None,
            });
        }
        Ok(BoundedMessage {
            bytes: crate::oversize::read_header(&entry.path)?,
            arrival: entry.mtime,
            origin: entry.path.display().to_string(),
            too_large: Some(size),
        })
    }

    /// Moves a processed message from new/ to cur/, appending the Maildir info
    /// `:2,` with no flags (processed by the daemon is not "seen" by a person).
    /// Keeps the unique name.
    ///
    /// Call this only after the caller's database commit: a crash between the
    /// commit and this move re-delivers the message on the next run, which the
    /// caller dedupes by Message-ID; the other order could lose the message.
    /// If the source is already gone (an earlier run moved it and crashed
    /// before recording that), this returns `Ok`.
    pub fn mark_processed(&self, entry: &MaildirEntry) -> io::Result<()> {
        let file_name = entry.path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "Maildir entry path has no file name",
            )
        })?;
        let mut target_name = file_name.to_os_string();
        if !file_name.to_string_lossy().contains(":2,") {
            target_name.push(":2,");
        }
        let target = self.root.join("cur").join(&target_name);
        match fs::rename(&entry.path, &target) {
            Ok(()) => {
                // The message keeps the mode its MDA gave it; in onit's keeping it is private.
                if let Err(e) = crate::private_files::restrict(&target) {
                    debug!(path = %target.display(), error = %e, "cannot restrict the mode");
                }
                sync_dir(&self.root.join("cur"));
                Ok(())
            }
            // rename's NotFound may also mean cur/ is missing; only a missing
            // source is the "already moved" case.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && fs::symlink_metadata(&entry.path).is_err() =>
            {
                if target.exists() {
                    debug!(path = %entry.path.display(), "already moved to cur/");
                } else {
                    warn!(path = %entry.path.display(), "processed message vanished from new/ and is not in cur/");
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Delivers bytes into new/ the Maildir way (write to tmp/ with a unique name
    /// `<secs>.<pid>_<counter>.<hostname>`, fsync the file, rename into new/).
    /// Used by tests and the demo.
    pub fn deliver(&self, bytes: &[u8]) -> io::Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let host = hostname();
        for _ in 0..1000 {
            let secs = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{secs}.{pid}_{counter}.{host}");
            let tmp = self.root.join("tmp").join(&name);
            let new = self.root.join("new").join(&name);
            if new.exists() {
                continue;
            }
            let mut file = match crate::private_files::options()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let written = file.write_all(bytes).and_then(|()| file.sync_all());
            drop(file);
            if let Err(e) = written.and_then(|()| fs::rename(&tmp, &new)) {
                // Leave no half-written file behind in tmp/.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            sync_dir(&self.root.join("new"));
            return Ok(new);
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not find an unused Maildir file name",
        ))
    }
}

/// Make a rename durable. Best effort: some platforms cannot open directories.
pub(super) fn sync_dir(dir: &Path) {
    if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        debug!(dir = %dir.display(), error = %e, "cannot fsync directory");
    }
}

/// Host name for unique Maildir names, with '/' and ':' encoded as the Maildir
/// spec asks (they would break the path or the info suffix).
pub(super) fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut host = String::new();
        for c in crate::host::hostname().chars() {
            match c {
                '/' => host.push_str("\\057"),
                ':' => host.push_str("\\072"),
                c if c.is_whitespace() || c.is_control() => {}
                c => host.push(c),
            }
        }
        if host.is_empty() {
            host.push_str("localhost");
        }
        host
    })
}
