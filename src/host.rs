//! This machine's host name, read one way for every use (instance names,
//! `onit status`, unique Maildir file names).

use std::sync::OnceLock;

/// The host name: the kernel's, else `/etc/hostname`, else `$HOSTNAME`, else
/// `localhost`; trimmed, never empty. Read once per process.
pub fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::env::var("HOSTNAME")
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| "localhost".to_string())
    })
}
