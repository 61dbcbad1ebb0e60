//! `onit run --dry-run`: what onit would do with the mailbox as it is now,
//! without doing it. The messages waiting (Maildir `new/`, or each watched IMAP
//! folder from the stored next UID on) are read, classified and threaded by
//! the one ingest seam into a throw-away copy of the database, and the result
//! is printed: the tickets it would open, the acknowledgments and other mail
//! it would send, what it would record on existing tickets, what it would
//! ignore.
//!
//! Nothing is written to the real database (it is copied, never migrated;
//! PostgreSQL is not copied: threading then starts from an empty database),
//! nothing is sent (no outbox worker runs), no Maildir file moves, and IMAP
//! folders are opened read-only (EXAMINE) and read with BODY.PEEK, so no
//! flag changes.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use crate::config::{Runtime, SourceKind};
use crate::ingest::{mode_for_arrival, receive_imf, Disposition, Mode};
use crate::store::{probe, Store};

/// What onit would do with one message.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Where it was read: a file, or `imap:FOLDER/UIDVALIDITY/UID`.
    pub origin: String,
    pub from: String,
    pub subject: String,
    /// `open`, `record`, `ignore`, `duplicate` or `unparseable`.
    pub action: &'static str,
    /// The ticket it would open or be recorded on.
    pub ticket: Option<String>,
    /// The class (`client`, `automated`, …).
    pub class: Option<&'static str>,
    /// True when an acknowledgment would be sent.
    pub acknowledge: bool,
    /// Older than `mailbox.ack_max_age`: recorded as history, never acknowledged.
    pub history: bool,
    pub note: Option<String>,
}

/// One message onit would send.
#[derive(Debug, Clone, Serialize)]
pub struct WouldSend {
    pub kind: &'static str,
    pub to: String,
}

/// The dry run's result.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub mailbox: String,
    pub messages: Vec<Planned>,
    pub would_send: Vec<WouldSend>,
    /// Set when the plan was made against an empty database (no copy could be made).
    pub note: Option<String>,
}

/// A message as read from the source.
struct Read {
    origin: String,
    raw: Vec<u8>,
    arrival: DateTime<Utc>,
}

/// Makes the plan at `now`. `scratch` is a folder for the throw-away database.
pub async fn plan(rt: &Runtime, now: DateTime<Utc>, scratch: &std::path::Path) -> Result<Plan> {
    let copy = scratch.join("dry-run.db");
    let mut note = None;
    let url = &rt.database_url;
    if probe::sqlite_path(url).is_some() && probe::exists(url).await? {
        let real = Store::connect(url, 1).await?;
        let r = crate::store::backup::scratch_copy(&real, &copy).await;
        real.close().await;
        r.context("copying the database for the dry run")?;
    } else if probe::sqlite_path(url).is_some() {
        note = Some("no database yet: planned as onit's first run".to_string());
    } else {
        note = Some("PostgreSQL is not copied: planned against an empty database, so mail is not threaded onto existing tickets".to_string());
    }
    let scratch_url = format!("sqlite://{}", copy.display());
    let store = Store::open(&scratch_url, 2).await?;
    // What was queued before the plan is left unread: over a long history it is
    // every mail ever sent.
    let before = store.outbox_last_id().await?;
    let (mailbox, read) = match (&rt.source, &rt.imap) {
        (SourceKind::Imap, Some(cfg)) => (
            format!("IMAP {} at {}", cfg.username, cfg.host),
            read_imap(&store, cfg, now).await?,
        ),
        _ => (
            format!("Maildir {}", rt.maildir.display()),
            read_maildir(rt, now)?,
        ),
    };
    let mut messages = Vec::new();
    for m in read {
        let view = crate::message::MailView::parse(&m.raw).ok();
        let mode = mode_for_arrival(rt, m.arrival, now);
        let out = receive_imf(&store, rt, &m.raw, m.arrival, &m.origin, mode).await?;
        let action = match out.disposition {
            Disposition::NewTicket => "open",
            Disposition::Threaded => "record",
            Disposition::Unthreaded => "ignore",
            Disposition::Duplicate => "duplicate",
            Disposition::Unparseable => "unparseable",
            Disposition::Held => "hold",
        };
        messages.push(Planned {
            origin: m.origin,
            from: view
                .as_ref()
                .and_then(|v| v.from.as_ref().map(|a| a.to_string()))
                .unwrap_or_default(),
            subject: view.map(|v| v.subject).unwrap_or_default(),
            action,
            ticket: out.ticket,
            class: out.class.map(|c| c.as_str()),
            acknowledge: out.ack_queued,
            history: mode == Mode::Import,
            note: out.note,
        });
    }
    let would_send = store
        .outbox_queued_after(before)
        .await?
        .into_iter()
        .map(|(kind, to)| WouldSend {
            kind: kind.as_str(),
            to,
        })
        .collect();
    store.close().await;
    Ok(Plan {
        mailbox,
        messages,
        would_send,
        note,
    })
}

fn read_maildir(rt: &Runtime, now: DateTime<Utc>) -> Result<Vec<Read>> {
    let new = rt.maildir.join("new");
    if !new.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<_> = std::fs::read_dir(&new)
        .with_context(|| format!("listing {}", new.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let raw = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        let arrival = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .unwrap_or(now)
            .min(now);
        out.push(Read {
            origin: p.display().to_string(),
            raw,
            arrival,
        });
    }
    Ok(out)
}

async fn read_imap(
    store: &Store,
    cfg: &crate::config::ImapRuntime,
    now: DateTime<Utc>,
) -> Result<Vec<Read>> {
    use crate::imap::connect::{self, timed};
    let t = cfg.command_timeout;
    let account = crate::imap::account_key(cfg);
    let mut session = connect::connect(cfg).await?;
    let mut out = Vec::new();
    for folder in &cfg.folders {
        // EXAMINE: read-only, so nothing (not even \Recent) changes.
        let mailbox = timed(t, &format!("EXAMINE {folder}"), session.examine(folder)).await?;
        let uidvalidity = i64::from(mailbox.uid_validity.unwrap_or(0));
        let state = {
            let mut tx = store.begin().await?;
            let s = tx.folder_state(&account, folder).await?;
            tx.rollback().await?;
            s
        };
        let next_uid = match state {
            Some(s) if s.uidvalidity == uidvalidity => s.next_uid,
            _ => 1,
        };
        if mailbox.exists == 0 {
            continue;
        }
        let mut uids: Vec<u32> = timed(
            t,
            "UID SEARCH",
            session.uid_search(format!("UID {next_uid}:*")),
        )
        .await?
        .into_iter()
        .filter(|u| i64::from(*u) >= next_uid)
        .collect();
        uids.sort_unstable();
        for chunk in uids.chunks(cfg.batch_size.max(1) as usize) {
            let set = chunk
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let fetches: Vec<async_imap::types::Fetch> = timed(t, "UID FETCH", async {
                let stream = session
                    .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                    .await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
            let mut got: Vec<Read> = fetches
                .iter()
                .filter_map(|f| {
                    let uid = f.uid?;
                    Some(Read {
                        origin: format!("imap:{folder}/{uidvalidity}/{uid}"),
                        raw: f.body().map(|b| b.to_vec()).unwrap_or_default(),
                        arrival: f
                            .internal_date()
                            .map(|d| d.with_timezone(&Utc))
                            .unwrap_or(now)
                            .min(now),
                    })
                })
                .collect();
            out.append(&mut got);
        }
        crate::imap::sync::drain_unsolicited(&mut session);
    }
    let _ = timed(t, "LOGOUT", session.logout()).await;
    Ok(out)
}

/// The plan as text: one line per message, then what would be sent.
pub fn plan_text(p: &Plan) -> String {
    let mut out = format!(
        "dry run: {} message(s) waiting in {}; nothing is written, sent or flagged\n",
        p.messages.len(),
        p.mailbox
    );
    if let Some(n) = &p.note {
        out.push_str(&format!("({n})\n"));
    }
    for m in &p.messages {
        let mut what = String::new();
        if m.acknowledge {
            what.push_str(", acknowledge");
        }
        if m.history {
            what.push_str(", history: older than mailbox.ack_max_age, not acknowledged");
        }
        if let Some(c) = m.class {
            what.push_str(&format!(", {c}"));
        }
        if let Some(n) = &m.note {
            what.push_str(&format!(" ({n})"));
        }
        out.push_str(&format!(
            "{:<11} {:<8} {} \"{}\"{what}\n",
            m.action,
            m.ticket.as_deref().unwrap_or("-"),
            m.from,
            crate::message::single_line(&m.subject)
        ));
    }
    let count = |a: &str| p.messages.iter().filter(|m| m.action == a).count();
    out.push_str(&format!(
        "would open {} ticket(s), acknowledge {}, record {} on tickets, ignore {}\n",
        count("open"),
        p.messages.iter().filter(|m| m.acknowledge).count(),
        count("record"),
        count("ignore")
    ));
    for s in &p.would_send {
        out.push_str(&format!("would send {} to {}\n", s.kind, s.to));
    }
    out
}
