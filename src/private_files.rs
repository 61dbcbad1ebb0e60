//! Files onit creates are its own: 0600 for files, 0700 for directories,
//! whatever the umask it was started with.
//!
//! The database holds every client's mail (and, with XOAUTH2, the refresh
//! token), the outgoing `.eml` files and backups the same. A umask of 022 (the
//! usual one) or 000 would leave them readable by every local user; only the
//! systemd unit's `UMask=` hid that, a container or a shell did not. Two layers:
//!
//! - [`restrict_umask`] at the start of the process, so files that others'
//!   code creates for onit (SQLite's `-wal`/`-shm`, which take the mode of the
//!   database file anyway; the `VACUUM INTO` copy) start private too;
//! - an explicit mode wherever onit itself creates a file or folder
//!   ([`options`], [`create_dir_all`]), so the library is private when it is
//!   used without the binary (tests, embedding).
//!
//! Existing files keep the mode the operator gave them: only what onit creates is
//! decided here, plus the Maildir message onit moves into `cur/` ([`restrict`]).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// The mode of a file onit creates.
pub const FILE_MODE: u32 = 0o600;
/// The mode of a folder onit creates.
pub const DIR_MODE: u32 = 0o700;

/// Sets the process's umask to 077, so nothing it creates is readable by group
/// or others. Called once, first thing, by the command line.
pub fn restrict_umask() {
    // SAFETY: umask(2) only sets the process's file mode creation mask; it cannot fail.
    #[cfg(unix)]
    unsafe {
        libc::umask(0o077);
    }
}

/// `OpenOptions` that create a file as 0600 (the caller sets read/write/create).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

/// `tokio::fs::OpenOptions` that create a file as 0600.
pub fn tokio_options() -> tokio::fs::OpenOptions {
    let mut o = tokio::fs::OpenOptions::new();
    #[cfg(unix)]
    o.mode(FILE_MODE);
    o
}

/// Creates `dir` and its missing parents as 0700 (existing ones are left as they are).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir)
}

/// Makes an existing file 0600 if group or others may read it (a Maildir
/// message delivered with the MDA's mode that onit moves into `cur/`).
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_files_and_folders_are_private_and_restrict_tightens_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_dir_all(&sub).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&sub), 0o700);
        let f = sub.join("f");
        options().write(true).create_new(true).open(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o400)).unwrap();
        restrict(&f).unwrap();
        assert_eq!(mode(&f), 0o400, "an owner-only mode is left alone");
    }
}
