//! Every message of the shared corpus (real mail from other projects) through
//! the live ingest path: no panic, every message accounted for, no
//! acknowledgment to any bounce or auto-reply, and ordinary mail in the
//! "not bounces" folders still treated as ordinary mail.
//! Skips, saying so, when ../shared/corpus is absent.

use std::collections::BTreeMap;

use chrono::Utc;
use onit::classify::MailClass;
use onit::ingest::{receive_imf, Disposition, Mode};
use onit::mailstore::read_import_path;

use crate::common::{corpus_dir, Db, Env};

/// Folders whose messages are bounces or auto-replies (INDEX.md, "B").
const AUTOMATED_SETS: &[&str] = &[
    "sisimai-set-of-emails",
    "flufl-bounce",
    "perl-bounceparser",
    "ruby-bounce_email",
    "php-bounce-handler",
];

/// Inside those sets, the mail that is not a bounce and must be treated as ordinary client mail.
fn is_ordinary(rel: &str) -> bool {
    rel.contains("sisimai-set-of-emails/maildir/not/")
        || rel.ends_with("perl-bounceparser/t/corpus/non-autoreply.msg")
}

/// The automated-mail signals POLICY lists by name (as `classify` reports them).
const POLICY_SIGNALS: &[&str] = &[
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "X-Autoreply",
    "empty return path",
    "multipart/report",
    "sender mailer-daemon@",
    "sender postmaster@",
    "sender no-reply@",
];

/// Unsolicited mail kept in perl-bounceparser's corpus to prove a bounce parser does not
/// mistake it for a bounce (spam-*.msg, virus-*.msg). It is neither a bounce nor an
/// auto-reply and carries no machine signal; onit honours an upstream spam filter's
/// verdict (`X-Spam-Flag`), which these messages lack, so they count as a stranger's mail.
fn is_unsolicited(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or("");
    rel.contains("perl-bounceparser/") && (name.starts_with("spam-") || name.starts_with("virus-"))
}

/// Out-of-office replies that INDEX.md lists as "not bounces" but that are auto-replies:
/// they must get no acknowledgment, but need not be classified automated when they carry
/// no machine-readable signal at all (tt_1234210666 is a Latvian out-of-office without one).
fn is_unflagged_auto_reply(rel: &str) -> bool {
    rel.contains("ruby-bounce_email/non_bounces/")
}

#[tokio::test]
async fn corpus_is_ingested_without_panic_or_acknowledging_robots() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("SKIP corpus test: ../shared/corpus is absent (set ONIT_CORPUS to run it)");
        return;
    };
    // The rate limit would hide a misclassified bounce: lift it so every verdict shows.
    // No flood limits: the corpus is one mailbox's worth of senders read at once
    // (tests/it/hostile_volume.rs tests floods).
    let env = Env::new(
        Db::Sqlite,
        "[policy]\nack_rate_per_hour = 1000000\nmax_new_tickets_per_sender_per_hour = 1000000\n\
         max_new_tickets_per_domain_per_hour = 1000000\n",
    );
    let rt = env.runtime();
    let store = env.store().await;
    let mut folders: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut total = 0usize;
    let mut by_disposition: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrongly_acked = Vec::new();
    let mut not_ordinary = Vec::new();
    for folder in folders {
        let set = folder.file_name().unwrap().to_string_lossy().to_string();
        let automated_set = AUTOMATED_SETS.contains(&set.as_str());
        let msgs = read_import_path(&folder)
            .unwrap_or_else(|e| panic!("reading {}: {e:#}", folder.display()));
        for m in msgs {
            if ["LICENSE", "SOURCE.txt", "INDEX.md", "README"]
                .iter()
                .any(|n| m.origin.ends_with(n))
                || m.origin.contains("/LICENSE")
                || m.origin.ends_with(".html")
            {
                continue;
            }
            total += 1;
            let rel = m
                .origin
                .strip_prefix(corpus.to_str().unwrap())
                .unwrap_or(&m.origin)
                .to_string();
            let out = receive_imf(
                &store,
                &rt,
                &m.bytes,
                m.arrival.unwrap_or_else(Utc::now),
                &rel,
                Mode::Live,
            )
            .await
            .unwrap_or_else(|e| panic!("{rel}: ingest failed: {e:#}"));
            *by_disposition
                .entry(format!("{:?}", out.disposition))
                .or_default() += 1;
            if automated_set && !is_ordinary(&rel) && !is_unsolicited(&rel) {
                let acked = out.ack_queued;
                let opened = out.disposition == Disposition::NewTicket;
                if acked || (opened && !is_unflagged_auto_reply(&rel)) {
                    wrongly_acked.push(format!("{rel} ({:?}, {:?})", out.class, out.disposition));
                }
            }
            // "Not bounces" may still carry one of the header signals POLICY lists (non-autoreply.msg is a
            // bounce with Auto-Submitted; POLICY's signals win). What must not happen is a heuristic
            // beyond POLICY's list turning ordinary mail into robot mail.
            let policy_signal = out
                .note
                .as_deref()
                .is_some_and(|n| POLICY_SIGNALS.iter().any(|p| n.starts_with(p)));
            if is_ordinary(&rel)
                && out.disposition != Disposition::Duplicate
                && !matches!(out.class, Some(MailClass::Client))
                && !policy_signal
            {
                not_ordinary.push(format!("{rel} ({:?}, {:?})", out.class, out.note));
            }
        }
    }
    let counted: usize = by_disposition.values().sum();
    eprintln!("corpus: {total} messages: {by_disposition:?}");
    assert!(
        total > 2000,
        "the corpus should hold over 2,000 messages, read {total}"
    );
    assert_eq!(counted, total, "every message accounted for");
    let stored: i64 = store
        .message_counts()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    let dups = by_disposition.get("Duplicate").copied().unwrap_or(0);
    // Every non-duplicate message is a stored row (plus our own acknowledgments).
    let acks = store.outbox_all().await.unwrap().len();
    assert_eq!(
        stored as usize,
        total - dups + acks,
        "stored rows = distinct messages + our acknowledgments"
    );
    assert!(
        wrongly_acked.is_empty(),
        "{} bounce/auto-reply messages were treated as client mail:\n{}",
        wrongly_acked.len(),
        wrongly_acked.join("\n")
    );
    assert!(
        not_ordinary.is_empty(),
        "ordinary mail misclassified:\n{}",
        not_ordinary.join("\n")
    );
    store.close().await;
}
