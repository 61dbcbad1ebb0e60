//! Mail arriving in a Maildir's new/: the daemon's Maildir source is woken by
//! the kernel (inotify) when a file is moved or written into it, so a delivered
//! message is read at once instead of at the next poll (issue 17: the
//! acknowledgment's latency was the poll's phase, 54 ms to 1 s).
//!
//! The poll stays as the safety net: inotify does not see files written by another
//! machine on a network file system, its queue can overflow (that, too, wakes the
//! source, which then lists new/ whole), and other systems have no inotify.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Notify;

/// Starts watching `dir` (a Maildir's new/): each file moved into it (the
/// Maildir delivery's rename from tmp/) or written in it wakes `wake`. Returns
/// whether it watches; where it cannot (not Linux, no inotify, too many watches),
/// the caller's poll carries on alone. Must be called within a Tokio runtime; the
/// watch lasts as long as the runtime.
pub fn watch_arrivals(dir: &Path, wake: Arc<Notify>) -> bool {
    match start(dir, wake) {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(
                dir = %dir.display(),
                error = %e,
                "new mail is found by polling only (cannot watch the folder)"
            );
            false
        }
    }
}

#[cfg(target_os = "linux")]
fn start(dir: &Path, wake: Arc<Notify>) -> std::io::Result<()> {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: inotify_init1 takes flags only; a non-negative result is a new
    // descriptor that nothing else owns, handed to OwnedFd at once.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open and owned by nothing else (above).
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `fd` is an inotify descriptor and `path` a NUL-terminated string
    // that outlives the call.
    let watch = unsafe {
        libc::inotify_add_watch(
            fd.as_raw_fd(),
            path.as_ptr(),
            libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE,
        )
    };
    if watch < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: an OwnedFd is a valid open descriptor, and as the AsyncFd's own
    // value it stays open, the same one, until the AsyncFd is dropped.
    let fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }
    .map_err(io::Error::from)?;
    tokio::spawn(async move {
        // The events themselves are not read for names: any event (an overflow
        // included) means "list new/ now", and a burst wakes the source once.
        let mut buf = [0u8; 4096];
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return;
            };
            let read = ready.try_io(|inner| {
                // SAFETY: reads at most buf.len() bytes into `buf`, which lives
                // across the call; `inner` is the open inotify descriptor.
                let n =
                    unsafe { libc::read(inner.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n)
                }
            });
            match read {
                Ok(Ok(n)) if n > 0 => wake.notify_one(),
                Ok(Ok(_)) => return,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "stopped watching the mailbox folder; polling goes on");
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    });
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn start(_dir: &Path, _wake: Arc<Notify>) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no inotify on this system",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_file_moved_into_the_folder_wakes_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let wake = Arc::new(Notify::new());
        assert!(watch_arrivals(&new, wake.clone()));
        // Nothing arrived: no wake.
        let idle = tokio::time::timeout(Duration::from_millis(200), wake.notified()).await;
        assert!(idle.is_err(), "woken with nothing delivered");
        // A Maildir delivery: written in tmp/, renamed into new/.
        std::fs::write(tmp.join("1.host"), b"Subject: x\r\n\r\nhi\r\n").unwrap();
        std::fs::rename(tmp.join("1.host"), new.join("1.host")).unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("woken by the delivery");
        // A file written in place (some delivery agents do).
        std::fs::write(new.join("2.host"), b"Subject: y\r\n\r\nhi\r\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("woken by the write");
    }

    #[tokio::test]
    async fn a_folder_that_cannot_be_watched_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let wake = Arc::new(Notify::new());
        assert!(!watch_arrivals(&dir.path().join("missing"), wake));
    }
}
