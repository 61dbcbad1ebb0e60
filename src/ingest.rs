//! The ingest seam: one raw message and its arrival time in, and in one
//! transaction: classify → thread → store → enqueue. Every source (Maildir,
//! IMAP, `onit import`, tests feeding `.eml` files) goes through
//! [`receive_in`], so they all behave the same.

use anyhow::Result;
use chrono::{DateTime, Utc};
use tracing::{debug, info_span, Instrument};

use crate::address::EmailAddress;
use crate::classify::{classify, is_client, MailClass};
use crate::config::Runtime;
use crate::message::MailView;
use crate::policy::contact_time::effective_time;
use crate::store::{ContactFacts, NewMessage, Store, TicketRow, Tx};
use crate::threading::normalize_subject;
use crate::ticket::lifecycle::{self, AckRequest, By, Opening};
use crate::ticket::EventKind;
pub use crate::ticket::Mode;
use crate::ticket_ref::TicketRef;
use crate::trust::{Authentication, TeamTrust};

mod monitoring;

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Its Message-ID was already stored: nothing changed.
    Duplicate,
    /// It opened a new ticket.
    NewTicket,
    /// It was added to an existing ticket.
    Threaded,
    /// Recorded, but on no ticket (automated mail, unthreaded team mail, our own mail).
    Unthreaded,
    /// Nothing could be parsed; the raw bytes are kept.
    Unparseable,
    /// It would have opened a ticket, but its sender or domain is flooding:
    /// stored with no ticket and held (src/flood.rs).
    Held,
}

/// The result of ingesting one message.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub message_id: String,
    pub class: Option<MailClass>,
    pub disposition: Disposition,
    /// `JAC-7`, when the message is on a ticket.
    pub ticket: Option<String>,
    /// An acknowledgment was queued in this transaction.
    pub ack_queued: bool,
    /// The automated signal or other note, for the record.
    pub note: Option<String>,
}

impl Outcome {
    /// Counts this message in the metrics; call once its transaction has committed.
    pub fn record_metrics(&self) {
        if self.disposition == Disposition::Duplicate {
            return;
        }
        crate::metrics::ingested(self.class.map_or("unparseable", |c| c.as_str()));
        if self.disposition == Disposition::NewTicket {
            crate::metrics::ticket_opened();
        }
    }
}

/// Live for mail that arrived recently, Import (history, nothing sent) for mail
/// older than `mailbox.ack_max_age`: a mailbox watched for the first time (or
/// after a long outage) holds old mail, recorded as history, not answered months late.
pub fn mode_for_arrival(rt: &Runtime, arrival: DateTime<Utc>, now: DateTime<Utc>) -> Mode {
    if now - arrival > rt.ack_max_age {
        Mode::Import
    } else {
        Mode::Live
    }
}

/// Ingests one message in its own transaction and commits it. The caller may
/// remove the message from its source only after this returns `Ok`.
pub async fn receive_imf(
    store: &Store,
    rt: &Runtime,
    raw: &[u8],
    arrival: DateTime<Utc>,
    origin: &str,
    mode: Mode,
) -> Result<Outcome> {
    // Parsed before the transaction begins: parsing a large message must not hold the writer.
    receive_view(store, rt, raw, MailView::parse(raw), arrival, origin, mode).await
}

/// As [`receive_imf`], for a source that parsed the message (an oversized one's
/// header, `crate::oversize`).
pub async fn receive_view(
    store: &Store,
    rt: &Runtime,
    raw: &[u8],
    parsed: Result<MailView, crate::message::Unparseable>,
    arrival: DateTime<Utc>,
    origin: &str,
    mode: Mode,
) -> Result<Outcome> {
    let mut tx = store.begin().await?;
    let out = receive_parsed(&mut tx, rt, raw, parsed, arrival, origin, mode).await?;
    tx.commit().await?;
    out.record_metrics();
    Ok(out)
}

/// Ingests one message inside the caller's transaction (which the caller commits).
pub async fn receive_in(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    raw: &[u8],
    arrival: DateTime<Utc>,
    origin: &str,
    mode: Mode,
) -> Result<Outcome> {
    let parsed = MailView::parse(raw);
    receive_parsed(tx, rt, raw, parsed, arrival, origin, mode).await
}

/// As [`receive_in`], for a caller that already parsed the message (import sorts by date first).
pub async fn receive_parsed(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    raw: &[u8],
    parsed: Result<MailView, crate::message::Unparseable>,
    arrival: DateTime<Utc>,
    origin: &str,
    mode: Mode,
) -> Result<Outcome> {
    let arrived = Arrived {
        raw,
        arrival,
        origin,
        mode,
    };
    receive_arrived(tx, rt, &arrived, parsed, None).await
}

/// As [`receive_in`], with the ticket a person names in place of threading's own
/// answer (`onit mail attach`): the message is classified as ingest classifies it
/// and counts on `ticket` as it would had it threaded there.
pub async fn receive_onto(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    raw: &[u8],
    arrival: DateTime<Utc>,
    origin: &str,
    mode: Mode,
    ticket: TicketRow,
) -> Result<Outcome> {
    let arrived = Arrived {
        raw,
        arrival,
        origin,
        mode,
    };
    receive_arrived(tx, rt, &arrived, MailView::parse(raw), Some(ticket)).await
}

/// The mode a stored message is taken again in as history (`onit mail
/// reprocess`, `attach`): `Archive` when it was stored with the archive's time
/// reading (its stored time is the one only `onit import` gives), else `Import`,
/// so it keeps counting at the time it was first stored at.
pub fn history_mode(
    rt: &Runtime,
    date: Option<DateTime<Utc>>,
    arrival: DateTime<Utc>,
    stored_at: DateTime<Utc>,
) -> Mode {
    let p = &rt.policy;
    let live_reading = effective_time(date, arrival, p.date_skew_past, p.date_skew_future);
    let archive_reading =
        crate::policy::archive_time::archive_time(date, arrival, p.date_skew_future);
    if stored_at != live_reading && stored_at == archive_reading {
        Mode::Archive
    } else {
        Mode::Import
    }
}

/// One message as its source hands it over.
#[derive(Clone, Copy)]
struct Arrived<'a> {
    raw: &'a [u8],
    arrival: DateTime<Utc>,
    origin: &'a str,
    mode: Mode,
}

async fn receive_arrived(
    tx: &mut Tx<'_>,
    rt: &Runtime,
    a: &Arrived<'_>,
    parsed: Result<MailView, crate::message::Unparseable>,
    onto: Option<TicketRow>,
) -> Result<Outcome> {
    let Arrived {
        raw,
        arrival,
        origin,
        mode,
    } = *a;
    let v = match parsed {
        Ok(mut v) => {
            v.keep_recipients(rt.max_recipients);
            v
        }
        Err(e) => return record_unparseable(tx, raw, &e.derived_id, arrival, origin).await,
    };
    let span = info_span!("message", message_id = %v.message_id, origin = %origin);
    let auth = crate::trust::judge(
        &v.sender_facts,
        v.from.as_ref(),
        crate::origin::imap_folder(origin),
        &rt.trust,
    );
    Ingest {
        tx,
        rt,
        raw,
        v: &v,
        auth: &auth,
        arrival,
        origin,
        mode,
        onto,
        normalized_subject: normalize_subject(&v.subject, &rt.team.prefix),
        by_subject: None,
    }
    .run()
    .instrument(span)
    .await
}

async fn record_unparseable(
    tx: &mut Tx<'_>,
    raw: &[u8],
    id: &str,
    arrival: DateTime<Utc>,
    origin: &str,
) -> Result<Outcome> {
    let disposition = if tx.known_message(id).await?.is_some() {
        Disposition::Duplicate
    } else {
        tx.insert_message(&NewMessage {
            message_id: id,
            ticket_id: None,
            class: "unparseable",
            detail: Some("no headers could be parsed"),
            from_addr: None,
            to_addrs: "",
            cc_addrs: "",
            subject: "",
            date_header: None,
            arrived_at: arrival,
            effective_at: arrival,
            in_reply_to: "",
            refs: "",
            body: "",
            origin,
            raw: Some(raw),
            auth: None,
            recipients_omitted: 0,
        })
        .await?;
        Disposition::Unparseable
    };
    tracing::warn!(origin, bytes = raw.len(), "unparseable message recorded");
    Ok(Outcome {
        message_id: id.to_string(),
        class: None,
        disposition,
        ticket: None,
        ack_queued: false,
        note: None,
    })
}

/// What threading found: the ticket a message belongs to, or one it cites
/// without being on its client side (a new ticket then follows that one).
#[derive(Default)]
struct Threading {
    ticket: Option<TicketRow>,
    link: Option<TicketRow>,
}

struct Ingest<'t, 'c, 'a> {
    tx: &'t mut Tx<'c>,
    rt: &'a Runtime,
    raw: &'a [u8],
    v: &'a MailView,
    /// How sure we are of the sender (crate::trust).
    auth: &'a Authentication,
    arrival: DateTime<Utc>,
    origin: &'a str,
    mode: Mode,
    /// The ticket a person named (`onit mail attach`): threading is not asked.
    onto: Option<TicketRow>,
    /// The subject as threading compares it (`Re:`, tags and the like removed).
    normalized_subject: String,
    /// Threading by subject for the sender, answered by [`Tx::first_look`].
    by_subject: Option<BySubject>,
}

/// The open ticket of a reporter with this message's normalised subject, as
/// found ahead of threading.
struct BySubject {
    reporter: String,
    ticket_id: Option<i64>,
}

fn from_of(v: &MailView) -> Option<&str> {
    v.from.as_ref().map(|a| a.as_str())
}

/// The opening of a new ticket by message `v` from `reporter`, in the reporter's
/// project, with the proposed priority and why.
fn opening<'o>(
    rt: &'o Runtime,
    v: &'o MailView,
    reporter: &'o EmailAddress,
    normalized_subject: &'o str,
    (priority, priority_reason): (crate::ticket::Priority, &'o str),
    follows: Option<&'o TicketRow>,
    at: DateTime<Utc>,
) -> Opening<'o> {
    let (project, pm) = rt.team.project_for(reporter);
    Opening {
        reporter,
        subject: &v.subject,
        normalized_subject,
        project,
        pm,
        priority,
        priority_reason,
        message_id: &v.message_id,
        follows,
        at,
    }
}

fn join(addrs: &[EmailAddress]) -> String {
    addrs
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Ingest<'_, '_, '_> {
    async fn run(mut self) -> Result<Outcome> {
        let v = self.v;
        // Our own mail is what our outbox holds, never an id that merely looks like ours.
        // Threading by subject (below) asks for a client sender's open ticket of
        // this subject: asked now, with the Message-ID, in the same round trip.
        let norm = self.normalized_subject.as_str();
        let sender = v
            .from
            .as_ref()
            .filter(|f| !norm.is_empty() && is_client(&self.rt.team, f));
        let look = self
            .tx
            .first_look(&v.message_id, sender.map(|f| (f.as_str(), norm)))
            .await?;
        self.by_subject = sender.map(|f| BySubject {
            reporter: f.as_str().to_string(),
            ticket_id: look.open_by_subject,
        });
        let ours = look.ours;
        if look.known.is_some() {
            debug!("duplicate Message-ID: nothing to do");
            return Ok(self.outcome(None, Disposition::Duplicate, None, false, None));
        }
        let team_proven = self.rt.trust.team == TeamTrust::Header || self.auth.is_pass();
        let (class, signal) = classify(
            v,
            &self.rt.team,
            &self.rt.automated,
            &self.rt.monitoring,
            ours,
            team_proven,
        );
        debug!(class = class.as_str(), auth = self.auth.verdict.as_str(), how = %self.auth.how, "classified");
        let at = match self.mode {
            Mode::Archive => crate::policy::archive_time::archive_time(
                v.date,
                self.arrival,
                self.rt.policy.date_skew_future,
            ),
            _ => effective_time(
                v.date,
                self.arrival,
                self.rt.policy.date_skew_past,
                self.rt.policy.date_skew_future,
            ),
        };
        let Threading { ticket, link } = match self.onto.take() {
            Some(t) => Threading {
                ticket: Some(t),
                link: None,
            },
            // An alert threads by its own key alone (crate::monitoring).
            None if class == MailClass::Monitoring => Threading::default(),
            None => self.thread(class).await?,
        };
        let proven = self.auth.is_pass();
        match class {
            MailClass::Impersonation => self.impersonation(ticket, at).await,
            MailClass::Own => {
                self.store(
                    ticket.as_ref().map(|t| t.id),
                    class,
                    Some("our own mail, seen again"),
                    at,
                )
                .await?;
                Ok(self.outcome(
                    Some(class),
                    Disposition::Unthreaded,
                    ticket.as_ref(),
                    false,
                    None,
                ))
            }
            MailClass::Automated => self.automated(ticket, signal, at).await,
            MailClass::Monitoring => self.monitoring(ticket, signal, at).await,
            MailClass::Client => {
                let out = self.client(ticket, link, at).await?;
                // POLICY "Commands from the team": a client's are recorded, never applied.
                crate::commands::from_mail(self.tx, self.rt, v, class, at, self.mode, proven)
                    .await?;
                Ok(out)
            }
            MailClass::Contact | MailClass::Acknowledgment => {
                let out = self.contact(ticket, class, at).await?;
                crate::commands::from_mail(self.tx, self.rt, v, class, at, self.mode, proven)
                    .await?;
                Ok(out)
            }
            MailClass::InternalNote => {
                self.store(ticket.as_ref().map(|t| t.id), class, None, at)
                    .await?;
                match &ticket {
                    Some(t) => {
                        let detail = format!("internal note: {}", v.subject);
                        let by = By {
                            actor: from_of(self.v),
                            message_id: Some(&v.message_id),
                        };
                        lifecycle::record(self.tx, t.id, at, EventKind::InternalNote, by, &detail)
                            .await?;
                        crate::footnotes::from_team_mail(self.tx, t, &v.own_words.text(), by, at)
                            .await?;
                        crate::commands::from_mail(
                            self.tx, self.rt, v, class, at, self.mode, proven,
                        )
                        .await?;
                        Ok(self.outcome(Some(class), Disposition::Threaded, Some(t), false, None))
                    }
                    None => {
                        // Commands in a note on no ticket: a proven sender hears they were not applied.
                        crate::commands::from_mail(
                            self.tx, self.rt, v, class, at, self.mode, proven,
                        )
                        .await?;
                        Ok(self.outcome(Some(class), Disposition::Unthreaded, None, false, None))
                    }
                }
            }
        }
    }

    fn outcome(
        &self,
        class: Option<MailClass>,
        d: Disposition,
        t: Option<&TicketRow>,
        ack: bool,
        note: Option<String>,
    ) -> Outcome {
        Outcome {
            message_id: self.v.message_id.clone(),
            class,
            disposition: d,
            ticket: t.map(|t| t.reference()),
            ack_queued: ack,
            note,
        }
    }

    /// POLICY "Threading", first match wins: references, then the tag (team or a
    /// participant only), then reporter + normalised subject on a ticket not closed.
    /// A client who is not on the ticket's client side and cites its mail opens a new
    /// ticket linked to it (`link`), as a guessed tag does: knowing a Message-ID is no
    /// key to someone else's ticket.
    async fn thread(&mut self, class: MailClass) -> Result<Threading> {
        let v = self.v;
        let mut ids = v.referenced_ids();
        if class == MailClass::Automated {
            ids.extend(v.embedded_ids.iter().cloned());
        }
        for id in ids.iter().take(50) {
            if let Some(tid) = self.tx.ticket_of_message(id).await? {
                let Some(t) = self.tx.ticket(tid).await? else {
                    continue;
                };
                if class == MailClass::Client {
                    if let Some(from) = v.from.as_ref() {
                        if !self.on_client_side(&t, from).await? {
                            debug!(ticket = %t.reference(), sender = %from, "reference from outside the ticket's client side: a new ticket");
                            return Ok(Threading {
                                ticket: None,
                                link: Some(t),
                            });
                        }
                    }
                }
                return Ok(Threading {
                    ticket: Some(t),
                    link: None,
                });
            }
        }
        if let Some(tag) = TicketRef::find_in_subject(&v.subject, &self.rt.team.prefix) {
            let named = match self.tx.ticket_by_number(tag.number).await? {
                // A merged ticket's tag names the ticket it was merged into.
                Some(t) => match t.merged_into_id {
                    Some(into) => self.tx.ticket(into).await?,
                    None => Some(t),
                },
                None => None,
            };
            if let (Some(t), Some(from)) = (named, v.from.as_ref()) {
                let allowed = self.rt.team.is_team(from)
                    || t.reporter == from.as_str()
                    || self.tx.is_participant(t.id, from.as_str()).await?;
                if allowed {
                    return Ok(Threading {
                        ticket: Some(t),
                        link: None,
                    });
                }
                debug!(tag = %tag, sender = %from, "ticket tag from a stranger ignored");
            }
        }
        if self.normalized_subject.is_empty() {
            return Ok(Threading::default());
        }
        let candidates: Vec<EmailAddress> = match class {
            MailClass::Client => v.from.iter().cloned().collect(),
            MailClass::Contact | MailClass::Acknowledgment => v
                .recipients()
                .into_iter()
                .filter(|a| is_client(&self.rt.team, a))
                .collect(),
            _ => Vec::new(),
        };
        for c in candidates {
            if let Some(t) = self.open_by_subject(&c).await? {
                return Ok(Threading {
                    ticket: Some(t),
                    link: None,
                });
            }
        }
        Ok(Threading::default())
    }

    /// The newest not-closed ticket of `reporter` with this message's normalised
    /// subject: what [`Tx::first_look`] already found when it was asked about them.
    async fn open_by_subject(&mut self, reporter: &EmailAddress) -> Result<Option<TicketRow>> {
        let asked = self
            .by_subject
            .as_ref()
            .filter(|b| b.reporter == reporter.as_str());
        let found = match asked.map(|b| b.ticket_id) {
            Some(None) => return Ok(None),
            Some(Some(id)) => self.tx.ticket(id).await?,
            None => None,
        };
        match found {
            Some(t) if t.status != crate::ticket::Status::Closed => Ok(Some(t)),
            // Not asked ahead, or closed since by another writer (PostgreSQL reads
            // each statement afresh): asked now, as if the mail had come a moment later.
            _ => {
                self.tx
                    .open_ticket_by_subject(reporter.as_str(), &self.normalized_subject)
                    .await
            }
        }
    }

    /// POLICY "People and addresses": a ticket's client side is its reporter, the
    /// addresses at the reporter's domain (not at a personal-mail domain, where
    /// strangers share it), and the participants recorded so far.
    async fn on_client_side(&mut self, t: &TicketRow, who: &EmailAddress) -> Result<bool> {
        if t.reporter == who.as_str() || self.rt.team.is_team(who) {
            return Ok(true);
        }
        if crate::trust::same_organisation(&t.reporter, who) {
            return Ok(true);
        }
        self.tx.is_participant(t.id, who.as_str()).await
    }

    async fn store(
        &mut self,
        ticket_id: Option<i64>,
        class: MailClass,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.write(ticket_id, class, detail, at, &[]).await
    }

    /// Stores the message on `t` (a client's, or the team's to the client) and
    /// records its client addresses on the ticket's client side (the reporter's
    /// organisation) as participants; any other address stays on the message only.
    async fn store_on(&mut self, t: &TicketRow, class: MailClass, at: DateTime<Utc>) -> Result<()> {
        let v = self.v;
        let mut people: Vec<String> = Vec::new();
        for a in v.from.iter().cloned().chain(v.recipients()) {
            if is_client(&self.rt.team, &a)
                && (t.reporter == a.as_str() || crate::trust::same_organisation(&t.reporter, &a))
                && !people.iter().any(|p| p == a.as_str())
            {
                people.push(a.as_str().to_string());
            }
        }
        self.write(Some(t.id), class, None, at, &people).await
    }

    /// Writes the message's row (and, on a ticket, its `participants`).
    async fn write(
        &mut self,
        ticket_id: Option<i64>,
        class: MailClass,
        detail: Option<&str>,
        at: DateTime<Utc>,
        participants: &[String],
    ) -> Result<()> {
        let v = self.v;
        let m = NewMessage {
            message_id: &v.message_id,
            ticket_id,
            class: class.as_str(),
            detail,
            from_addr: from_of(v),
            to_addrs: &join(&v.to),
            cc_addrs: &join(&v.cc),
            subject: &v.subject,
            date_header: v.date,
            arrived_at: self.arrival,
            effective_at: at,
            in_reply_to: &v.in_reply_to.join(" "),
            refs: &v.references.join(" "),
            body: &v.body,
            origin: self.origin,
            raw: Some(self.raw),
            auth: Some(self.auth),
            recipients_omitted: v.recipients_omitted as i64,
        };
        match ticket_id {
            Some(id) => self.tx.insert_message_on_ticket(id, &m, participants).await,
            None => self.tx.insert_message(&m).await,
        }
    }

    /// Mail claiming a team address that its sender could not prove: kept (on the
    /// ticket it names, if any) with an `impersonation` event, one alert per
    /// incident; nothing applied, nothing counted, nobody answered.
    async fn impersonation(
        &mut self,
        ticket: Option<TicketRow>,
        at: DateTime<Utc>,
    ) -> Result<Outcome> {
        let v = self.v;
        let claimed = from_of(v).unwrap_or("(no address)").to_string();
        let detail = format!(
            "mail claiming to be {claimed} is not proven ({}; {}): nothing applied",
            self.auth.verdict.as_str(),
            self.auth.how
        );
        self.store(
            ticket.as_ref().map(|t| t.id),
            MailClass::Impersonation,
            Some(&detail),
            at,
        )
        .await?;
        if let Some(t) = &ticket {
            let by = By {
                actor: Some(&claimed),
                message_id: Some(&v.message_id),
            };
            lifecycle::record(self.tx, t.id, at, EventKind::Impersonation, by, &detail).await?;
        }
        if self.mode == Mode::Live {
            let alert = format!("{detail} (latest: Message-ID <{}>)", v.message_id);
            let now = self.arrival.max(at);
            let opened = crate::alerts::raise_in(
                self.tx,
                self.rt,
                crate::alerts::AlertKind::Impersonation,
                &claimed,
                &alert,
                now,
            )
            .await?;
            tracing::warn!(claimed = %claimed, how = %self.auth.how, new_incident = opened, "impersonation refused");
        }
        let d = if ticket.is_some() {
            Disposition::Threaded
        } else {
            Disposition::Unthreaded
        };
        Ok(self.outcome(
            Some(MailClass::Impersonation),
            d,
            ticket.as_ref(),
            false,
            Some("impersonation".into()),
        ))
    }

    async fn automated(
        &mut self,
        ticket: Option<TicketRow>,
        signal: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Outcome> {
        let v = self.v;
        self.store(
            ticket.as_ref().map(|t| t.id),
            MailClass::Automated,
            signal.as_deref(),
            at,
        )
        .await?;
        match &ticket {
            Some(t) => {
                // A bounce of our acknowledgment is a delivery failure the PM must see; an
                // out-of-office threading onto it is an auto-reply (crate::bounce), never an alarm.
                let verdict = crate::bounce::judge(v).verdict;
                let bounces_ack = verdict == crate::bounce::Verdict::DeliveryFailure
                    && t.ack_message_id.as_ref().is_some_and(|ack| {
                        v.embedded_ids.contains(ack) || v.referenced_ids().contains(ack)
                    });
                let kind = verdict.event_kind();
                let detail = format!(
                    "{}: {} ({})",
                    kind.as_str().replace('_', " "),
                    v.subject,
                    signal.as_deref().unwrap_or("automated")
                );
                let by = By {
                    actor: from_of(self.v),
                    message_id: Some(&v.message_id),
                };
                lifecycle::record(self.tx, t.id, at, kind, by, &detail).await?;
                if bounces_ack && self.mode == Mode::Live {
                    // The client may not know we are on it: the PM must hear of it now, not in a digest.
                    let body = crate::notices::delivery_failure_body(
                        &t.reference(),
                        "The acknowledgment",
                        &t.reporter,
                        &v.subject,
                    );
                    let pm = lifecycle::pm_of(self.rt, t);
                    let key = format!("bounce:{}", v.message_id);
                    let now = self.arrival.max(at);
                    let notice = crate::notices::ToPm {
                        pm: &pm,
                        dedupe_key: &key,
                        subject: "Acknowledgment bounced",
                        body,
                    };
                    crate::notices::to_pm(self.tx, self.rt, t, notice, now).await?;
                }
                Ok(self.outcome(
                    Some(MailClass::Automated),
                    Disposition::Threaded,
                    Some(t),
                    false,
                    signal,
                ))
            }
            None => Ok(self.outcome(
                Some(MailClass::Automated),
                Disposition::Unthreaded,
                None,
                false,
                signal,
            )),
        }
    }

    async fn client(
        &mut self,
        ticket: Option<TicketRow>,
        link: Option<TicketRow>,
        at: DateTime<Utc>,
    ) -> Result<Outcome> {
        let v = self.v;
        let Some(from) = v.from.clone() else {
            // classify() sends mail without a usable From to Automated; keep this total anyway.
            self.store(None, MailClass::Client, Some("no sender address"), at)
                .await?;
            return Ok(self.outcome(
                Some(MailClass::Client),
                Disposition::Unthreaded,
                None,
                false,
                None,
            ));
        };
        let mut link = link;
        if let Some(mut t) = ticket {
            if !lifecycle::closed_too_long(self.rt, &t, at) {
                self.store_on(&t, MailClass::Client, at).await?;
                let live = self.mode == Mode::Live;
                crate::oversize::record(self.tx, self.rt, &t, v, at, live).await?;
                let by = By {
                    actor: Some(from.as_str()),
                    message_id: Some(&v.message_id),
                };
                lifecycle::client_message(self.tx, self.rt, &mut t, by, &v.subject, at).await?;
                self.flag_frustration(&t, &self.frustration(), at).await?;
                return Ok(self.outcome(
                    Some(MailClass::Client),
                    Disposition::Threaded,
                    Some(&t),
                    false,
                    None,
                ));
            }
            link = Some(t);
        }
        // Issue 12: a sender or domain over its hourly limit of new tickets is held.
        if self.mode == Mode::Live {
            if let Some(held) =
                crate::flood::check(self.tx, self.rt, &from, &v.message_id, at).await?
            {
                self.store(None, MailClass::Client, Some(&held.note), at)
                    .await?;
                return Ok(self.outcome(
                    Some(MailClass::Client),
                    Disposition::Held,
                    None,
                    false,
                    Some(held.note),
                ));
            }
        }
        self.open_ticket(from, at, link).await
    }

    /// The frustration signals in the client's own words (crate::policy::frustration).
    fn frustration(&self) -> Vec<String> {
        crate::policy::frustration::signals(
            &self.v.own_words.text(),
            &self.rt.policy.frustration_phrases,
        )
    }

    /// Flags client mail that signals frustration on its ticket, with the words that matched.
    async fn flag_frustration(
        &mut self,
        t: &TicketRow,
        signals: &[String],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if signals.is_empty() {
            return Ok(());
        }
        let by = By {
            actor: from_of(self.v),
            message_id: Some(&self.v.message_id),
        };
        let detail = format!("the client sounds frustrated: {}", signals.join(", "));
        lifecycle::record(self.tx, t.id, at, EventKind::Frustration, by, &detail).await
    }

    async fn open_ticket(
        &mut self,
        reporter: EmailAddress,
        at: DateTime<Utc>,
        link: Option<TicketRow>,
    ) -> Result<Outcome> {
        let v = self.v;
        let rt = self.rt;
        let (mut priority, mut reason) = rt.priority.propose(&v.subject, &v.own_words.text());
        let frustration = self.frustration();
        if !frustration.is_empty() && priority != crate::ticket::Priority::Urgent {
            // POLICY Standard 2: dissatisfied customers make an issue urgent.
            priority = crate::ticket::Priority::Urgent;
            reason = format!(
                "urgent: the client is dissatisfied ({})",
                frustration.join(", ")
            );
        }
        let opening = opening(
            rt,
            v,
            &reporter,
            &self.normalized_subject,
            (priority, &reason),
            link.as_ref(),
            at,
        );
        let t = lifecycle::open(self.tx, rt, &opening).await?;
        let reference = t.reference();
        // Instrumented, not entered across its awaits (see `outgoing`'s `record`).
        let span = info_span!("ticket", ticket = %reference);
        let ack = async {
            self.store_on(&t, MailClass::Client, at).await?;
            self.flag_frustration(&t, &frustration, at).await?;
            let live = self.mode == Mode::Live;
            crate::oversize::record(self.tx, rt, &t, v, at, live).await?;
            let mut ack = false;
            if self.mode == Mode::Live {
                // The ack leaves now-ish; its clock starts at the later of arrival and the message time.
                let now = self.arrival.max(at);
                let req = AckRequest {
                    reporter: &reporter,
                    client_name: v.from_name.as_deref(),
                    subject: &v.subject,
                    message_id: &v.message_id,
                    references: &v.references,
                    verified: self.auth.allows_acknowledgment(),
                    released_by: None,
                    too_large: v.too_large,
                };
                ack = lifecycle::acknowledge(self.tx, rt, &t, &req, now).await?;
            }
            Ok::<_, anyhow::Error>(ack)
        }
        .instrument(span)
        .await?;
        tracing::info!(ticket = %reference, %priority, ack, "new ticket");
        Ok(self.outcome(
            Some(MailClass::Client),
            Disposition::NewTicket,
            Some(&t),
            ack,
            Some(reason),
        ))
    }

    async fn contact(
        &mut self,
        ticket: Option<TicketRow>,
        class: MailClass,
        at: DateTime<Utc>,
    ) -> Result<Outcome> {
        let v = self.v;
        let Some(t) = ticket else {
            self.store(
                None,
                class,
                Some("team mail to a client that matches no ticket"),
                at,
            )
            .await?;
            return Ok(self.outcome(
                Some(class),
                Disposition::Unthreaded,
                None,
                false,
                Some("unthreaded team mail".into()),
            ));
        };
        self.store_on(&t, class, at).await?;
        // The facts the rules need, read once now: the promise and any dismissive phrase
        // in the author's own words (quotes and signatures never count).
        let own = v.own_words.text();
        let promise = crate::policy::promises::find_promise(
            &own,
            at,
            &self.rt.calendar,
            &self.rt.promise_reading(),
        );
        let dismissive =
            crate::policy::dismissive::find_dismissive(&own, &self.rt.policy.dismissive_phrases);
        self.tx
            .set_contact_facts(
                &v.message_id,
                &ContactFacts {
                    contact_at: Some(at),
                    contact_kind: Some(if class == MailClass::Acknowledgment {
                        "acknowledgment"
                    } else {
                        "update"
                    }),
                    promise_at: promise.as_ref().map(|p| p.at),
                    promise_text: promise.as_ref().map(|p| p.phrase.as_str()),
                    dismissive: dismissive.as_deref(),
                },
            )
            .await?;
        let acknowledgment = class == MailClass::Acknowledgment;
        let kind = if acknowledgment {
            "acknowledgment"
        } else {
            "contact"
        };
        let detail = format!("{} to {}: {}", kind, join(&v.recipients()), v.subject);
        let by = By {
            actor: from_of(self.v),
            message_id: Some(&v.message_id),
        };
        lifecycle::contact(self.tx, self.rt, &t, acknowledgment, by, &detail, at).await?;
        crate::footnotes::from_team_mail(self.tx, &t, &own, by, at).await?;
        Ok(self.outcome(Some(class), Disposition::Threaded, Some(&t), false, None))
    }
}
