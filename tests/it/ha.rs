//! Several instances (issue 6): three `onit run` on one PostgreSQL against the
//! real mail stack with the leader killed mid-burst, and a second instance on
//! one SQLite file refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use onit::leadership::{folder_role, leases};
use onit::store::{from_ms, Store};

use crate::common::{Db, Env};
use crate::imap::{burst, eventually, Daemon, Live};
use crate::mailstack;

/// Who holds `role` now, by the leases table, if its holder renewed it lately.
async fn holder(store: &Store, role: &str) -> Option<(String, i64, chrono::DateTime<Utc>)> {
    let (ls, _) = leases(store).await.ok()?;
    ls.into_iter()
        .find(|l| l.role == role)
        .map(|l| (l.holder, l.epoch, from_ms(l.acquired_at)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_leader_killed_mid_burst_every_mail_one_ticket_one_ack() {
    let stack = mailstack::shared();
    let live = Live::new(stack, Db::Postgres, &["INBOX"], false);
    const N: usize = 200;
    let names = ["onit-a", "onit-b", "onit-c"];
    let mut daemons: HashMap<&str, Daemon> = HashMap::new();
    for n in names {
        daemons.insert(n, live.spawn_with(&[("ONIT__HA__INSTANCE_NAME", n)]));
    }
    let store = live.store().await;
    let rt = live.env.runtime();
    // The folder's role, as onit::imap::account_key names the account.
    let role = folder_role(
        &format!("{}@127.0.0.1:{}", live.support, stack.imaps_port),
        "INBOX",
    );
    eventually(Duration::from_secs(60), "a leader for INBOX", || async {
        holder(&store, &role).await.is_some()
    })
    .await;

    let sender = tokio::spawn(burst(stack.clone(), &live, 0..N, "ha"));

    // Mid-burst: kill -9 whichever instance leads the folder.
    eventually(
        Duration::from_secs(120),
        "a quarter of the burst stored",
        || async { store.tickets().await.map(|t| t.len()).unwrap_or(0) >= N / 4 },
    )
    .await;
    let (leader, epoch, _) = holder(&store, &role).await.expect("a leader");
    let killed_at = Utc::now();
    let kill_started = Instant::now();
    daemons
        .get_mut(leader.as_str())
        .unwrap_or_else(|| panic!("leader {leader} is one of ours"))
        .kill_now();
    let stored_at_kill = store.tickets().await.map(|t| t.len()).unwrap_or(0);

    // Another instance takes the folder over: a new holder and a higher epoch.
    let mut takeover = None;
    while kill_started.elapsed() < Duration::from_secs(40) {
        if let Some((h, e, acquired)) = holder(&store, &role).await {
            if h != leader && e > epoch {
                takeover = Some((h, acquired));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (new_leader, acquired) = takeover.unwrap_or_else(|| {
        panic!(
            "no instance took {role} over within 40 s of killing {leader}:\n{}",
            live.log()
        )
    });
    let takeover_secs = (acquired - killed_at).num_milliseconds() as f64 / 1000.0;
    assert!(
        takeover_secs <= rt.ops.takeover.as_secs_f64(),
        "takeover took {takeover_secs} s, limit {:?}",
        rt.ops.takeover
    );

    sender.await.expect("burst sent");
    eventually(Duration::from_secs(180), "every mail a ticket", || async {
        store.tickets().await.map(|t| t.len()).unwrap_or(0) >= N
    })
    .await;
    eventually(Duration::from_secs(120), "every acknowledgment", || async {
        live.env.sent_files().len() >= N
    })
    .await;
    // Let any duplicate (there must be none) surface before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let tickets = store.tickets().await.expect("tickets");
    assert_eq!(tickets.len(), N, "every mail exactly one ticket");
    let mut per_reporter: HashMap<String, usize> = HashMap::new();
    for t in &tickets {
        *per_reporter.entry(t.reporter.clone()).or_default() += 1;
    }
    assert_eq!(per_reporter.len(), N, "one ticket per client mail");
    assert_eq!(
        live.env.sent_files().len(),
        N,
        "every ticket exactly one acknowledgment"
    );
    let acks: Vec<_> = store
        .outbox_all()
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.kind.as_str() == "ack")
        .collect();
    assert_eq!(acks.len(), N, "one acknowledgment queued per ticket");
    // The attempt the killed instance had in hand is taken over once its heartbeat
    // is older than the takeover time (its file may already be written: the file
    // transport is idempotent by Message-ID, so that is no second acknowledgment).
    eventually(
        Duration::from_secs(60),
        "every acknowledgment recorded sent",
        || async {
            store.outbox_all().await.is_ok_and(|o| {
                o.iter()
                    .filter(|o| o.kind.as_str() == "ack")
                    .all(|o| o.status.as_str() == "sent")
            })
        },
    )
    .await;
    let acks: Vec<_> = store
        .outbox_all()
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.kind.as_str() == "ack")
        .collect();
    // Every instance delivers, but no two ever attempt the same mail: only the
    // attempt the killed instance had in hand may be repeated.
    let repeated: i64 = acks.iter().map(|o| o.attempts - 1).sum();
    assert!(
        repeated <= 1,
        "{repeated} repeated acknowledgment attempts with one kill"
    );
    let messages = store.message_counts().await.expect("counts");
    let clients = messages
        .iter()
        .find(|(c, _)| c == "client")
        .map_or(0, |(_, n)| *n);
    assert_eq!(clients, N as i64, "each mail stored once");

    // `onit status` names the leader of each role.
    let (status, _, ok) = live.run_cmd(&["status"]);
    assert!(ok, "status failed");
    assert!(
        status.contains(&format!("leads     {role}: {new_leader}")),
        "{status}"
    );
    for n in names {
        if n != leader {
            if let Some(d) = daemons.remove(n) {
                live.terminate(d);
            }
        }
    }
    eprintln!(
        "three instances: killed leader {leader} with {stored_at_kill}/{N} stored; \
         {new_leader} took over in {takeover_secs:.2} s (limit {} s); {repeated} repeated attempts",
        rt.ops.takeover.as_secs()
    );
}

fn signal(d: &Daemon, sig: &str) {
    let pid = d.pid().expect("running");
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

/// A leader that is paused (SIGSTOP: a VM freeze, a long GC pause elsewhere) keeps
/// its TCP connections open, so nothing closes its session: PostgreSQL ends the
/// silent lock session (`idle_session_timeout`), another instance takes over, and
/// when the old leader wakes its fenced writes fail instead of doubling mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_fenced_out_when_it_wakes() {
    let stack = mailstack::shared();
    let live = Live::new(stack, Db::Postgres, &["INBOX"], false);
    const N: usize = 60;
    let mut a = live.spawn_with(&[("ONIT__HA__INSTANCE_NAME", "onit-a")]);
    let store = live.store().await;
    let role = folder_role(
        &format!("{}@127.0.0.1:{}", live.support, stack.imaps_port),
        "INBOX",
    );
    eventually(Duration::from_secs(60), "onit-a leads INBOX", || async {
        holder(&store, &role)
            .await
            .is_some_and(|(h, ..)| h == "onit-a")
    })
    .await;
    let b = live.spawn_with(&[("ONIT__HA__INSTANCE_NAME", "onit-b")]);
    burst(stack.clone(), &live, 0..N / 2, "paused").await;
    eventually(Duration::from_secs(60), "the first half stored", || async {
        store.tickets().await.map(|t| t.len()).unwrap_or(0) >= N / 2
    })
    .await;
    let (_, epoch, _) = holder(&store, &role).await.expect("leader");
    signal(&a, "STOP");
    let paused_at = Utc::now();
    // Mail keeps coming while onit-a is frozen.
    let rest = tokio::spawn(burst(stack.clone(), &live, N / 2..N, "paused"));
    let started = Instant::now();
    let mut taken = None;
    while started.elapsed() < Duration::from_secs(40) {
        if let Some((h, e, acquired)) = holder(&store, &role).await {
            if h == "onit-b" && e > epoch {
                taken = Some(acquired);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rt = live.env.runtime();
    let acquired = taken.unwrap_or_else(|| panic!("onit-b did not take over:\n{}", live.log()));
    let takeover_secs = (acquired - paused_at).num_milliseconds() as f64 / 1000.0;
    assert!(
        takeover_secs <= rt.ops.takeover.as_secs_f64(),
        "takeover from a paused leader took {takeover_secs} s"
    );
    rest.await.expect("second half sent");
    eventually(Duration::from_secs(90), "every mail a ticket", || async {
        store.tickets().await.map(|t| t.len()).unwrap_or(0) >= N
    })
    .await;
    // Wake the old leader: it must notice it lost, and write nothing twice.
    signal(&a, "CONT");
    eventually(Duration::from_secs(30), "onit-a notices", || async {
        live.log().contains("leadership lost")
    })
    .await;
    eventually(Duration::from_secs(60), "every acknowledgment", || async {
        live.env.sent_files().len() >= N
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(store.tickets().await.expect("tickets").len(), N);
    assert_eq!(live.env.sent_files().len(), N);
    let acks = store
        .outbox_all()
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.kind.as_str() == "ack")
        .count();
    assert_eq!(acks, N, "one acknowledgment per ticket");
    // onit-a stands by now: it does not lead INBOX.
    assert_eq!(
        holder(&store, &role).await.map(|h| h.0).as_deref(),
        Some("onit-b")
    );
    a.kill_now();
    live.terminate(b);
    eprintln!("paused leader: onit-b took over in {takeover_secs:.2} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_one_sqlite_file_is_refused() {
    let env = Env::new(Db::Sqlite, "");
    std::fs::create_dir_all(env.maildir().join("new")).expect("maildir");
    let spawn = || {
        std::process::Command::new(crate::common::onit_bin())
            .arg("--config")
            .arg(&env.config_path)
            .arg("run")
            .env_remove("ONIT__DATABASE__URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn onit")
    };
    let mut first = spawn();
    let lock = std::path::PathBuf::from(format!(
        "{}.onit-lock",
        env.dir.path().join("onit.db").display()
    ));
    eventually(
        Duration::from_secs(30),
        "the first instance's lock",
        || async {
            std::fs::read_to_string(&lock).is_ok_and(|s| s.contains(&first.id().to_string()))
        },
    )
    .await;

    for args in [&["run"][..], &["run", "--once"][..]] {
        let out = std::process::Command::new(crate::common::onit_bin())
            .arg("--config")
            .arg(&env.config_path)
            .args(args)
            .output()
            .expect("run onit");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must be refused");
        assert!(
            err.contains("another onit instance is already running")
                && err.contains(&format!("pid {}", first.id()))
                && err.contains("PostgreSQL"),
            "{args:?}: {err}"
        );
    }
    // Read-only commands still work beside the daemon.
    let st = std::process::Command::new(crate::common::onit_bin())
        .arg("--config")
        .arg(&env.config_path)
        .arg("status")
        .output()
        .expect("status");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // kill -9 frees the lock: the OS drops it with the process.
    let _ = first.kill();
    let _ = first.wait();
    let mut second = spawn();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        second.try_wait().expect("try_wait").is_none(),
        "a new instance starts once the first is gone"
    );
    let _ = second.kill();
    let _ = second.wait();
}
