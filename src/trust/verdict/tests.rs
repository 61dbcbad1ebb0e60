use super::*;
use crate::trust::{AckTrust, TeamTrust};

fn trust() -> Trust {
    let ids = vec!["mx.jac.example".to_string()];
    Trust {
        receiving_hosts: crate::trust::default_receiving_hosts(&ids),
        authserv_ids: ids,
        folders: vec!["Sent".into()],
        team: TeamTrust::Authenticated,
        acknowledge: AckTrust::Authenticated,
    }
}

/// Judges a header block as the parser would read it (the From: address given apart).
fn judge_headers(headers: &str, from: &str) -> Authentication {
    judge_headers_with(headers, from, &trust())
}

fn judge_headers_with(headers: &str, from: &str, trust: &Trust) -> Authentication {
    let raw = format!("{headers}\r\n\r\nbody\r\n");
    let unfolded = raw.replace("\r\n ", " ").replace("\r\n\t", " ");
    let fields: Vec<(&str, &str)> = unfolded
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let mut facts = SenderFacts::from_headers(fields.into_iter());
    facts.from_fields = facts.from_fields.max(1);
    facts.from_mailboxes = 1;
    let from = EmailAddress::parse(from).unwrap();
    judge(&facts, Some(&from), None, trust)
}

const OUR_HOP: &str =
    "Received: from mail.jac.example (mail.jac.example [192.0.2.1]) by mx.jac.example (Postfix) with ESMTPS id 1; Thu, 26 Nov 2026 10:00:00 +0000";

#[test]
fn trusted_dmarc_pass_is_pass_and_an_untrusted_id_is_ignored() {
    let a = judge_headers(
        &format!("Authentication-Results: mx.jac.example; dmarc=pass header.from=jac.example\r\n{OUR_HOP}"),
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass, "{a:?}");
    assert!(a.how.contains("dmarc=pass"), "{a:?}");
    let a = judge_headers(
        &format!("Authentication-Results: mx.evil.example; dmarc=pass header.from=jac.example\r\n{OUR_HOP}"),
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::None, "{a:?}");
    // The authserv-id is matched whole, case aside.
    let a = judge_headers(
        "Authentication-Results: MX.JAC.EXAMPLE; dkim=pass header.d=jac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass);
    let a = judge_headers(
        "Authentication-Results: x.mx.jac.example; dkim=pass header.d=jac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::None);
}

#[test]
fn dmarc_fail_is_fail_even_with_a_dkim_pass_for_another_domain() {
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=evil.example; dmarc=fail header.from=jac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Fail, "{a:?}");
}

#[test]
fn dkim_pass_for_another_domain_is_not_aligned() {
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; dkim=pass header.d=evil.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::None, "{a:?}");
    assert!(a.how.contains("not aligned"), "{a:?}");
    // A subdomain of the From: domain aligns (relaxed), a look-alike does not.
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; dkim=pass header.d=mail.jac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass);
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; dkim=pass header.d=notjac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::None);
    // header.i stands in for header.d.
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; dkim=pass header.i=@jac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass);
}

#[test]
fn spf_pass_alone_is_none_but_allows_an_acknowledgment() {
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; spf=pass smtp.mailfrom=bob@client.example",
        "bob@client.example",
    );
    assert_eq!(a.verdict, Verdict::None, "{a:?}");
    assert!(a.spf_aligned && a.allows_acknowledgment(), "{a:?}");
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; spf=pass smtp.mailfrom=bounce@spammer.example",
        "bob@client.example",
    );
    assert!(!a.allows_acknowledgment(), "{a:?}");
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; spf=fail smtp.mailfrom=bob@client.example",
        "bob@client.example",
    );
    assert_eq!(a.verdict, Verdict::Fail);
}

#[test]
fn several_fields_the_topmost_trusted_result_per_method_counts() {
    // Our border said dkim=fail; a look-alike below it says pass: the border wins.
    let a = judge_headers(
        &format!("{OUR_HOP}\r\nAuthentication-Results: mx.jac.example; dkim=fail header.d=jac.example\r\nAuthentication-Results: mx.jac.example; dkim=pass header.d=jac.example; dmarc=pass"),
        "eng1@jac.example",
    );
    // The look-alike may add a method the border did not report (dmarc), which is why
    // borders should report all of them; dkim stays the border's.
    assert_eq!(a.verdict, Verdict::Pass);
    assert!(a.how.starts_with("dmarc"), "{a:?}");
    let a = judge_headers(
        &format!("{OUR_HOP}\r\nAuthentication-Results: mx.jac.example; dkim=fail header.d=jac.example; dmarc=fail header.from=jac.example\r\nAuthentication-Results: mx.jac.example; dkim=pass header.d=jac.example; dmarc=pass"),
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Fail, "{a:?}");
    // OpenDKIM and OpenDMARC write one field each: both count.
    let a = judge_headers(
        "Authentication-Results: mx.jac.example; dmarc=none header.from=jac.example\r\nAuthentication-Results: mx.jac.example; dkim=pass header.d=jac.example",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass, "{a:?}");
}

#[test]
fn a_field_below_a_hop_from_outside_is_ignored() {
    // Gmail's layout: our entry hop, then our field: counted.
    let a = judge_headers(
        &format!(
            "{OUR_HOP}\r\nAuthentication-Results: mx.jac.example; dkim=pass header.d=jac.example"
        ),
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass);
    // The same field below the sender's own hop was written before it reached us.
    let a = judge_headers(
        &format!("{OUR_HOP}\r\nReceived: from laptop (laptop [10.0.0.2]) by smtp.evil.example; Thu, 26 Nov 2026 09:59:00 +0000\r\nAuthentication-Results: mx.jac.example; dkim=pass header.d=jac.example; dmarc=pass"),
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::None, "{a:?}");
    // A local hop without `from` (Gmail's internal one) is no boundary.
    let a = judge_headers(
        &format!("Received: by 2002:a05:6a10:a0d0::1 with SMTP id k16; Thu, 26 Nov 2026 10:00:01 +0000\r\n{OUR_HOP}\r\nAuthentication-Results: mx.jac.example; dkim=pass header.d=jac.example"),
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass);
}

#[test]
fn postfix_with_opendkim_writes_above_the_entry_hop_and_a_look_alike_below_it_is_ignored() {
    // As the test mail stack delivers a forged mail (issue 11's DKIM test saw this order).
    let mut t = trust();
    t.receiving_hosts = vec!["mail.jac.example".into()];
    let a = judge_headers_with(
        "Received: from mail.jac.example by mail.jac.example with LMTP id 9; Thu, 26 Nov 2026 10:00:01 +0000\r\n\
         Authentication-Results: mx.jac.example; dkim=none\r\n\
         Received: from localhost (localhost [127.0.0.1]) by mail.jac.example (Postfix) with ESMTP id 1; Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         Authentication-Results: mx.jac.example; spf=pass smtp.mailfrom=jac.example\r\n\
         Authentication-Results: mx.jac.example; dmarc=pass header.from=jac.example\r\n\
         Message-ID: <x@jac.example>",
        "eng1@jac.example",
        &t,
    );
    assert_eq!(a.verdict, Verdict::None, "{a:?}");
    assert!(!a.allows_acknowledgment(), "{a:?}");
}

#[test]
fn folded_and_commented_fields_are_read() {
    let a = judge_headers(
        "Authentication-Results: mx.jac.example (Postfix) 1;\r\n\tdkim (signature ok) = pass (good)\r\n\t header . d = jac.example (the team);\r\n\tspf=none",
        "eng1@jac.example",
    );
    assert_eq!(a.verdict, Verdict::Pass, "{a:?}");
}

#[test]
fn from_and_sender_tricks_fail_whatever_else_is_there() {
    let pass = "Authentication-Results: mx.jac.example; dmarc=pass header.from=jac.example";
    let from = EmailAddress::parse("eng1@jac.example").unwrap();
    let base = |f: &dyn Fn(&mut SenderFacts)| {
        let mut facts =
            SenderFacts::from_headers([("Authentication-Results", &pass[24..])].into_iter());
        facts.from_fields = 1;
        facts.from_mailboxes = 1;
        f(&mut facts);
        judge(&facts, Some(&from), Some("Sent"), &trust())
    };
    assert_eq!(base(&|_| {}).verdict, Verdict::Pass);
    assert_eq!(base(&|f| f.from_fields = 2).verdict, Verdict::Fail);
    assert_eq!(base(&|f| f.from_mailboxes = 2).verdict, Verdict::Fail);
    assert_eq!(
        base(&|f| f.address_in_name = Some("ceo@jac.example".into())).verdict,
        Verdict::Fail
    );
    assert_eq!(
        base(&|f| f.address_in_name = Some("ENG1@jac.example".into())).verdict,
        Verdict::Pass
    );
    assert_eq!(
        base(&|f| f.sender = vec!["<relay@evil.example>".into()]).verdict,
        Verdict::Fail
    );
    assert_eq!(
        base(&|f| f.sender = vec!["Assistant <pa@jac.example>".into()]).verdict,
        Verdict::Pass
    );
}

#[test]
fn a_trusted_folder_passes_and_microsoft_365_needs_its_entry() {
    let from = EmailAddress::parse("eng1@jac.example").unwrap();
    let facts = SenderFacts {
        from_fields: 1,
        from_mailboxes: 1,
        ..Default::default()
    };
    assert_eq!(
        judge(&facts, Some(&from), Some("Sent"), &trust()).verdict,
        Verdict::Pass
    );
    assert_eq!(
        judge(&facts, Some(&from), Some("INBOX"), &trust()).verdict,
        Verdict::None
    );
    let m365 = SenderFacts {
        trace: vec![TraceField::AuthResults(
            "spf=pass smtp.mailfrom=jac.example; dkim=none; dmarc=none; compauth=pass reason=105"
                .into(),
        )],
        ..facts.clone()
    };
    assert_eq!(
        judge(&m365, Some(&from), None, &trust()).verdict,
        Verdict::None
    );
    let mut t = trust();
    t.authserv_ids.push(crate::trust::MICROSOFT_365.into());
    assert_eq!(judge(&m365, Some(&from), None, &t).verdict, Verdict::Pass);
}

#[test]
fn alignment() {
    assert!(aligned("jac.example", "jac.example"));
    assert!(aligned("mail.jac.example", "jac.example"));
    assert!(aligned("jac.example", "eu.jac.example"));
    assert!(!aligned("notjac.example", "jac.example"));
    assert!(!aligned("example", "jac.example"));
}
