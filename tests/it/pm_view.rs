//! The PM's view (issue 16, first part): footnotes for additional issues, and
//! acting on tickets (reopen, merge, filters), on SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use onit::config::Runtime;
use onit::store::Store;

use crate::common::{at, expect_ok, feed, onit_command, Env, Mail, BOTH};

fn date(t: DateTime<Utc>) -> String {
    t.to_rfc2822()
}

async fn kinds(store: &Store, number: i64) -> Vec<String> {
    let t = store.ticket_by_number(number).await.unwrap().unwrap();
    store
        .events(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind.as_str().to_string())
        .collect()
}

/// Bob at acme opens a ticket with `subject` at `when`.
async fn client(store: &Store, rt: &Runtime, id: &str, subject: &str, when: DateTime<Utc>) {
    let m =
        Mail::new("bob@acme.example", "support@jac.example", subject, id).h("Date", &date(when));
    feed(store, rt, &m, when).await;
}

#[tokio::test]
async fn footnotes_are_recorded_listed_and_reported() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        client(
            &store,
            &rt,
            "c1@acme.example",
            "Checkout down",
            at(2026, 11, 26, 10, 0),
        )
        .await;
        let upd = Mail::new(
            "dan@jac.example",
            "bob@acme.example",
            "Re: Checkout down [JAC-1]",
            "u1@jac.example",
        )
        .h("Cc", "alice.pm@jac.example, support@jac.example")
        .h("Date", &date(at(2026, 11, 26, 10, 30)))
        .body(
            "Checkout works again: the gateway was restarted. Next update by 16:00.\n\n\
             Additional issue: the nightly backup job also failed at 02:00.\n\n\
             > Additional issue: quoted lines do not count\n",
        );
        feed(&store, &rt, &upd, at(2026, 11, 26, 10, 30)).await;
        let note = Mail::new(
            "dan@jac.example",
            "support@jac.example",
            "Re: Checkout down [JAC-1]",
            "n1@jac.example",
        )
        .h("Date", &date(at(2026, 11, 26, 11, 0)))
        .body("#additional disk on db-2 at 91%\n#cause expired certificate\n#impact checkout down 30 minutes\n#resolution renewed\n#prevention expiry alert\n#close\n");
        feed(&store, &rt, &note, at(2026, 11, 26, 11, 0)).await;
        let k = kinds(&store, 1).await;
        assert_eq!(
            k.iter().filter(|k| *k == "additional_issue").count(),
            2,
            "{db:?}: {k:?}"
        );
        // The digest lists them.
        let digest = expect_ok(
            &["digest"],
            onit_command(
                &env,
                &[
                    "digest",
                    "daily",
                    "--pm",
                    "alice.pm@jac.example",
                    "--at",
                    "2026-11-26T17:00:00Z",
                    "--print",
                ],
            )
            .output()
            .unwrap(),
        );
        assert!(digest.contains("Additional issue"), "{digest}");
        assert!(digest.contains("nightly backup job"), "{digest}");
        assert!(digest.contains("db-2 at 91%"), "{digest}");
        assert!(!digest.contains("quoted lines"), "{digest}");
        // The report has them under Exposure / impacts.
        let report = expect_ok(
            &["report"],
            onit_command(&env, &["report", "JAC-1"]).output().unwrap(),
        );
        let exposure = report
            .split("## Exposure / impacts")
            .nth(1)
            .and_then(|r| r.split("## Suspected root cause").next())
            .unwrap_or_else(|| panic!("{report}"));
        assert!(exposure.contains("checkout down 30 minutes"), "{exposure}");
        assert!(
            exposure.contains("nightly backup job also failed"),
            "{exposure}"
        );
        assert!(exposure.contains("disk on db-2 at 91%"), "{exposure}");
    }
}

#[tokio::test]
async fn reopen_and_merge_by_command_and_mail() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        client(
            &store,
            &rt,
            "c1@acme.example",
            "Checkout down",
            at(2026, 11, 26, 10, 0),
        )
        .await;
        client(
            &store,
            &rt,
            "c2@acme.example",
            "Payments failing",
            at(2026, 11, 26, 10, 5),
        )
        .await;
        client(
            &store,
            &rt,
            "c3@acme.example",
            "Login slow",
            at(2026, 11, 26, 10, 10),
        )
        .await;

        // Resolve JAC-3, then reopen it by mail.
        let cmd = |id: &str, body: &str, when| {
            Mail::new(
                "dan@jac.example",
                "support@jac.example",
                "Re: Login slow [JAC-3]",
                id,
            )
            .h("Date", &date(when))
            .body(body)
        };
        feed(
            &store,
            &rt,
            &cmd(
                "n1@jac.example",
                "#status resolved\n",
                at(2026, 11, 26, 10, 20),
            ),
            at(2026, 11, 26, 10, 20),
        )
        .await;
        feed(
            &store,
            &rt,
            &cmd("n2@jac.example", "#reopen\n", at(2026, 11, 26, 10, 25)),
            at(2026, 11, 26, 10, 25),
        )
        .await;
        let t3 = store.ticket_by_number(3).await.unwrap().unwrap();
        assert_eq!(t3.status.as_str(), "open", "{db:?}");
        assert!(kinds(&store, 3).await.contains(&"reopened".to_string()));

        // Merge JAC-2 into JAC-1 by mail: JAC-2's messages and events move.
        let merge = Mail::new(
            "dan@jac.example",
            "support@jac.example",
            "Re: Checkout down [JAC-1]",
            "n3@jac.example",
        )
        .h("Date", &date(at(2026, 11, 26, 10, 30)))
        .body("Same incident as the payments one.\n#merge JAC-2\n");
        feed(&store, &rt, &merge, at(2026, 11, 26, 10, 30)).await;
        let t1 = store.ticket_by_number(1).await.unwrap().unwrap();
        let t2 = store.ticket_by_number(2).await.unwrap().unwrap();
        assert_eq!(t2.status.as_str(), "closed", "{db:?}");
        assert_eq!(t2.merged_into_id, Some(t1.id));
        let k1 = kinds(&store, 1).await;
        assert!(k1.contains(&"merged".to_string()), "{k1:?}");
        assert_eq!(
            k1.iter().filter(|k| *k == "opened").count(),
            2,
            "JAC-2's events moved: {k1:?}"
        );
        assert_eq!(kinds(&store, 2).await, ["merged"], "{db:?}");
        let msgs = store.messages_of(t1.id).await.unwrap();
        assert!(
            msgs.iter().any(|m| m.message_id == "c2@acme.example"),
            "{db:?}"
        );
        // Mail naming JAC-2 (its tag, or a reply to its messages) threads onto JAC-1.
        let reply = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Payments failing [JAC-2]",
            "c4@acme.example",
        )
        .h("Date", &date(at(2026, 11, 26, 10, 40)));
        let out = feed(&store, &rt, &reply, at(2026, 11, 26, 10, 40)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");
        let reply = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Payments failing",
            "c5@acme.example",
        )
        .h("In-Reply-To", "<c2@acme.example>")
        .h("Date", &date(at(2026, 11, 26, 10, 41)));
        let out = feed(&store, &rt, &reply, at(2026, 11, 26, 10, 41)).await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{db:?}");

        // By the command line: reopen and merge, and what they refuse.
        let run = |args: &[&str]| onit_command(&env, args).output().unwrap();
        let out = expect_ok(&["ticket"], run(&["ticket", "JAC-3", "merge", "JAC-1"]));
        assert!(out.contains("JAC-1 merged into JAC-3"), "{out}");
        let out = run(&["ticket", "JAC-1", "reopen"]);
        assert!(!out.status.success(), "a merged ticket is not reopened");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("merged"),
            "{out:?}"
        );
        let out = run(&["ticket", "JAC-3", "merge", "JAC-3"]);
        assert!(!out.status.success());
        // Both stay findable.
        let j: serde_json::Value =
            serde_json::from_str(&expect_ok(&["ticket"], run(&["ticket", "JAC-1", "--json"])))
                .unwrap();
        assert_eq!(j["status"], "closed", "{j}");
    }
}

#[test]
fn tickets_are_filtered_by_status_project_pm_and_priority() {
    // Status and priority are filtered by the database's statement: both databases.
    for db in crate::common::BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let rtm = tokio::runtime::Runtime::new().unwrap();
        rtm.block_on(async {
            let store = env.store().await;
            client(
                &store,
                &rt,
                "c1@acme.example",
                "Production is down",
                at(2026, 11, 26, 10, 0),
            )
            .await;
            client(
                &store,
                &rt,
                "c2@acme.example",
                "Typo on the about page",
                at(2026, 11, 26, 10, 5),
            )
            .await;
            let m = Mail::new(
                "dora@other.example",
                "support@jac.example",
                "Question",
                "o1@other.example",
            )
            .h("Date", &date(at(2026, 11, 26, 10, 6)));
            feed(&store, &rt, &m, at(2026, 11, 26, 10, 6)).await;
        });
        let list = |args: &[&str]| -> Vec<String> {
            let mut a = vec!["tickets", "--json"];
            a.extend_from_slice(args);
            let v: serde_json::Value =
                serde_json::from_str(&expect_ok(&a, onit_command(&env, &a).output().unwrap()))
                    .unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(list(&[]), ["JAC-1", "JAC-2", "JAC-3"]);
        assert_eq!(list(&["--project", "acme"]), ["JAC-1", "JAC-2"]);
        assert_eq!(list(&["--pm", "PM@jac.example"]), ["JAC-3"]);
        assert_eq!(list(&["--priority", "urgent"]), ["JAC-1"]);
        assert_eq!(
            list(&[
                "--status",
                "open",
                "--project",
                "acme",
                "--priority",
                "medium"
            ]),
            ["JAC-2"]
        );
        assert!(list(&["--status", "closed"]).is_empty());
        // A page at a time, as `onit tickets` reads them: the pages join up.
        rtm.block_on(async {
            let store = env.store().await;
            let mut numbers = Vec::new();
            let mut after = i64::MIN;
            loop {
                let page = store
                    .tickets_with(Some(onit::ticket::Status::Open), None, after, 1)
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                assert_eq!(page.len(), 1);
                after = last.number;
                numbers.push(last.number);
            }
            assert_eq!(numbers, [1, 2, 3], "{db:?}");
        });
        let bad = onit_command(&env, &["tickets", "--status", "pending"])
            .output()
            .unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("not a status"));
    }
}

#[tokio::test]
async fn a_frustrated_client_is_flagged_proposed_urgent_and_shown_to_the_pm() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let m = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Export still failing",
            "f1@acme.example",
        )
        .h("Date", &date(at(2026, 11, 26, 10, 0)))
        .body("This is the third time I write about the export. Unacceptable!!!\n");
        feed(&store, &rt, &m, at(2026, 11, 26, 10, 0)).await;
        let t = store.ticket_by_number(1).await.unwrap().unwrap();
        assert_eq!(t.priority.as_str(), "urgent", "{db:?}");
        assert!(
            t.priority_reason.contains("dissatisfied"),
            "{}",
            t.priority_reason
        );
        let events = store.events(t.id).await.unwrap();
        let flag = events
            .iter()
            .find(|e| e.kind.as_str() == "frustration")
            .expect("flagged");
        assert!(
            flag.detail.contains("third time")
                && flag.detail.contains("unacceptable")
                && flag.detail.contains("!!!"),
            "{}",
            flag.detail
        );
        // A calm ticket, then a shouting follow-up on it: flagged, priority left to people.
        client(
            &store,
            &rt,
            "c2@acme.example",
            "Typo on the about page",
            at(2026, 11, 26, 11, 0),
        )
        .await;
        let t2 = store.ticket_by_number(2).await.unwrap().unwrap();
        assert_eq!(t2.priority.as_str(), "medium");
        let m = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Re: Typo on the about page [JAC-2]",
            "f2@acme.example",
        )
        .h("Date", &date(at(2026, 11, 26, 12, 0)))
        .body("WHY IS THIS STILL NOT CORRECTED, OUR CEO SAW IT\n");
        feed(&store, &rt, &m, at(2026, 11, 26, 12, 0)).await;
        assert!(
            kinds(&store, 2).await.contains(&"frustration".to_string()),
            "{db:?}"
        );
        let digest = expect_ok(
            &["digest"],
            onit_command(
                &env,
                &[
                    "digest",
                    "daily",
                    "--pm",
                    "alice.pm@jac.example",
                    "--at",
                    "2026-11-26T17:00:00Z",
                    "--print",
                ],
            )
            .output()
            .unwrap(),
        );
        assert_eq!(digest.matches("Client frustrated").count(), 2, "{digest}");
        assert!(digest.contains("not the tone"), "{digest}");
    }
}
