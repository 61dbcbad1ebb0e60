//! The author's own words in a body read as lines: text quoted from earlier
//! mail and signatures are not the author's and never count for a rule.
//!
//! The same line reader serves text/plain (a line is quoted when it starts
//! with `>`) and text/html (a line is quoted when it came from inside a
//! `<blockquote>` or a client's quote container, see
//! [`super::html_quoting`]). It keeps every unquoted run of lines, so
//! top-posting, bottom-posting and answers between `>` blocks all count, and
//! drops:
//!
//! * attribution lines: "On … wrote:", "Am … schrieb …:", "Le … a écrit :",
//!   "El … escribió:", also wrapped over two lines, and any short line ending
//!   in `:` that names an address or a date right before a quote (clients in
//!   other languages, e.g. "26.06.2014, 14:41, "Alex" <a@x>:");
//! * reply and forward headers (Outlook's "From: … Sent: …" block in English,
//!   German, French, Spanish; `-----Original Message-----` and its
//!   translations; "Begin forwarded message:"; Outlook's line of
//!   underscores). Such a header is followed by the earlier mail *without*
//!   `>` marks, so everything after it is quoted and reading stops there;
//!   likewise an attribution line that is not followed by a `>` block;
//! * signatures: everything after a `-- ` line; the lines after a sign-off
//!   that stands alone on its line ("Kind regards,", "Thanks,", "Mit
//!   freundlichen Grüßen", "Cordialement"…) up to the next quote, since
//!   those are a name, a title and the team's standard footer ("we reply
//!   within 4 hours" is not a promise); "Sent from my iPhone" lines; and a
//!   disclaimer paragraph ("This e-mail and any attachments are
//!   confidential…") up to the next quote.
//!
//! Where POLICY is unclear: a sign-off line itself is kept (it is the
//! author's), and text after a `-- ` signature is never the author's, even
//! when it is not quoted (RFC 3676: the signature runs to the end).

/// One line of a body as the readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line that is not marked as quoted.
    Text(String),
    /// A line of quoted text (its words do not matter).
    Quoted,
    /// Everything after this point is earlier mail (an HTML reply-header container).
    Cut,
}

/// What the line reader found: the own-words segments in reading order, and
/// whether the body showed any quote structure at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub segments: Vec<String>,
    /// True when a quote, attribution, reply header or cut was recognised.
    pub saw_quote: bool,
}

/// Returns the part of a plain-text `body` the author wrote, quotes and
/// signature removed: the own-words segments joined by line breaks.
pub fn own_text(body: &str) -> String {
    read_plain(body).segments.join("\n")
}

/// Reads a text/plain body: a line starting with `>` (after spaces) is quoted.
pub fn read_plain(body: &str) -> Reading {
    let lines: Vec<Line> = body
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('>') {
                Line::Quoted
            } else {
                Line::Text(l.to_string())
            }
        })
        .collect();
    read_lines(&lines)
}

/// The shared reader over marked lines (see the module documentation).
pub fn read_lines(lines: &[Line]) -> Reading {
    let mut out = Reading::default();
    let mut current: Vec<&str> = Vec::new();
    // After a sign-off or a disclaimer: skip text up to the next quote.
    let mut in_footer = false;
    let mut i = 0;
    while i < lines.len() {
        let text = match &lines[i] {
            Line::Cut => {
                out.saw_quote = true;
                break;
            }
            Line::Quoted => {
                flush(&mut current, &mut out.segments);
                out.saw_quote = true;
                in_footer = false;
                i += 1;
                continue;
            }
            Line::Text(t) => t.as_str(),
        };
        let t = text.trim();
        if t == "--" || text.trim_end_matches('\r') == "-- " {
            break;
        }
        if is_reply_header(lines, i) {
            out.saw_quote = true;
            break;
        }
        if let Some(n) = attribution_len(lines, i) {
            flush(&mut current, &mut out.segments);
            out.saw_quote = true;
            // An attribution followed by `>` lines: the quote is marked, and
            // the author may answer below it. Otherwise the earlier mail
            // follows unmarked: nothing after it is the author's.
            if next_nonblank(lines, i + n).is_some_and(|l| matches!(l, Line::Quoted)) {
                i += n;
                continue;
            }
            break;
        }
        if in_footer {
            i += 1;
            continue;
        }
        if is_device_signature(t) {
            i += 1;
            continue;
        }
        if is_disclaimer(t) {
            in_footer = true;
            i += 1;
            continue;
        }
        current.push(text);
        if is_sign_off(lines, i) {
            in_footer = true;
        }
        i += 1;
    }
    flush(&mut current, &mut out.segments);
    out
}

/// Ends the current run of lines: trims blank lines around it, folds runs of
/// blank lines to one, and keeps it when anything is left.
fn flush(current: &mut Vec<&str>, segments: &mut Vec<String>) {
    let mut kept: Vec<&str> = Vec::new();
    for l in current.drain(..) {
        let l = l.trim_end();
        if l.trim().is_empty() {
            if kept.last().is_some_and(|p| !p.is_empty()) {
                kept.push("");
            }
        } else {
            kept.push(l);
        }
    }
    while kept.last().is_some_and(|l| l.is_empty()) {
        kept.pop();
    }
    if !kept.is_empty() {
        segments.push(kept.join("\n"));
    }
}

fn text_at(lines: &[Line], i: usize) -> Option<&str> {
    match lines.get(i)? {
        Line::Text(t) => Some(t.as_str()),
        _ => None,
    }
}

fn next_nonblank(lines: &[Line], from: usize) -> Option<&Line> {
    lines[from.min(lines.len())..]
        .iter()
        .find(|l| !matches!(l, Line::Text(t) if t.trim().is_empty()))
}

/// The verbs that end an attribution line, lower case, in the languages our
/// clients write.
const ATTRIBUTION_ENDS: &[&str] = &[
    "wrote:",
    "writes:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "a écrit\u{a0}:",
    "escribió:",
    "scritto:",
    "skrev:",
    "schreef:",
    "napisał:",
    "написал:",
    "написала:",
];

fn ends_attribution(lower: &str) -> bool {
    let lower = lower.trim_end();
    ATTRIBUTION_ENDS.iter().any(|e| lower.ends_with(e))
}

/// An attribution line ("On … wrote:") at `i`: how many lines it spans.
fn attribution_len(lines: &[Line], i: usize) -> Option<usize> {
    let t = text_at(lines, i)?.trim();
    let lower = t.to_lowercase();
    if lower.is_empty() || lower.len() > 300 {
        return None;
    }
    if ends_attribution(&lower) {
        return Some(1);
    }
    // "Am Do., 3. Dez. 2026 um 10:00 Uhr schrieb Bob <b@x>:" and the like.
    let starts = ["on ", "am ", "le ", "el ", "--- on "]
        .iter()
        .any(|p| lower.starts_with(p));
    let verb_inside = ["schrieb", "a écrit", "escribió", " wrote"]
        .iter()
        .any(|v| lower.contains(v));
    if starts && verb_inside && lower.ends_with(':') {
        return Some(1);
    }
    // Wrapped over two lines: "On Tue, 3 Mar 2026, Bob Example\n<bob@x> wrote:".
    if starts || lower.chars().any(|c| c.is_ascii_digit()) {
        if let Some(next) = text_at(lines, i + 1) {
            let n = next.trim().to_lowercase();
            let joined = format!("{lower} {n}");
            if joined.len() < 300 && (ends_attribution(&n) || (starts && ends_attribution(&joined)))
            {
                return Some(2);
            }
            if starts && joined.len() < 300 && n.ends_with(':') && verb_inside {
                return Some(2);
            }
        }
    }
    // Any other language: a short line ending in ':' that names an address
    // or a date, right before a quote.
    if lower.ends_with(':')
        && (lower.contains('@') || has_date(&lower))
        && next_nonblank(lines, i + 1).is_some_and(|l| matches!(l, Line::Quoted))
    {
        return Some(1);
    }
    None
}

/// A year (19xx/20xx) or a clock time hh:mm in `s`.
fn has_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |at: usize, n: usize| {
        b.get(at..at + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    (0..b.len()).any(|k| {
        let edge = k == 0 || !b[k - 1].is_ascii_digit();
        edge && ((digits(k, 4)
            && (b[k] == b'1' && b[k + 1] == b'9' || b[k] == b'2' && b[k + 1] == b'0')
            && !b.get(k + 4).is_some_and(u8::is_ascii_digit))
            || (digits(k, 2) || digits(k, 1)) && {
                let h = if digits(k, 2) { 2 } else { 1 };
                b.get(k + h) == Some(&b':') && digits(k + h + 1, 2)
            })
    })
}

/// Header names that open an Outlook-style reply header block.
const FROM_LABELS: &[&str] = &["from:", "von:", "de:", "de :", "от:", "da:", "van:", "od:"];
/// Header names that, near a From: line, show it is a header block.
const SENT_LABELS: &[&str] = &[
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "date :",
    "enviado:",
    "enviado el:",
    "fecha:",
    "отправлено:",
    "дата:",
    "inviato:",
    "verzonden:",
    "wysłano:",
];
/// Separator lines (dashes and spaces stripped, lower case) that start a
/// quoted or forwarded message.
const SEPARATORS: &[&str] = &[
    "original message",
    "forwarded message",
    "ursprüngliche nachricht",
    "weitergeleitete nachricht",
    "message d'origine",
    "message d’origine",
    "message transféré",
    "mensaje original",
    "mensaje reenviado",
    "messaggio originale",
];

fn starts_with_any(s: &str, labels: &[&str]) -> bool {
    labels.iter().any(|l| s.starts_with(l))
}

fn is_reply_header(lines: &[Line], i: usize) -> bool {
    let Some(t) = text_at(lines, i) else {
        return false;
    };
    let lower = t.trim().to_lowercase();
    if lower.starts_with("begin forwarded message")
        || lower.starts_with("________________________________")
    {
        return true;
    }
    if lower.contains("--") {
        let core = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
        if SEPARATORS.iter().any(|s| core.starts_with(s)) {
            return true;
        }
    }
    // Outlook: "From: …" followed within a few lines by "Sent:" or "Date:"
    // (or "Date: …" followed by "From:", as Hotmail wrote it).
    let near = |labels: &[&str]| {
        lines.iter().skip(i + 1).take(5).any(|l| match l {
            Line::Text(t) => starts_with_any(&t.trim().to_lowercase(), labels),
            _ => false,
        })
    };
    if starts_with_any(&lower, FROM_LABELS) {
        return near(SENT_LABELS);
    }
    if starts_with_any(&lower, SENT_LABELS) {
        return near(FROM_LABELS) && near(&["subject:", "to:", "betreff:", "objet :", "asunto:"]);
    }
    false
}

/// "Sent from my iPhone" and the other lines phones and apps add.
fn is_device_signature(t: &str) -> bool {
    let lower = t.to_lowercase();
    lower.len() < 80
        && [
            "sent from my ",
            "sent from outlook",
            "sent from mail for",
            "sent from yahoo mail",
            "sent from samsung",
            "sent with ",
            "get outlook for ",
            "von meinem ",
            "gesendet von ",
            "envoyé de mon ",
            "envoyé depuis ",
            "enviado desde mi ",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// Sign-offs that end the author's text when they stand alone on a line.
const SIGN_OFFS: &[&str] = &[
    "regards",
    "kind regards",
    "best regards",
    "warm regards",
    "best",
    "cheers",
    "all the best",
    "sincerely",
    "yours sincerely",
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "viele grüße",
    "beste grüße",
    "gruß",
    "grüße",
    "mfg",
    "cordialement",
    "bien cordialement",
    "bien à vous",
    "saludos",
    "un saludo",
    "atentamente",
    "saludos cordiales",
];

/// Thanks, which is a sign-off only when a name follows it ("Thanks,\nAlice"),
/// and an opener otherwise ("Thanks!\n\nWe are on it…").
const THANKS: &[&str] = &[
    "thanks",
    "thank you",
    "many thanks",
    "thanks again",
    "merci",
    "danke",
    "gracias",
];

fn is_sign_off(lines: &[Line], i: usize) -> bool {
    let Some(t) = text_at(lines, i) else {
        return false;
    };
    let core = t
        .trim()
        .trim_end_matches(|c: char| c == ',' || c == '.' || c == '!' || c.is_whitespace())
        .to_lowercase();
    if SIGN_OFFS.contains(&core.as_str()) {
        return true;
    }
    if !THANKS.contains(&core.as_str()) {
        return false;
    }
    // A name: the next non-blank line (at most one blank line between), a
    // few words, no digits, not a sentence.
    let next = [i + 1, i + 2]
        .into_iter()
        .filter_map(|k| text_at(lines, k))
        .map(str::trim)
        .find(|l| !l.is_empty());
    next.is_some_and(|n| {
        n.split_whitespace().count() <= 4
            && !n.chars().any(|c| c.is_ascii_digit())
            && !n.ends_with(['.', '?', ':', '!', ','])
    })
}

/// The first line of a legal disclaimer.
fn is_disclaimer(t: &str) -> bool {
    let lower = t.to_lowercase();
    [
        "disclaimer",
        "confidentiality notice",
        "this e-mail and any",
        "this email and any",
        "this message and any",
        "this e-mail is confidential",
        "this email is confidential",
        "this message is confidential",
        "the information contained in this",
        "diese e-mail enthält vertrauliche",
        "diese nachricht enthält vertrauliche",
        "ce message et toutes les pièces",
        "ce courriel est confidentiel",
        "este mensaje es confidencial",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_quotes_headers_and_signatures() {
        let body = "Next update by 3pm.\n\nOn Tue, 3 Mar 2026 at 10:00, Bob <bob@client.example> wrote:\n> it is down\n> ASAP\n";
        assert_eq!(own_text(body), "Next update by 3pm.");
        let outlook = "Thanks\r\n\r\nFrom: Bob <bob@client.example>\r\nSent: Tuesday\r\nTo: support\r\nSubject: down\r\n\r\nurgent!\r\n";
        assert_eq!(own_text(outlook).trim(), "Thanks");
        let sig = "Hello\n-- \nAlice\nI'll update you at 14:30\n";
        assert_eq!(own_text(sig), "Hello");
        let inline = "> old text\nmy answer\n> more old\nsecond answer";
        assert_eq!(own_text(inline), "my answer\nsecond answer");
    }

    #[test]
    fn wrapped_on_wrote_line() {
        let body = "ok\nOn Tue, 3 Mar 2026 at 10:00, Bob Example\n<bob@client.example> wrote:\nquoted without marks\n";
        assert_eq!(own_text(body), "ok");
    }

    #[test]
    fn a_from_line_in_prose_is_kept() {
        let body = "From: the logs we see errors.\nplease check";
        assert_eq!(own_text(body), body);
    }

    #[test]
    fn bottom_posted_and_inline_answers_are_kept_in_order() {
        let bottom = "On Thu, 3 Dec 2026 at 10:00, Bob <bob@client.example> wrote:\n> is it fixed?\n\nNot yet. Next update by 3pm.\n\n-- \nAlice\n";
        let r = read_plain(bottom);
        assert_eq!(r.segments, vec!["Not yet. Next update by 3pm."]);
        assert!(r.saw_quote);
        let inline = "Am 03.12.2026 um 10:00 schrieb Bob <bob@client.example>:\n> 1. is it down?\nYes.\n\n> 2. when?\nNext update by 3pm.\n";
        assert_eq!(
            read_plain(inline).segments,
            vec!["Yes.", "Next update by 3pm."]
        );
    }

    #[test]
    fn attributions_in_our_clients_languages() {
        for a in [
            "Le jeu. 3 déc. 2026 à 10:00, Bob <bob@client.example> a écrit :",
            "El jue, 3 dic 2026 a las 10:00, Bob (<bob@client.example>) escribió:",
            "Am Do., 3. Dez. 2026 um 10:00 Uhr schrieb Bob <bob@client.example>:",
            "03.12.2026 10:00, Bob <bob@client.example>:",
        ] {
            let body = format!("mine\n\n{a}\n> theirs\n");
            assert_eq!(own_text(&body), "mine", "{a}");
        }
        // An ordinary line ending in a colon before a quote is kept.
        assert_eq!(
            own_text("Here is what I see:\n> error\nfixed now"),
            "Here is what I see:\nfixed now"
        );
    }

    #[test]
    fn footers_and_phone_lines_are_not_the_authors() {
        let body = "Restarted the service.\n\nKind regards,\nAlice\nJAC Support: we reply within 4 hours\n\nSent from my iPhone\n";
        assert_eq!(own_text(body), "Restarted the service.\n\nKind regards,");
        let disclaimer = "Done.\n\nThis email and any attachments are confidential.\nWe reply within the hour.\n";
        assert_eq!(own_text(disclaimer), "Done.");
        let german = "Erledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: Bob\nGesendet: Donnerstag\n\nkaputt\n";
        assert_eq!(own_text(german), "Erledigt.");
    }

    #[test]
    fn dates_are_recognised() {
        assert!(has_date("le 3 déc. 2026"));
        assert!(has_date("at 9:30"));
        assert!(!has_date("here are my answers:"));
        assert!(!has_date("ticket 12345"));
    }
}
