//! XOAUTH2 for real: onit signs in to the test stack's Dovecot (IMAP) and
//! Postfix (SMTP, through Dovecot's SASL) with access tokens it got by the
//! refresh flow from a token endpoint served by this test, and Dovecot's
//! `oauth2` passdb checks every token at an introspection endpoint served by
//! the same test ([`Idp`]). The token endpoint rotates the refresh token on
//! every refresh and refuses an old one, as strict providers do, so a rotated
//! token that onit failed to store would stop the next refresh.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onit::alerts::{self, AlertRow};
use onit::config::{Runtime, Settings, SourceKind};
use onit::oauth::grant;
use onit::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{Base, Db, Env};
use crate::imap::{client_mail, eventually};
use crate::imap_read;
use crate::mailstack::{self, Stack};

// ---------------------------------------------------------------------------
// The identity provider: token endpoint, device authorization, introspection.
// ---------------------------------------------------------------------------

const CLIENT_ID: &str = "onit-test";
const CLIENT_SECRET: &str = "s3cret-client";
/// The refresh token the configuration seeds the database with.
const SEED_REFRESH: &str = "RT0-seed-5c1e";

/// One introspection request Dovecot made.
#[derive(Debug, Clone)]
struct Introspection {
    token: String,
    accepted: bool,
    /// The refresh token in onit's database at that moment (None: no grant, or no database watched).
    stored_refresh: Option<String>,
}

#[derive(Default)]
struct IdpState {
    user: String,
    /// The one refresh token the endpoint accepts now.
    refresh_token: String,
    generation: u32,
    /// Access tokens issued (and so valid).
    issued: HashSet<String>,
    /// Every token ever issued, to check none reaches a log.
    every_token: Vec<String>,
    expires_in: u64,
    refuse_refresh: bool,
    reject_tokens: bool,
    /// The token endpoint takes this long to answer (to widen races).
    token_delay: Duration,
    refreshes: u32,
    device_polls: u32,
    introspections: Vec<Introspection>,
    db: Option<Store>,
}

/// An OAuth2 provider on 127.0.0.1, in this test process.
#[derive(Clone)]
struct Idp {
    base: String,
    state: Arc<Mutex<IdpState>>,
}

impl Idp {
    async fn start() -> Idp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(IdpState {
            expires_in: 3600,
            ..IdpState::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, state).await;
                });
            }
        });
        Idp {
            base: format!("http://{addr}"),
            state,
        }
    }

    fn introspection_url(&self) -> String {
        format!("{}/introspect", self.base)
    }

    /// A new account: its first refresh token is [`SEED_REFRESH`].
    fn reset(&self, user: &str) {
        let mut s = self.state.lock().unwrap();
        let mut every = std::mem::take(&mut s.every_token);
        every.push(SEED_REFRESH.to_string());
        *s = IdpState {
            user: user.to_string(),
            refresh_token: SEED_REFRESH.into(),
            expires_in: 3600,
            every_token: every,
            ..IdpState::default()
        };
    }

    /// The refresh token the endpoint accepts now (the last one it issued).
    fn current_refresh(&self) -> String {
        self.with(|s| s.refresh_token.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&mut IdpState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn introspections(&self) -> Vec<Introspection> {
        self.with(|s| s.introspections.clone())
    }

    /// Asserts that no token this provider issued appears in `text`.
    fn assert_no_token_in(&self, text: &str, what: &str) {
        for t in self.with(|s| s.every_token.clone()) {
            assert!(!text.contains(&t), "{what} contains the token {t}");
        }
    }
}

async fn serve(mut sock: TcpStream, state: Arc<Mutex<IdpState>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_end..(head_end + length).min(buf.len())];
    let form = parse_form(body);
    let (status, json) = route(&path, &form, &state).await;
    let json = json.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    sock.write_all(response.as_bytes()).await?;
    sock.shutdown().await
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => match s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                },
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).to_string()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn oauth_error(code: &str, description: &str) -> (&'static str, serde_json::Value) {
    (
        "400 Bad Request",
        serde_json::json!({"error": code, "error_description": description}),
    )
}

/// Issues a new access token and rotates the refresh token.
fn issue(s: &mut IdpState) -> serde_json::Value {
    s.generation += 1;
    let access = format!("at-{}-{:016x}", s.generation, fastrand::u64(..));
    let refresh = format!("RT{}-{:016x}", s.generation, fastrand::u64(..));
    s.refresh_token = refresh.clone();
    s.issued.insert(access.clone());
    s.every_token.push(access.clone());
    s.every_token.push(refresh.clone());
    serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": s.expires_in,
        "refresh_token": refresh,
        "scope": "mail",
    })
}

async fn route(
    path: &str,
    form: &[(String, String)],
    state: &Mutex<IdpState>,
) -> (&'static str, serde_json::Value) {
    match path {
        "/token" => {
            let delay = state.lock().unwrap().token_delay;
            tokio::time::sleep(delay).await;
            if field(form, "client_id") != CLIENT_ID
                || field(form, "client_secret") != CLIENT_SECRET
            {
                return (
                    "401 Unauthorized",
                    serde_json::json!({"error": "invalid_client"}),
                );
            }
            let mut s = state.lock().unwrap();
            match field(form, "grant_type") {
                "refresh_token" => {
                    if s.refuse_refresh {
                        return oauth_error("invalid_grant", "Token has been expired or revoked.");
                    }
                    if field(form, "refresh_token") != s.refresh_token {
                        // A strict provider: an old (rotated) refresh token is void.
                        return oauth_error("invalid_grant", "Unknown or reused refresh token.");
                    }
                    s.refreshes += 1;
                    ("200 OK", issue(&mut s))
                }
                "urn:ietf:params:oauth:grant-type:device_code" => {
                    if field(form, "device_code") != "dc-1" {
                        return oauth_error("invalid_grant", "unknown device code");
                    }
                    s.device_polls += 1;
                    if s.device_polls == 1 {
                        return oauth_error("authorization_pending", "");
                    }
                    ("200 OK", issue(&mut s))
                }
                _ => oauth_error("unsupported_grant_type", ""),
            }
        }
        "/device" => {
            if field(form, "client_id") != CLIENT_ID {
                return oauth_error("invalid_client", "");
            }
            (
                "200 OK",
                serde_json::json!({
                    "device_code": "dc-1",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": "https://idp.example/device",
                    "expires_in": 60,
                    "interval": 1,
                }),
            )
        }
        "/introspect" => {
            // Dovecot's introspection_mode = post: the token as `token=…`.
            let token = field(form, "token").to_string();
            let (accepted, user, db) = {
                let s = state.lock().unwrap();
                (
                    !s.reject_tokens && s.issued.contains(&token),
                    s.user.clone(),
                    s.db.clone(),
                )
            };
            let stored_refresh = match db {
                Some(store) => grant::read(&store, &user)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|g| g.refresh_token),
                None => None,
            };
            state.lock().unwrap().introspections.push(Introspection {
                token,
                accepted,
                stored_refresh,
            });
            if accepted {
                (
                    "200 OK",
                    serde_json::json!({"active": true, "username": user}),
                )
            } else {
                ("200 OK", serde_json::json!({"active": false}))
            }
        }
        _ => ("404 Not Found", serde_json::json!({"error": "not_found"})),
    }
}

// ---------------------------------------------------------------------------
// onit, configured for XOAUTH2 against the stack and the provider.
// ---------------------------------------------------------------------------

/// One test's onit: reads `support`'s INBOX over IMAP with XOAUTH2 (`imap`),
/// and/or sends over SMTP with XOAUTH2 (`smtp`).
struct OAuthOnit {
    env: Env,
    support: String,
    imap: bool,
}

impl OAuthOnit {
    /// Without a `stack`, the servers' ports are placeholders (nothing connects).
    fn new(
        db: Db,
        stack: Option<&Stack>,
        idp: &Idp,
        support: &str,
        imap: bool,
        smtp: bool,
    ) -> OAuthOnit {
        let base = Base {
            from: Some(support.to_string()),
            transport: Some(if smtp { "smtp" } else { "file" }.into()),
            ..Base::default()
        };
        let extra = format!(
            r#"
[imap]
host = "127.0.0.1"
port = {imaps}
tls = "implicit"
ca_file = "{ca}"
auth = "xoauth2"
username = "{support}"
folders = ["INBOX"]
command_timeout_secs = 10
reconnect_max_secs = 2
poll_interval_secs = 1
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "starttls"
ca_file = "{ca}"
auth = "xoauth2"
username = "{support}"
timeout_secs = 10
[oauth]
provider = "custom"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
token_url = "{base}/token"
device_auth_url = "{base}/device"
refresh_token = "{SEED_REFRESH}"
refresh_before_mins = 5
[ops]
alert_to = ["ops@jac.example"]
"#,
            imaps = stack.map_or(1, |s| s.imaps_port),
            ca = stack
                .map(|s| s.ca_file.display().to_string())
                .unwrap_or_default(),
            smtp_port = stack.map_or(1, |s| s.smtp_port),
            base = idp.base,
        );
        OAuthOnit {
            env: Env::with(db, &base, &extra),
            support: support.to_string(),
            imap,
        }
    }

    /// The configuration as `onit` loads it (with `mailbox.source = "imap"` when reading IMAP).
    fn runtime(&self) -> Runtime {
        let mut s = Settings::load(Some(&self.env.config_path)).expect("test config loads");
        if self.imap {
            s.mailbox.source = SourceKind::Imap;
        }
        s.validate().expect("test config validates")
    }

    /// `imap:<account>`, the subject of the IMAP worker's sign-in alert.
    fn imap_subject(&self) -> String {
        format!(
            "imap:{}",
            onit::imap::account_key(self.runtime().imap.as_ref().expect("imap"))
        )
    }

    fn oauth_subject(&self) -> String {
        format!("oauth:{}", self.support)
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(crate::common::onit_bin());
        c.arg("--config")
            .arg(&self.env.config_path)
            .args(args)
            .current_dir(self.env.dir.path())
            .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("ONIT__") || k == "ONIT_FAULT" {
                c.env_remove(k);
            }
        }
        if self.imap {
            c.env("ONIT__MAILBOX__SOURCE", "imap");
        }
        c.env("RUST_LOG", "info");
        c
    }

    /// `onit run` in the background, its log in the test's folder.
    fn spawn(&self) -> tokio::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.dir.path().join("onit.log"))
            .expect("log file");
        self.command(&["run"])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn onit run")
    }

    /// SIGTERM, and a clean exit.
    async fn terminate(&self, mut child: tokio::process::Child) {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("onit run stops on SIGTERM")
            .expect("wait");
        assert!(
            status.success(),
            "onit run exited {status}:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.env.dir.path().join("onit.log")).unwrap_or_default()
    }

    async fn run_once(&self) -> anyhow::Result<()> {
        onit::daemon::run(self.runtime(), true).await
    }
}

/// One number from the database.
async fn count(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite { reader, .. } => sqlx::query_scalar::<_, i64>(sql).fetch_one(reader).await,
        Store::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await,
    }
    .expect("count query")
}

/// Makes the stored access token an expired one (time passing, without the wait).
async fn expire_access_token(store: &Store) {
    let sql = "UPDATE oauth_tokens SET access_expires_at = 0";
    match store {
        Store::Sqlite { writer, .. } => sqlx::query(sql).execute(writer).await.map(|_| ()),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .expect("expire the access token");
}

async fn open_alerts(store: &Store) -> Vec<(String, String)> {
    alerts::open(store)
        .await
        .expect("alerts")
        .into_iter()
        .map(|a: AlertRow| (a.kind, a.subject))
        .collect()
}

async fn alert_mails(store: &Store) -> i64 {
    count(store, "SELECT COUNT(*) FROM outbox WHERE kind = 'alert'").await
}

async fn append(stack: &Stack, user: &str, raw: &[u8]) {
    let mut s = imap_read::login(stack, user).await;
    tokio::time::timeout(imap_read::STEP, s.append("INBOX", None, None, raw))
        .await
        .expect("APPEND in time")
        .expect("APPEND");
    imap_read::logout(s).await;
}

fn mail(client: &str, support: &str, subject: &str) -> Vec<u8> {
    // As the border server delivers it (crate::common::stamped).
    crate::common::stamped(&client_mail(
        client,
        support,
        subject,
        &format!("{:x}@client.example", fastrand::u64(..)),
        "",
    ))
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_sign_in_against_dovecot_with_a_token_from_the_refresh_flow() {
    let idp = Idp::start().await;
    let stack = mailstack::private_oauth("oauth-imap", &idp.introspection_url());
    for db in crate::common::BOTH {
        let support = mailstack::fresh("support", "jac.example");
        let client = mailstack::fresh("client", "client.example");
        idp.reset(&support);
        append(
            &stack,
            &support,
            &mail(&client, &support, "VPN refuses logins"),
        )
        .await;
        let onit = OAuthOnit::new(db, Some(&stack), &idp, &support, true, false);
        let store = onit.env.store().await;
        idp.with(|s| s.db = Some(store.clone()));

        onit.run_once()
            .await
            .unwrap_or_else(|e| panic!("{db:?}: run --once with XOAUTH2: {e:#}"));

        let tickets = store.tickets().await.unwrap();
        assert_eq!(tickets.len(), 1, "{db:?}");
        assert_eq!(tickets[0].reporter, client);
        // One refresh (the configured refresh token, rotated by the provider), and
        // Dovecot accepted the token it produced.
        assert_eq!(idp.with(|s| s.refreshes), 1, "{db:?}");
        let rotated = idp.current_refresh();
        assert_ne!(rotated, SEED_REFRESH);
        let g = grant::read(&store, &support).await.unwrap().expect("grant");
        assert_eq!(g.refresh_token.as_deref(), Some(rotated.as_str()), "{db:?}");
        let used: Vec<Introspection> = idp
            .introspections()
            .into_iter()
            .filter(|i| i.accepted)
            .collect();
        assert_eq!(used.len(), 1, "{db:?}: {used:?}");
        assert_eq!(g.access_token.as_deref(), Some(used[0].token.as_str()));
        // The rotated refresh token was in the database before the access token was used.
        assert_eq!(
            used[0].stored_refresh.as_deref(),
            Some(rotated.as_str()),
            "{db:?}: the new refresh token must be stored before the sign-in"
        );

        // Dovecot's own word that this was XOAUTH2 (not the static password passdb).
        let dovecot_log =
            std::fs::read_to_string(stack.dir.join("log/dovecot.log")).unwrap_or_default();
        assert!(
            dovecot_log.contains(&format!("Login: user=<{support}>, method=XOAUTH2")),
            "{db:?}: {dovecot_log}"
        );

        // A second run (a new process) uses the stored access token: no refresh.
        append(
            &stack,
            &support,
            &mail(&client, &support, "Printer on fire"),
        )
        .await;
        onit.run_once().await.expect("second run");
        assert_eq!(store.tickets().await.unwrap().len(), 2, "{db:?}");
        assert_eq!(
            idp.with(|s| s.refreshes),
            1,
            "{db:?}: the stored token is reused"
        );
        assert!(open_alerts(&store).await.is_empty(), "{db:?}");
        idp.with(|s| s.db = None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_command_supplies_the_token_instead_of_the_refresh_flow() {
    let idp = Idp::start().await;
    let stack = mailstack::private_oauth("oauth-command", &idp.introspection_url());
    let support = mailstack::fresh("support", "jac.example");
    let client = mailstack::fresh("client", "client.example");
    idp.reset(&support);
    // A token some other tool manages; the command prints it.
    let token = format!("cmd-{support}");
    idp.with(|s| {
        s.issued.insert(token.clone());
    });
    append(
        &stack,
        &support,
        &mail(&client, &support, "Backups failing"),
    )
    .await;
    let onit = OAuthOnit::new(Db::Sqlite, Some(&stack), &idp, &support, true, false);
    let out = onit
        .command(&["run", "--once"])
        .env(
            "ONIT__OAUTH__TOKEN_COMMAND",
            "printf 'cmd-%s\\n' \"$ONIT_OAUTH_ACCOUNT\"",
        )
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let store = onit.env.store().await;
    assert_eq!(store.tickets().await.unwrap().len(), 1);
    assert_eq!(idp.with(|s| s.refreshes), 0, "no refresh flow");
    assert!(
        idp.introspections()
            .iter()
            .any(|i| i.accepted && i.token == token),
        "{:?}",
        idp.introspections()
    );
    assert!(!stderr.contains(&token), "the token reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_dovecot_rejects_raises_one_sign_in_alert_until_a_good_sign_in() {
    let idp = Idp::start().await;
    let stack = mailstack::private_oauth("oauth-reject", &idp.introspection_url());
    let support = mailstack::fresh("support", "jac.example");
    idp.reset(&support);
    idp.with(|s| s.reject_tokens = true);
    let onit = OAuthOnit::new(Db::Sqlite, Some(&stack), &idp, &support, true, false);
    let store = onit.env.store().await;

    let daemon = onit.spawn();
    eventually(
        Duration::from_secs(40),
        "three refused sign-ins",
        || async { idp.introspections().iter().filter(|i| !i.accepted).count() >= 3 },
    )
    .await;
    // Let the worker record the last refusal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        open_alerts(&store).await,
        vec![("sign-in-failed".to_string(), onit.imap_subject())],
        "one incident however often the sign-in fails:\n{}",
        onit.log()
    );
    assert_eq!(alert_mails(&store).await, 1, "one alert mail");
    let detail = alerts::open(&store).await.unwrap()[0].detail.clone();
    assert!(detail.contains("XOAUTH2"), "{detail}");

    // Dovecot accepts tokens again: the next sign-in ends the incident.
    idp.with(|s| s.reject_tokens = false);
    eventually(Duration::from_secs(30), "the alert resolved", || async {
        open_alerts(&store).await.is_empty()
    })
    .await;
    onit.terminate(daemon).await;
    assert_eq!(alert_mails(&store).await, 1, "no second mail");
    idp.assert_no_token_in(&onit.log(), "the daemon's log");
    idp.assert_no_token_in(&detail, "the alert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_warns_while_the_token_works_then_sign_in_fails() {
    let idp = Idp::start().await;
    let stack = mailstack::private_oauth("oauth-refuse", &idp.introspection_url());
    let support = mailstack::fresh("support", "jac.example");
    let client = mailstack::fresh("client", "client.example");
    idp.reset(&support);
    // Tokens that live 2 minutes: always inside refresh_before_mins (5).
    idp.with(|s| s.expires_in = 120);
    let onit = OAuthOnit::new(Db::Sqlite, Some(&stack), &idp, &support, true, false);
    let store = onit.env.store().await;
    append(&stack, &support, &mail(&client, &support, "Dashboard down")).await;
    onit.run_once().await.expect("first run");
    assert_eq!(idp.with(|s| s.refreshes), 1);

    // The provider now refuses the refresh, but the current token still works:
    // mail flows, and the operators hear of it before it stops.
    idp.with(|s| s.refuse_refresh = true);
    append(&stack, &support, &mail(&client, &support, "Exports empty")).await;
    onit.run_once()
        .await
        .expect("the current token still signs in");
    assert_eq!(store.tickets().await.unwrap().len(), 2);
    assert_eq!(
        open_alerts(&store).await,
        vec![("token-expiring".to_string(), onit.oauth_subject())]
    );
    let warning = alerts::open(&store).await.unwrap()[0].detail.clone();
    assert!(warning.contains("invalid_grant"), "{warning}");
    let g = grant::read(&store, &support).await.unwrap().unwrap();
    assert_eq!(
        g.refresh_token.as_deref(),
        Some(idp.current_refresh().as_str()),
        "kept"
    );
    assert!(g
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("invalid_grant"));
    assert_eq!(alert_mails(&store).await, 1);

    // The access token runs out: no valid token remains, the sign-in fails.
    expire_access_token(&store).await;
    let daemon = onit.spawn();
    eventually(Duration::from_secs(30), "the sign-in alert", || async {
        open_alerts(&store)
            .await
            .iter()
            .any(|(k, _)| k == "sign-in-failed")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // more failed attempts
    onit.terminate(daemon).await;
    let mut open = open_alerts(&store).await;
    open.sort();
    assert_eq!(
        open,
        vec![
            ("sign-in-failed".to_string(), onit.imap_subject()),
            ("token-expiring".to_string(), onit.oauth_subject()),
        ],
        "{}",
        onit.log()
    );
    assert_eq!(alert_mails(&store).await, 2, "one mail per incident");
    let log = onit.log();
    assert!(log.contains("invalid_grant"), "{log}");
    idp.assert_no_token_in(&log, "the daemon's log");

    // `onit oauth status` says what is wrong, and prints no token.
    let out = onit
        .command(&["oauth", "status", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["signed_in"], true, "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid_grant"),
        "{status}"
    );
    idp.assert_no_token_in(&status.to_string(), "oauth status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_login_stores_the_grant_by_the_device_flow() {
    let idp = Idp::start().await;
    let support = "support-login@jac.example";
    idp.reset(support);
    // No mail stack needed: login talks to the provider only.
    let onit = OAuthOnit::new(Db::Sqlite, None, &idp, support, true, false);
    let store = onit.env.store().await;

    let wrong = onit
        .command(&["oauth", "login", "--provider", "google"])
        .output()
        .await
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("oauth.provider"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );

    let out = tokio::time::timeout(
        Duration::from_secs(30),
        onit.command(&["oauth", "login", "--provider", "custom"])
            .output(),
    )
    .await
    .expect("login finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("WDJB-MJHT"), "{stdout}");
    assert!(stdout.contains("https://idp.example/device"), "{stdout}");
    assert!(stdout.contains("Signed in"), "{stdout}");
    assert_eq!(idp.with(|s| s.device_polls), 2, "polled until approved");
    let g = grant::read(&store, support).await.unwrap().expect("grant");
    assert_eq!(
        g.refresh_token.as_deref(),
        Some(idp.current_refresh().as_str())
    );
    assert_eq!(g.provider, "custom");
    idp.assert_no_token_in(&stdout, "login's output");

    let text = onit.command(&["oauth", "status"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("signed in      yes"), "{text}");
    idp.assert_no_token_in(&text, "oauth status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgment_goes_out_over_smtp_with_xoauth2_and_waits_while_sign_in_fails() {
    let idp = Idp::start().await;
    let stack = mailstack::private_oauth("oauth-smtp", &idp.introspection_url());
    let support = mailstack::fresh("support", "jac.example");
    let client = mailstack::fresh("client", "client.example");
    idp.reset(&support);
    // The configured refresh token is refused: no token at all for SMTP.
    idp.with(|s| s.refuse_refresh = true);
    let onit = OAuthOnit::new(Db::Sqlite, Some(&stack), &idp, &support, false, true);
    let smtp_subject = format!("smtp:{support}@127.0.0.1:{}", stack.smtp_port);
    let store = onit.env.store().await;
    let new = onit.env.maildir().join("new");
    std::fs::create_dir_all(&new).unwrap();
    for d in ["cur", "tmp"] {
        std::fs::create_dir_all(onit.env.maildir().join(d)).unwrap();
    }
    std::fs::write(
        new.join("1.eml"),
        mail(&client, &support, "Invoices missing"),
    )
    .unwrap();
    let ack_state = || async {
        let sql = "SELECT status || ' ' || COALESCE(last_error, '') FROM outbox WHERE kind = 'ack'";
        match &store {
            Store::Sqlite { reader, .. } => sqlx::query_scalar::<_, String>(sql)
                .fetch_one(reader)
                .await
                .unwrap(),
            Store::Postgres(_) => unreachable!(),
        }
    };

    // 1. No token: the acknowledgment waits, and the outbox raises the SMTP sign-in alert.
    onit.run_once().await.expect("run --once");
    let state = ack_state().await;
    assert!(state.starts_with("pending"), "kept for a retry: {state}");
    assert!(state.contains("invalid_grant"), "{state}");
    assert_eq!(
        open_alerts(&store).await,
        vec![("sign-in-failed".to_string(), smtp_subject.clone())]
    );

    // 2. A token, but the server refuses it: AUTH XOAUTH2 ends in Postfix's 535.
    // Still the same incident, still waiting.
    idp.with(|s| {
        s.refuse_refresh = false;
        s.reject_tokens = true;
    });
    tokio::time::sleep(Duration::from_millis(1500)).await; // retry_base_secs = 1
    onit.run_once().await.expect("run --once");
    let state = ack_state().await;
    assert!(state.starts_with("pending"), "{state}");
    assert!(state.contains("535"), "{state}");
    assert!(idp.introspections().iter().any(|i| !i.accepted));
    assert_eq!(open_alerts(&store).await.len(), 1);

    // 3. The server takes the token: the mail goes out with AUTH XOAUTH2, the incident ends.
    idp.with(|s| s.reject_tokens = false);
    tokio::time::sleep(Duration::from_millis(2600)).await; // second backoff: 2 s + jitter
    onit.run_once().await.expect("run --once");
    let at_client = imap_read::wait_for(&stack, &client, "INBOX", 1, Duration::from_secs(20)).await;
    assert_eq!(at_client.len(), 1);
    assert!(ack_state().await.starts_with("sent"));
    assert!(
        idp.introspections().iter().any(|i| i.accepted),
        "Postfix had Dovecot check the token"
    );
    assert!(
        open_alerts(&store).await.is_empty(),
        "resolved by the good send"
    );
    assert_eq!(
        alert_mails(&store).await,
        1,
        "one alert mail for the incident"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_refresh_once_under_the_row_lock() {
    let idp = Idp::start().await;
    for db in crate::common::BOTH {
        let support = mailstack::fresh("support", "jac.example");
        idp.reset(&support);
        // A slow provider, so both instances ask while the first refresh is in flight.
        idp.with(|s| s.token_delay = Duration::from_millis(400));
        let onit = OAuthOnit::new(db, None, &idp, &support, true, false);
        // Two instances: each its own pools (connections) on the same database.
        let (a, b) = (onit.env.store().await, onit.env.store().await);
        let a_rt = onit::oauth::attach(onit.runtime(), &a).await.unwrap();
        let b_rt = onit::oauth::attach(onit.runtime(), &b).await.unwrap();
        let (ta, tb) = (
            onit::oauth::tokens_of(&a_rt).unwrap(),
            onit::oauth::tokens_of(&b_rt).unwrap(),
        );
        let (x, y) = tokio::join!(ta.bearer(), tb.bearer());
        let (x, y) = (
            x.unwrap_or_else(|e| panic!("{db:?}: {e}")),
            y.unwrap_or_else(|e| panic!("{db:?}: {e}")),
        );
        // One refreshed; the other waited for the lock and took its result. Had both
        // refreshed with the same (rotating) refresh token, the second would have
        // been refused.
        assert_eq!(x, y, "{db:?}");
        assert_eq!(idp.with(|s| s.refreshes), 1, "{db:?}");
        let g = grant::read(&a, &support).await.unwrap().unwrap();
        assert_eq!(
            g.refresh_token.as_deref(),
            Some(idp.current_refresh().as_str())
        );
        assert_eq!(g.access_token.as_deref(), Some(x.expose()));
        idp.with(|s| s.token_delay = Duration::ZERO);
    }
}

/// Issue 12: `onit run` at `RUST_LOG=trace` signs in to IMAP and SMTP with
/// XOAUTH2 (a refresh, then the token on both) and the log holds no token, no
/// XOAUTH2 response (base64) and not the client secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_log_of_xoauth2_sign_ins_holds_no_token() {
    use base64::Engine;
    let idp = Idp::start().await;
    let stack = mailstack::private_oauth("oauth-trace", &idp.introspection_url());
    let support = mailstack::fresh("support", "jac.example");
    let client = mailstack::fresh("client", "client.example");
    idp.reset(&support);
    append(
        &stack,
        &support,
        &mail(&client, &support, "Trace the token"),
    )
    .await;
    let onit = OAuthOnit::new(Db::Sqlite, Some(&stack), &idp, &support, true, true);
    let log = std::fs::File::create(onit.env.dir.path().join("onit.log")).unwrap();
    let child = onit
        .command(&["run"])
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn onit run");
    let got = imap_read::wait_for(&stack, &client, "INBOX", 1, Duration::from_secs(60)).await;
    onit.terminate(child).await;
    let text = onit.log();
    assert_eq!(got.len(), 1, "no acknowledgment over SMTP: {text}");
    assert!(text.contains("TRACE"), "the log is at trace level");
    assert!(
        idp.introspections().iter().filter(|i| i.accepted).count() >= 2,
        "both IMAP and SMTP signed in with a token"
    );
    idp.assert_no_token_in(&text, "the trace log");
    assert!(!text.contains(CLIENT_SECRET), "the client secret is logged");
    for t in idp.with(|s| s.every_token.clone()) {
        let sasl = format!("user={support}\x01auth=Bearer {t}\x01\x01");
        let b64 = base64::engine::general_purpose::STANDARD.encode(sasl);
        assert!(!text.contains(&b64), "the XOAUTH2 response is logged");
    }
}
