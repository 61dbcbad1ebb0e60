//! Issue 17, item 1: the due time `ticket::lifecycle` keeps on each ticket is the
//! rules' own. Over every mail scenario of the policy tests (the archive that
//! breaks each rule, the one that keeps them all, the reminder scenario) and a
//! live one (our acknowledgment leaving, commands that resolve, reopen and
//! re-prioritise), after each message the ticket it touched stores exactly what
//! the rules compute from its whole history; after the due pass at that instant,
//! every ticket does. Then time passes with no mail (days turn, deadlines break):
//! after each pass, still every ticket. Both databases.

use chrono::{DateTime, Duration, Utc};
use onit::compliance::{load_histories, Rules};
use onit::config::Runtime;
use onit::ingest::Mode;
use onit::policy::cadence::Due;
use onit::policy::evaluate::evaluate;
use onit::store::{from_ms, Store};

use crate::common::{at, Env, BOTH};
use crate::compliance::{breaking_archive, keeping_archive, mbox, thu, Msg, BOB, PM, SUPPORT};

/// One message as raw bytes (the mbox text without its `From ` line).
fn raw(m: &Msg<'_>) -> Vec<u8> {
    let text = mbox(std::slice::from_ref(m));
    text.split_once('\n')
        .map(|x| x.1)
        .unwrap_or("")
        .as_bytes()
        .to_vec()
}

/// What the rules say is due next on every ticket at `at`, from whole histories.
async fn rules_at(store: &Store, rt: &Runtime, at: DateTime<Utc>) -> Vec<(String, Option<Due>)> {
    let rules = Rules::new(rt);
    let cx = rules.context(rt, at);
    load_histories(store, false)
        .await
        .unwrap()
        .iter()
        .map(|h| (h.id.clone(), evaluate(h, &cx).next_due))
        .collect()
}

/// What every ticket stores.
async fn stored(store: &Store) -> Vec<(String, Option<Due>)> {
    store
        .tickets()
        .await
        .unwrap()
        .iter()
        .map(|t| {
            let due = t
                .next_due_at
                .zip(t.next_due_rule.as_deref())
                .map(|(a, r)| Due {
                    at: from_ms(a),
                    rule: onit::policy::rules::RULE_IDS
                        .iter()
                        .copied()
                        .find(|x| *x == r)
                        .unwrap_or("unknown"),
                });
            (
                t.reference(),
                if t.status.as_str() == "open" {
                    due
                } else {
                    None
                },
            )
        })
        .collect()
}

/// Asserts the stored due time equals the rules' at `at`, for `only` one ticket or all.
async fn agree(store: &Store, rt: &Runtime, at: DateTime<Utc>, only: Option<&str>, what: &str) {
    let want = rules_at(store, rt, at).await;
    let got = stored(store).await;
    assert_eq!(want.len(), got.len(), "{what}");
    for (w, g) in want.iter().zip(&got) {
        if only.is_none_or(|o| o == w.0) {
            assert_eq!(
                w, g,
                "{what} at {at}: rules (left) and stored (right) disagree"
            );
        }
    }
}

/// Feeds `msgs` one at a time as `mode`, checking after each, then lets days pass.
async fn run(env: &Env, msgs: &[Msg<'_>], mode: Mode, name: &str) -> usize {
    let rt = env.runtime();
    let store = env.store().await;
    let outbox = env.file_outbox(&store, &rt);
    let mut checks = 0;
    let mut msgs: Vec<&Msg<'_>> = msgs.iter().collect();
    msgs.sort_by_key(|m| m.when);
    for m in &msgs {
        let out = onit::ingest::receive_imf(&store, &rt, &raw(m), m.when, "test", mode)
            .await
            .unwrap();
        let what = format!("{name}: after {}", m.id);
        // The ticket the message touched, before any pass.
        agree(&store, &rt, m.when, out.ticket.as_deref(), &what).await;
        let mut now = m.when;
        if mode == Mode::Live {
            // Our acknowledgment leaves 20 s later: a contact at its send time.
            let sent = m.when + Duration::seconds(20);
            outbox.deliver_due(sent).await.unwrap();
            // The send is recorded at `sent` plus the pass's own few milliseconds.
            let after = sent + Duration::seconds(1);
            agree(
                &store,
                &rt,
                after,
                out.ticket.as_deref(),
                &format!("{what}, sent"),
            )
            .await;
            now = after;
        }
        onit::ticket::lifecycle::settle_dues(&store, &rt, now)
            .await
            .unwrap();
        agree(&store, &rt, now, None, &format!("{what}, due pass")).await;
        checks += 1;
    }
    // Days pass with no mail: every 20 minutes for four days, a due pass.
    let last = msgs.last().map(|m| m.when).unwrap() + Duration::seconds(20);
    let mut t = last;
    while t < last + Duration::days(4) {
        t += Duration::minutes(20);
        onit::ticket::lifecycle::settle_dues(&store, &rt, t)
            .await
            .unwrap();
        agree(&store, &rt, t, None, &format!("{name}: quiet")).await;
        checks += 1;
    }
    store.close().await;
    checks
}

/// A live ticket: acknowledged by onit, updated, resolved by command, reopened by
/// the client, re-prioritised by command.
fn live_scenario() -> Vec<Msg<'static>> {
    let cc = "support@jac.example, alice.pm@jac.example";
    vec![
        Msg {
            from: BOB,
            to: SUPPORT,
            cc: "",
            subject: "Reports are slow",
            id: "l0@acme.example",
            reply_to: "",
            when: thu(11, 10),
            auto: false,
            body: "The monthly reports take minutes to load.",
        },
        Msg {
            from: "dan@jac.example",
            to: BOB,
            cc,
            subject: "Re: Reports are slow [JAC-1]",
            id: "l1@jac.example",
            reply_to: "l0@acme.example",
            when: thu(12, 40),
            auto: false,
            body: "We found a missing index. Next update by 15:00.",
        },
        Msg {
            from: "dan@jac.example",
            to: BOB,
            cc,
            subject: "Re: Reports are slow [JAC-1]",
            id: "l2@jac.example",
            reply_to: "l0@acme.example",
            when: thu(14, 50),
            auto: false,
            body: "The index is in place; reports load in a second.\n\n#status resolved",
        },
        Msg {
            from: BOB,
            to: SUPPORT,
            cc: "",
            subject: "Re: Reports are slow [JAC-1]",
            id: "l3@acme.example",
            reply_to: "l2@jac.example",
            when: at(2026, 11, 27, 9, 15),
            auto: false,
            body: "Still slow for the yearly report.",
        },
        Msg {
            from: "dan@jac.example",
            to: "support@jac.example",
            cc: "",
            subject: "Re: Reports are slow [JAC-1]",
            id: "l4@jac.example",
            reply_to: "l3@acme.example",
            when: at(2026, 11, 27, 9, 40),
            auto: false,
            body: "#priority high",
        },
        Msg {
            from: "dan@jac.example",
            to: BOB,
            cc,
            subject: "Re: Reports are slow [JAC-1]",
            id: "l5@jac.example",
            reply_to: "l3@acme.example",
            when: at(2026, 11, 27, 10, 30),
            auto: false,
            body: "Looking at the yearly report now.",
        },
        // A second ticket left silent: only the due pass moves it.
        Msg {
            from: "carol@acme.example",
            to: SUPPORT,
            cc: PM,
            subject: "VPN drops",
            id: "l6@acme.example",
            reply_to: "",
            when: at(2026, 11, 27, 10, 45),
            auto: false,
            body: "Our VPN drops every hour.",
        },
    ]
}

#[tokio::test]
async fn the_stored_due_time_is_the_rules_after_every_message() {
    for db in BOTH {
        let mut checks = 0;
        for (name, msgs, mode) in [
            ("breaking archive", breaking_archive(), Mode::Archive),
            ("keeping archive", keeping_archive(), Mode::Archive),
            ("live", live_scenario(), Mode::Live),
        ] {
            // The scenarios' team mail carries no Authentication-Results: header trust.
            let env = Env::new(db, crate::common::ARCHIVE_TRUST);
            checks += run(&env, &msgs, mode, name).await;
        }
        assert!(checks > 3 * 288, "{db:?}: {checks} checks");
    }
}

/// The due pass's list (`Store::open_due_by`): the open tickets due by the
/// instant or not yet settled (no due time), and no other; read as two ranges
/// of the open tickets' due index, so that a pass reads the due ones, not
/// every open ticket. Both databases.
#[tokio::test]
async fn the_due_pass_lists_the_open_tickets_due_or_unsettled_and_no_other() {
    // number, status, next_due_at (ms; NULL for none), alert_key.
    const TICKETS: &str = "INSERT INTO tickets (number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, next_due_at, next_due_rule, alert_source, alert_key, opening_message_id) VALUES \
        (1, 'JAC', 'Due', 'due', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'open', 0, 1000, 'cadence', NULL, NULL, 'd1@client.example'), \
        (2, 'JAC', 'Later', 'later', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'open', 0, 3000, 'cadence', NULL, NULL, 'd2@client.example'), \
        (3, 'JAC', 'Unsettled', 'unsettled', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'open', 0, NULL, NULL, NULL, NULL, 'd3@client.example'), \
        (4, 'JAC', 'Closed', 'closed', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'closed', 0, NULL, NULL, NULL, NULL, 'd4@client.example'), \
        (5, 'JAC', 'Alert', 'alert', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'open', 0, 1000, 'cadence', 'nagios', 'web1/http', 'd5@client.example'), \
        (6, 'JAC', 'Resolved', 'resolved', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'resolved', 0, 1000, 'cadence', NULL, NULL, 'd6@client.example'), \
        (7, 'JAC', 'Due at', 'due at', 'a@client.example', 'acme', 'pm@jac.example', 'medium', 'default', 'open', 0, 2000, 'cadence', NULL, NULL, 'd7@client.example')";
    for db in BOTH {
        let env = Env::new(db, "");
        let store = env.store().await;
        match &store {
            Store::Sqlite { writer, .. } => sqlx::query(TICKETS).execute(writer).await.map(|_| ()),
            Store::Postgres(p) => sqlx::query(TICKETS).execute(p).await.map(|_| ()),
        }
        .expect("tickets");
        let listed = store.open_due_by(2000, i64::MAX).await.unwrap();
        let mut dues: Vec<(Option<i64>, Option<String>)> = listed
            .iter()
            .map(|(_, at, rule)| (*at, rule.clone()))
            .collect();
        dues.sort();
        assert_eq!(
            dues,
            [
                (None, None),
                (Some(1000), Some("cadence".to_string())),
                (Some(2000), Some("cadence".to_string())),
            ],
            "{db:?}: {listed:?}"
        );
        // Soonest first among those with a due time.
        let timed: Vec<i64> = listed.iter().filter_map(|(_, at, _)| *at).collect();
        assert_eq!(timed, [1000, 2000], "{db:?}");
        assert_eq!(store.open_due_by(2000, 1).await.unwrap().len(), 1, "{db:?}");
    }
}
