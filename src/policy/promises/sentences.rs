//! Cutting text into sentences and finding the cues in them, with the
//! context checks (whose promise, attached to which event) and the phrase kept.

use super::*;

/// The sentences of `text`, as byte ranges.
///
/// A line break continues the sentence when the line looks hard-wrapped (at
/// least 50 characters) or the next line starts in lower case ("I'll update
/// you again / within the hour."); it ends the sentence before a blank line,
/// a list item, or a short line followed by a capitalised one ("We deployed
/// at 14:30 / I'll update you soon" are two sentences).
pub(super) fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let next = chars.get(k + 1).map(|&(_, n)| n);
        let boundary = match c {
            '!' | '?' | ';' | '…' => true,
            '.' => next.is_none_or(char::is_whitespace) && !ends_with_abbreviation(&text[start..i]),
            '\n' => line_break_ends_sentence(text, i),
            _ => false,
        };
        if boundary {
            let end = i + c.len_utf8();
            if !text[start..end].trim().is_empty() {
                out.push((start, end));
            }
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push((start, text.len()));
    }
    out
}

pub(super) fn ends_with_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_lowercase();
    ABBREVIATIONS.contains(&word.as_str())
}

pub(super) fn line_break_ends_sentence(text: &str, i: usize) -> bool {
    let line = &text[text[..i].rfind('\n').map_or(0, |p| p + 1)..i];
    let rest = &text[i + 1..];
    let next_line = rest.split('\n').next().unwrap_or("").trim();
    let line = line.trim();
    let list_item = next_line.starts_with(['-', '*', '•', '>'])
        || next_line
            .split_once(['.', ')'])
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if next_line.is_empty() || list_item {
        return true;
    }
    let wrapped = line.chars().count() >= 50;
    let continues = next_line.chars().next().is_some_and(char::is_lowercase);
    !(wrapped || continues)
}

/// Blanks out text in double quotes ("…" or “…”), keeping byte offsets:
/// quoted words are someone else's, e.g. the client's subject that onit's
/// acknowledgment repeats (`Your request "Next update by 3pm?" is logged…`).
///
/// Per line, everything from the first opening quote to the last closing
/// quote is blanked: the repeated subject may itself contain quotes, nested
/// or unbalanced, and a cue standing between two quotations on one line is
/// rare enough to give up.
pub fn mask_quotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let open = line.find(['"', '“']);
        let close = line
            .char_indices()
            .filter(|&(_, c)| c == '"' || c == '”')
            .map(|(i, c)| i + c.len_utf8())
            .next_back();
        match (open, close) {
            (Some(o), Some(c)) if c > o + 1 => {
                out.push_str(&line[..o]);
                out.extend(std::iter::repeat_n(' ', c - o));
                out.push_str(&line[c..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// A cue found in a sentence (overlapping matches merged into one).
#[derive(Debug, Clone, Copy)]
pub(super) struct FoundCue {
    pub(super) start: usize,
    pub(super) end: usize,
    /// One of the merged matches is a [`CueKind::Label`].
    pub(super) label: bool,
    /// Where the words that said so begin: a future verb's subject is
    /// included ("I'll", "we will").
    pub(super) phrase_start: usize,
}

/// The cues of one sentence, in order, overlapping matches merged.
pub(super) fn find_cues(s: &str) -> Vec<FoundCue> {
    let mut cues: Vec<FoundCue> = Vec::new();
    for (kind, re) in CUE_RES.iter() {
        for m in re.find_iter(s) {
            if *kind == CueKind::Future && other_subject(&s[..m.start()]) {
                continue;
            }
            cues.push(FoundCue {
                start: m.start(),
                end: m.end(),
                label: *kind == CueKind::Label,
                phrase_start: if *kind == CueKind::Future {
                    subject_start(s, m.start())
                } else {
                    m.start()
                },
            });
        }
    }
    cues.sort_by_key(|c| (c.start, std::cmp::Reverse(c.end)));
    let mut merged: Vec<FoundCue> = Vec::new();
    for c in cues {
        match merged.last_mut() {
            Some(last) if c.start < last.end => {
                last.end = last.end.max(c.end);
                last.label |= c.label;
                last.phrase_start = last.phrase_start.min(c.phrase_start);
            }
            _ => merged.push(c),
        }
    }
    merged
}

/// The start of the word before `pos`: the subject glued to "'ll", or the
/// word before "will" (`pos` itself at the start of a sentence).
pub(super) fn subject_start(s: &str, pos: usize) -> usize {
    let glued = s[pos..].starts_with(['\'', '’', '‘']);
    let lead = if glued {
        &s[..pos]
    } else {
        s[..pos].trim_end()
    };
    if !glued && lead.len() == pos {
        return pos;
    }
    word_start(lead).unwrap_or(pos)
}

/// Where the alphanumeric word that `lead` ends with begins, if it ends with one.
pub(super) fn word_start(lead: &str) -> Option<usize> {
    lead.char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric())
        .last()
        .map(|(i, _)| i)
}

/// The last words before `pos`, nearest first, lower case.
pub(super) fn words_before(before: &str, n: usize) -> Vec<String> {
    before
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty() && *w != "-")
        .rev()
        .take(n)
        .map(str::to_lowercase)
        .collect()
}

pub(super) fn other_subject(before: &str) -> bool {
    // "you'll": the match starts at the apostrophe, so the subject is the
    // word the apostrophe is glued to, found the same way.
    words_before(before, 1)
        .first()
        .is_some_and(|w| OTHER_SUBJECTS.contains(&w.as_str()))
}

/// True when the time expression starting after `before` is not a deadline
/// for an update: it starts something ("after 3pm") or belongs to an event
/// ("the meeting at 3pm").
pub(super) fn attached_elsewhere(before: &str) -> bool {
    let words = words_before(before, 4);
    let Some(first) = words.first() else {
        return false;
    };
    if NOT_A_DEADLINE.contains(&first.as_str()) {
        return true;
    }
    if DEADLINE.contains(&first.as_str()) {
        return false;
    }
    words
        .iter()
        .find(|w| !EVENT_LINKS.contains(&w.as_str()))
        .is_some_and(|w| EVENT_NOUNS.contains(&w.as_str()))
}

/// Whitespace runs (line breaks included) as one space, trimmed.
pub(super) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words that said so: cue through time, or "cue … time" when that is
/// too long, never more than [`PHRASE_MAX`] characters.
pub(super) fn phrase(s: &str, cue: &FoundCue, g: &Span) -> String {
    let cue_first = cue.start <= g.start;
    // Keep the deadline word with the time: "by 3pm", not "3pm".
    let lead = s[..g.start].trim_end();
    let g_start = word_start(lead)
        .filter(|&w| {
            ["by", "at", "on", "before", "within", "until"]
                .iter()
                .any(|p| lead[w..].eq_ignore_ascii_case(p))
                && (!cue_first || w >= cue.end)
        })
        .unwrap_or(g.start);
    let full = collapse(&s[cue.phrase_start.min(g_start)..cue.end.max(g.end)]);
    if full.chars().count() <= PHRASE_MAX {
        return full;
    }
    let time = collapse(&s[g_start..g.end]);
    let words = collapse(&s[cue.phrase_start..cue.end]);
    let short = if cue_first {
        format!("{words} … {time}")
    } else {
        format!("{time} … {words}")
    };
    if short.chars().count() <= PHRASE_MAX {
        short
    } else {
        let mut cut: String = short.chars().take(PHRASE_MAX - 1).collect();
        cut.push('…');
        cut
    }
}
