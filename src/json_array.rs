//! A JSON array written one element at a time, byte for byte what
//! `serde_json::to_writer_pretty` writes for the whole `Vec`: a listing of a
//! million tickets (`onit tickets --json`) need not hold a million views to
//! print one document (671 MB resident at 1,000,000 tickets: issue 17).
//!
//! serde_json's pretty printer indents each nested level by two spaces and never
//! writes a raw line break inside a string (it escapes it as `\n`), so an element
//! printed on its own becomes the array's element by putting two spaces after
//! each of its line breaks.

use std::io::{self, Write};

/// A pretty JSON array being written to `W`; [`PrettyArray::finish`] closes it.
pub struct PrettyArray<W: Write> {
    out: W,
    written: usize,
    /// How deep the array sits (0: the document itself; 1: a field of it).
    depth: usize,
    /// The element being printed (reused: one allocation for the whole array).
    buf: Vec<u8>,
}

impl<W: Write> PrettyArray<W> {
    /// An array with nothing written yet (an empty one prints `[]`).
    pub fn new(out: W) -> PrettyArray<W> {
        PrettyArray::nested(out, 0)
    }

    /// An array written as a value `depth` levels down (a field of the
    /// document is at depth 1): its elements and `]` indented to match.
    pub fn nested(out: W, depth: usize) -> PrettyArray<W> {
        PrettyArray {
            out,
            written: 0,
            depth,
            buf: Vec::new(),
        }
    }

    /// Writes `item` as the array's next element.
    pub fn push<T: serde::Serialize + ?Sized>(&mut self, item: &T) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, item)?;
        self.out
            .write_all(if self.written == 0 { b"[" } else { b"," })?;
        for line in self.buf.split(|b| *b == b'\n') {
            new_line(&mut self.out, self.depth + 1)?;
            self.out.write_all(line)?;
        }
        self.written += 1;
        Ok(())
    }

    /// Closes the array (`]`, or `[]` when nothing was pushed) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.written == 0 {
            self.out.write_all(b"[]")?;
        } else {
            new_line(&mut self.out, self.depth)?;
            self.out.write_all(b"]")?;
        }
        Ok(self.out)
    }
}

/// A line break and the indentation of `depth` levels (two spaces each, as
/// serde_json's pretty printer indents).
pub fn new_line(out: &mut impl Write, depth: usize) -> io::Result<()> {
    out.write_all(b"\n")?;
    for _ in 0..depth {
        out.write_all(b"  ")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn streamed(items: &[serde_json::Value]) -> String {
        let mut a = PrettyArray::new(Vec::new());
        for i in items {
            a.push(i).unwrap();
        }
        String::from_utf8(a.finish().unwrap()).unwrap()
    }

    #[test]
    fn the_same_bytes_as_the_whole_array_pretty_printed() {
        let cases: Vec<Vec<serde_json::Value>> = vec![
            vec![],
            vec![json!(1)],
            vec![json!({})],
            vec![json!([])],
            vec![
                json!({"id": "JAC-1", "next_due": null, "tags": ["a", "b"], "nested": {"x": [1, {"y": []}]}}),
                json!({"id": "JAC-2", "subject": "line one\nline two\r\n  \"quoted\" \\ tab\t", "empty": {}}),
                json!("a string with \u{2028} and é"),
                json!([[], [[]], {"k": [{}]}]),
            ],
        ];
        for items in cases {
            assert_eq!(
                streamed(&items),
                serde_json::to_string_pretty(&items).unwrap(),
                "{items:?}"
            );
        }
    }

    #[test]
    fn an_array_nested_in_a_document_is_indented_as_the_whole_document_would_be() {
        let inner = [json!({"a": [1, 2], "b": {}}), json!("x")];
        for depth in [1, 2, 3, 20] {
            let mut doc = json!(inner);
            for _ in 0..depth {
                doc = json!({ "k": doc });
            }
            let whole = serde_json::to_string_pretty(&doc).unwrap();
            let mut a = PrettyArray::nested(Vec::new(), depth);
            for i in &inner {
                a.push(i).unwrap();
            }
            let streamed = String::from_utf8(a.finish().unwrap()).unwrap();
            assert!(
                whole.contains(&format!("\"k\": {streamed}")),
                "{depth}: {streamed}"
            );
            let empty = PrettyArray::nested(Vec::new(), depth).finish().unwrap();
            assert_eq!(empty, b"[]");
        }
    }

    #[test]
    fn a_failed_write_is_reported() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut a = PrettyArray::new(Closed);
        assert_eq!(
            a.push(&json!({"id": 1})).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
