//! The author's own words in a message, whatever the client: the one reader
//! that the promise, dismissive-language and command readers and the "next
//! update stated" check all take their text from (POLICY: "Text quoted from
//! earlier mail never counts").
//!
//! A message may carry its text as text/plain, text/html or both. Each part
//! present is read ([`super::quoting`] for plain text, [`super::html_quoting`]
//! for the HTML tree), and the part whose structure shows the quote is
//! preferred:
//!
//! * plain text when it shows one (`>` lines, an attribution, a reply
//!   header): its marks are explicit, and answers between `>` blocks survive;
//! * else HTML when its tree shows one (a `<blockquote>`, a client's quote
//!   container, Outlook's reply header): this is the case where a client's
//!   plain-text alternative carries the earlier mail unmarked;
//! * else plain text (nothing was quoted; plain text is what the author's
//!   client wrote for readers without HTML), or HTML when it is the only part.

use super::html_quoting::read_html;
use super::quoting::{read_plain, Reading};

/// Which part of the message the own words came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OwnWordsSource {
    /// The message had no text part.
    #[default]
    None,
    Plain,
    Html,
}

/// The author's own text as ordered segments: each unquoted run of text, in
/// reading order (one segment for a top-posted reply, one per answer for an
/// inline reply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnWords {
    pub segments: Vec<String>,
    pub source: OwnWordsSource,
}

impl OwnWords {
    /// Reads the own words from a message's text/plain and text/html parts
    /// (either may be absent).
    pub fn read(plain: Option<&str>, html: Option<&str>) -> OwnWords {
        let plain = plain.map(read_plain);
        // The HTML tree is read only when its answer can win: when plain text
        // shows a quote, plain text is taken whatever the HTML shows (the tree
        // walk is most of the cost of reading a message).
        let html = match &plain {
            Some(p) if p.saw_quote => None,
            _ => html.map(read_html),
        };
        let (reading, source) = match (plain, html) {
            (Some(p), Some(h)) if !p.saw_quote && h.saw_quote => (h, OwnWordsSource::Html),
            (Some(p), _) => (p, OwnWordsSource::Plain),
            (None, Some(h)) => (h, OwnWordsSource::Html),
            (None, None) => (Reading::default(), OwnWordsSource::None),
        };
        OwnWords {
            segments: reading.segments,
            source,
        }
    }

    /// The segments joined into one text for the readers that take a string:
    /// a blank line between segments, so a sentence never runs from one
    /// answer into the next.
    pub fn text(&self) -> String {
        self.segments.join("\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_that_shows_the_quote_wins() {
        // Outlook on the web: the plain alternative carries the quote unmarked
        // and without a header the line reader can see.
        let plain = "On it.\nWe can't reproduce it.\n";
        let html = "<div>On it.</div><div id=\"divRplyFwdMsg\"><b>From:</b> Bob</div><div>We can't reproduce it.</div>";
        let w = OwnWords::read(Some(plain), Some(html));
        assert_eq!(w.source, OwnWordsSource::Html);
        assert_eq!(w.text(), "On it.");
        // Both show it: plain text's explicit marks are read.
        let plain = "mine\n\n> theirs\n";
        let html = "<div>mine</div><blockquote>theirs</blockquote>";
        assert_eq!(
            OwnWords::read(Some(plain), Some(html)).source,
            OwnWordsSource::Plain
        );
        assert_eq!(OwnWords::read(None, None).text(), "");
    }
}
