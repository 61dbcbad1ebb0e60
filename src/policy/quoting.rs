//! The author's own words in a plain-text body: text quoted from earlier mail
//! (`>` lines, "On … wrote:" blocks, Outlook "From: … Sent:" headers, forwarded
//! blocks) and signatures are not the author's and never count for a rule.

/// Returns the part of `body` the author wrote, quotes and signature removed.
pub fn own_text(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t == "--" || line == "-- " || line.starts_with("-- \r") {
            break;
        }
        if t.starts_with('>') {
            i += 1;
            continue;
        }
        if is_reply_header(&lines, i) {
            break;
        }
        out.push(line);
        i += 1;
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
}

fn is_reply_header(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    let lower = t.to_lowercase();
    if lower.starts_with("-----original message-----")
        || lower.starts_with("-------- original message")
        || lower.starts_with("---------- forwarded message")
        || lower.starts_with("-------- forwarded message")
        || lower.starts_with("begin forwarded message")
        || lower.starts_with("________________________________")
    {
        return true;
    }
    // "On Tue, 3 Mar 2026, Bob <b@x> wrote:" possibly wrapped over two lines.
    if lower.starts_with("on ") {
        if lower.ends_with("wrote:") || lower.ends_with("schrieb:") || lower.ends_with("a écrit :")
        {
            return true;
        }
        if let Some(next) = lines.get(i + 1) {
            let n = next.trim().to_lowercase();
            if n.ends_with("wrote:") && lower.len() + n.len() < 300 {
                return true;
            }
        }
    }
    // Outlook: "From: …" followed within a few lines by "Sent:" or "Date:".
    if lower.starts_with("from:") {
        return lines.iter().skip(i + 1).take(4).any(|l| {
            let l = l.trim().to_lowercase();
            l.starts_with("sent:") || l.starts_with("date:")
        });
    }
    false
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
}
