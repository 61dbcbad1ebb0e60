//! Times the acknowledgment's two halves in process, over two kept databases
//! in turn (`ONIT_SCALE_KEEP=1` in `cargo bench --bench scale` keeps one; an
//! empty one is any configuration whose database does not exist yet): the
//! ingest of a new client mail in its own transaction (`receive_imf`), then
//! the outbox pass that sends its acknowledgment (`Outbox::deliver_due`,
//! through the configuration's transport). No Maildir, no inotify, no daemon
//! tasks: what is left of a gap between the two is the database's.
//!
//! Run: `cargo run --release --example ack_phases -- CONFIG_A CONFIG_B [ROUNDS]`.
//! `READ_LOAD=1` runs a week of `compliance` (what the daemon's rules gauge
//! reads every 5 minutes) over both databases between rounds. The
//! configurations need `policy.ack_rate_total_per_hour` above the rounds:
//! every probe is a new sender, but all count towards the hourly total.

use std::time::Instant;

use chrono::{Duration, Utc};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One side: its configuration, store, outbox and the times measured, ms.
struct Side {
    name: String,
    rt: onit::config::Runtime,
    store: onit::store::Store,
    outbox: onit::outgoing::Outbox,
    ingest: Vec<f64>,
    send: Vec<f64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(3).map_or(50, |r| r.parse().expect("ROUNDS"));
    let read_load = std::env::var_os("READ_LOAD").is_some();
    // `SHIFT_HOURS=N` runs the rounds N hours ahead of the clock: each run then
    // starts with an empty hour of acknowledgments behind it (the rate limits
    // count the last hour's), so runs over the same databases compare.
    let shift = Duration::hours(
        std::env::var("SHIFT_HOURS")
            .ok()
            .and_then(|h| h.parse().ok())
            .unwrap_or(0),
    );
    let clock = move || Utc::now() + shift;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let mut sides = Vec::new();
        for cfg in &args[1..3] {
            let rt = onit::config::Runtime::load(Some(std::path::Path::new(cfg))).expect("config");
            let store = onit::store::Store::open(&rt.database_url, rt.max_connections)
                .await
                .expect("store");
            let outbox = onit::daemon::outbox_for(&rt, &store).expect("outbox");
            // What was waiting is sent first, outside the rounds.
            outbox.deliver_due(clock()).await.expect("deliver");
            sides.push(Side {
                name: cfg.clone(),
                rt,
                store,
                outbox,
                ingest: Vec::new(),
                send: Vec::new(),
            });
        }
        let run = format!("{}x{}", std::process::id(), Utc::now().timestamp());
        for k in 0..rounds {
            for (i, s) in sides.iter_mut().enumerate() {
                let now = clock();
                // A sender of its own each time: the flood limits count per sender and domain.
                let tag = format!("p{run}r{k}s{i}");
                let raw = format!(
                    "From: Probe <probe@{tag}.acme.example>\nTo: support@jac.example\nSubject: Latency probe {tag}\nMessage-ID: <{tag}@acme.example>\nDate: {}\n\nThe dashboard is down.\n",
                    now.to_rfc2822()
                );
                let t = Instant::now();
                onit::ingest::receive_imf(
                    &s.store,
                    &s.rt,
                    raw.as_bytes(),
                    now,
                    "ack_phases",
                    onit::ticket::Mode::Live,
                )
                .await
                .expect("ingest");
                s.ingest.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let sent = s.outbox.deliver_due(clock()).await.expect("send");
                assert!(sent.sent >= 1, "{}: no acknowledgment sent (rate limits?)", s.name);
                s.send.push(t.elapsed().as_secs_f64() * 1e3);
            }
            if read_load {
                for s in &sides {
                    let now = clock();
                    let r = onit::compliance::compliance(&s.store, &s.rt, now, Some(now - Duration::days(7)))
                        .await
                        .expect("compliance");
                    std::hint::black_box(r);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let totals: Vec<f64> = sides
            .iter()
            .map(|s| {
                let (i, d) = (median(s.ingest.clone()), median(s.send.clone()));
                println!("{}: ingest median {i:.3} ms, send median {d:.3} ms ({rounds} rounds)", s.name);
                i + d
            })
            .collect();
        println!("sum of medians, first over second: {:.2}", totals[0] / totals[1]);
    });
}
