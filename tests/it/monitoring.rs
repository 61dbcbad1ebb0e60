//! Monitoring alerts are owned (issue 16 item 2), on SQLite and PostgreSQL:
//! mail in the real formats of Alertmanager's default e-mail template, a
//! Grafana alert and cron opens one internal ticket per alert, marked
//! `monitoring`, never acknowledged; a proven resolved notification resolves
//! it, a forged one does not; nobody attending to it within
//! `monitoring.own_within_mins` reminds the team; `#owner` takes it; the PM's
//! digest lists unowned alerts first; no client rule counts it.
//!
//! The sample mails are written here in each system's format (headers, MIME
//! structure, subject prefixes, the body's wording), not copied from anywhere.

use chrono::{DateTime, Utc};
use onit::config::Runtime;
use onit::ingest::{receive_imf, Disposition, Mode, Outcome};
use onit::store::Store;

use crate::common::{at, expect_ok, feed, onit_command, stamped, Env, Mail, BOTH};

const CONFIG: &str = r#"
[monitoring]
senders = ["alertmanager@ops.jac.example", "grafana.jac.example", "root@db-1.jac.example"]
own_within_mins = 30
"#;

/// Alertmanager's default e-mail (`email.default.subject` / `email.default.html`):
/// multipart/alternative with the HTML part only (the default `text` is empty),
/// quoted-printable, subject `[FIRING:n] <group labels> (<common labels>)`.
fn alertmanager(firing: bool, id: &str, date: DateTime<Utc>) -> Vec<u8> {
    let (subject, banner, section, colour) = if firing {
        (
            "[FIRING:2] HighLatency (api prod)",
            "2 alerts for alertname=3DHighLatency",
            "[2] Firing",
            "#E6522C",
        )
    } else {
        (
            "[RESOLVED] HighLatency (api prod)",
            "2 alerts for alertname=3DHighLatency",
            "[2] Resolved",
            "#68B90F",
        )
    };
    let mut alerts = String::new();
    for instance in ["api-1:9100", "api-2:9100"] {
        alerts.push_str(&format!(
            "<tr><td class=3D\"content-block\" valign=3D\"top\">\r\n\
             <strong>Labels</strong><br>alertname =3D HighLatency<br>env =3D prod<br>instance =3D {instance}<br>job =3D api<br>\r\n\
             <strong>Annotations</strong><br>summary =3D p99 latency above 2s for 10 minutes<br>\r\n\
             <a href=3D\"http://prometheus.ops.jac.example:9090/graph?g0.expr=3Dhistogram_quantile\">Source</a><br>\r\n\
             </td></tr>\r\n"
        ));
    }
    format!(
        "From: alertmanager@ops.jac.example\r\n\
         To: support@jac.example\r\n\
         Subject: {subject}\r\n\
         Message-Id: <{id}>\r\n\
         Date: {date}\r\n\
         Content-Type: multipart/alternative;  boundary=b1f0c2a9e3d4\r\n\
         MIME-Version: 1.0\r\n\
         \r\n\
         --b1f0c2a9e3d4\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         Content-Type: text/html; charset=UTF-8\r\n\
         \r\n\
         <!DOCTYPE html>\r\n<html><head><title>{subject}</title></head>\r\n\
         <body><table class=3D\"main\" width=3D\"100%\">\r\n\
         <tr><td class=3D\"alert\" style=3D\"background-color: {colour};\">{banner} </td></tr>\r\n\
         <tr><td class=3D\"content-wrap\"><table width=3D\"100%\">\r\n\
         <tr><td><a href=3D\"http://alertmanager.ops.jac.example:9093/#/alerts?receiver=3Dsupport\">View in AlertManager</a></td></tr>\r\n\
         <tr><td><strong>{section}</strong></td></tr>\r\n\
         {alerts}\
         </table></td></tr></table>\r\n\
         <div class=3D\"footer\"><a href=3D\"http://alertmanager.ops.jac.example:9093\">Sent by AlertManager</a></div>\r\n\
         </body></html>\r\n\
         \r\n\
         --b1f0c2a9e3d4--\r\n",
        date = date.to_rfc2822(),
    )
    .into_bytes()
}

/// A Grafana (unified alerting) e-mail: text and HTML parts, subject from its
/// default title `[FIRING:n] <group labels> (<common labels>)`.
fn grafana(firing: bool, id: &str, date: DateTime<Utc>) -> Vec<u8> {
    let (status, subject, what) = if firing {
        (
            "Firing",
            "[FIRING:1] DiskFull (db-2 /var)",
            "1 firing alert instance",
        )
    } else {
        (
            "Resolved",
            "[RESOLVED] DiskFull (db-2 /var)",
            "1 resolved alert instance",
        )
    };
    format!(
        "From: \"Grafana\" <alerts@grafana.jac.example>\r\n\
         To: support@jac.example\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{id}>\r\n\
         Date: {date}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"gf-7d1e\"\r\n\
         \r\n\
         --gf-7d1e\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         \r\n\
         {what}\r\n\
         \r\n\
         {status}\r\n\
         Value: B=93.4\r\n\
         Labels:\r\n\
          - alertname = DiskFull\r\n\
          - grafana_folder = Databases\r\n\
          - host = db-2\r\n\
          - mountpoint = /var\r\n\
         Annotations:\r\n\
          - summary = /var on db-2 is over 90% full\r\n\
         Source: https://grafana.jac.example/alerting/grafana/dfk2/view\r\n\
         Silence: https://grafana.jac.example/alerting/silence/new?alertmanager=grafana\r\n\
         \r\n\
         --gf-7d1e\r\n\
         Content-Type: text/html; charset=UTF-8\r\n\
         \r\n\
         <html><body><h2>{what}</h2><h3>{status}</h3><p>Value: B=93.4</p>\r\n\
         <p>Labels: alertname = DiskFull, host = db-2, mountpoint = /var</p>\r\n\
         <p><a href=\"https://grafana.jac.example/alerting/grafana/dfk2/view\">View alert</a></p>\r\n\
         </body></html>\r\n\
         --gf-7d1e--\r\n",
        date = date.to_rfc2822(),
    )
    .into_bytes()
}

/// A cron job's mail (Debian's cron: `Cron <user@host> command`, the job's output as body).
fn cron(command: &str, id: &str, date: DateTime<Utc>) -> Vec<u8> {
    format!(
        "From: Cron Daemon <root@db-1.jac.example>\r\n\
         To: support@jac.example\r\n\
         Subject: Cron <root@db-1> {command}\r\n\
         Message-ID: <{id}>\r\n\
         Date: {date}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         X-Cron-Env: <SHELL=/bin/sh>\r\n\
         X-Cron-Env: <HOME=/root>\r\n\
         X-Cron-Env: <LOGNAME=root>\r\n\
         \r\n\
         pg_dump: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory\r\n\
         backup.sh: dump failed, nothing uploaded\r\n",
        date = date.to_rfc2822(),
    )
    .into_bytes()
}

/// Ingests raw mail as live mail that arrived at `when`; `proven`: stamped by our border server.
async fn feed_raw(
    store: &Store,
    rt: &Runtime,
    raw: Vec<u8>,
    proven: bool,
    when: DateTime<Utc>,
) -> Outcome {
    let raw = if proven { stamped(&raw) } else { raw };
    receive_imf(store, rt, &raw, when, "test", Mode::Live)
        .await
        .expect("ingest")
}

async fn ticket_json(env: &Env, id: &str) -> serde_json::Value {
    let out = expect_ok(
        &["ticket"],
        onit_command(env, &["ticket", id, "--json"])
            .output()
            .unwrap(),
    );
    serde_json::from_str(&out).unwrap()
}

fn kinds(v: &serde_json::Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn alertmanager_firing_then_resolved_is_one_internal_ticket_its_source_resolves() {
    for db in BOTH {
        let env = Env::new(db, CONFIG);
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        let out = feed_raw(
            &store,
            &rt,
            alertmanager(true, "am1@alertmanager-0", t0),
            true,
            t0,
        )
        .await;
        assert_eq!(out.disposition, Disposition::NewTicket, "{db:?}: {out:?}");
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
        assert!(!out.ack_queued);
        let v = ticket_json(&env, "JAC-1").await;
        assert_eq!(v["monitoring"], true, "{v}");
        assert_eq!(v["owner"], serde_json::Value::Null, "{v}");
        assert_eq!(v["alert_source"], "alertmanager@ops.jac.example");
        assert_eq!(v["alert_key"], "highlatency (api prod)");
        assert_eq!(
            v["next_due_at"],
            serde_json::Value::Null,
            "nothing is due to a client"
        );
        assert_eq!(v["messages"][0]["class"], "monitoring");

        // Resolved, from the same source, proven: the loop is closed.
        let t1 = at(2026, 11, 26, 10, 20);
        let out = feed_raw(
            &store,
            &rt,
            alertmanager(false, "am2@alertmanager-0", t1),
            true,
            t1,
        )
        .await;
        assert_eq!(out.disposition, Disposition::Threaded, "{out:?}");
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"));
        let v = ticket_json(&env, "JAC-1").await;
        assert_eq!(v["status"], "resolved", "{v}");
        let k = kinds(&v);
        assert!(k.contains(&"alert_resolved".to_string()), "{k:?}");
        let resolved = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "alert_resolved")
            .unwrap();
        assert!(
            resolved["detail"]
                .as_str()
                .unwrap()
                .contains("resolved by its source"),
            "{resolved}"
        );

        // It fires again: the same ticket reopens (one place for the alert's history).
        let t2 = at(2026, 11, 26, 11, 0);
        let out = feed_raw(
            &store,
            &rt,
            alertmanager(true, "am3@alertmanager-0", t2),
            true,
            t2,
        )
        .await;
        assert_eq!(out.ticket.as_deref(), Some("JAC-1"), "{out:?}");
        let v = ticket_json(&env, "JAC-1").await;
        assert_eq!(v["status"], "open");
        assert_eq!(
            kinds(&v).iter().filter(|k| *k == "alert").count(),
            3,
            "{:?}",
            kinds(&v)
        );

        // No backscatter of any kind: nothing queued to anyone.
        let outbox = store.outbox_all().await.unwrap();
        assert!(outbox.is_empty(), "{db:?}: {outbox:?}");

        // A person closes it: the report goes to the PM, never to the monitoring system.
        let close = Mail::new(
            "dan@jac.example",
            "support@jac.example",
            "Re: [FIRING:2] HighLatency (api prod) [JAC-1]",
            "n1@jac.example",
        )
        .h("Date", &at(2026, 11, 26, 12, 0).to_rfc2822())
        .body("#cause connection pool exhausted\n#resolution pool raised to 50\n#prevention alert on pool use\n#close\n");
        feed(&store, &rt, &close, at(2026, 11, 26, 12, 0)).await;
        assert_eq!(ticket_json(&env, "JAC-1").await["status"], "closed");
        let outbox = store.outbox_all().await.unwrap();
        let report: Vec<_> = outbox
            .iter()
            .filter(|o| o.kind.as_str() == "report")
            .collect();
        assert_eq!(report.len(), 1, "{db:?}: {outbox:?}");
        assert_eq!(report[0].rcpt_to, "pm@jac.example", "{db:?}");
        assert!(outbox
            .iter()
            .all(|o| !o.rcpt_to.contains("ops.jac.example")));
        // After a person closed it, a new firing opens a new ticket.
        let t3 = at(2026, 11, 26, 13, 0);
        let out = feed_raw(
            &store,
            &rt,
            alertmanager(true, "am4@alertmanager-0", t3),
            true,
            t3,
        )
        .await;
        assert_eq!(out.disposition, Disposition::NewTicket, "{out:?}");
        assert_eq!(out.ticket.as_deref(), Some("JAC-2"));
        store.close().await;
    }
}

#[tokio::test]
async fn a_forged_resolved_does_not_close_and_a_forged_alert_is_not_lost() {
    for db in BOTH {
        let env = Env::new(db, CONFIG);
        let rt = env.runtime();
        let store = env.store().await;
        let t0 = at(2026, 11, 26, 10, 0);
        feed_raw(
            &store,
            &rt,
            alertmanager(true, "am1@alertmanager-0", t0),
            true,
            t0,
        )
        .await;
        // Someone forges Alertmanager's "resolved" (no Authentication-Results of ours).
        let t1 = at(2026, 11, 26, 10, 5);
        let out = feed_raw(
            &store,
            &rt,
            alertmanager(false, "fake@evil.example", t1),
            false,
            t1,
        )
        .await;
        assert_eq!(
            out.ticket.as_deref(),
            Some("JAC-1"),
            "{db:?}: threaded all the same"
        );
        let v = ticket_json(&env, "JAC-1").await;
        assert_eq!(
            v["status"], "open",
            "{db:?}: an unproven resolved must not close: {v}"
        );
        assert!(!kinds(&v).contains(&"alert_resolved".to_string()));
        let forged = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|e| e["kind"] == "alert")
            .unwrap()
            .clone();
        assert!(
            forged["detail"].as_str().unwrap().contains("unproven"),
            "{forged}"
        );
        assert_ne!(forged["auth"], "pass", "{forged}");
        // The real one resolves it.
        let t2 = at(2026, 11, 26, 10, 10);
        feed_raw(
            &store,
            &rt,
            alertmanager(false, "am2@alertmanager-0", t2),
            true,
            t2,
        )
        .await;
        assert_eq!(ticket_json(&env, "JAC-1").await["status"], "resolved");
        // A forged firing of another alert still opens its ticket, marked unproven.
        let t3 = at(2026, 11, 26, 10, 15);
        let out = feed_raw(&store, &rt, grafana(true, "g1@grafana", t3), false, t3).await;
        assert_eq!(out.disposition, Disposition::NewTicket);
        let v = ticket_json(&env, "JAC-2").await;
        assert_eq!(v["monitoring"], true);
        let alert = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "alert")
            .unwrap()
            .clone();
        assert!(
            alert["detail"]
                .as_str()
                .unwrap()
                .starts_with("firing (unproven)"),
            "{alert}"
        );
        assert!(store.outbox_all().await.unwrap().is_empty(), "{db:?}");
        // Forged alerts cannot open tickets without limit: past the flood limit of one
        // sender (10 an hour) they are held, kept whole, not lost.
        let mut held = 0;
        for i in 0..11 {
            let raw = String::from_utf8(grafana(true, &format!("f{i}@grafana"), t3))
                .unwrap()
                .replace("DiskFull", &format!("Forged{i}"));
            let out = feed_raw(&store, &rt, raw.into_bytes(), false, t3).await;
            if out.disposition == Disposition::Held {
                held += 1;
            }
        }
        assert_eq!(held, 2, "{db:?}: 1 + 11 unproven openings, 10 an hour");
        assert!(store
            .outbox_all()
            .await
            .unwrap()
            .iter()
            .all(|o| o.kind.as_str() == "alert"));
        store.close().await;
    }
}

#[tokio::test]
async fn a_group_key_header_groups_mail_whose_subjects_differ() {
    for db in BOTH {
        let env = Env::new(db, CONFIG);
        let rt = env.runtime();
        let store = env.store().await;
        // A template that shows the group key (`headers:` in Alertmanager's email_config).
        let with_key = |raw: Vec<u8>, subject: Option<&str>| {
            let mut text = String::from_utf8(raw).unwrap().replacen(
                "Date:",
                "X-Alertmanager-Group-Key: {}/{env=\"prod\"}:{alertname=\"HighLatency\"}\r\nDate:",
                1,
            );
            if let Some(s) = subject {
                text = text.replacen("[RESOLVED] HighLatency (api prod)", s, 1);
            }
            text.into_bytes()
        };
        let t0 = at(2026, 11, 26, 10, 0);
        let a = feed_raw(
            &store,
            &rt,
            with_key(alertmanager(true, "k1@am", t0), None),
            true,
            t0,
        )
        .await;
        // The common labels changed, so the subject did; the group did not.
        let t1 = at(2026, 11, 26, 10, 30);
        let resolved = with_key(
            alertmanager(false, "k2@am", t1),
            Some("[RESOLVED] HighLatency (prod)"),
        );
        let b = feed_raw(&store, &rt, resolved, true, t1).await;
        assert_eq!(a.ticket, b.ticket, "{db:?}: {b:?}");
        let v = ticket_json(&env, "JAC-1").await;
        assert_eq!(v["status"], "resolved", "{v}");
        assert!(
            v["alert_key"].as_str().unwrap().starts_with("groupkey {}/"),
            "{v}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn grafana_and_cron_mail_thread_by_their_own_keys() {
    for db in BOTH {
        let env = Env::new(db, CONFIG);
        let rt = env.runtime();
        let store = env.store().await;
        let t = |m: u32| at(2026, 11, 26, 9, m);
        let g1 = feed_raw(&store, &rt, grafana(true, "g1@grafana", t(0)), true, t(0)).await;
        let c1 = feed_raw(
            &store,
            &rt,
            cron("/usr/local/bin/backup.sh", "c1@db-1", t(1)),
            true,
            t(1),
        )
        .await;
        let c2 = feed_raw(
            &store,
            &rt,
            cron("/usr/local/bin/backup.sh", "c2@db-1", t(2)),
            true,
            t(2),
        )
        .await;
        let c3 = feed_raw(
            &store,
            &rt,
            cron("/usr/local/bin/rotate.sh", "c3@db-1", t(3)),
            true,
            t(3),
        )
        .await;
        let g2 = feed_raw(&store, &rt, grafana(false, "g2@grafana", t(4)), true, t(4)).await;
        let tickets: Vec<Option<&str>> = [&g1, &c1, &c2, &c3, &g2]
            .iter()
            .map(|o| o.ticket.as_deref())
            .collect();
        assert_eq!(
            tickets,
            [
                Some("JAC-1"),
                Some("JAC-2"),
                Some("JAC-2"),
                Some("JAC-3"),
                Some("JAC-1")
            ],
            "{db:?}"
        );
        let grafana_ticket = ticket_json(&env, "JAC-1").await;
        assert_eq!(grafana_ticket["status"], "resolved");
        assert_eq!(grafana_ticket["alert_source"], "grafana.jac.example");
        let cron_ticket = ticket_json(&env, "JAC-2").await;
        assert_eq!(cron_ticket["monitoring"], true);
        assert_eq!(cron_ticket["status"], "open", "a cron mail never resolves");
        assert_eq!(
            cron_ticket["alert_key"],
            "cron <root@db-1> /usr/local/bin/backup.sh"
        );
        // root@db-1.jac.example is at a team (sub)domain: an alert all the same, never team mail.
        assert_eq!(cron_ticket["messages"][0]["class"], "monitoring");
        assert!(store.outbox_all().await.unwrap().is_empty(), "{db:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn an_unattended_alert_reminds_the_team_and_owner_takes_it() {
    for db in BOTH {
        let env = Env::new(db, CONFIG);
        let rt = env.runtime();
        let store = env.store().await;
        let t = |h: u32, m: u32| at(2026, 11, 26, h, m);
        // JAC-1: nobody attends. JAC-2: dan takes it. JAC-3: a note, no owner.
        feed_raw(
            &store,
            &rt,
            alertmanager(true, "am1@alertmanager-0", t(10, 0)),
            true,
            t(10, 0),
        )
        .await;
        feed_raw(
            &store,
            &rt,
            grafana(true, "g1@grafana", t(10, 5)),
            true,
            t(10, 5),
        )
        .await;
        feed_raw(
            &store,
            &rt,
            cron("/usr/local/bin/backup.sh", "c1@db-1", t(10, 10)),
            true,
            t(10, 10),
        )
        .await;
        // A client ticket beside them, answered as the policy wants.
        let client = Mail::new(
            "bob@acme.example",
            "support@jac.example",
            "Checkout page is down",
            "c1@acme.example",
        )
        .h("Date", &t(10, 12).to_rfc2822());
        feed(&store, &rt, &client, t(10, 12)).await;
        let owner = Mail::new(
            "dan@jac.example",
            "support@jac.example",
            "Re: [FIRING:1] DiskFull (db-2 /var) [JAC-2]",
            "n1@jac.example",
        )
        .h("Date", &t(10, 20).to_rfc2822())
        .body("I'm on it: clearing old WAL files.\n#owner\n");
        feed(&store, &rt, &owner, t(10, 20)).await;
        let note = Mail::new(
            "erin@jac.example",
            "support@jac.example",
            "Re: Cron <root@db-1> /usr/local/bin/backup.sh [JAC-3]",
            "n2@jac.example",
        )
        .h("Date", &t(10, 15).to_rfc2822())
        .body("Looking at the backup failure now.\n");
        feed(&store, &rt, &note, t(10, 15)).await;

        let tick = |h: u32, m: u32| {
            let store = store.clone();
            let rt = rt.clone();
            async move { onit::reminders::tick(&store, &rt, t(h, m)).await.unwrap() }
        };
        assert_eq!(tick(10, 29).await.ownership, 0, "{db:?}: not yet");
        assert_eq!(
            tick(10, 30).await.ownership,
            1,
            "{db:?}: JAC-1, 30 minutes on"
        );
        assert_eq!(
            tick(10, 36).await.ownership,
            0,
            "once per firing; JAC-2 is owned"
        );
        assert_eq!(tick(10, 41).await.ownership, 0, "JAC-3 was attended to");
        let reminders: Vec<_> = store
            .outbox_all()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind.as_str() == "reminder")
            .collect();
        assert_eq!(reminders.len(), 1, "{db:?}: {reminders:?}");
        // To the team (team.reminders_to is empty: the listed engineers), never a client.
        assert_eq!(reminders[0].rcpt_to, "contractor@freelance.example");
        let r = onit::message::MailView::parse(&reminders[0].raw).unwrap();
        assert!(r.subject.contains("[JAC-1]"), "{}", r.subject);
        assert!(r.body.contains("#owner"), "{}", r.body);
        // No acknowledgment for any alert; the client's ticket got its own.
        let acks: Vec<_> = store
            .outbox_all()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind.as_str() == "ack")
            .collect();
        assert_eq!(acks.len(), 1, "{db:?}");
        assert!(
            acks[0].rcpt_to.starts_with("bob@acme.example"),
            "{}",
            acks[0].rcpt_to
        );

        // The 16:00 list of tickets with no contact today is client work: no alert on it.
        assert!(tick(16, 0).await.open_list, "{db:?}");
        let list = store
            .outbox_all()
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.kind.as_str() == "open_list")
            .unwrap();
        let list = onit::message::MailView::parse(&list.raw).unwrap().body;
        assert!(list.contains("JAC-4"), "{list}");
        for alert in ["JAC-1 ", "JAC-2 ", "JAC-3 "] {
            assert!(!list.contains(alert), "{alert} in {list}");
        }

        let v = ticket_json(&env, "JAC-2").await;
        assert_eq!(v["owner"], "dan@jac.example", "{v}");
        let owned = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "owner")
            .unwrap()
            .clone();
        assert_eq!(owned["detail"], "dan@jac.example took ownership");
        // `#owner ADDRESS` names a colleague; someone outside the team cannot be named.
        let named = Mail::new(
            "erin@jac.example",
            "support@jac.example",
            "Re: backup [JAC-3]",
            "n3@jac.example",
        )
        .h("Date", &t(11, 0).to_rfc2822())
        .body("#owner bob@acme.example\n#owner eng2@jac.example\n");
        feed(&store, &rt, &named, t(11, 0)).await;
        let v = ticket_json(&env, "JAC-3").await;
        assert_eq!(v["owner"], "eng2@jac.example", "{v}");
        assert!(kinds(&v).contains(&"command_invalid".to_string()));
        // The command line names one too.
        expect_ok(
            &["ticket", "set", "owner"],
            onit_command(
                &env,
                &["ticket", "JAC-3", "set", "owner", "dan@jac.example"],
            )
            .output()
            .unwrap(),
        );
        assert_eq!(ticket_json(&env, "JAC-3").await["owner"], "dan@jac.example");

        // Client rules do not count the alerts: at 17:30 the client ticket is
        // checked (its eod-update broke) and no alert appears, though none had a contact.
        let hs = onit::compliance::load_histories(&store, false)
            .await
            .unwrap();
        let ids: Vec<&str> = hs.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["JAC-4"], "{db:?}");
        let report = onit::compliance::report(&hs, &rt, t(17, 30), None);
        assert!(
            report.violations.iter().all(|v| v.ticket == "JAC-4"),
            "{:?}",
            report.violations
        );
        assert!(
            report.violations.iter().any(|v| v.rule == "eod-update"),
            "the rules ran: {:?}",
            report.violations
        );
        let cli = expect_ok(
            &["compliance"],
            onit_command(
                &env,
                &["compliance", "--json", "--at", "2026-11-26T17:30:00Z"],
            )
            .output()
            .unwrap(),
        );
        assert!(!cli.contains("JAC-1") && !cli.contains("JAC-2"), "{cli}");

        // The PM's digest lists the unowned alert first (JAC-2 and JAC-3 are owned now).
        let since = onit::digest::previous_period(&rt, onit::digest::Kind::Daily, t(17, 0))
            .unwrap()
            .at;
        let inputs =
            onit::digest::Inputs::load(&store, &rt, onit::digest::Kind::Daily, since, t(17, 0))
                .await
                .unwrap();
        let d = onit::digest::build(
            &inputs,
            &rt,
            &onit::digest::Request {
                kind: onit::digest::Kind::Daily,
                pm: "pm@jac.example".into(),
                at: t(17, 0),
                since,
                sent_late: None,
            },
        );
        let listed: Vec<&str> = d.unowned_alerts.iter().map(|a| a.ticket.as_str()).collect();
        assert_eq!(listed, ["JAC-1"], "{db:?}: owned alerts are not listed");
        assert!(
            d.open_tickets.iter().all(|o| !o.id.starts_with("JAC-1")),
            "an alert is not a client ticket"
        );
        let (text, html) = onit::digest::render(&d).unwrap();
        let first = text
            .find("MONITORING ALERTS WITH NO OWNER (1)")
            .expect(&text);
        assert!(first < text.find("RULES BROKEN").unwrap(), "{text}");
        assert!(text.contains("JAC-1  opened Thu 26 Nov 10:00"), "{text}");
        assert!(text.contains("HighLatency (api prod)"), "{text}");
        assert!(html.contains("id=\"unowned-alerts\""), "{html}");
        store.close().await;
    }
}

#[test]
fn check_config_refuses_a_monitoring_sender_that_covers_the_team() {
    for (senders, key) in [
        (r#"["jac.example"]"#, "monitoring.senders[0]"),
        (
            r#"["grafana.jac.example", "dan@jac.example x"]"#,
            "monitoring.senders[1]",
        ),
        (r#"["support@jac.example"]"#, "monitoring.senders[0]"),
    ] {
        let env = Env::new(
            crate::common::Db::Sqlite,
            &format!("[monitoring]\nsenders = {senders}\n"),
        );
        let out = onit_command(&env, &["check-config"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{senders}: {err}");
        assert!(err.contains(key), "{senders}: {err}");
    }
    let env = Env::new(crate::common::Db::Sqlite, CONFIG);
    let out = onit_command(&env, &["check-config"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
