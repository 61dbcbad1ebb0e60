//! Operations (issue 6): `/healthz`, `/readyz` and `/metrics` read over HTTP
//! from a running daemon, a refused sign-in raising one alert, and a stalled
//! mailbox raising exactly one alert per incident.

use std::time::Duration;

use chrono::Utc;
use onit::alerts::{self, AlertKind};
use onit::health::{check_stalls, watched};
use onit::mailstore::Maildir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Db, Env, Mail, BOTH};
use crate::imap::{eventually, Live};
use crate::mailstack;

/// A GET over a plain TCP connection: (status code, body).
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The value of one sample line (`name{labels}` exactly as rendered), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// Polls until `f` gives a value, or panics after `limit`.
async fn poll<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_over_http_move_with_the_mail() {
    let port = free_port();
    let env = Env::new(
        Db::Sqlite,
        &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let md = Maildir::open(&env.maildir()).expect("maildir");
    let mut daemon = std::process::Command::new(crate::common::onit_bin())
        .arg("--config")
        .arg(&env.config_path)
        .arg("run")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn onit run");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut daemon);

    eventually(Duration::from_secs(30), "/healthz", || async {
        get(port, "/healthz").await.is_some_and(|(c, _)| c == 200)
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "/readyz after the first pass",
        || async { get(port, "/readyz").await.is_some_and(|(c, _)| c == 200) },
    )
    .await;
    let (_, before) = get(port, "/metrics").await.expect("metrics");
    assert_eq!(
        sample(&before, "onit_acks_sent_total").unwrap_or(0.0),
        0.0,
        "{before}"
    );
    assert_eq!(
        sample(&before, "onit_leader{role=\"scheduler\"}"),
        Some(1.0),
        "{before}"
    );

    for i in 0..3 {
        md.deliver(
            &Mail::new(
                &format!("client{i}@acme.example"),
                "support@jac.example",
                &format!("Checkout fails {i}"),
                &format!("m{i}@acme.example"),
            )
            .bytes(),
        )
        .expect("deliver");
    }
    md.deliver(
        &Mail::new(
            "mailer-daemon@acme.example",
            "support@jac.example",
            "Undelivered Mail Returned to Sender",
            "bounce1@acme.example",
        )
        .h("Auto-Submitted", "auto-replied")
        .bytes(),
    )
    .expect("deliver");
    eventually(Duration::from_secs(30), "three acknowledgments", || async {
        env.sent_files().len() >= 3
    })
    .await;
    let after = poll(Duration::from_secs(10), "the counters", || async {
        get(port, "/metrics")
            .await
            .map(|(_, b)| b)
            .filter(|b| sample(b, "onit_acks_sent_total") == Some(3.0))
    })
    .await;
    assert_eq!(
        sample(&after, "onit_mails_ingested_total{class=\"client\"}"),
        Some(3.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "onit_mails_ingested_total{class=\"automated\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "onit_tickets_opened_total"),
        Some(3.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "onit_ack_latency_seconds_count"),
        Some(3.0),
        "{after}"
    );
    assert!(
        sample(&after, "onit_ack_latency_seconds_bucket{le=\"+Inf\"}") == Some(3.0),
        "latency is a histogram: {after}"
    );
    assert_eq!(sample(&after, "onit_outbox_depth"), Some(0.0), "{after}");
    assert_eq!(
        sample(&after, "onit_outbox_oldest_age_seconds"),
        Some(0.0),
        "{after}"
    );
    assert!(
        after.contains("onit_imap_last_sync_timestamp_seconds{folder="),
        "{after}"
    );
    assert_eq!(sample(&after, "onit_alerts_open"), Some(0.0), "{after}");
    for rule in onit::policy::rules::RULE_IDS {
        assert!(
            sample(&after, &format!("onit_rules_broken{{rule=\"{rule}\"}}")).is_some(),
            "{rule}: {after}"
        );
    }

    // The mailbox goes away: the next pass fails and /readyz says so at once.
    let moved = env.dir.path().join("Maildir.away");
    std::fs::rename(env.maildir(), &moved).expect("move the maildir away");
    let why = poll(Duration::from_secs(15), "/readyz 503", || async {
        get(port, "/readyz")
            .await
            .filter(|(c, _)| *c == 503)
            .map(|(_, b)| b)
    })
    .await;
    assert!(why.contains("failing since"), "{why}");
    std::fs::rename(&moved, env.maildir()).expect("move it back");
    eventually(Duration::from_secs(15), "/readyz 200 again", || async {
        get(port, "/readyz").await.is_some_and(|(c, _)| c == 200)
    })
    .await;
    assert_eq!(get(port, "/nope").await.map(|(c, _)| c), Some(404));
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_imap_sign_in_raises_one_alert_and_readyz_fails() {
    let stack = mailstack::shared();
    let live = Live::new(stack, Db::Sqlite, &["INBOX", "Sent"], false);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let daemon = live.spawn_with(&[
        ("ONIT__IMAP__PASSWORD", "not-the-password"),
        ("ONIT__HTTP__LISTEN", &listen),
        ("ONIT__OPS__ALERT_TO", "ops@jac.example"),
    ]);
    let store = live.store().await;
    // Both folders fail to sign in, over and over (reconnects every ≤ 2 s).
    eventually(Duration::from_secs(30), "the sign-in alert", || async {
        alerts::open(&store).await.is_ok_and(|a| !a.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let open = alerts::open(&store).await.expect("alerts");
    assert_eq!(open.len(), 1, "one incident for the account: {open:?}");
    assert_eq!(open[0].kind, "sign-in-failed");
    let alert_mails: Vec<_> = store
        .outbox_all()
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.kind.as_str() == "alert")
        .collect();
    assert_eq!(alert_mails.len(), 1, "mailed once per incident");
    assert_eq!(alert_mails[0].rcpt_to, "ops@jac.example");
    let raw = String::from_utf8_lossy(&alert_mails[0].raw).to_string();
    assert!(
        !raw.contains("not-the-password"),
        "the alert never carries the secret"
    );
    let (code, body) = get(port, "/readyz").await.expect("readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("sign-in") || body.contains("LOGIN"), "{body}");
    let (_, metrics) = get(port, "/metrics").await.expect("metrics");
    assert_eq!(
        sample(&metrics, "onit_imap_connected{folder=\"INBOX\"}"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "onit_alerts_open"), Some(1.0), "{metrics}");
    let (status, _, _) = live.run_cmd(&["status"]);
    assert!(status.contains("ALERT     sign-in-failed"), "{status}");
    drop(daemon);

    // With the right password the sign-in works and the incident closes.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let daemon = live.spawn_with(&[("ONIT__HTTP__LISTEN", &listen)]);
    eventually(Duration::from_secs(30), "the alert resolved", || async {
        alerts::open(&store).await.is_ok_and(|a| a.is_empty())
    })
    .await;
    let metrics = poll(Duration::from_secs(20), "connected and synced", || async {
        get(port, "/metrics").await.map(|(_, b)| b).filter(|b| {
            // Connected comes just before the first sync: wait for both.
            ["INBOX", "Sent"].iter().all(|f| {
                sample(b, &format!("onit_imap_connected{{folder=\"{f}\"}}")) == Some(1.0)
                    && sample(
                        b,
                        &format!("onit_imap_last_sync_timestamp_seconds{{folder=\"{f}\"}}"),
                    )
                    .is_some()
            })
        })
    })
    .await;
    let synced = sample(
        &metrics,
        "onit_imap_last_sync_timestamp_seconds{folder=\"INBOX\"}",
    )
    .expect("last sync of INBOX");
    assert!(
        (Utc::now().timestamp() as f64 - synced).abs() < 60.0,
        "{metrics}"
    );
    assert_eq!(get(port, "/readyz").await.map(|(c, _)| c), Some(200));
    live.terminate(daemon);
}

#[tokio::test]
async fn a_stalled_mailbox_raises_exactly_one_alert_per_incident() {
    for db in BOTH {
        let env = Env::new(
            db,
            "[imap]\nhost = \"127.0.0.1\"\nport = 1\ntls = \"none\"\nusername = \"support@jac.example\"\npassword = \"x\"\nfolders = [\"INBOX\"]\n\
             [ops]\nalert_to = [\"ops@jac.example\"]\n",
        );
        let mut rt = env.runtime();
        rt.source = onit::config::SourceKind::Imap;
        let store = env.store().await;
        let w = &watched(&rt)[0];
        let t0 = Utc::now() - chrono::Duration::hours(2);
        // Synced once, then the connection started failing.
        let mut tx = store.begin().await.unwrap();
        tx.folder_synced(&w.account, &w.folder, t0).await.unwrap();
        tx.folder_error(
            &w.account,
            &w.folder,
            t0 + chrono::Duration::minutes(1),
            "connection refused",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        // 14 minutes: not yet (ha.stall_alert_mins = 15).
        let r = check_stalls(&store, &rt, at(14), t0).await.unwrap();
        assert!(r.raised.is_empty(), "{db:?}: too early");
        // 15 minutes, and every check after: one incident.
        for m in [15, 16, 30, 60] {
            check_stalls(&store, &rt, at(m), t0).await.unwrap();
        }
        let open = alerts::open(&store).await.unwrap();
        assert_eq!(open.len(), 1, "{db:?}");
        assert_eq!(open[0].kind, AlertKind::MailboxStalled.as_str());
        assert!(
            open[0].detail.contains("connection refused"),
            "{:?}",
            open[0]
        );
        let mails = |store: onit::store::Store| async move {
            store
                .outbox_all()
                .await
                .unwrap()
                .into_iter()
                .filter(|o| o.kind.as_str() == "alert")
                .count()
        };
        assert_eq!(mails(store.clone()).await, 1, "{db:?}: mailed once");

        // It syncs again: resolved. Then it stalls again: a second incident, a second mail.
        let mut tx = store.begin().await.unwrap();
        tx.folder_synced(&w.account, &w.folder, at(61))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let r = check_stalls(&store, &rt, at(62), t0).await.unwrap();
        assert_eq!(r.resolved.len(), 1, "{db:?}");
        assert!(alerts::open(&store).await.unwrap().is_empty());
        let r = check_stalls(&store, &rt, at(61 + 15), t0).await.unwrap();
        assert_eq!(r.raised.len(), 1, "{db:?}: a new incident");
        assert_eq!(mails(store.clone()).await, 2, "{db:?}");
        store.close().await;
    }
}
