//! What a mail server's answer means, and what to do about it: known answers
//! (and TLS and network failures) mapped to a cause and a fix in words. Used by
//! `onit doctor` and by the daemon's own IMAP and SMTP errors, so an operator
//! reads the same hint in both places.
//!
//! The mapping reads error *text*, which changes between server versions; it
//! only ever adds a hint to an error, it never decides a retry (STYLE: retries
//! depend on error kinds).

/// Which service the answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Imap,
    Smtp,
}

impl Service {
    /// The configuration section: `imap` or `smtp`.
    pub fn section(self) -> &'static str {
        match self {
            Service::Imap => "imap",
            Service::Smtp => "smtp",
        }
    }
}

/// A known cause and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// What went wrong, in a few words ("wrong user name or password").
    pub cause: String,
    /// What to change.
    pub fix: String,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.cause, self.fix)
    }
}

/// The server an answer came from.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    pub service: Service,
    pub host: &'a str,
    pub port: u16,
}

impl Server<'_> {
    fn is_google(&self) -> bool {
        let h = self.host.to_ascii_lowercase();
        h.ends_with("gmail.com") || h.ends_with("google.com") || h.ends_with("googlemail.com")
    }

    fn is_microsoft(&self) -> bool {
        let h = self.host.to_ascii_lowercase();
        h.ends_with("office365.com") || h.ends_with("outlook.com") || h.ends_with("microsoft.com")
    }
}

fn d(cause: &str, fix: String) -> Option<Diagnosis> {
    Some(Diagnosis {
        cause: cause.to_string(),
        fix,
    })
}

/// The diagnosis of an error's text (an error chain on one line), if it is a known one.
pub fn diagnose(server: Server<'_>, text: &str) -> Option<Diagnosis> {
    let s = server.service.section();
    let t = text.to_ascii_lowercase();
    let has = |needle: &str| t.contains(needle);
    let (plain_port, tls_port) = match server.service {
        Service::Imap => (143, 993),
        Service::Smtp => (587, 465),
    };
    // Sign-in.
    if has("smtpclientauthentication is disabled") || has("5.7.139") {
        return d(
            "SMTP AUTH is disabled for this Microsoft 365 mailbox or tenant",
            "an administrator enables \"Authenticated SMTP\" for the mailbox (Microsoft 365 admin center: Users → Mail → Manage email apps), or use smtp.auth = \"xoauth2\"".into(),
        );
    }
    if has("application-specific password") || has("5.7.9") || has("web login required") {
        return d(
            "the provider wants an app password, not the account password",
            format!("create an app password for the account (Google: myaccount.google.com/apppasswords, with 2-step verification on) and set {s}.password to it, or use {s}.auth = \"xoauth2\""),
        );
    }
    if has("authenticationfailed")
        || has("authentication failed")
        || has("authentication unsuccessful")
        || has("invalid credentials")
        || has("login failed")
        || has("535 ")
        || has("5.7.8")
        || has("refused the credentials")
    {
        let extra = if server.is_microsoft() {
            " (Microsoft 365 refuses passwords where basic authentication is off: use XOAUTH2)"
        } else if server.is_google() {
            " (Gmail needs an app password or XOAUTH2)"
        } else {
            ""
        };
        return d(
            "wrong user name or password",
            format!("check {s}.username and the password ({s}.password, {s}.password_file or ONIT__{}__PASSWORD){extra}", s.to_uppercase()),
        );
    }
    if has("must issue a starttls") || has("5.7.0 must") {
        return d(
            "the server wants STARTTLS before anything else",
            format!("set {s}.tls = \"starttls\""),
        );
    }
    // TLS.
    if has("invalidcontenttype") || has("corrupt message") || has("wrong version number") {
        return d(
            "this port speaks plain text first (STARTTLS), not implicit TLS",
            format!("set {s}.tls = \"starttls\" for port {}, or use the implicit-TLS port ({tls_port}) with {s}.tls = \"implicit\"", server.port),
        );
    }
    if has("unknownissuer") || has("unknown issuer") || has("invalid peer certificate: other") {
        return d(
            "the server's certificate is self-signed or signed by a private CA",
            format!("set {s}.ca_file to the CA certificate (or the server's own certificate), or pin it with {s}.tls_fingerprint (onit doctor prints the fingerprint it saw)"),
        );
    }
    if has("causedasendentity") || has("ca used as end entity") {
        return d(
            "the server presents a self-signed CA certificate as its own",
            format!(
                "set {s}.ca_file to exactly that certificate, or pin it with {s}.tls_fingerprint"
            ),
        );
    }
    if has("notvalidforname") || has("not valid for name") {
        return d(
            "the certificate does not name this host",
            format!("set {s}.host to a name the certificate holds (often the provider's own host name), or pin it with {s}.tls_fingerprint"),
        );
    }
    if has("expired") && has("certificate") {
        return d(
            "the server's certificate has expired",
            "the server's administrator renews it (and check this machine's clock)".into(),
        );
    }
    if has("is not the pinned tls_fingerprint") {
        return d(
            "the server presents another certificate than the pinned one",
            format!("if the server's certificate was renewed, update {s}.tls_fingerprint; otherwise someone may be intercepting the connection"),
        );
    }
    if has("greeting timed out") || (has("greeting") && has("timed out")) {
        return d(
            "the server sent no greeting: this port probably expects implicit TLS",
            format!("set {s}.tls = \"implicit\" for port {}, or use port {plain_port} with {s}.tls = \"starttls\"", server.port),
        );
    }
    // Folders.
    if has("mailbox doesn't exist")
        || has("nonexistent")
        || has("mailbox does not exist")
        || has("no such mailbox")
    {
        return d(
            "the folder does not exist",
            "use a folder the server lists (onit doctor lists them and names the \\Sent one)"
                .into(),
        );
    }
    // Network.
    if has("connection refused") {
        return d(
            "nothing listens on that host and port",
            format!("check {s}.host and {s}.port ({} with TLS, {} with STARTTLS), and that the server is running and reachable from here", tls_port, plain_port),
        );
    }
    if has("failed to lookup address")
        || has("name or service not known")
        || has("no address associated")
    {
        return d(
            "the host name does not resolve",
            format!("check {s}.host (and this machine's DNS)"),
        );
    }
    if has("timed out") && (has("connect") || has("connecting")) {
        return d(
            "no answer from the server (a firewall, or a wrong host or port)",
            format!("check {s}.host and {s}.port, and that outbound connections to that port are allowed"),
        );
    }
    None
}

/// `text`, followed by ` (hint: cause: fix)` when the answer is a known one.
pub fn with_hint(server: Server<'_>, text: &str) -> String {
    match diagnose(server, text) {
        Some(h) => format!("{text} (hint: {h})"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap(host: &str, port: u16) -> Server<'_> {
        Server {
            service: Service::Imap,
            host,
            port,
        }
    }

    fn smtp(host: &str, port: u16) -> Server<'_> {
        Server {
            service: Service::Smtp,
            host,
            port,
        }
    }

    #[test]
    fn the_issues_raw_errors_get_their_causes() {
        let cause = |s, t| diagnose(s, t).map(|d| d.cause).unwrap_or_default();
        assert!(cause(imap("mail.example", 993), "IMAP LOGIN: no response: code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")").contains("wrong user name or password"));
        assert!(cause(imap("mail.example", 993), "IMAP SELECT: Outcome { code: None, information: Some(\"Mailbox doesn't exist: Sent Items\") }").contains("folder does not exist"));
        assert!(cause(
            imap("mail.example", 993),
            "IMAP TLS handshake: invalid peer certificate: UnknownIssuer"
        )
        .contains("self-signed"));
        assert!(cause(
            imap("mail.example", 143),
            "IMAP TLS handshake: received corrupt message of type InvalidContentType"
        )
        .contains("plain text first"));
        assert!(cause(smtp("smtp.office365.com", 587), "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.").contains("SMTP AUTH is disabled"));
        assert!(cause(
            smtp("smtp.gmail.com", 587),
            "534 5.7.9 Application-specific password required."
        )
        .contains("app password"));
        assert!(cause(
            smtp("mail.example", 587),
            "Connection refused (os error 111)"
        )
        .contains("nothing listens"));
    }

    #[test]
    fn the_fix_names_the_section_and_the_provider() {
        let h = diagnose(
            smtp("smtp.office365.com", 587),
            "535 5.7.3 Authentication unsuccessful",
        )
        .unwrap();
        assert!(
            h.fix.contains("smtp.username") && h.fix.contains("XOAUTH2"),
            "{h}"
        );
        let h = diagnose(
            imap("imap.gmail.com", 993),
            "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",
        )
        .unwrap();
        assert!(
            h.fix.contains("imap.password") && h.fix.contains("app password"),
            "{h}"
        );
        assert_eq!(diagnose(imap("x", 993), "something else entirely"), None);
        assert_eq!(with_hint(imap("x", 993), "odd"), "odd");
    }
}
