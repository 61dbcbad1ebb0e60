//! The digest's plain text and HTML, from the minijinja templates beside this
//! file (HTML escaped by the template engine).

use anyhow::{Context, Result};

use super::*;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("layout.html")),
    ("tickets.html", include_str!("tickets.html")),
    ("overview.html", include_str!("overview.html")),
    ("daily.html", include_str!("daily.html")),
    ("weekly.html", include_str!("weekly.html")),
    ("tickets.txt", include_str!("tickets.txt")),
    ("overview.txt", include_str!("overview.txt")),
    ("daily.txt", include_str!("daily.txt")),
    ("weekly.txt", include_str!("weekly.txt")),
    ("monitoring.html", include_str!("monitoring.html")),
    ("monitoring.txt", include_str!("monitoring.txt")),
];

/// `text|wrap(width, indent[, hang])`: words wrapped to `width` columns, every
/// line indented by `indent`, or the lines a paragraph wraps onto by `hang`.
pub(super) fn wrap(text: String, width: usize, indent: usize, hang: Option<usize>) -> String {
    let mut out: Vec<String> = Vec::new();
    for para in text.lines() {
        let mut pad = " ".repeat(indent);
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty()
                && pad.len() + line.chars().count() + 1 + word.chars().count() > width
            {
                out.push(format!("{pad}{line}"));
                line.clear();
                pad = " ".repeat(hang.unwrap_or(indent));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(format!("{pad}{line}"));
    }
    out.join("\n")
}

pub(super) fn environment() -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .context("digest template syntax")?,
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("wrap", wrap);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .with_context(|| format!("digest template {name}"))?;
    }
    Ok(env)
}

/// The plain text and the HTML of a digest (HTML escaped by the template engine).
pub fn render(d: &Digest) -> Result<(String, String)> {
    let env = environment()?;
    let text = env
        .get_template(&format!("{}.txt", d.kind))?
        .render(minijinja::value::Serde(d))
        .with_context(|| format!("rendering the {} digest (text)", d.kind))?;
    let html = env
        .get_template(&format!("{}.html", d.kind))?
        .render(minijinja::value::Serde(d))
        .with_context(|| format!("rendering the {} digest (HTML)", d.kind))?;
    Ok((text, html))
}
