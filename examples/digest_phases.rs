//! Times a daily digest's phases over a kept database (`ONIT_SCALE_KEEP=1` in
//! `cargo bench --bench scale`): the period's tickets (`Store::digest_period`),
//! the whole load, and the build of every PM's digest.
//!
//! Run: `cargo run --release --example digest_phases -- CONFIG AT [REPS]`
//! (`AT` in RFC 3339); `BUILD_ONLY=1` loads once and builds `REPS` times.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cfg = std::path::PathBuf::from(&args[1]);
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&args[2])
        .expect("AT: RFC 3339")
        .with_timezone(&Utc);
    let reps: usize = args.get(3).map_or(5, |r| r.parse().expect("REPS"));
    let rt = onit::config::Runtime::load(Some(&cfg)).expect("config");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let store = onit::store::Store::open(&rt.database_url, rt.max_connections)
            .await
            .expect("store");
        let since = at - Duration::days(1);
        let build = |inputs: &onit::digest::Inputs| {
            let reqs = inputs.requests(onit::digest::Kind::Daily, at, since);
            std::hint::black_box(onit::digest::build_each(inputs, &rt, &reqs));
        };
        if std::env::var_os("BUILD_ONLY").is_some() {
            let inputs =
                onit::digest::Inputs::load(&store, &rt, onit::digest::Kind::Daily, since, at)
                    .await
                    .expect("inputs");
            let mut b = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                build(&inputs);
                b.push(ms(t));
            }
            println!("build median {:.1} ms {b:.1?}", median(b.clone()));
            return;
        }
        let from = since - Duration::weeks(1) - rt.policy.promise_grace;
        let (mut idt, mut loadt, mut bt) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let t = Instant::now();
            let period = store.digest_period(from, at).await.expect("period");
            idt.push(ms(t));
            std::hint::black_box(period);
            let t = Instant::now();
            let inputs =
                onit::digest::Inputs::load(&store, &rt, onit::digest::Kind::Daily, since, at)
                    .await
                    .expect("inputs");
            loadt.push(ms(t));
            let t = Instant::now();
            build(&inputs);
            bt.push(ms(t));
        }
        println!(
            "period's tickets {:.1} | load {:.1} | build {:.1} | digest {:.1} (medians of {reps}, ms)",
            median(idt),
            median(loadt.clone()),
            median(bt.clone()),
            median(loadt.iter().zip(&bt).map(|(a, b)| a + b).collect())
        );
    });
}
