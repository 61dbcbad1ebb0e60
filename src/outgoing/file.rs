//! `outgoing.transport = "file"`: one `.eml` file per message. The file name
//! comes from the Message-ID and is written atomically (temp file, fsync,
//! rename), so a retry after a crash rewrites the same file: delivery to files
//! is exactly once.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::SendError;
use crate::store::OutboxRow;

/// Writes messages into a folder.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Uses `dir`, creating it if missing.
    pub fn new(dir: &Path) -> std::io::Result<FileTransport> {
        crate::private_files::create_dir_all(dir)?;
        Ok(FileTransport {
            dir: dir.to_path_buf(),
        })
    }

    /// The file a message with this Message-ID is written to.
    pub fn path_for(&self, message_id: &str) -> PathBuf {
        let safe: String = message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' || c == '@' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.eml"))
    }

    pub(super) async fn send(&self, item: &OutboxRow) -> Result<(), SendError> {
        let path = self.path_for(&item.message_id);
        let dir = self.dir.clone();
        let raw = item.raw.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &raw))
            .await
            .map_err(|e| SendError::Transient(format!("writer task failed: {e}")))?
            .map_err(|e| SendError::Transient(format!("writing {}: {e}", item.message_id)))
    }
}

fn write_atomically(dir: &Path, path: &Path, raw: &[u8]) -> std::io::Result<()> {
    crate::private_files::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::compose::random_hex(8)
    ));
    let mut f = crate::private_files::options()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    f.write_all(raw)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
