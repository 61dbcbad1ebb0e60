//! Finding and reading raw messages on disk: Maildirs (the daemon's mailbox and
//! `onit import` sources), mbox files and single-message files.
//!
//! This module never parses MIME; it hands the caller the bytes of each message
//! plus the best arrival time the container offers. Bad input is reported, never
//! silently dropped: an unreadable file is an error, an empty file is still a
//! message (with empty bytes) so the caller can count it as unparseable.

mod arrivals;
mod import_plan;
mod import_walk;
mod maildir;
mod mbox;
mod mbox_date;

use chrono::{DateTime, Utc};

pub use arrivals::*;
pub use import_plan::*;
pub use import_walk::*;
pub use maildir::*;
pub use mbox::*;
use mbox_date::*;

/// One raw message found on disk, with the arrival time POLICY uses when the Date header is implausible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The message exactly as stored (mbox framing removed, mboxrd quoting undone).
    pub bytes: Vec<u8>,
    /// mbox: the time on the `From ` separator line, if it parses; file sources: the file's mtime.
    pub arrival: Option<DateTime<Utc>>,
    /// True when `arrival` is a file's mtime (weaker evidence than a `Received:` header).
    pub arrival_is_file_time: bool,
    /// Human-readable origin for logs and counts, e.g. "archive.mbox#17" or "/path/Maildir/new/123.host".
    pub origin: String,
    /// The size of the whole message when it was over the limit and `bytes`
    /// is its header block only (`read_import_path_within`).
    pub too_large: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::fs;
    use std::time::SystemTime;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn splits_three_messages() {
        let mbox = b"From alice@example.com Mon Jan  5 09:00:00 2026\n\
Subject: one\n\nbody one\n\n\
From bob@example.com  Tue Jan  6 10:30:00 2026\n\
Subject: two\n\nbody two\nmore\n\n\
From carol@example.com Wed Jan  7 11:00:00 2026\n\
Subject: three\n\nbody three\n";
        let msgs = split_mbox(mbox, "a.mbox");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].bytes, b"Subject: one\n\nbody one\n");
        assert_eq!(msgs[1].bytes, b"Subject: two\n\nbody two\nmore\n");
        assert_eq!(msgs[2].bytes, b"Subject: three\n\nbody three\n");
        assert_eq!(msgs[0].origin, "a.mbox#1");
        assert_eq!(msgs[2].origin, "a.mbox#3");
        assert_eq!(msgs[1].arrival, Some(utc(2026, 1, 6, 10, 30, 0)));
    }

    #[test]
    fn separator_dates() {
        let p = |s: &str| parse_separator_date(s.as_bytes());
        assert_eq!(
            p("MAILER-DAEMON Fri Jul  8 12:08:34 2011"),
            Some(utc(2011, 7, 8, 12, 8, 34))
        );
        assert_eq!(
            p("bob@example.com  Mon Jan  5 09:00:00 2026"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00:00 2026 -0500"),
            Some(utc(2026, 1, 5, 14, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00:00 +0100 2026"),
            Some(utc(2026, 1, 5, 8, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00:00 EST 2026"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("bob Mon Jan  5 09:00 2026"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("- Mon Jun  3 12:50:27 1996"),
            Some(utc(1996, 6, 3, 12, 50, 27))
        );
        assert_eq!(
            p("foo Mon Jan  5 09:00:00 2026 remote from bar"),
            Some(utc(2026, 1, 5, 9, 0, 0))
        );
        assert_eq!(
            p("x Mon, 5 Jan 2026 09:00:00 +0200"),
            Some(utc(2026, 1, 5, 7, 0, 0))
        );
        assert_eq!(p("-"), None);
        assert_eq!(p("here on, we go Mon Jan 5 and more"), None);
        assert_eq!(p("bob Mon Feb 30 09:00:00 2026"), None);
        assert_eq!(p("bob Mon Jan  5 09:00:00 2026 and then some"), None);
    }

    #[test]
    fn mboxrd_unescaping() {
        let mbox = b"From a@b Mon Jan  5 09:00:00 2026\n\
Subject: q\n\n>From the start\n>>From deeper\n> From not quoted\n>Fromage\n";
        let msgs = split_mbox(mbox, "q.mbox");
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            msgs[0].bytes,
            b"Subject: q\n\nFrom the start\n>From deeper\n> From not quoted\n>Fromage\n"
        );
    }

    #[test]
    fn prose_from_line_stays_in_body() {
        let mbox = b"From a@b Mon Jan  5 09:00:00 2026\n\
Subject: x\n\nHello,\n\nFrom here on, we use the new tracker.\nThanks\n\n\
From Russia with love\nYear: 1963\n\nBye\n\n\
From c@d Tue Jan  6 09:00:00 2026\nSubject: y\n\nsecond\n";
        let msgs = split_mbox(mbox, "p.mbox");
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].bytes,
            b"Subject: x\n\nHello,\n\nFrom here on, we use the new tracker.\nThanks\n\nFrom Russia with love\nYear: 1963\n\nBye\n"
        );
        assert_eq!(msgs[1].bytes, b"Subject: y\n\nsecond\n");
    }

    #[test]
    fn separator_without_blank_line() {
        // mboxo writers do not always leave a blank line; a dated `From ` line
        // still separates, and the last body line keeps its newline.
        let mbox = b"From a Mon Jan  5 09:00:00 2026\nSubject: 1\n\nbody\n\
From b Mon Jan  5 10:00:00 2026\nSubject: 2\n\nbody2\n\
From -\nFrom: c@d\n\nbody3\n";
        let msgs = split_mbox(mbox, "m");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].bytes, b"Subject: 1\n\nbody\n");
        assert_eq!(msgs[1].bytes, b"Subject: 2\n\nbody2\n");
        assert_eq!(msgs[2].bytes, b"From: c@d\n\nbody3\n");
        assert_eq!(msgs[2].arrival, None);
    }

    #[test]
    fn dateless_separators() {
        // Netscape `From - ` and Gmail takeout `From <id>@xxx` lines carry no
        // date; they separate when a header block follows.
        let mbox = b"From 1844347792267117879@xxx\nSubject: 1\n\none\n\n\
From 1844347839636459560@xxx\nSubject: 2\n\ntwo\nFrom - \nFrom: x@y\n\nthree\n";
        let msgs = split_mbox(mbox, "g");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1].bytes, b"Subject: 2\n\ntwo\n");
        assert_eq!(msgs[2].bytes, b"From: x@y\n\nthree\n");
    }

    #[test]
    fn patch_attachment_inside_multipart_is_not_a_separator() {
        let mbox = b"From a@b Sat Feb  5 09:19:10 2022\n\
Subject: patch\nContent-Type: multipart/mixed;\n\tboundary=\"=-=-=\"\n\n\
--=-=-=\nContent-Type: text/plain\n\nsee attached\n\n\
--=-=-=\nContent-Type: text/x-diff\n\n\
From fc88cba7f1f37b9cf3b296eace2422dd0e173502 Mon Sep 17 00:00:00 2001\n\
From: A <a@b>\nSubject: [PATCH] fix\n\n---\n\n--=-=-=--\n\n\
From c@d Sun Feb  6 10:00:00 2022\nSubject: next\n\nnext\n";
        let msgs = split_mbox(mbox, "p");
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].bytes.ends_with(b"\n--=-=-=--\n"));
        assert!(msgs[0].bytes.windows(14).any(|w| w == b"From fc88cba7f"));
        assert_eq!(msgs[1].bytes, b"Subject: next\n\nnext\n");
    }

    #[test]
    fn truncated_multipart_does_not_swallow_the_rest() {
        let mbox = b"From a@b Sat Feb  5 09:19:10 2022\n\
Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\ncut off\n\n\
From c@d Sun Feb  6 10:00:00 2022\nSubject: 2\n\ntwo\n\n\
From e@f Mon Feb  7 10:00:00 2022\nSubject: 3\n\nthree\n";
        let msgs = split_mbox(mbox, "t");
        assert_eq!(msgs.len(), 3);
        assert!(msgs[0].bytes.ends_with(b"cut off\n"));
    }

    #[test]
    fn content_length_is_honoured() {
        let body = b"line one\n\nFrom bob Mon Jan  5 09:00:00 2026\nnot a separator\n";
        let mut mbox = Vec::new();
        mbox.extend_from_slice(b"From a Mon Jan  5 09:00:00 2026\nSubject: cl\n");
        mbox.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
        mbox.extend_from_slice(body);
        mbox.extend_from_slice(b"\nFrom b Tue Jan  6 09:00:00 2026\nSubject: next\n\nnext body\n");
        let msgs = split_mbox(&mbox, "cl.mbox");
        assert_eq!(msgs.len(), 2);
        let mut expected = format!("Subject: cl\nContent-Length: {}\n\n", body.len()).into_bytes();
        expected.extend_from_slice(body);
        assert_eq!(msgs[0].bytes, expected);
        assert_eq!(msgs[1].bytes, b"Subject: next\n\nnext body\n");
    }

    #[test]
    fn wrong_content_length_is_ignored() {
        let mbox = b"From a Mon Jan  5 09:00:00 2026\nContent-Length: 3\n\nhello world\n\n\
From b Tue Jan  6 09:00:00 2026\nSubject: 2\n\nsecond\n";
        let msgs = split_mbox(mbox, "w");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Content-Length: 3\n\nhello world\n");
        // Content-Length that lands exactly at end of file.
        let mbox = b"From a Mon Jan  5 09:00:00 2026\nContent-Length: 6\n\nhello\n";
        let msgs = split_mbox(mbox, "e");
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, b"Content-Length: 6\n\nhello\n");
    }

    #[test]
    fn crlf_mbox() {
        let mbox =
            b"From a@b Mon Jan  5 09:00:00 2026\r\nSubject: one\r\n\r\nbody\r\n>From x\r\n\r\n\
From c@d Tue Jan  6 09:00:00 2026 +0000\r\nSubject: two\r\n\r\nbody2\r\n";
        let msgs = split_mbox(mbox, "c");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Subject: one\r\n\r\nbody\r\nFrom x\r\n");
        assert_eq!(msgs[1].bytes, b"Subject: two\r\n\r\nbody2\r\n");
        assert_eq!(msgs[1].arrival, Some(utc(2026, 1, 6, 9, 0, 0)));
    }

    #[test]
    fn cr_only_mbox_and_leading_blank_lines_and_bom() {
        let cr = b"\r\rFrom a Mon Jan  5 09:00:00 2026\rSubject: 1\r\rone\r\rFrom b Mon Jan  5 09:00:00 2026\rSubject: 2\r\rtwo\r";
        let msgs = split_mbox(cr, "cr");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Subject: 1\r\rone\r");
        let bom = b"\xEF\xBB\xBF\n\nFrom a Mon Jan  5 09:00:00 2026\nSubject: 1\n\none\n";
        let msgs = split_mbox(bom, "bom");
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, b"Subject: 1\n\none\n");
        assert!(split_mbox(b"", "empty").is_empty());
    }

    #[test]
    fn text_before_first_separator_is_kept() {
        let msgs = split_mbox(
            b"Subject: stray\n\nhi\n\nFrom a Mon Jan  5 09:00:00 2026\nSubject: 1\n\none\n",
            "s",
        );
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].bytes, b"Subject: stray\n\nhi\n");
        assert_eq!(msgs[1].bytes, b"Subject: 1\n\none\n");
    }

    #[test]
    fn import_maildir_directory() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        md.deliver(b"Subject: new\n\nn\n").unwrap();
        fs::write(dir.path().join("cur/1.host:2,S"), b"Subject: cur\n\nc\n").unwrap();
        fs::write(dir.path().join("tmp/2.host"), b"Subject: tmp\n\nt\n").unwrap();
        fs::write(dir.path().join("cur/.hidden"), b"x").unwrap();
        // A `From ` start inside a Maildir file is still one message.
        fs::write(
            dir.path().join("cur/3.host:2,"),
            b"From a Mon Jan  5 09:00:00 2026\nSubject: env\n\n\nFrom b Mon Jan  5 09:00:00 2026\nx\n",
        )
        .unwrap();
        let msgs = read_import_path(dir.path()).unwrap();
        let subjects: Vec<&[u8]> = msgs.iter().map(|m| &m.bytes[..12]).collect();
        assert_eq!(msgs.len(), 3, "{subjects:?}");
        assert!(msgs[0].bytes.starts_with(b"Subject: new"));
        assert!(msgs[0].origin.contains("/new/"));
        assert!(msgs[1].bytes.starts_with(b"Subject: cur"));
        assert!(msgs[2].bytes.starts_with(b"From a"));
        assert!(msgs.iter().all(|m| m.arrival.is_some()));
        assert!(!msgs.iter().any(|m| m.bytes.starts_with(b"Subject: tmp")));
    }

    #[test]
    fn import_eml_and_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let eml = dir.path().join("one.eml");
        fs::write(&eml, b"Subject: hi\r\n\r\nFrom here on, body\r\n").unwrap();
        let msgs = read_import_path(&eml).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, b"Subject: hi\r\n\r\nFrom here on, body\r\n");
        assert_eq!(msgs[0].origin, eml.display().to_string());
        assert!(msgs[0].arrival.is_some());

        let empty = dir.path().join("empty.eml");
        fs::write(&empty, b"").unwrap();
        let msgs = read_import_path(&empty).unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].bytes.is_empty());
        assert_eq!(msgs[0].origin, empty.display().to_string());
    }

    #[test]
    fn import_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_import_path(&dir.path().join("nope")).unwrap_err();
        assert!(format!("{err:#}").contains("nope"));
    }

    #[test]
    fn import_directory_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/inner")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join("a.eml"), b"Subject: a\n\na\n").unwrap();
        fs::write(
            root.join("b/archive.mbox"),
            b"\nFrom x Mon Jan  5 09:00:00 2026\nSubject: m1\n\n1\n\nFrom y Mon Jan  5 09:00:01 2026\nSubject: m2\n\n2\n",
        )
        .unwrap();
        fs::write(root.join("b/inner/c.eml"), b"Subject: c\n\nc\n").unwrap();
        fs::write(root.join("b/z.eml"), b"").unwrap();
        fs::write(root.join(".hidden.eml"), b"Subject: hidden\n\n").unwrap();
        fs::write(root.join(".git/config"), b"Subject: git\n\n").unwrap();
        // A nested Maildir inside a plain tree is read as a Maildir.
        fs::create_dir_all(root.join("c/cur")).unwrap();
        fs::create_dir_all(root.join("c/tmp")).unwrap();
        fs::write(root.join("c/cur/9.h:2,"), b"Subject: md\n\n").unwrap();
        fs::write(root.join("c/tmp/9.h"), b"Subject: tmp\n\n").unwrap();

        let msgs = read_import_path(root).unwrap();
        let origins: Vec<String> = msgs
            .iter()
            .map(|m| {
                m.origin
                    .strip_prefix(&root.display().to_string())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            origins,
            [
                "/a.eml",
                "/b/archive.mbox#1",
                "/b/archive.mbox#2",
                "/b/inner/c.eml",
                "/b/z.eml",
                "/c/cur/9.h:2,"
            ]
        );
        assert_eq!(msgs[1].bytes, b"Subject: m1\n\n1\n");
        assert_eq!(msgs[2].arrival, Some(utc(2026, 1, 5, 9, 0, 1)));
        assert!(msgs[4].bytes.is_empty());
    }

    #[test]
    fn maildir_list_new_is_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(&dir.path().join("mail")).unwrap();
        assert!(md.root().join("tmp").is_dir());
        let new = md.root().join("new");
        let set_mtime = |name: &str, secs: u64| {
            let path = new.join(name);
            fs::write(&path, name.as_bytes()).unwrap();
            let f = fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap();
        };
        set_mtime("c", 1_000);
        set_mtime("a", 3_000);
        set_mtime("b", 1_000);
        set_mtime(".skip", 10);
        fs::create_dir(new.join("subdir")).unwrap();
        let entries = md.list_new().unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!(entries[0].mtime, Some(utc(1970, 1, 1, 0, 16, 40)));
        let raw = md.read(&entries[2]).unwrap();
        assert_eq!(raw.bytes, b"a");
        assert_eq!(raw.origin, new.join("a").display().to_string());
        assert_eq!(raw.arrival, Some(utc(1970, 1, 1, 0, 50, 0)));
    }

    #[test]
    fn maildir_deliver_and_mark_processed() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        let p1 = md.deliver(b"Subject: 1\n\n").unwrap();
        let p2 = md.deliver(b"Subject: 2\n\n").unwrap();
        assert_ne!(p1, p2);
        assert_eq!(p1.parent().unwrap(), dir.path().join("new"));
        assert_eq!(fs::read(&p1).unwrap(), b"Subject: 1\n\n");
        let name = p1.file_name().unwrap().to_str().unwrap();
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        assert!(parts[0].parse::<u64>().is_ok(), "{name}");
        assert!(
            parts[1].starts_with(&format!("{}_", std::process::id())),
            "{name}"
        );
        assert!(!name.contains('/') && !name.contains(':'));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        let entries = md.list_new().unwrap();
        assert_eq!(entries.len(), 2);
        let e = entries.iter().find(|e| e.path == p1).unwrap();
        md.mark_processed(e).unwrap();
        let moved = dir.path().join("cur").join(format!("{name}:2,"));
        assert!(moved.is_file());
        assert!(!p1.exists());
        assert_eq!(fs::read(&moved).unwrap(), b"Subject: 1\n\n");
        // Second call (as after a crash) is fine and changes nothing.
        md.mark_processed(e).unwrap();
        assert!(moved.is_file());
        assert_eq!(md.list_new().unwrap().len(), 1);
    }

    #[test]
    fn mark_processed_fails_when_cur_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        md.deliver(b"x").unwrap();
        fs::remove_dir(dir.path().join("cur")).unwrap();
        let entries = md.list_new().unwrap();
        assert!(md.mark_processed(&entries[0]).is_err());
        assert!(entries[0].path.exists());
    }
}
