//! The XOAUTH2 SASL mechanism (Google's and Microsoft's IMAP/SMTP sign-in with
//! an OAuth2 bearer token): the client's one message is
//! `user=<user>\x01auth=Bearer <token>\x01\x01`, base64-encoded on the wire.
//! When the server refuses the token it first sends a challenge holding a JSON
//! error report, to which the client answers with an empty response; only then
//! does the command fail.

/// The initial client response, before base64 (the IMAP and SMTP libraries encode it).
pub fn initial_response(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// AUTHENTICATE XOAUTH2 for async-imap: sends the token once, and answers the
/// server's error challenge with an empty response, keeping the report (a JSON
/// object like `{"status":"401","schemes":"bearer"}`) for the error message.
pub struct ImapXoauth2<'a> {
    user: &'a str,
    token: &'a str,
    sent: bool,
    report: &'a mut Option<String>,
}

impl<'a> ImapXoauth2<'a> {
    /// An authenticator for one attempt; `report` receives the server's error report, if any.
    pub fn new(user: &'a str, token: &'a str, report: &'a mut Option<String>) -> ImapXoauth2<'a> {
        ImapXoauth2 {
            user,
            token,
            sent: false,
            report,
        }
    }
}

impl async_imap::Authenticator for ImapXoauth2<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if !self.sent {
            self.sent = true;
            initial_response(self.user, self.token)
        } else {
            *self.report = Some(super::provider::one_line(&String::from_utf8_lossy(
                challenge,
            )));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::Authenticator;
    use base64::Engine;

    #[test]
    fn matches_the_documented_example() {
        // The example of Google's XOAUTH2 protocol documentation.
        let raw = initial_response(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        );
        assert_eq!(
            raw,
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(&raw),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn answers_the_error_challenge_with_nothing_and_keeps_the_report() {
        let mut report = None;
        let mut auth = ImapXoauth2::new("u@x.example", "tok", &mut report);
        assert_eq!(auth.process(b""), initial_response("u@x.example", "tok"));
        assert_eq!(
            auth.process(br#"{"status":"401","schemes":"bearer"}"#),
            Vec::<u8>::new()
        );
        assert_eq!(
            report.as_deref(),
            Some(r#"{"status":"401","schemes":"bearer"}"#)
        );
    }
}
