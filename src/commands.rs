//! POLICY "Commands from the team": an engineer or PM steers a ticket from a
//! mail client with lines such as `#priority high` or `#close` at the start of
//! a line in their own words (never in quoted text). The parser is pure; the
//! commands are applied inside the ingest transaction (or by `onit ticket ID
//! set|close`), each as an event on the ticket.
//!
//! Interpretations:
//! * A command line is a line of the author's own text ([`own_text`]: quotes
//!   and signatures removed) that starts, after optional whitespace, with `#`
//!   and a word of letters followed by the end of the line, whitespace or
//!   punctuation. `# Heading`, `#1`, `##` and a `#hashtag` later in a line are
//!   not command lines; `#hashtag` alone at the start of a line is one (an
//!   unknown command, so its sender hears of it). Names and the values of
//!   `#priority`, `#severity`, `#status` are case-insensitive; texts keep
//!   their case. `#cause: text` (a colon after the name) is accepted.
//! * Commands run in order; `#close` sees facts recorded earlier in the same
//!   message. A refused `#close` or a line that is not a valid command gets
//!   one reply per message to its sender (live mail only), listing every
//!   problem; valid commands in the same message are applied regardless.
//! * Commands from clients are never applied: each line that names a known
//!   command (valid or not) is recorded as a `command_ignored` event with the
//!   line as its detail, for the PM's digest. Other `#word` lines of a client
//!   are ordinary text.
//! * Commands in team mail that threads onto no ticket cannot be applied; the
//!   sender is told so (live mail only).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::classify::MailClass;
use crate::config::Runtime;
use crate::message::MailView;
use crate::policy::history::Status;
use crate::policy::priority::Priority;
use crate::policy::quoting::own_text;
use crate::store::{ClosingField, TicketRow, Tx};
use crate::ticket::lifecycle::{self, By, Closing};
use crate::ticket::{EventKind, Mode, OutboxKind};

pub use crate::ticket::Severity;

/// One valid command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `#priority urgent|high|medium`
    Priority(Priority),
    /// `#severity critical|high|medium|low`
    Severity(Severity),
    /// `#status open|resolved` (closing goes through `#close`)
    Status(Status),
    /// `#cause`, `#impact`, `#resolution`, `#prevention` with their text.
    Fact(ClosingField, String),
    /// `#close`
    Close,
    /// `#reopen`
    Reopen,
    /// `#merge JAC-3`: the other ticket is merged into this one.
    Merge(crate::ticket_ref::TicketRef),
    /// `#additional TEXT`: another issue noticed, recorded as a footnote.
    Additional(String),
    /// `#owner` (the sender) or `#owner ADDRESS` (a team member): who took the
    /// ticket, a monitoring alert above all (crate::monitoring).
    Owner(Option<EmailAddress>),
}

impl Command {
    /// The canonical line, e.g. `#priority high`.
    pub fn line(&self) -> String {
        match self {
            Command::Priority(p) => format!("#priority {}", p.as_str()),
            Command::Severity(s) => format!("#severity {}", s.as_str()),
            Command::Status(s) => format!("#status {}", s.as_str()),
            Command::Fact(f, t) => format!("#{} {t}", f.as_str()),
            Command::Close => "#close".into(),
            Command::Reopen => "#reopen".into(),
            Command::Merge(r) => format!("#merge {r}"),
            Command::Additional(t) => format!("#additional {t}"),
            Command::Owner(None) => "#owner".into(),
            Command::Owner(Some(a)) => format!("#owner {a}"),
        }
    }
}

/// A command line that is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `#foo`: no such command.
    #[error("`#{name}` is not a command (commands: {COMMAND_LIST})")]
    Unknown { name: String },
    /// A known command with a value it does not take.
    #[error("`#{command}` takes {expected}, not `{value}`")]
    Invalid {
        command: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A known command without the value it needs.
    #[error("`#{command}` needs {expected}")]
    Missing {
        command: &'static str,
        expected: &'static str,
    },
}

impl CommandError {
    /// Why the line was refused, without the value the sender wrote (for replies).
    pub fn reason(&self) -> String {
        match self {
            CommandError::Unknown { .. } => format!("not a command (commands: {COMMAND_LIST})"),
            CommandError::Invalid { expected, .. } => format!("takes {expected}"),
            CommandError::Missing { expected, .. } => format!("needs {expected}"),
        }
    }

    /// The line names a known command (it is only malformed).
    pub fn is_known(&self) -> bool {
        !matches!(self, CommandError::Unknown { .. })
    }
}

/// Every command, for help texts.
pub const COMMAND_LIST: &str = "#priority urgent|high|medium, #severity critical|high|medium|low, #status open|resolved, #cause TEXT, #impact TEXT, #resolution TEXT, #prevention TEXT, #close, #reopen, #merge JAC-n, #additional TEXT, #owner [ADDRESS]";

/// One command line as written, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The line, trimmed.
    pub line: String,
    pub result: Result<Command, CommandError>,
}

/// The commands in a message body, in order: valid ones and the errors of malformed ones.
pub fn parse_commands(text: &str) -> Vec<Result<Command, CommandError>> {
    command_lines(text).into_iter().map(|c| c.result).collect()
}

/// The command lines of a message body (its own text: quotes and signature removed).
pub fn command_lines(text: &str) -> Vec<CommandLine> {
    command_lines_of_own_words(&own_text(text))
}

/// The command lines of text that is already the author's own words
/// (`MailView::own_words`, read once at parse): not read for quotes again.
pub fn command_lines_of_own_words(own: &str) -> Vec<CommandLine> {
    own.lines()
        .filter_map(|l| {
            parse_line(l).map(|result| CommandLine {
                line: l.trim().to_string(),
                result,
            })
        })
        .collect()
}

/// Parses one line: `None` when it is not a command line at all.
pub fn parse_line(line: &str) -> Option<Result<Command, CommandError>> {
    let rest = line.trim_start().strip_prefix('#')?;
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    if after.chars().next().is_some_and(|c| c.is_alphanumeric()) {
        // `#abc1`, `#naïve`: a word, not a command.
        return None;
    }
    let name = name.to_ascii_lowercase();
    let value = after.trim();
    let value = value.strip_prefix(':').unwrap_or(value).trim();
    Some(parse_command(&name, value))
}

fn parse_command(name: &str, value: &str) -> Result<Command, CommandError> {
    let choice = |command: &'static str, expected: &'static str| {
        if value.is_empty() {
            CommandError::Missing { command, expected }
        } else {
            CommandError::Invalid {
                command,
                value: value.to_string(),
                expected,
            }
        }
    };
    let fact = |f: ClosingField| {
        if value.is_empty() {
            Err(CommandError::Missing {
                command: f.as_str(),
                expected: "a text after it, e.g. `#cause the nightly job filled the disk`",
            })
        } else {
            Ok(Command::Fact(f, value.to_string()))
        }
    };
    match name {
        "priority" => Priority::parse(value)
            .map(Command::Priority)
            .ok_or_else(|| choice("priority", "urgent, high or medium")),
        "severity" => Severity::parse(value)
            .map(Command::Severity)
            .ok_or_else(|| choice("severity", "critical, high, medium or low")),
        "status" => match value.to_ascii_lowercase().as_str() {
            "open" => Ok(Command::Status(Status::Open)),
            "resolved" => Ok(Command::Status(Status::Resolved)),
            _ => Err(choice(
                "status",
                "open or resolved (a ticket is closed with #close)",
            )),
        },
        "reopen" if value.is_empty() => Ok(Command::Reopen),
        "reopen" => Err(CommandError::Invalid {
            command: "reopen",
            value: value.to_string(),
            expected: "no text",
        }),
        "merge" => crate::ticket_ref::TicketRef::parse(value)
            .map(Command::Merge)
            .map_err(|_| choice("merge", "the other ticket's id, e.g. `#merge JAC-3`")),
        "additional" if value.is_empty() => Err(CommandError::Missing {
            command: "additional",
            expected: "the other issue, e.g. `#additional the backup job also failed`",
        }),
        "additional" => Ok(Command::Additional(value.to_string())),
        "owner" if value.is_empty() => Ok(Command::Owner(None)),
        "owner" => EmailAddress::parse(value)
            .map(|a| Command::Owner(Some(a)))
            .map_err(|_| CommandError::Invalid {
                command: "owner",
                value: value.to_string(),
                expected: "nothing (you take it) or a team member's address",
            }),
        "cause" => fact(ClosingField::Cause),
        "impact" => fact(ClosingField::Impact),
        "resolution" => fact(ClosingField::Resolution),
        "prevention" => fact(ClosingField::Prevention),
        "close" => {
            if value.is_empty() {
                Ok(Command::Close)
            } else {
                Err(CommandError::Invalid {
                    command: "close",
                    value: value.to_string(),
                    expected:
                        "no text (record #cause, #resolution and #prevention on their own lines)",
                })
            }
        }
        other => Err(CommandError::Unknown {
            name: other.to_string(),
        }),
    }
}

pub use crate::ticket::lifecycle::{name_fields, REQUIRED_TO_CLOSE};

/// Who gave the commands, and how to answer them.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// As events record it: the sender's address, or `command line (user)`.
    pub name: &'a str,
    /// Mail only: the message the commands came in (events point to it).
    pub message_id: Option<&'a str>,
    /// Mail only: where a reply about problems goes (a team address). `None`: never reply.
    pub reply_to: Option<&'a EmailAddress>,
}

/// What applying a message's commands did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// What changed (or was already so), one line each.
    pub done: Vec<String>,
    /// Lines not applied, and why.
    pub problems: Vec<String>,
    /// The same, as a reply may say them: the command word and the reason, never
    /// the rest of the sender's line.
    pub reply_lines: Vec<String>,
    /// The facts a refused `#close` was missing.
    pub close_refused: Option<Vec<ClosingField>>,
    /// The report a successful close made.
    pub report: Option<crate::report::Made>,
    /// A reply about the problems was queued to the sender.
    pub replied: bool,
}

/// Applies command lines to `ticket` in the caller's transaction, each as an
/// event at `at`. In live mode, a refused close or an invalid line gets one
/// reply to `actor.reply_to`, and a close sends the report.
pub async fn apply(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    ticket: &TicketRow,
    commands: &[CommandLine],
    actor: &Actor<'_>,
    at: DateTime<Utc>,
    mode: Mode,
) -> Result<Applied> {
    let mut out = Applied::default();
    let mut t = ticket.clone();
    let mut facts = tx.closing_facts(t.id).await?;
    let reference = t.reference();
    let by = By {
        actor: Some(actor.name),
        message_id: actor.message_id,
    };
    for c in commands {
        let cmd = match &c.result {
            Ok(cmd) => cmd,
            Err(e) => {
                let detail = format!("{}: {e}", c.line);
                lifecycle::record(tx, t.id, at, EventKind::CommandInvalid, by, &detail).await?;
                out.problems.push(detail);
                out.reply_lines
                    .push(format!("{}: {}", command_word(&c.line), e.reason()));
                continue;
            }
        };
        match cmd {
            Command::Priority(p) => out.done.push(
                match lifecycle::set_priority(tx, rt, &mut t, *p, by, at).await? {
                    Some(detail) => format!("priority {detail}"),
                    None => format!("priority already {p}"),
                },
            ),
            Command::Severity(s) => out.done.push(
                match lifecycle::set_severity(tx, &mut t, *s, by, at).await? {
                    Some(detail) => format!("severity {detail}"),
                    None => format!("severity already {s}"),
                },
            ),
            Command::Status(s) => out.done.push(
                if lifecycle::set_status(tx, rt, &mut t, *s, by, at).await? {
                    format!("status {s}")
                } else {
                    format!("status already {s}")
                },
            ),
            Command::Fact(f, text) => {
                lifecycle::set_fact(tx, &t, &mut facts, *f, text, by, at).await?;
                out.done.push(format!("{} recorded", f.as_str()));
            }
            Command::Reopen => out
                .done
                .push(if lifecycle::reopen(tx, rt, &mut t, by, at).await? {
                    "reopened".into()
                } else {
                    "already open".into()
                }),
            Command::Additional(text) => {
                crate::footnotes::record(tx, &t, text, by, at).await?;
                out.done.push("additional issue recorded".into());
            }
            Command::Owner(named) => {
                // `#owner` alone: the sender takes it (mail only: the command line names someone).
                let who = named
                    .clone()
                    .or_else(|| EmailAddress::parse(actor.name).ok())
                    .filter(|a| rt.team.is_team(a));
                let Some(who) = who else {
                    let why = "takes a team member's address";
                    let detail = format!("{}: {why}", c.line);
                    lifecycle::record(tx, t.id, at, EventKind::CommandInvalid, by, &detail).await?;
                    out.problems.push(detail);
                    out.reply_lines.push(format!("#owner: {why}"));
                    continue;
                };
                out.done.push(
                    match lifecycle::take_ownership(tx, &mut t, &who, by, at).await? {
                        Some(detail) => detail,
                        None => format!("already owned by {who}"),
                    },
                );
            }
            Command::Merge(r) => {
                let other = match tx.ticket_by_number(r.number).await? {
                    Some(o) if r.prefix == rt.team.prefix => Some(o),
                    _ => None,
                };
                let Some(mut other) = other else {
                    let why = format!("no ticket {r}");
                    lifecycle::record(
                        tx,
                        t.id,
                        at,
                        EventKind::CommandInvalid,
                        by,
                        &format!("{}: {why}", c.line),
                    )
                    .await?;
                    out.problems.push(format!("{}: {why}", c.line));
                    out.reply_lines.push(format!("#merge: {why}"));
                    continue;
                };
                match lifecycle::merge(tx, rt, &mut t, &mut other, by, at).await {
                    Ok(lifecycle::Merge::Merged) => {
                        out.done.push(format!("{r} merged into {reference}"))
                    }
                    Ok(lifecycle::Merge::AlreadyMerged) => {
                        out.done.push(format!("{r} already merged"))
                    }
                    Err(e) => {
                        let why = format!("{e:#}");
                        lifecycle::record(
                            tx,
                            t.id,
                            at,
                            EventKind::CommandInvalid,
                            by,
                            &format!("{}: {why}", c.line),
                        )
                        .await?;
                        out.problems.push(format!("{}: {why}", c.line));
                        out.reply_lines.push(format!("#merge: {why}"));
                    }
                }
            }
            Command::Close => match lifecycle::close(tx, rt, &mut t, &facts, by, at, mode).await? {
                Closing::AlreadyClosed => out.done.push("already closed".into()),
                Closing::Refused(missing) => {
                    let why = format!(
                        "{reference} was not closed: {} not recorded. A ticket closes only with cause, resolution and prevention recorded.",
                        name_fields(&missing)
                    );
                    out.problems.push(format!("{}: {why}", c.line));
                    out.reply_lines
                        .push(format!("{}: {why}", command_word(&c.line)));
                    out.close_refused = Some(missing);
                }
                Closing::Closed(made) => {
                    out.done.push(match &made.message_id {
                        Some(_) => "closed; incident response report stored and queued".into(),
                        None => "closed; incident response report stored".into(),
                    });
                    out.report = Some(made);
                }
            },
        }
    }
    if mode == Mode::Live && !out.problems.is_empty() {
        if let (Some(to), Some(mid)) = (actor.reply_to, actor.message_id) {
            out.replied = reply(tx, rt, &t, &out, to, mid, at).await?;
        }
    }
    Ok(out)
}

async fn reply(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    t: &TicketRow,
    out: &Applied,
    to: &EmailAddress,
    message_id: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    if !rt.team.is_team(to) {
        // Never to a client (commands are only read from team mail anyway).
        return Ok(false);
    }
    if command_replies_exhausted(tx, rt, to, at).await? {
        return Ok(false);
    }
    let reference = t.reference();
    let subject = match &out.close_refused {
        Some(missing) => format!("Not closed: {} missing", name_fields(missing)),
        None => "Command not applied".to_string(),
    };
    let mut body = format!(
        "Your message about {reference} (Message-ID <{message_id}>) had lines onit could not apply:\n\n"
    );
    for p in &out.reply_lines {
        body.push_str(&format!("  {p}\n"));
    }
    if let Some(missing) = &out.close_refused {
        body.push_str("\nTo close it, send a note on the ticket with the missing line(s), e.g.\n");
        for f in missing {
            body.push_str(&format!("  #{} <text>\n", f.as_str()));
        }
        body.push_str("  #close\n");
    }
    if !out.done.is_empty() {
        body.push_str(&format!("\nApplied: {}.\n", out.done.join("; ")));
    }
    body.push_str(&format!("\nCommands: {COMMAND_LIST}\n\n-- onit\n"));
    let notice = crate::notices::Notice {
        kind: OutboxKind::CommandReply,
        dedupe_key: format!("command_reply:{message_id}"),
        ticket_id: Some(t.id),
        ticket: Some(&reference),
        to: std::slice::from_ref(to),
        subject,
        body,
    };
    crate::notices::queue(tx, rt, &notice, at).await
}

/// The command word of a line (`#close`), never more of the sender's text.
fn command_word(line: &str) -> String {
    let w: String = line
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ':')
        .take(24)
        .collect();
    if w.starts_with('#')
        && w[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        w
    } else {
        "(a line)".into()
    }
}

/// Whether `to` already had `policy.command_replies_per_hour` replies this hour.
async fn command_replies_exhausted(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    to: &EmailAddress,
    at: DateTime<Utc>,
) -> Result<bool> {
    let cap = rt.policy.command_replies_per_hour as i64;
    let n = tx
        .queued_since(
            OutboxKind::CommandReply,
            crate::store::RateScope::Address(to),
            at - chrono::Duration::hours(1),
            cap,
        )
        .await?;
    if n >= cap {
        tracing::warn!(to = %to, n, "command replies rate limit reached; no reply");
    }
    Ok(n >= cap)
}

/// The ingest hook: reads the command lines of a stored message. Team mail
/// (contacts and internal notes) on a ticket has them applied; client mail
/// has them recorded as `command_ignored`. `proven`: the sender is authenticated
/// (crate::trust); only then does a reply about lines not applied go back.
pub async fn from_mail(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    v: &MailView,
    class: MailClass,
    at: DateTime<Utc>,
    mode: Mode,
    proven: bool,
) -> Result<()> {
    if !matches!(
        class,
        MailClass::Client | MailClass::Contact | MailClass::InternalNote
    ) || !v.body.contains('#')
    {
        return Ok(());
    }
    let lines = command_lines_of_own_words(&v.own_words.text());
    if lines.is_empty() {
        return Ok(());
    }
    let ticket = match tx.ticket_of_message(&v.message_id).await? {
        Some(id) => tx.ticket(id).await?,
        None => None,
    };
    let from = v.from.as_ref();
    if class == MailClass::Client {
        let Some(t) = ticket else {
            return Ok(());
        };
        for l in &lines {
            if l.result.as_ref().err().is_some_and(|e| !e.is_known()) {
                continue;
            }
            let by = By {
                actor: from.map(|f| f.as_str()),
                message_id: Some(&v.message_id),
            };
            lifecycle::record(tx, t.id, at, EventKind::CommandIgnored, by, &l.line).await?;
        }
        tracing::info!(ticket = %t.reference(), "commands in client mail ignored");
        return Ok(());
    }
    let Some(from) = from.filter(|f| rt.team.is_team(f)) else {
        return Ok(());
    };
    match ticket {
        Some(t) => {
            let actor = Actor {
                name: from.as_str(),
                message_id: Some(&v.message_id),
                reply_to: proven.then_some(from),
            };
            let applied = apply(tx, rt, &t, &lines, &actor, at, mode).await?;
            tracing::info!(
                ticket = %t.reference(),
                done = applied.done.len(),
                problems = applied.problems.len(),
                "team commands"
            );
        }
        None if mode == Mode::Live && proven => {
            if command_replies_exhausted(tx, rt, from, at).await? {
                return Ok(());
            }
            // Only the command words: never the sender's text (a forged or
            // phishing line must not come back from the support address).
            let body = format!(
                "Your message (Message-ID <{}>) has command lines, but it belongs to no ticket, so none was applied: {}.\n\n\
                 Reply to a message of the ticket, or put its tag (e.g. [{}-7]) in the subject, and send them again.\n\n-- onit\n",
                v.message_id,
                lines
                    .iter()
                    .map(|l| command_word(&l.line))
                    .collect::<Vec<_>>()
                    .join(", "),
                rt.team.prefix.as_str(),
            );
            let notice = crate::notices::Notice {
                kind: OutboxKind::CommandReply,
                dedupe_key: format!("command_reply:{}", v.message_id),
                ticket_id: None,
                ticket: None,
                to: std::slice::from_ref(from),
                subject: "Commands not applied: no ticket".into(),
                body,
            };
            crate::notices::queue(tx, rt, &notice, at).await?;
        }
        None => {}
    }
    Ok(())
}

/// What `onit ticket ID set|note|close` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliAction {
    /// `set FIELD VALUE`: priority, severity, status, cause, impact, resolution, prevention.
    Set { field: String, value: String },
    /// `note TEXT`
    Note(String),
    /// `close`
    Close,
    /// `ack`: send the acknowledgment that was held for an unproven sender.
    Ack,
    /// `reopen`
    Reopen,
    /// `merge OTHER`: OTHER is merged into this ticket.
    Merge(String),
}

/// Who acts on the command line, as events record it: `command line (dan)`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .map(|u| single_line_name(&u))
        .filter(|u| !u.is_empty());
    match user {
        Some(u) => format!("command line ({u})"),
        None => "command line".into(),
    }
}

fn single_line_name(s: &str) -> String {
    crate::message::single_line(s).chars().take(64).collect()
}

/// The command for `set FIELD VALUE`, by the same rules as mail.
pub fn cli_command(field: &str, value: &str) -> Result<Command> {
    const FIELDS: &str =
        "priority, severity, status, cause, impact, resolution, prevention or owner";
    let name = field.trim().trim_start_matches('#').to_ascii_lowercase();
    match name.as_str() {
        "close" => anyhow::bail!("to close a ticket use `onit ticket ID close`"),
        "priority" | "severity" | "status" | "cause" | "impact" | "resolution" | "prevention"
        | "owner" => {}
        other => anyhow::bail!("cannot set `{other}`: set takes {FIELDS}"),
    }
    // Only the first line of the value: a command is one line.
    let value = value.lines().next().unwrap_or("");
    match parse_line(&format!("#{name} {value}")) {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(anyhow::anyhow!("{e}")),
        None => anyhow::bail!("cannot set `{name}`: set takes {FIELDS}"),
    }
}

/// Runs one command-line action on ticket `number` at `now`, and commits it.
/// Returns what to print; a refused close or an invalid value is an error (it
/// is recorded on the ticket all the same, and no mail is sent about it).
pub async fn run_cli(
    store: &crate::store::Store,
    rt: &Runtime,
    number: i64,
    action: CliAction,
    now: DateTime<Utc>,
) -> Result<String> {
    let actor_name = cli_actor();
    let actor = Actor {
        name: &actor_name,
        message_id: None,
        reply_to: None,
    };
    let mut tx = store.begin().await?;
    let Some(t) = tx.ticket_by_number(number).await? else {
        anyhow::bail!("no ticket {}-{number}", rt.team.prefix.as_str());
    };
    let reference = t.reference();
    let command = match action {
        CliAction::Note(text) => {
            let text = crate::message::single_line(&text);
            anyhow::ensure!(!text.is_empty(), "a note needs a text");
            let by = By {
                actor: Some(&actor_name),
                message_id: None,
            };
            lifecycle::record(&mut tx, t.id, now, EventKind::Note, by, &text).await?;
            tx.commit().await?;
            return Ok(format!("{reference}: note recorded"));
        }
        CliAction::Set { field, value } => cli_command(&field, &value)?,
        CliAction::Close => Command::Close,
        CliAction::Reopen => Command::Reopen,
        CliAction::Merge(other) => Command::Merge(
            crate::ticket_ref::TicketRef::parse(&other)
                .with_context(|| format!("`{other}` is not a ticket id like JAC-3"))?,
        ),
        CliAction::Ack => {
            anyhow::ensure!(
                t.ack_message_id.is_none(),
                "{reference} is already acknowledged"
            );
            let reporter = crate::address::EmailAddress::parse(&t.reporter)
                .with_context(|| format!("{reference}: reporter {}", t.reporter))?;
            let req = lifecycle::AckRequest {
                reporter: &reporter,
                client_name: None,
                subject: &t.subject,
                message_id: &t.opening_message_id,
                references: &[],
                // A person vouches for sending it; the sender's words are still not echoed.
                verified: false,
                released_by: Some(&actor_name),
                // The ticket's timeline shows a too_large event; the released text stays short.
                too_large: None,
            };
            let queued = lifecycle::acknowledge(&mut tx, rt, &t, &req, now).await?;
            tx.commit().await?;
            anyhow::ensure!(queued, "{reference}: the acknowledgment could not be queued (see `onit ticket {reference}`)");
            return Ok(format!(
                "{reference}: acknowledgment to {} queued (the daemon sends it)",
                t.reporter
            ));
        }
    };
    let line = command.line();
    let lines = [CommandLine {
        line,
        result: Ok(command),
    }];
    let applied = apply(&mut tx, rt, &t, &lines, &actor, now, Mode::Live).await?;
    tx.commit().await?;
    if let Some(missing) = &applied.close_refused {
        anyhow::bail!(
            "{reference} was not closed: {} not recorded (a ticket closes only with cause, resolution and prevention recorded; record them with `onit ticket {reference} set {} TEXT`)",
            name_fields(missing),
            missing[0].as_str()
        );
    }
    anyhow::ensure!(
        applied.problems.is_empty(),
        "{reference}: {}",
        applied.problems.join("; ")
    );
    let mut out = format!("{reference}: {}", applied.done.join("; "));
    if let Some(r) = &applied.report {
        if !r.recipients.is_empty() {
            out.push_str(&format!(
                "\nincident response report queued to {} (the daemon sends it); `onit report {reference}` prints it",
                r.recipients.join(", ")
            ));
        }
    }
    Ok(out)
}

/// The severity and closing facts of a ticket, for `onit ticket ID`.
pub fn closing_text(t: &TicketRow, facts: &crate::store::ClosingFacts) -> String {
    let mut out = format!(
        "\nSeverity: {}\nClosing facts:\n",
        t.severity.map_or("-", |s| s.as_str())
    );
    for f in [
        ClosingField::Cause,
        ClosingField::Impact,
        ClosingField::Resolution,
        ClosingField::Prevention,
    ] {
        out.push_str(&format!(
            "  {:<11} {}\n",
            f.as_str(),
            facts.get(f).unwrap_or("-")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Command, CommandError> {
        let mut v = parse_commands(line);
        assert_eq!(v.len(), 1, "{line:?} gave {v:?}");
        v.remove(0)
    }

    #[test]
    fn every_command_parses() {
        assert_eq!(
            one("#priority urgent"),
            Ok(Command::Priority(Priority::Urgent))
        );
        assert_eq!(
            one("#severity critical"),
            Ok(Command::Severity(Severity::Critical))
        );
        assert_eq!(
            one("#status resolved"),
            Ok(Command::Status(Status::Resolved))
        );
        assert_eq!(one("#status open"), Ok(Command::Status(Status::Open)));
        assert_eq!(
            one("#cause The nightly job filled the disk"),
            Ok(Command::Fact(
                ClosingField::Cause,
                "The nightly job filled the disk".into()
            ))
        );
        assert_eq!(
            one("  #impact: checkout down 40 min"),
            Ok(Command::Fact(
                ClosingField::Impact,
                "checkout down 40 min".into()
            ))
        );
        assert_eq!(
            one("#resolution disk cleaned"),
            Ok(Command::Fact(
                ClosingField::Resolution,
                "disk cleaned".into()
            ))
        );
        assert_eq!(
            one("\t#prevention alert at 80 %"),
            Ok(Command::Fact(
                ClosingField::Prevention,
                "alert at 80 %".into()
            ))
        );
        assert_eq!(one("#close"), Ok(Command::Close));
        assert_eq!(one("#close   "), Ok(Command::Close));
    }

    #[test]
    fn owner_takes_nothing_or_an_address() {
        assert_eq!(one("#owner"), Ok(Command::Owner(None)));
        assert_eq!(
            one("#Owner: Eng2@JAC.example"),
            Ok(Command::Owner(Some(
                EmailAddress::parse("eng2@jac.example").unwrap()
            )))
        );
        assert!(matches!(
            one("#owner the night shift"),
            Err(CommandError::Invalid {
                command: "owner",
                ..
            })
        ));
        assert_eq!(
            Command::Owner(EmailAddress::parse("eng2@jac.example").ok()).line(),
            "#owner eng2@jac.example"
        );
    }

    #[test]
    fn case_does_not_matter_but_texts_keep_theirs() {
        assert_eq!(one("#PRIORITY High"), Ok(Command::Priority(Priority::High)));
        assert_eq!(one("#Severity LOW"), Ok(Command::Severity(Severity::Low)));
        assert_eq!(
            one("#Status Resolved"),
            Ok(Command::Status(Status::Resolved))
        );
        assert_eq!(one("#CLOSE"), Ok(Command::Close));
        assert_eq!(
            one("#Cause Disk FULL on db-2"),
            Ok(Command::Fact(
                ClosingField::Cause,
                "Disk FULL on db-2".into()
            ))
        );
    }

    #[test]
    fn unknown_and_malformed_commands_are_errors() {
        assert_eq!(
            one("#foo bar"),
            Err(CommandError::Unknown { name: "foo".into() })
        );
        assert!(!one("#foo").unwrap_err().is_known());
        let e = one("#priority soon").unwrap_err();
        assert_eq!(
            e,
            CommandError::Invalid {
                command: "priority",
                value: "soon".into(),
                expected: "urgent, high or medium"
            }
        );
        assert!(e.is_known());
        assert!(e.to_string().contains("soon"), "{e}");
        assert!(matches!(
            one("#priority"),
            Err(CommandError::Missing {
                command: "priority",
                ..
            })
        ));
        assert!(matches!(
            one("#cause"),
            Err(CommandError::Missing {
                command: "cause",
                ..
            })
        ));
        assert!(matches!(
            one("#cause:   "),
            Err(CommandError::Missing {
                command: "cause",
                ..
            })
        ));
        assert!(matches!(
            one("#severity urgent"),
            Err(CommandError::Invalid {
                command: "severity",
                ..
            })
        ));
        let closed = one("#status closed").unwrap_err();
        assert!(closed.to_string().contains("#close"), "{closed}");
        assert!(matches!(
            one("#close it now"),
            Err(CommandError::Invalid {
                command: "close",
                ..
            })
        ));
        assert!(matches!(
            one("#close."),
            Err(CommandError::Invalid {
                command: "close",
                ..
            })
        ));
    }

    #[test]
    fn only_lines_that_start_with_a_command_word_count() {
        assert!(parse_commands("please see #hashtag here\nand #close too").is_empty());
        assert!(parse_commands("# Heading\n## Sub\n#1 problem\n#\n#abc1").is_empty());
        assert!(parse_commands("no commands at all").is_empty());
        // A #hashtag alone at the start of a line is an unknown command.
        assert_eq!(parse_commands("#hashtag").len(), 1);
    }

    #[test]
    fn commands_in_quoted_text_and_signatures_are_ignored() {
        let body = "#priority high\nlooks like the index\n\nOn Thu, 26 Nov 2026 at 10:00, Dan <dan@jac.example> wrote:\n#close\n> #severity low\n";
        assert_eq!(
            parse_commands(body),
            vec![Ok(Command::Priority(Priority::High))]
        );
        let quoted = "> #close\n> #cause x\nthanks";
        assert!(parse_commands(quoted).is_empty());
        let sig = "ok\n-- \n#close\n";
        assert!(parse_commands(sig).is_empty());
        let outlook = "fine\r\nFrom: Bob <bob@acme.example>\r\nSent: Thursday\r\nTo: support\r\n\r\n#close\r\n";
        assert!(parse_commands(outlook).is_empty());
    }

    #[test]
    fn lines_keep_their_text_and_order() {
        let lines = command_lines("hi\r\n  #priority high\r\n#foo\r\n#close\r\n");
        let texts: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(texts, vec!["#priority high", "#foo", "#close"]);
        assert_eq!(lines[2].result, Ok(Command::Close));
    }

    #[test]
    fn the_command_line_uses_the_same_rules() {
        assert_eq!(
            cli_command("priority", "HIGH").unwrap(),
            Command::Priority(Priority::High)
        );
        assert_eq!(
            cli_command("cause", "the disk filled up").unwrap(),
            Command::Fact(ClosingField::Cause, "the disk filled up".into())
        );
        assert!(cli_command("priority", "soon")
            .unwrap_err()
            .to_string()
            .contains("soon"));
        assert!(cli_command("status", "closed").is_err());
        assert!(cli_command("close", "x").is_err());
        assert!(cli_command("owner", "dan").is_err());
        assert!(cli_command("cause", "").is_err());
    }

    #[test]
    fn fields_are_named_for_people() {
        assert_eq!(name_fields(&[ClosingField::Prevention]), "prevention");
        assert_eq!(
            name_fields(&REQUIRED_TO_CLOSE),
            "cause, resolution and prevention"
        );
        assert_eq!(Command::Close.line(), "#close");
        assert_eq!(
            Command::Fact(ClosingField::Cause, "x".into()).line(),
            "#cause x"
        );
    }
}
