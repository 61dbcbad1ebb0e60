//! The author's own words in a text/html body, read from the HTML tree (not
//! from flattened text, where a reply header glued to the end of the
//! author's last line is not recognised).
//!
//! The tree is walked in document order and turned into [`Line`]s for the
//! shared line reader in [`super::quoting`]:
//!
//! * block elements (`div`, `p`, `br`, `hr`, `li`, `tr`, headings, tables…)
//!   end a line; table cells in one row are separated by a space;
//! * text inside `<blockquote>` (any, including Apple Mail's and
//!   Thunderbird's `type="cite"`) and inside Yahoo's `yahoo_quoted`
//!   container is quoted;
//! * `div.gmail_attr` and `div.moz-cite-prefix` (the "On … wrote:" line) are
//!   attributions and dropped; `div.gmail_quote` itself is transparent, so
//!   an answer typed between two quoted blocks still counts;
//! * Outlook's reply header containers (`divRplyFwdMsg`, `appendonsend`,
//!   new Outlook's `mail-editor-reference-message-container`, and a
//!   border-top `div` that starts with a "From:" header) cut: everything
//!   after them is the earlier mail, which Outlook does not mark;
//! * signature containers (`gmail_signature`, `moz-signature`, Outlook's
//!   `Signature`, Windows Mail's `data-signatureblock`) are dropped;
//! * `head`, `script`, `style`, `template` and comments are not text.
//!
//! The walk is iterative, so hostile nesting depth cannot overflow the stack.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::quoting::{read_lines, read_plain, Line, Reading};

/// Deeper nesting than any client writes (a long Outlook thread quoted in
/// full stays in the low hundreds). html5ever's tree building costs time
/// quadratic in the depth of open elements (50,000 nested `<div>`s took
/// minutes), so hostile mail this deep is read as flattened text instead.
const MAX_DEPTH: usize = 2_000;

/// Reads a text/html body; see the module documentation.
pub fn read_html(html: &str) -> Reading {
    if nesting_depth(html) > MAX_DEPTH {
        return read_plain(&mail_parser::decoders::html::html_to_text(html));
    }
    read_lines(&html_lines(html))
}

/// An upper bound of how deep elements nest: start tags that are neither
/// void nor self-closed, minus end tags, at their highest. Linear in the
/// input; comments and odd markup can only make it larger.
fn nesting_depth(html: &str) -> usize {
    const VOID: &[&str] = &[
        "br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source",
        "track", "embed", "param",
    ];
    let b = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut k = 0;
    while let Some(off) = b[k..].iter().position(|&c| c == b'<') {
        let at = k + off + 1;
        k = at;
        if b.get(at) == Some(&b'/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        if !b.get(at).is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        let name_end = b[at..]
            .iter()
            .position(|c| !c.is_ascii_alphanumeric())
            .map_or(b.len(), |p| at + p);
        let name = html[at..name_end].to_ascii_lowercase();
        let tag_end = b[name_end..]
            .iter()
            .position(|&c| c == b'>')
            .map_or(b.len(), |p| name_end + p);
        let self_closed = tag_end > 0 && b.get(tag_end - 1) == Some(&b'/');
        if !VOID.contains(&name.as_str()) && !self_closed {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

/// What an element does to the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Its text is ordinary text.
    Plain,
    /// Its text is quoted.
    Quote,
    /// Its subtree is dropped (attribution, signature, non-text).
    Drop,
    /// It and everything after it is earlier mail.
    Cut,
}

fn has_class(el: &scraper::node::Element, name: &str) -> bool {
    el.classes().any(|c| c.eq_ignore_ascii_case(name))
}

/// Outlook prefixes ids with `x_` (or more) when mail is quoted again.
fn id_is(el: &scraper::node::Element, name: &str) -> bool {
    el.id().is_some_and(|id| {
        id.eq_ignore_ascii_case(name)
            || id
                .to_ascii_lowercase()
                .ends_with(&format!("_{}", name.to_ascii_lowercase()))
    })
}

fn role(el: &scraper::node::Element) -> Role {
    let name = el.name();
    if matches!(
        name,
        "head" | "script" | "style" | "template" | "title" | "noscript"
    ) {
        return Role::Drop;
    }
    if id_is(el, "divRplyFwdMsg")
        || id_is(el, "appendonsend")
        || id_is(el, "mail-editor-reference-message-container")
        || has_class(el, "OutlookMessageHeader")
    {
        return Role::Cut;
    }
    if has_class(el, "gmail_attr") || has_class(el, "moz-cite-prefix") {
        return Role::Drop;
    }
    if has_class(el, "gmail_signature")
        || has_class(el, "moz-signature")
        || id_is(el, "Signature")
        || el.attr("data-signatureblock").is_some()
        || el.attr("data-smartmail") == Some("gmail_signature")
    {
        return Role::Drop;
    }
    if name == "blockquote"
        || el
            .classes()
            .any(|c| c.to_ascii_lowercase().contains("yahoo_quoted"))
        || el
            .id()
            .is_some_and(|id| id.to_ascii_lowercase().contains("yahoo_quoted"))
    {
        return Role::Quote;
    }
    Role::Plain
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "div"
            | "p"
            | "br"
            | "hr"
            | "li"
            | "tr"
            | "ul"
            | "ol"
            | "table"
            | "tbody"
            | "thead"
            | "blockquote"
            | "pre"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "center"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "address"
            | "dd"
            | "dt"
            | "dl"
            | "body"
            | "html"
    )
}

/// Outlook desktop's reply header: a `div` with a top border whose text
/// starts with a "From:" label.
fn outlook_border_header(node: ego_tree::NodeRef<'_, Node>, el: &scraper::node::Element) -> bool {
    if el.name() != "div" {
        return false;
    }
    let style = el.attr("style").unwrap_or("").to_ascii_lowercase();
    if !style.contains("border-top") {
        return false;
    }
    let mut start = String::new();
    for d in node.descendants() {
        if let Node::Text(t) = d.value() {
            start.push_str(t);
            if start.trim_start().len() > 16 {
                break;
            }
        }
    }
    let s = start.trim_start().to_lowercase();
    ["from:", "von:", "de :", "de:", "от:"]
        .iter()
        .any(|l| s.starts_with(l))
}

/// Builds the lines of an HTML body.
struct LineBuilder {
    lines: Vec<Line>,
    buf: String,
    buf_quoted: bool,
}

impl LineBuilder {
    /// Ends the current line; an empty line is only kept when `blank` (a
    /// `<br>` on an empty line, the margin after a paragraph).
    fn end_line(&mut self, blank: bool) {
        let text = std::mem::take(&mut self.buf);
        let text = text.trim();
        if self.buf_quoted && !text.is_empty() {
            self.lines.push(Line::Quoted);
        } else if !text.is_empty() || (blank && !self.buf_quoted) {
            self.lines.push(Line::Text(text.to_string()));
        }
        self.buf_quoted = false;
    }

    fn push_text(&mut self, t: &str, quoted: bool, pre: bool) {
        if t.trim().is_empty() && (self.buf.is_empty() || !pre) {
            if !self.buf.is_empty() && !self.buf.ends_with(' ') {
                self.buf.push(' ');
            }
            return;
        }
        if quoted != self.buf_quoted && !self.buf.trim().is_empty() {
            self.end_line(false);
        }
        self.buf_quoted = quoted;
        if pre {
            let mut first = true;
            for part in t.split('\n') {
                if !first {
                    self.end_line(true);
                    self.buf_quoted = quoted;
                }
                self.buf.push_str(part.trim_end_matches('\r'));
                first = false;
            }
            return;
        }
        // HTML whitespace collapses to one space.
        for c in t.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                if !self.buf.is_empty() && !self.buf.ends_with(' ') {
                    self.buf.push(' ');
                }
            } else {
                self.buf.push(if c == '\u{a0}' { ' ' } else { c });
            }
        }
    }
}

/// The HTML body as marked lines.
pub fn html_lines(html: &str) -> Vec<Line> {
    let doc = Html::parse_document(html);
    let mut b = LineBuilder {
        lines: Vec::new(),
        buf: String::new(),
        buf_quoted: false,
    };
    // Per open element: its role; depth counters follow from the stack.
    let mut stack: Vec<Role> = Vec::new();
    let mut quote_depth = 0usize;
    let mut drop_depth = 0usize;
    let mut pre_depth = 0usize;
    let mut cut = false;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let mut r = role(el);
                    if r == Role::Plain && drop_depth == 0 && outlook_border_header(node, el) {
                        r = Role::Cut;
                    }
                    if r == Role::Cut && drop_depth == 0 {
                        cut = true;
                        break;
                    }
                    if is_block(el.name()) {
                        b.end_line(el.name() == "br");
                    }
                    if matches!(el.name(), "td" | "th") && !b.buf.is_empty() {
                        b.buf.push(' ');
                    }
                    match r {
                        Role::Quote => quote_depth += 1,
                        Role::Drop => drop_depth += 1,
                        _ => {}
                    }
                    if el.name() == "pre" {
                        pre_depth += 1;
                    }
                    stack.push(r);
                }
                Node::Text(t) if drop_depth == 0 => {
                    b.push_text(t, quote_depth > 0, pre_depth > 0);
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    match stack.pop() {
                        Some(Role::Quote) => quote_depth -= 1,
                        Some(Role::Drop) => drop_depth -= 1,
                        _ => {}
                    }
                    if el.name() == "pre" {
                        pre_depth = pre_depth.saturating_sub(1);
                    }
                    if is_block(el.name()) && el.name() != "br" && el.name() != "hr" {
                        b.end_line(false);
                    }
                    // A paragraph is followed by a blank line, as a browser
                    // shows its margin (keeps paragraphs apart as sentences).
                    if el.name() == "p" && drop_depth == 0 && quote_depth == 0 {
                        b.end_line(true);
                    }
                }
            }
        }
    }
    b.end_line(false);
    if cut {
        b.lines.push(Line::Cut);
    }
    b.lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlook_web_header_glued_to_the_text_is_cut() {
        let html = r#"<html><body><div>I'll look at it now.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Bob<br><b>Sent:</b> today</div><div>We can't reproduce. Next update by 2pm.</div></body></html>"#;
        let r = read_html(html);
        assert_eq!(r.segments, vec!["I'll look at it now."]);
        assert!(r.saw_quote);
    }

    #[test]
    fn answers_between_blockquotes_are_kept() {
        let html = r#"<div class="moz-cite-prefix">On 03.12.2026 10:00, Bob wrote:<br></div><blockquote type="cite">is it down?</blockquote>Yes, since 9:40.<br><blockquote type="cite">when is it back?</blockquote><p>Next update by 3pm.</p><div class="moz-signature">-- <br>Alice, we reply within 4 hours</div>"#;
        let r = read_html(html);
        assert_eq!(r.segments, vec!["Yes, since 9:40.", "Next update by 3pm."]);
    }

    #[test]
    fn deep_nesting_is_read_quickly() {
        let html = "<div>".repeat(50_000) + "hello" + &"</div>".repeat(50_000);
        let t = std::time::Instant::now();
        assert_eq!(read_html(&html).segments, vec!["hello"]);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            nesting_depth("<div><br><img src=x/><p>a</p><b>b</b></div>"),
            2
        );
    }
}
