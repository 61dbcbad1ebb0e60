//! The command line. Every command takes `--config FILE` (or `ONIT_CONFIG`);
//! `--json` prints one JSON document on stdout. Logs go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Runtime};
use crate::store::Store;
use crate::ticket_ref::TicketRef;
use crate::views::{ticket_text, MessageView, TicketDetail, TicketView, TicketsTable};

/// The version and the git commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ONIT_COMMIT"), ")");

/// onit: runs a support mailbox by the incident-communication policy.
#[derive(Debug, Parser)]
#[command(name = "onit", version = VERSION, about)]
pub struct Cli {
    /// Configuration file layered over the defaults.
    #[arg(long, global = true, env = "ONIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Read variables (secrets as ONIT__SECTION__KEY) from this file first, as
    /// systemd's EnvironmentFile= does, so a command sees what the service sees.
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch the mailbox, acknowledge new tickets, deliver the outbox.
    Run {
        /// Drain what is there now, then exit.
        #[arg(long)]
        once: bool,
        /// Read the mailbox and print what onit would open, acknowledge, record
        /// and ignore; write, send and flag nothing.
        #[arg(long, conflicts_with = "once")]
        dry_run: bool,
        /// With --dry-run: print JSON.
        #[arg(long, requires = "dry_run")]
        json: bool,
    },
    /// Import .eml files, mbox files and Maildir folders as history (never sends mail).
    Import {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List tickets (every filter given must match).
    Tickets {
        #[arg(long)]
        json: bool,
        /// open, resolved or closed.
        #[arg(long, value_parser = parse_status)]
        status: Option<crate::ticket::Status>,
        /// A client project's name (`default` for senders of no listed domain).
        #[arg(long)]
        project: Option<String>,
        /// The PM's address.
        #[arg(long)]
        pm: Option<String>,
        /// urgent, high or medium.
        #[arg(long, value_parser = parse_priority)]
        priority: Option<crate::ticket::Priority>,
    },
    /// Show one ticket with its events, or act on it: `set`, `note`, `close`.
    Ticket {
        /// JAC-7 or 7.
        id: String,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<TicketAction>,
    },
    /// Print a closed ticket's incident response report (Markdown unless --html).
    Report {
        /// JAC-7 or 7.
        id: String,
        /// Print the Markdown (the default).
        #[arg(long, conflicts_with = "html")]
        markdown: bool,
        /// Print the HTML.
        #[arg(long)]
        html: bool,
        /// Print both as JSON: {"ticket", "markdown", "html"}.
        #[arg(long, conflicts_with_all = ["html", "markdown"])]
        json: bool,
    },
    /// Every rule broken up to --at, and each open ticket's next due time.
    Compliance {
        /// Evaluate at this instant (RFC 3339, or local `2026-11-26 17:00`); default now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Only list violations at or after this instant.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Render a PM digest without sending it: the daily compliance digest or the weekly status.
    Digest {
        /// daily or weekly.
        #[arg(value_enum)]
        kind: crate::digest::Kind,
        /// The digest's instant (RFC 3339, or local `2026-11-26 17:00`); default now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Only this PM's digest; default: every PM that has tickets.
        #[arg(long, value_name = "ADDRESS")]
        pm: Option<String>,
        /// Print the plain text (the default).
        #[arg(long, conflicts_with = "html")]
        print: bool,
        /// Write the HTML to FILE instead (FILE-<pm>.html for each PM when there are several).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Apply database migrations.
    Migrate {
        #[arg(long)]
        json: bool,
    },
    /// Copy the SQLite database to PATH (a new file), consistent while `onit run` writes.
    /// PostgreSQL: use pg_dump.
    Backup {
        #[arg(value_name = "PATH")]
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration: every error at once, in the file's order,
    /// naming the key (and the key meant, for a typo). Exit 2 when invalid.
    CheckConfig {
        #[arg(long)]
        json: bool,
    },
    /// Test the configuration against the real servers: database, calendar, OAuth,
    /// IMAP, SMTP, HTTP listener; one line per check, the fix under each failure.
    /// Exit 0 when every check passes, 1 otherwise.
    Doctor {
        /// Also send one real message to ADDR (and find it in the IMAP mailbox
        /// when ADDR is the address onit reads).
        #[arg(long, value_name = "ADDR")]
        send_test: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show the outbox and the stored mail.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Mail that opened no ticket: held by a flood limit (the default), automated, or set aside.
    Mail {
        /// held, automated or set-aside.
        #[arg(long, value_enum, default_value = "held")]
        kind: crate::mail_list::MailKind,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<MailAction>,
    },
    /// Print a shell completion script: `onit completions bash > /etc/bash_completion.d/onit`.
    Completions {
        /// bash, zsh, fish (or elvish, powershell).
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (onit.1 and one per command) into DIR (scripts/man-pages.sh).
    #[command(hide = true)]
    ManPages {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// OAuth2 sign-in for imap.auth / smtp.auth = "xoauth2".
    Oauth {
        #[command(subcommand)]
        action: OauthAction,
    },
}

/// `onit oauth …`.
#[derive(Debug, Subcommand)]
pub enum OauthAction {
    /// Sign in once (device code flow) and store the refresh token for the configured account.
    Login {
        /// google or microsoft (or custom); must be oauth.provider. Default: oauth.provider.
        #[arg(long, value_enum)]
        provider: Option<crate::oauth::Provider>,
    },
    /// The stored grant: when the access and refresh tokens expire, the last error. Never a token.
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// What `onit mail …` does besides listing.
#[derive(Debug, Subcommand)]
pub enum MailAction {
    /// Print one message as it arrived (a Message-ID, or a set-aside message's number).
    Show { id: String },
    /// Let held mail through: it opens its ticket (and is acknowledged) as if it arrived now.
    Release { id: String },
    /// Take mail that is on no ticket through ingest again, with the current configuration.
    ///
    /// In one transaction, replacing its earlier record. Mail that arrived within
    /// mailbox.ack_max_age is taken as arriving now (a ticket it opens is
    /// acknowledged); older mail is history and never acknowledged. A message
    /// already on a ticket is left as it is; held mail is for `release`.
    Reprocess {
        /// A Message-ID, or a set-aside message's number.
        id: String,
        /// Print what happened as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Thread a stored message that is on no ticket onto a ticket, where it counts.
    ///
    /// It counts as ingest classifies it (team mail to the client: a team update;
    /// a client's: a client message…), at its own time; nothing is sent. Refused,
    /// changing nothing: a closed or merged ticket, a message already on a ticket,
    /// held, own or unproven mail.
    Attach {
        /// The Message-ID.
        id: String,
        /// JAC-7 or 7.
        ticket: String,
        /// Print what happened as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `onit ticket ID …` does besides showing it (the commands of POLICY
/// "Commands from the team", on the command line).
#[derive(Debug, Subcommand)]
pub enum TicketAction {
    /// Set priority (urgent|high|medium), severity (critical|high|medium|low),
    /// status (open|resolved), a closing fact: cause, impact, resolution, prevention TEXT,
    /// or owner ADDRESS (a team member takes it).
    Set {
        field: String,
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        value: Vec<String>,
    },
    /// Add an internal note to the ticket's timeline (never sent to the client).
    Note {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Close it (only with cause, resolution and prevention recorded) and send the incident report.
    Close,
    /// Send the acknowledgment held because the sender was not proven (trust.acknowledge).
    Ack,
    /// Reopen it.
    Reopen,
    /// Merge another ticket into this one: its messages and events move here, it is
    /// closed as merged, and mail naming it threads onto this one.
    Merge {
        /// The other ticket: JAC-3.
        other: String,
    },
}

/// Entry point: parses arguments, runs the command, maps errors to exit codes
/// (1: the command failed, 2: the configuration is invalid).
pub fn main() -> ExitCode {
    crate::private_files::restrict_umask();
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Command::Run { .. });
    if daemon {
        // Before the runtime's threads take arenas of their own.
        crate::heap::keep_heap_small();
    } else {
        exit_quietly_when_stdout_closes();
        // Before any other thread starts (the log writer, the runtime, SQLite's):
        // they inherit it (src/cpu_placement.rs).
        crate::cpu_placement::stay_on_this_cpu();
    }
    match &cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "onit", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::ManPages { dir } => {
            return match man_pages(dir) {
                Ok(n) => {
                    println!("{n} man pages written to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("onit: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    if let Some(path) = &cli.env_file {
        if let Err(e) = crate::config::env_file::apply(path) {
            eprintln!("onit: {e:#}");
            return ExitCode::from(2);
        }
    }
    if let Command::CheckConfig { json } | Command::Doctor { json, .. } = &cli.command {
        if let Command::Doctor { send_test, .. } = &cli.command {
            return crate::doctor::command(cli.config.as_deref(), send_test.as_deref(), *json);
        }
        return check_config(cli.config.as_deref(), *json);
    }
    let rt = match Runtime::load(cli.config.as_deref()) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("onit: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(rt.log_format);
    // The daemon's tasks run side by side on two workers; a command is one
    // conversation with the database, on the one CPU it keeps (above).
    let built = if daemon {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(r) => r,
        Err(e) => {
            eprintln!("onit: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command, rt));
    // A task a bounded stop gave up on must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => {
            crate::logging::flush(std::time::Duration::from_millis(500));
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::logging::last_words(&format!("onit: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// A command that prints (`onit status | head -3`) ends quietly when its reader
/// goes away, as Unix tools do, instead of panicking on `println!`: SIGPIPE gets
/// its default action back (Rust starts with it ignored). The daemon keeps it
/// ignored: its logging handles a closed stdout/stderr and must never die of one.
fn exit_quietly_when_stdout_closes() {
    // SAFETY: called once at the start of main, before any thread exists; setting a
    // signal's disposition to SIG_DFL has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn check_config(file: Option<&std::path::Path>, json: bool) -> ExitCode {
    let result = Runtime::load(file);
    match (result, json) {
        (Ok(rt), false) => {
            println!("configuration OK: {}", rt.summary());
            for w in rt.trust.warnings() {
                eprintln!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        (Ok(rt), true) => {
            println!(
                "{}",
                serde_json::json!({"ok": true, "errors": [], "summary": rt.summary(), "warnings": rt.trust.warnings()})
            );
            ExitCode::SUCCESS
        }
        (Err(ConfigError(issues)), json) => {
            if json {
                let errors: Vec<_> = issues
                    .iter()
                    .map(|i| serde_json::json!({"key": i.key, "message": i.message}))
                    .collect();
                println!("{}", serde_json::json!({"ok": false, "errors": errors}));
            } else {
                eprintln!("onit: invalid configuration:");
                for i in &issues {
                    eprintln!("  {i}");
                }
            }
            ExitCode::from(2)
        }
    }
}

fn parse_ticket_id(s: &str, rt: &Runtime) -> Result<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        if n > 0 {
            return Ok(n);
        }
    }
    let r = TicketRef::parse(s).with_context(|| {
        format!(
            "`{s}` is not a ticket id like {}-7",
            rt.team.prefix.as_str()
        )
    })?;
    anyhow::ensure!(
        r.prefix == rt.team.prefix,
        "ticket {r} does not use this instance's prefix {}",
        rt.team.prefix.as_str()
    );
    Ok(r.number)
}

async fn mail(
    store: &Store,
    rt: &Runtime,
    kind: crate::mail_list::MailKind,
    json: bool,
    action: Option<MailAction>,
) -> Result<()> {
    match action {
        None => {
            let rows = crate::mail_list::list(store, kind).await?;
            if json {
                print_json(&rows)
            } else {
                print!("{}", crate::mail_list::list_text(&rows));
                Ok(())
            }
        }
        Some(MailAction::Show { id }) => {
            let id = crate::message::normalize_message_id(&id).unwrap_or(id);
            let raw = store
                .raw_mail(&id)
                .await?
                .with_context(|| format!("no stored message {id}"))?;
            use std::io::Write;
            std::io::stdout().write_all(&raw)?;
            Ok(())
        }
        Some(MailAction::Reprocess { id, json: j }) => {
            let r = crate::mail_reprocess::reprocess(store, rt, &id, chrono::Utc::now()).await?;
            if json || j {
                return print_json(&r);
            }
            println!("{}", r.text(rt.team.prefix.as_str()));
            Ok(())
        }
        Some(MailAction::Attach {
            id,
            ticket,
            json: j,
        }) => {
            let number = parse_ticket_id(&ticket, rt)?;
            let actor = crate::commands::cli_actor();
            let now = chrono::Utc::now();
            let r = crate::mail_attach::attach(store, rt, &id, number, &actor, now).await?;
            if json || j {
                return print_json(&r);
            }
            println!("{}", r.text(rt.calendar.tz()));
            Ok(())
        }
        Some(MailAction::Release { id }) => {
            let ticket = crate::mail_list::release(store, rt, &id, chrono::Utc::now()).await?;
            match ticket {
                Some(t) => println!("released {id}: {t}"),
                None => println!("released {id}: on no ticket"),
            }
            Ok(())
        }
    }
}

fn parse_status(s: &str) -> Result<crate::ticket::Status, String> {
    crate::ticket::Status::parse(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("`{s}` is not a status (open, resolved, closed)"))
}

fn parse_priority(s: &str) -> Result<crate::ticket::Priority, String> {
    crate::ticket::Priority::parse(s)
        .ok_or_else(|| format!("`{s}` is not a priority (urgent, high, medium)"))
}

/// `onit.1`, and `onit-COMMAND.1` for each visible command (and `onit-ticket-set.1`…).
fn man_pages(dir: &std::path::Path) -> Result<usize> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    let mut pending = vec![(
        "onit".to_string(),
        Cli::command().version(env!("CARGO_PKG_VERSION")),
    )];
    while let Some((name, cmd)) = pending.pop() {
        if cmd.is_hide_set() {
            continue;
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() != "help" {
                let full = format!("{name}-{}", sub.get_name());
                // clap names are &'static str (no `string` feature): one leak per page, once.
                let leaked: &'static str = Box::leak(full.clone().into_boxed_str());
                pending.push((full, sub.clone().name(leaked)));
            }
        }
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        written += 1;
    }
    Ok(written)
}

/// A private folder for the dry run's throw-away database, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<ScratchDir> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "onit-dry-run-{}-{:x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(ScratchDir(dir))
}

/// How many tickets `onit tickets` reads at a time.
const TICKETS_PER_PAGE: u32 = 5_000;

/// An `onit compliance` report: a period's, in memory, or the whole history's,
/// its parts on disk (`compliance_parts`).
enum Made {
    Period(crate::compliance::Report),
    Whole(crate::compliance_parts::PartedReport),
}

/// Where `onit tickets` writes as it reads: its table, or one JSON array.
enum Listing<W: std::io::Write> {
    Table(W),
    Json(crate::json_array::PrettyArray<W>),
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn dispatch(cmd: Command, rt: Runtime) -> Result<()> {
    match cmd {
        Command::Run {
            dry_run: true,
            json,
            ..
        } => {
            let scratch = tempfile_dir()?;
            let plan = crate::dry_run::plan(&rt, chrono::Utc::now(), scratch.path()).await;
            let plan = plan?;
            if json {
                print_json(&plan)
            } else {
                print!("{}", crate::dry_run::plan_text(&plan));
                Ok(())
            }
        }
        Command::Run { once, .. } => crate::daemon::run(rt, once).await,
        Command::Compliance { at, since, json } => {
            let at = match at {
                Some(t) => crate::compliance::parse_time(&t, &rt).context("--at")?,
                None => chrono::Utc::now(),
            };
            let since = since
                .map(|s| crate::compliance::parse_time(&s, &rt))
                .transpose()
                .context("--since")?;
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            // Written as it is made: a whole history's report is millions of
            // lines, merged from its parts as it is written (`compliance_parts`).
            let report = match since {
                Some(_) => {
                    Made::Period(crate::compliance::compliance(&store, &rt, at, since).await?)
                }
                None => Made::Whole(
                    crate::compliance_parts::whole_history(
                        &store,
                        &rt,
                        at,
                        crate::compliance::TICKETS_PER_PART,
                    )
                    .await?,
                ),
            };
            store.close().await;
            use std::io::Write as _;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match (report, json) {
                (Made::Period(report), true) => serde_json::to_writer_pretty(&mut out, &report)?,
                (Made::Period(report), false) => {
                    crate::compliance::write_report_text(&mut out, &report, &rt)?
                }
                (Made::Whole(parted), true) => parted.write_json(&mut out)?,
                (Made::Whole(parted), false) => parted.write_text(&mut out, &rt)?,
            }
            if json {
                writeln!(out)?;
            }
            out.flush().context("writing the report")
        }
        Command::Digest {
            kind,
            at,
            pm,
            print: _,
            html,
        } => crate::digest::command(&rt, kind, at.as_deref(), pm.as_deref(), html.as_deref()).await,
        Command::Migrate { json } => {
            let store = Store::connect(&rt.database_url, rt.max_connections).await?;
            store.migrate().await?;
            if json {
                print_json(&serde_json::json!({"ok": true, "database": store.kind()}))?;
            } else {
                println!("migrations applied ({})", store.kind());
            }
            store.close().await;
            Ok(())
        }
        Command::Backup { path, json } => {
            let r = crate::backup::command(&rt, &path).await?;
            if json {
                return print_json(&r);
            }
            println!(
                "backup written to {}: {} bytes, integrity check ok, {} tickets",
                r.path.display(),
                r.bytes,
                r.tickets
            );
            Ok(())
        }
        Command::Import { paths, json } => {
            let store = Store::open(&rt.database_url, rt.max_connections).await?;
            let started = std::time::Instant::now();
            let counts = crate::import::import(&store, &rt, &paths).await?;
            let secs = started.elapsed().as_secs_f64();
            store.close().await;
            if json {
                print_json(&counts)?;
            } else {
                println!(
                    "imported {} messages in {:.2}s: {} tickets, {} threaded ({} contacts, {} internal notes), {} automated, {} unthreaded, {} duplicates, {} unparseable, {} failed",
                    counts.messages, secs, counts.tickets, counts.threaded, counts.contacts, counts.internal_notes, counts.automated, counts.unthreaded, counts.duplicates, counts.unparseable, counts.failed
                );
            }
            anyhow::ensure!(
                counts.failed == 0,
                "{} message(s) could not be stored (see the log above)",
                counts.failed
            );
            Ok(())
        }
        Command::Tickets {
            json,
            status,
            project,
            pm,
            priority,
        } => {
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            let pm = pm.map(|p| p.trim().to_lowercase());
            // Due times that passed since the daemon's last pass are brought up to
            // date first (the same pass, by the same rules), so the list is the rules'.
            crate::ticket::lifecycle::settle_dues(&store, &rt, chrono::Utc::now()).await?;
            // Status and priority in the statement; the project and the PM here,
            // compared as before (ASCII case-insensitive, lower case). Read a page
            // at a time and, as text, written as read: a long history has a
            // million tickets (1.3 GB resident when listed at once).
            // JSON too is written as read: one array, element by element
            // (`json_array`), the bytes `to_writer_pretty` wrote for all at once.
            use std::io::Write as _;
            let out = std::io::BufWriter::new(std::io::stdout());
            let table = TicketsTable::new(rt.calendar.tz());
            let mut listing = if json {
                Listing::Json(crate::json_array::PrettyArray::new(out))
            } else {
                let mut out = out;
                table.write_header(&mut out)?;
                Listing::Table(out)
            };
            let mut after = i64::MIN;
            loop {
                let page = store
                    .tickets_with(status, priority, after, TICKETS_PER_PAGE)
                    .await?;
                let Some(last) = page.last().map(|t| t.number) else {
                    break;
                };
                after = last;
                for t in page.iter().filter(|t| {
                    project
                        .as_deref()
                        .is_none_or(|p| t.project.eq_ignore_ascii_case(p))
                        && pm.as_deref().is_none_or(|p| t.pm.to_lowercase() == p)
                }) {
                    let view = TicketView::from(t);
                    match &mut listing {
                        Listing::Json(array) => array.push(&view)?,
                        Listing::Table(out) => table.write_row(out, &view)?,
                    }
                }
            }
            store.close().await;
            let mut out = match listing {
                Listing::Json(array) => {
                    let mut out = array.finish()?;
                    writeln!(out)?;
                    out
                }
                Listing::Table(out) => out,
            };
            out.flush().context("writing the list")
        }
        Command::Ticket {
            id,
            json,
            action: Some(action),
        } => {
            let number = parse_ticket_id(&id, &rt)?;
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            let action = match action {
                TicketAction::Set { field, value } => crate::commands::CliAction::Set {
                    field,
                    value: value.join(" "),
                },
                TicketAction::Note { text } => crate::commands::CliAction::Note(text.join(" ")),
                TicketAction::Close => crate::commands::CliAction::Close,
                TicketAction::Ack => crate::commands::CliAction::Ack,
                TicketAction::Reopen => crate::commands::CliAction::Reopen,
                TicketAction::Merge { other } => crate::commands::CliAction::Merge(other),
            };
            let result =
                crate::commands::run_cli(&store, &rt, number, action, chrono::Utc::now()).await;
            store.close().await;
            let said = result?;
            if json {
                print_json(&serde_json::json!({"ok": true, "message": said.to_string()}))
            } else {
                println!("{said}");
                Ok(())
            }
        }
        Command::Report { id, html, json, .. } => {
            let number = parse_ticket_id(&id, &rt)?;
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            let t = store
                .ticket_by_number(number)
                .await?
                .with_context(|| format!("no ticket {}-{number}", rt.team.prefix.as_str()))?;
            let report = store.latest_report(t.id).await?;
            store.close().await;
            let report = report.with_context(|| {
                format!(
                    "{} has no incident response report (one is made when the ticket closes)",
                    t.reference()
                )
            })?;
            if json {
                return print_json(&serde_json::json!({
                    "ticket": t.reference().to_string(),
                    "markdown": report.markdown,
                    "html": report.html,
                }));
            }
            print!("{}", if html { report.html } else { report.markdown });
            Ok(())
        }
        Command::Ticket { id, json, .. } => {
            let number = parse_ticket_id(&id, &rt)?;
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            crate::ticket::lifecycle::settle_dues(&store, &rt, chrono::Utc::now()).await?;
            let t = store
                .ticket_by_number(number)
                .await?
                .with_context(|| format!("no ticket {}-{number}", rt.team.prefix.as_str()))?;
            let detail = TicketDetail {
                ticket: TicketView::from(&t),
                events: store.events(t.id).await?,
                messages: store
                    .messages_of(t.id)
                    .await?
                    .iter()
                    .map(MessageView::from)
                    .collect(),
            };
            let facts = store.closing_facts(t.id).await?;
            store.close().await;
            if json {
                print_json(&detail)
            } else {
                print!("{}", ticket_text(&detail, rt.calendar.tz()));
                print!("{}", crate::commands::closing_text(&t, &facts));
                Ok(())
            }
        }
        Command::Status { json } => {
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            let view =
                crate::views::StatusView::load(&store, chrono::Utc::now(), rt.ops.takeover).await;
            store.close().await;
            let mut view = view?;
            view.warnings = rt.trust.warnings();
            if json {
                print_json(&view)
            } else {
                print!("{}", crate::views::status_text(&view));
                Ok(())
            }
        }
        Command::Oauth { action } => {
            // Signing in stores the grant (a database is made for it); status only reads.
            let store = match action {
                OauthAction::Login { .. } => {
                    Store::open(&rt.database_url, rt.max_connections).await?
                }
                OauthAction::Status { .. } => {
                    Store::open_existing(&rt.database_url, rt.max_connections).await?
                }
            };
            let result = match action {
                OauthAction::Login { provider } => {
                    crate::oauth::device::login(&store, &rt, provider, &mut std::io::stdout()).await
                }
                OauthAction::Status { json } => {
                    match crate::oauth::device::status(&store, &rt).await {
                        Ok(s) if json => print_json(&s),
                        Ok(s) => {
                            print!(
                                "{}",
                                crate::oauth::device::status_text(&s, chrono::Utc::now())
                            );
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            store.close().await;
            result
        }
        Command::Mail { kind, json, action } => {
            let store = Store::open_existing(&rt.database_url, rt.max_connections).await?;
            let result = mail(&store, &rt, kind, json, action).await;
            store.close().await;
            result
        }
        Command::CheckConfig { .. }
        | Command::Doctor { .. }
        | Command::Completions { .. }
        | Command::ManPages { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}
