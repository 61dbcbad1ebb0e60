//! Archives keep their dates (`onit import`): the Date header is believed unless
//! it is absent, unparsable or after the arrival evidence (the mbox `From ` line,
//! the topmost `Received:` header, and only then the file's mtime: the day of export).

use chrono::{DateTime, TimeZone, Utc};

use crate::common::{Env, BOTH};

fn utc(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 10, d, h, mi, 0).unwrap()
}

fn msg(id: &str, date: &str, received: Option<&str>) -> String {
    let received = received
        .map(|r| format!("Received: from mx.acme.example by mx.jac.example; {r}\n"))
        .unwrap_or_default();
    format!(
        "{received}From: bob@acme{id}.example\nTo: support@jac.example\nSubject: Outage {id}\nDate: {date}\nMessage-ID: <{id}@acme.example>\n\nIt is down.\n"
    )
}

#[tokio::test]
async fn import_believes_old_dates_and_not_dates_after_arrival() {
    for db in BOTH {
        let env = Env::new(db, "");
        let rt = env.runtime();
        let store = env.store().await;
        let dir = env.dir.path().join("export");
        std::fs::create_dir_all(&dir).unwrap();
        // Exported today (mtime now), written in 2020: the Date counts, not the export day.
        std::fs::write(
            dir.join("a.eml"),
            msg("a", "Thu, 1 Oct 2020 09:00:00 +0000", None),
        )
        .unwrap();
        // A Date after the server received it: the Received time counts.
        std::fs::write(
            dir.join("b.eml"),
            msg(
                "b",
                "Mon, 5 Oct 2020 12:00:00 +0000",
                Some("Fri, 2 Oct 2020 08:00:00 +0000"),
            ),
        )
        .unwrap();
        // mbox: a Date within minutes before the `From ` line is believed; an unparsable one is not.
        let mbox = format!(
            "From bob@acmec.example Sat Oct  3 10:00:00 2020\n{}\nFrom bob@acmed.example Sun Oct  4 11:00:00 2020\n{}",
            msg("c", "Sat, 3 Oct 2020 09:59:00 +0000", None),
            msg("d", "yesterday-ish", None)
        );
        std::fs::write(dir.join("e.mbox"), mbox).unwrap();
        let counts = onit::import::import(&store, &rt, &[dir]).await.unwrap();
        assert_eq!(counts.tickets, 4, "{db:?}: {counts:?}");
        let mut opened: Vec<DateTime<Utc>> = Vec::new();
        for n in 1..=4 {
            let t = store.ticket_by_number(n).await.unwrap().unwrap();
            let first = store.events(t.id).await.unwrap()[0].at;
            opened.push(DateTime::from_timestamp_millis(first).unwrap());
        }
        // Tickets are numbered in time order.
        assert_eq!(
            opened,
            vec![utc(1, 9, 0), utc(2, 8, 0), utc(3, 9, 59), utc(4, 11, 0)],
            "{db:?}"
        );
        store.close().await;
    }
}
