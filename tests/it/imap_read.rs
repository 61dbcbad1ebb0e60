//! A small IMAP reader for tests: what landed in a mailbox of the test stack.
//!
//! Plain IMAP on the stack's loopback port (any user logs in with the stack's
//! password), async-imap over a tokio `TcpStream`. Every command runs under a
//! timeout, and every response stream is drained before the next command.
//! Mailboxes are opened with EXAMINE and bodies fetched with `BODY.PEEK[]`, so
//! reading changes nothing (no `\Seen`, no `\Recent` taken).

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use async_imap::Session;
use futures::TryStreamExt;
use tokio::net::TcpStream;

use crate::mailstack::Stack;

/// How long any single IMAP step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(15);

/// A logged-in session of the test stack.
pub type ImapSession = Session<TcpStream>;

async fn step<T, E: std::fmt::Debug>(what: &str, fut: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("IMAP {what}: {e:?}"),
        Err(_) => panic!("IMAP {what}: no answer within {STEP:?}"),
    }
}

/// Logs `user` in (plain IMAP, the stack's password).
pub async fn login(stack: &Stack, user: &str) -> ImapSession {
    let stream = step(
        "connect",
        TcpStream::connect(("127.0.0.1", stack.imap_port)),
    )
    .await;
    let mut client = async_imap::Client::new(stream);
    let greeting = step("greeting", client.read_response()).await;
    assert!(
        greeting.is_some(),
        "IMAP server closed the connection before its greeting"
    );
    step("login", async {
        client
            .login(user, &stack.password)
            .await
            .map_err(|(e, _)| e)
    })
    .await
}

/// Every message in `folder` of an open session, in mailbox order, as raw bytes.
pub async fn fetch_folder(session: &mut ImapSession, folder: &str) -> Vec<Vec<u8>> {
    let mailbox = step(&format!("EXAMINE {folder}"), session.examine(folder)).await;
    if mailbox.exists == 0 {
        return Vec::new();
    }
    let mut fetched: Vec<(u32, Vec<u8>)> = step(&format!("FETCH in {folder}"), async {
        let stream = session.fetch("1:*", "BODY.PEEK[]").await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await
    .into_iter()
    .filter_map(|f| f.body().map(|b| (f.message, b.to_vec())))
    .collect();
    fetched.sort_by_key(|(seq, _)| *seq);
    fetched.into_iter().map(|(_, body)| body).collect()
}

/// Logs out (best effort: the server may already be gone).
pub async fn logout(mut session: ImapSession) {
    let _ = tokio::time::timeout(STEP, session.logout()).await;
}

/// Every message in `user`'s `folder`, as raw bytes, in mailbox order.
pub async fn fetch_all(stack: &Stack, user: &str, folder: &str) -> Vec<Vec<u8>> {
    let mut session = login(stack, user).await;
    let all = fetch_folder(&mut session, folder).await;
    logout(session).await;
    all
}

/// Polls `user`'s `folder` until it holds at least `count` messages or
/// `timeout` passes; returns what is there then (callers assert the count).
pub async fn wait_for(
    stack: &Stack,
    user: &str,
    folder: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut session = login(stack, user).await;
    loop {
        let all = fetch_folder(&mut session, folder).await;
        if all.len() >= count || Instant::now() >= deadline {
            logout(session).await;
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The values of header `name` (case-insensitive, unfolded, trimmed) in a raw message.
pub fn header(raw: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let head = head.split("\n\n").next().unwrap_or("");
    let mut fields: Vec<String> = Vec::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            fields.push(line.to_string());
        }
    }
    fields
        .into_iter()
        .filter_map(|f| {
            let (n, v) = f.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .collect()
}

/// The Message-ID of a raw message, without angle brackets.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let v = header(raw, "Message-ID").into_iter().next()?;
    Some(
        v.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string(),
    )
}
