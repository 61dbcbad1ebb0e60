//! Where a stored message came from (`messages.origin`): a file path, an mbox
//! entry (`path#N`), or an IMAP message (`imap:FOLDER/UIDVALIDITY/UID`). Trust
//! reads the IMAP folder back from it (`trust.folders`).

/// The origin of an IMAP message.
pub fn imap(folder: &str, uidvalidity: i64, uid: u32) -> String {
    format!("imap:{folder}/{uidvalidity}/{uid}")
}

/// The IMAP folder of an origin made by [`imap`]; folder names may contain `/`.
pub fn imap_folder(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("imap:")?;
    let mut parts = rest.rsplitn(3, '/');
    let uid = parts.next()?;
    let validity = parts.next()?;
    let folder = parts.next()?;
    (uid.chars().all(|c| c.is_ascii_digit()) && validity.chars().all(|c| c.is_ascii_digit()))
        .then_some(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_comes_back_whatever_it_holds() {
        assert_eq!(imap_folder(&imap("Sent", 7, 42)), Some("Sent"));
        assert_eq!(
            imap_folder(&imap("INBOX/Sent Items", 7, 42)),
            Some("INBOX/Sent Items")
        );
        assert_eq!(imap_folder("/var/mail/Maildir/cur/1.eml"), None);
        assert_eq!(imap_folder("imap:Sent"), None);
    }
}
