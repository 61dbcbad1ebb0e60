//! `onit run --dry-run`: what onit would open, acknowledge, record and ignore,
//! with nothing written (the database untouched, or not created), nothing sent,
//! no Maildir file moved and no IMAP flag changed.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::{expect_ok, onit_command, Db, Env, Mail};
use crate::doctor::Setup;
use crate::imap_read;
use crate::mailstack;

fn deliver(env: &Env, name: &str, mail: &Mail, age: Duration) {
    let new = env.maildir().join("new");
    std::fs::create_dir_all(&new).unwrap();
    for d in ["cur", "tmp"] {
        std::fs::create_dir_all(env.maildir().join(d)).unwrap();
    }
    let path = new.join(name);
    std::fs::write(&path, mail.bytes()).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn dry_run(env: &Env) -> Value {
    let args = ["run", "--dry-run", "--json"];
    let out = expect_ok(&args, onit_command(env, &args).output().unwrap());
    serde_json::from_str(&out).unwrap()
}

fn new_files(env: &Env) -> usize {
    std::fs::read_dir(env.maildir().join("new"))
        .unwrap()
        .count()
}

#[test]
fn dry_run_on_a_maildir_plans_without_writing_or_sending() {
    let env = Env::new(Db::Sqlite, "");
    let first = Mail::new(
        "bob@acme.example",
        "support@jac.example",
        "Site down",
        "dry-1@acme.example",
    );
    deliver(&env, "1.host", &first, Duration::from_secs(60));
    // First contact, no database yet: nothing is created.
    let plan = dry_run(&env);
    assert_eq!(plan["messages"].as_array().unwrap().len(), 1, "{plan:#}");
    assert_eq!(plan["messages"][0]["action"], "open");
    assert_eq!(plan["messages"][0]["ticket"], "JAC-1");
    assert_eq!(plan["messages"][0]["acknowledge"], true);
    assert_eq!(plan["would_send"][0]["to"], "bob@acme.example", "{plan:#}");
    assert!(
        !env.dir.path().join("onit.db").exists(),
        "the dry run created the database"
    );
    assert_eq!(new_files(&env), 1, "the message stays in new/");
    assert!(env.sent_files().is_empty(), "nothing sent");
    // The real run, then more mail: a reply, an old message, a newsletter.
    expect_ok(
        &["run", "--once"],
        onit_command(&env, &["run", "--once"]).output().unwrap(),
    );
    assert_eq!(env.sent_files().len(), 1);
    let reply = Mail::new(
        "bob@acme.example",
        "support@jac.example",
        "Re: Site down",
        "dry-2@acme.example",
    )
    .h("In-Reply-To", "<dry-1@acme.example>");
    deliver(&env, "2.host", &reply, Duration::from_secs(30));
    let old = Mail::new(
        "carol@acme.example",
        "support@jac.example",
        "Printer on fire",
        "dry-3@acme.example",
    );
    deliver(&env, "3.host", &old, Duration::from_secs(3 * 24 * 3600));
    let news = Mail::new(
        "news@vendor.example",
        "support@jac.example",
        "Our November newsletter",
        "dry-4@vendor.example",
    )
    .h("Precedence", "bulk")
    .h("List-Unsubscribe", "<mailto:unsubscribe@vendor.example>");
    deliver(&env, "4.host", &news, Duration::from_secs(10));
    let tickets_before = expect_ok(
        &["tickets", "--json"],
        onit_command(&env, &["tickets", "--json"]).output().unwrap(),
    );
    let jac1_before = expect_ok(
        &["ticket", "JAC-1", "--json"],
        onit_command(&env, &["ticket", "JAC-1", "--json"])
            .output()
            .unwrap(),
    );
    let plan = dry_run(&env);
    let by_file = |f: &str| {
        plan["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["origin"].as_str().unwrap().ends_with(f))
            .unwrap_or_else(|| panic!("{f} not in {plan:#}"))
            .clone()
    };
    let r = by_file("2.host");
    assert_eq!(
        (r["action"].as_str(), r["ticket"].as_str()),
        (Some("record"), Some("JAC-1")),
        "{r:#}"
    );
    let o = by_file("3.host");
    assert_eq!(
        (o["action"].as_str(), o["ticket"].as_str()),
        (Some("open"), Some("JAC-2")),
        "{o:#}"
    );
    assert_eq!(o["acknowledge"], false, "old mail is history: {o:#}");
    assert_eq!(o["history"], true);
    let n = by_file("4.host");
    assert_eq!(n["action"], "ignore", "{n:#}");
    assert_eq!(n["class"], "automated");
    assert!(
        plan["would_send"].as_array().unwrap().is_empty(),
        "{plan:#}"
    );
    // Nothing written, nothing sent, nothing moved.
    assert_eq!(
        expect_ok(
            &["tickets"],
            onit_command(&env, &["tickets", "--json"]).output().unwrap()
        ),
        tickets_before
    );
    assert_eq!(
        expect_ok(
            &["ticket"],
            onit_command(&env, &["ticket", "JAC-1", "--json"])
                .output()
                .unwrap()
        ),
        jac1_before
    );
    assert_eq!(new_files(&env), 3);
    assert_eq!(env.sent_files().len(), 1);
    // A longer mailbox.ack_max_age acknowledges the 3-day-old message.
    let mut c = onit_command(&env, &["run", "--dry-run", "--json"]);
    c.env("ONIT__MAILBOX__ACK_MAX_AGE", "7d");
    let plan: Value = serde_json::from_str(&expect_ok(&["run"], c.output().unwrap())).unwrap();
    let o = plan["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["origin"].as_str().unwrap().ends_with("3.host"))
        .unwrap()
        .clone();
    assert_eq!(o["acknowledge"], true, "{o:#}");
    // The text form names the actions.
    let out = expect_ok(
        &["run"],
        onit_command(&env, &["run", "--dry-run"]).output().unwrap(),
    );
    assert!(
        out.contains("would open 1 ticket(s), acknowledge 0, record 1 on tickets, ignore 1"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_on_imap_leaves_flags_and_sends_nothing() {
    let stack = mailstack::shared();
    let support = mailstack::fresh("support", "jac.example");
    let client = mailstack::fresh("client", "client.example");
    let env = Setup::good(stack).env(&support);
    // imap.after = "seen": the real run marks mail read; the dry run must not.
    let body = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        body.replace("[imap]\n", "[imap]\nafter = \"seen\"\n"),
    )
    .unwrap();
    let raw = Mail::new(
        &client,
        &support,
        "Checkout broken",
        &format!("dry-imap-{}@client.example", fastrand::u64(..)),
    )
    .bytes();
    crate::imap::smtp_send(stack, &client, &[&support], &raw).await;
    assert_eq!(
        imap_read::wait_for(stack, &support, "INBOX", 1, Duration::from_secs(20))
            .await
            .len(),
        1
    );
    let plan = dry_run(&env);
    let msgs = plan["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{plan:#}");
    assert_eq!(msgs[0]["action"], "open");
    assert_eq!(msgs[0]["acknowledge"], true);
    assert!(
        plan["would_send"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["to"] == client.as_str()),
        "{plan:#}"
    );
    assert_eq!(
        seen(stack, &support).await,
        vec![false],
        "the dry run set \\Seen"
    );
    assert!(!env.dir.path().join("onit.db").exists());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        imap_read::fetch_all(stack, &client, "INBOX")
            .await
            .is_empty(),
        "something was sent"
    );
    // The real run marks it read (imap.after = "seen") and acknowledges it.
    expect_ok(
        &["run", "--once"],
        onit_command(&env, &["run", "--once"]).output().unwrap(),
    );
    assert_eq!(seen(stack, &support).await, vec![true]);
    assert_eq!(
        imap_read::wait_for(stack, &client, "INBOX", 1, Duration::from_secs(20))
            .await
            .len(),
        1
    );
    // And now nothing is waiting: the dry run starts from the stored next UID.
    assert!(dry_run(&env)["messages"].as_array().unwrap().is_empty());
}

async fn seen(stack: &mailstack::Stack, user: &str) -> Vec<bool> {
    use futures::TryStreamExt;
    let mut s = imap_read::login(stack, user).await;
    s.examine("INBOX").await.unwrap();
    let fetches: Vec<_> = s
        .fetch("1:*", "FLAGS")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let flags = fetches
        .iter()
        .map(|f| {
            f.flags()
                .any(|fl| matches!(fl, async_imap::types::Flag::Seen))
        })
        .collect();
    imap_read::logout(s).await;
    flags
}
