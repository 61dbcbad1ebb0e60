//! `onit compliance` over 100,000 open tickets of 10 contacts each.
//! Target: ≤ 200 ms for the evaluation itself. The database load is measured
//! and reported separately (SQLite, the embedded default).
//!
//! Run: `cargo bench --bench compliance`

use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use onit::config::Runtime;
use onit::policy::history::{Contact, ContactKind, Promise, TicketHistory};
use onit::policy::priority::Priority;

const TICKETS: usize = 100_000;
const CONTACTS: usize = 10;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Tickets that mostly keep the rules, as a well-run team's would: contacts at
/// the pace their priority asks for, promises stated and kept, the PM in Cc;
/// about one ticket in twenty slips somewhere, so the report has real content.
fn histories(
    start: DateTime<Utc>,
    cal: &onit::policy::calendar::BusinessCalendar,
) -> Vec<TicketHistory> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..TICKETS)
        .map(|i| {
            let priority = match i % 10 {
                0..=1 => Priority::Urgent,
                2..=4 => Priority::High,
                _ => Priority::Medium,
            };
            let step = match priority {
                Priority::Urgent => Span::minutes(50),
                Priority::High => Span::minutes(150),
                Priority::Medium => Span::hours(8),
            };
            let sloppy = rng.u8(0..20) == 0;
            let opened = cal.next_open(start + Span::minutes(rng.i64(0..4 * 24 * 60)));
            let mut at = opened + Span::seconds(rng.i64(5..50));
            let mut contacts = Vec::with_capacity(CONTACTS);
            for k in 0..CONTACTS {
                let slip = Span::minutes(if sloppy { rng.i64(0..200) } else { 0 });
                let next = match priority {
                    // High: one contact in each checkpoint window (09:30, 12:45, 15:45 local).
                    Priority::High => {
                        let local = at.with_timezone(&cal.tz());
                        let day = local.date_naive();
                        let slots = [(9, 30), (12, 45), (15, 45)];
                        let t = slots
                            .iter()
                            .map(|(h, m)| {
                                cal.at_local(
                                    day,
                                    chrono::NaiveTime::from_hms_opt(*h, *m, 0).unwrap(),
                                )
                            })
                            .find(|t| *t > at)
                            .unwrap_or_else(|| {
                                cal.at_local(
                                    cal.next_business_day(day),
                                    chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
                                )
                            });
                        t + slip
                    }
                    _ => cal.add_business(at, step + slip),
                };
                contacts.push(Contact {
                    at,
                    message_id: format!("m{i}.{k}@bench"),
                    kind: if k == 0 {
                        ContactKind::Acknowledgment
                    } else {
                        ContactKind::Update
                    },
                    recipients: if sloppy && k == 3 {
                        vec!["bob@client.example".into()]
                    } else {
                        vec!["bob@client.example".into(), "pm@jac.example".into()]
                    },
                    promise: Some(Promise {
                        at: next + Span::minutes(2),
                        phrase: "next update by …".into(),
                    }),
                    dismissive: (sloppy && k == 5).then(|| "can't reproduce".to_string()),
                });
                at = next;
            }
            TicketHistory {
                id: format!("JAC-{}", i + 1),
                priority,
                opened_at: opened,
                pm: "pm@jac.example".into(),
                contacts,
                status_changes: Vec::new(),
            }
        })
        .collect()
}

async fn load_into_sqlite(rt_url: &str, hs: &[TicketHistory]) -> onit::store::Store {
    let store = onit::store::Store::open(rt_url, 4)
        .await
        .expect("open sqlite");
    let onit::store::Store::Sqlite { writer, .. } = &store else {
        unreachable!()
    };
    let mut tx = writer.begin().await.unwrap();
    for (n, h) in hs.iter().enumerate() {
        let id = n as i64 + 1;
        sqlx::query("INSERT INTO tickets (id, number, prefix, subject, normalized_subject, reporter, project, pm, priority, priority_reason, status, opened_at, opening_message_id) VALUES ($1, $1, 'JAC', 's', 's', 'bob@client.example', 'default', 'pm@jac.example', $2, 'bench', 'open', $3, $4)")
            .bind(id)
            .bind(h.priority.as_str())
            .bind(h.opened_at.timestamp_millis())
            .bind(format!("o{id}@bench"))
            .execute(&mut *tx)
            .await
            .unwrap();
        for c in &h.contacts {
            sqlx::query("INSERT INTO messages (message_id, ticket_id, class, to_addrs, cc_addrs, subject, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind, promise_at, promise_text, dismissive) VALUES ($1, $2, 'contact', 'bob@client.example', $3, 's', $4, $4, '', '', 'bench', $4, 'update', $5, $6, $7)")
                .bind(&c.message_id)
                .bind(id)
                .bind(c.recipients.get(1).cloned().unwrap_or_default())
                .bind(c.at.timestamp_millis())
                .bind(c.promise.as_ref().map(|p| p.at.timestamp_millis()))
                .bind(c.promise.as_ref().map(|p| p.phrase.clone()))
                .bind(c.dismissive.clone())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
    store
}

fn main() {
    let rt = Runtime::load(None).expect("default config");
    let start = chrono_tz::Europe::London
        .with_ymd_and_hms(2026, 11, 16, 8, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let at = start + Span::days(4) + Span::hours(8);
    let t = Instant::now();
    let hs = histories(start, &rt.calendar);
    println!(
        "generated {TICKETS} tickets x {CONTACTS} contacts in {:.2?}",
        t.elapsed()
    );

    let mut runs = Vec::new();
    let mut violations = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let report = onit::compliance::report(&hs, &rt, at, None);
        runs.push(t.elapsed());
        violations = report.violations.len();
    }
    let med = median(runs.clone());
    let mut rules_only = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let evs = onit::compliance::evaluate_all(&hs, &rt, at);
        rules_only.push(t.elapsed());
        assert_eq!(evs.len(), TICKETS);
    }
    println!("rules only   median {:.0?} (evaluate_all: the eight rules and next due times, no report assembly)", median(rules_only));
    // The same decisions without the violations' sentences (what the digest's
    // rates and the stored due times ask for: `policy::rules::Details`).
    let rules = onit::compliance::Rules::new(&rt);
    let cx = rules
        .context(&rt, at)
        .with_details(onit::policy::rules::Details::Off);
    let mut decisions = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let evs = onit::compliance::evaluate_each(&hs, &cx);
        decisions.push(t.elapsed());
        assert_eq!(evs.len(), TICKETS);
    }
    println!(
        "rules only   median {:.0?} without the violations' sentences (Details::Off)",
        median(decisions)
    );
    let report = onit::compliance::report(&hs, &rt, at, None);
    let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in &report.violations {
        *by_rule.entry(v.rule).or_default() += 1;
    }
    println!("violations   by rule {by_rule:?}");
    println!(
        "evaluation   runs {:?}",
        runs.iter()
            .map(|d| format!("{:.0?}", d))
            .collect::<Vec<_>>()
    );
    println!("evaluation   median {:.0?} for {TICKETS} tickets ({} violations), {:.2} µs/ticket; target ≤ 200 ms", med, violations, med.as_secs_f64() * 1e6 / TICKETS as f64);

    if std::env::var_os("ONIT_BENCH_EVAL_ONLY").is_some() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let t = Instant::now();
        let store = load_into_sqlite(&url, &hs).await;
        println!(
            "database     wrote {} rows into SQLite in {:.1?} (set-up, not measured)",
            TICKETS * (CONTACTS + 1),
            t.elapsed()
        );
        let mut loads = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let loaded = onit::compliance::load_histories(&store, false)
                .await
                .unwrap();
            loads.push(t.elapsed());
            assert_eq!(loaded.len(), TICKETS);
        }
        println!(
            "database     load median {:.0?} (runs {:?})",
            median(loads.clone()),
            loads
                .iter()
                .map(|d| format!("{:.0?}", d))
                .collect::<Vec<_>>()
        );
        let t = Instant::now();
        let r = onit::compliance::compliance(&store, &rt, at, None)
            .await
            .unwrap();
        println!(
            "end to end   onit compliance (load + evaluate) {:.0?}, {} violations",
            t.elapsed(),
            r.violations.len()
        );
        store.close().await;
    });
}
