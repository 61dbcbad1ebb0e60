//! `--env-file FILE`: the secrets file systemd reads (`EnvironmentFile=`),
//! read the same way, so `check-config` and `doctor` see what the service sees.
//! Syntax (systemd.exec): `KEY=VALUE` lines; blank lines and lines starting
//! with `#` or `;` are ignored; a value in matching single or double quotes
//! loses them; whitespace around the key and the value is trimmed.

use std::path::Path;

use anyhow::{Context, Result};

/// The assignments of an environment file, in order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(format!("line {}: not KEY=VALUE", n + 1));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: `{k}` is not a variable name", n + 1));
        }
        let v = v.trim();
        let v = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|(a, b)| {
                v.strip_prefix(*a)
                    .and_then(|r| r.strip_suffix(*b))
                    .filter(|_| v.len() >= 2)
            })
            .unwrap_or(v);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Reads `path` and sets its variables in this process (before any thread starts).
pub fn apply(path: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --env-file {}", path.display()))?;
    let vars = parse(&text).map_err(|e| anyhow::anyhow!("--env-file {}: {e}", path.display()))?;
    for (k, v) in &vars {
        std::env::set_var(k, v);
    }
    Ok(vars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_syntax_is_read() {
        let vars = parse("# secrets\n\n; also a comment\nONIT__IMAP__PASSWORD=s3cr=t\n ONIT__SMTP__PASSWORD = \"two words\" \nX='q'\n").unwrap();
        assert_eq!(
            vars,
            vec![
                ("ONIT__IMAP__PASSWORD".to_string(), "s3cr=t".to_string()),
                ("ONIT__SMTP__PASSWORD".to_string(), "two words".to_string()),
                ("X".to_string(), "q".to_string()),
            ]
        );
        assert!(parse("just words\n").unwrap_err().contains("line 1"));
        assert!(parse("A B=c\n").is_err());
    }
}
