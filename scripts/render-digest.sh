#!/usr/bin/env bash
# Renders the example PM digests and incident response report, to look at them as a PM would:
#   docs/digest-example.txt          the daily digest's plain-text part (`onit digest daily --print`)
#   docs/digest-example.html         its HTML part (`onit digest daily --html FILE`)
#   docs/digest-example.png          that HTML in Debian's chromium, 600 px wide, full height
#   docs/digest-weekly-example.txt   the weekly status's plain text
#   docs/digest-weekly-example.html  its HTML (the trend charts as data: URIs)
#   docs/digest-weekly-example.png   that HTML in chromium, 600 px wide, full height
# from the test scenario tests/fixtures/digest-scenario.mbox (plus a client who
# tries a team command, a second project of Alice's, beta, and seven earlier weeks
# of closed tickets in both projects, so the weekly trend charts have history):
# Alice's daily digest on Thursday 26 November 2026 at 17:00 and her weekly
# status on Friday 27 November at 15:00.
# Installs chromium with apt-get when it is missing (needs root). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet
ONIT=$PWD/target/debug/onit
work=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$work" "$profile"' EXIT

cat > "$work/onit.toml" <<EOF
[database]
url = "sqlite://$work/onit.db"
[mailbox]
maildir = "$work/Maildir"
[outgoing]
dir = "$work/outgoing"
[[projects]]
name = "acme"
client_domains = ["acme.example"]
pm = "alice.pm@jac.example"
[[projects]]
name = "beta"
client_domains = ["beta.example"]
pm = "alice.pm@jac.example"
[calendar]
timezone = "Europe/London"
# The archive's mail carries no Authentication-Results of ours: its team mail is
# trusted by its From header, as for any archive import (the digest says so).
[trust]
team = "header"
acknowledge = "any"
EOF
# A client who tries a team command: recorded as ignored, for the PM.
cat > "$work/extra.mbox" <<'EOF'
From bob@acme.example Thu Nov 26 15:20:00 2026
From: bob@acme.example
To: support@jac.example
Subject: Re: Production checkout down [JAC-1]
Message-ID: <a2@acme.example>
In-Reply-To: <u3@jac.example>
References: <u3@jac.example>
Date: Thu, 26 Nov 2026 15:20:00 +0000

Checkout works again, thank you.
#close

EOF
# Seven earlier weeks, closed by the team each day: an acme question on Thursday
# (acknowledged on time, or two minutes late every other week) and a beta question
# on Tuesday whose 14:00 promise is kept, or missed every third week; and this
# week's beta ticket, whose 13:30 promise is missed.
python3 - "$work/history.mbox" <<'PY'
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from email.utils import format_datetime
london, utc = ZoneInfo("Europe/London"), ZoneInfo("UTC")
out = []
def msg(frm, to, cc, subject, mid, reply, when, body, auto=False):
    w = when.astimezone(utc)
    head = [f"From {frm} {w.strftime('%a %b %e %H:%M:%S %Y')}", f"From: {frm}", f"To: {to}"]
    if cc:
        head.append(f"Cc: {cc}")
    head += [f"Subject: {subject}", f"Message-ID: <{mid}>", f"Date: {format_datetime(w)}"]
    if reply:
        head += [f"In-Reply-To: <{reply}>", f"References: <{reply}>"]
    if auto:
        head.append("Auto-Submitted: auto-replied")
    out.append("\n".join(head) + "\n\n" + body + "\n")
close = "#cause A question about the product, no fault\n#resolution Answered\n#prevention Added to the FAQ\n#close"
n = 3  # after the fixture's JAC-1 to JAC-3, imported first
for k in range(7, 0, -1):
    tue = datetime(2026, 11, 24, 11, 0, tzinfo=london) - timedelta(weeks=k)
    thu = datetime(2026, 11, 26, 10, 0, tzinfo=london) - timedelta(weeks=k)
    for when, client, subj, late, promise in (
        (tue, f"eve{k}@beta.example", f"How do we rotate API keys? ({k})", 30, True),
        (thu, f"client{k}@acme.example", f"Which export format should we use? ({k})", 120 if k % 2 else 30, False),
    ):
        n += 1
        tag = f"Re: {subj} [JAC-{n}]"
        msg(client, "support@jac.example", "", subj, f"h{n}@x.example", "", when, "A question for you.")
        ack_body = "We're on it.\n\nNext update: by today at 14:00." if promise else "We're on it."
        msg("support@jac.example", client, "alice.pm@jac.example", tag, f"h{n}-ack@jac.example", f"h{n}@x.example",
            when + timedelta(seconds=late), ack_body, auto=True)
        if promise:
            upd = when + (timedelta(hours=3, minutes=30) if k % 3 == 0 else timedelta(hours=2, minutes=45))
            msg("dan@jac.example", client, "support@jac.example, alice.pm@jac.example", tag, f"h{n}-update@jac.example",
                f"h{n}-ack@jac.example", upd, "Here is how: rotate them in the console.")
        msg("dan@jac.example", "support@jac.example", "", tag, f"h{n}-note@jac.example", f"h{n}-ack@jac.example",
            when + timedelta(hours=4), close)
thu = datetime(2026, 11, 26, 11, 0, tzinfo=london)
msg("frank@beta.example", "support@jac.example", "", "API rate limit: 50% of calls fail?", "f1@beta.example", "",
    thu, "Half of our API calls fail with 429 since this morning.")
msg("support@jac.example", "frank@beta.example", "alice.pm@jac.example", "Re: API rate limit: 50% of calls fail?",
    "ackf@jac.example", "f1@beta.example", thu + timedelta(seconds=20), "We're on it.\n\nNext update: by today at 13:30 GMT.", auto=True)
open(sys.argv[1], "w").write("\n".join(out))
PY
export RUST_LOG=${RUST_LOG:-warn}
"$ONIT" --config "$work/onit.toml" import tests/fixtures/digest-scenario.mbox "$work/extra.mbox" >/dev/null
"$ONIT" --config "$work/onit.toml" import "$work/history.mbox" >/dev/null
if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
chrome() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$profile" "$@" 2>/dev/null
}
# A page's full height at a width: the page, with a script that writes it into the DOM.
height() {
    sed 's#</body>#<script>document.body.setAttribute("data-height", Math.ceil(document.documentElement.scrollHeight))</script></body>#' \
        "$1" > "$work/probe.html"
    chrome --window-size="$2",800 --dump-dom "file://$work/probe.html" | grep -o 'data-height="[0-9]*"' | grep -o '[0-9]\+'
}
# Renders one digest: text, HTML and a full-height screenshot 600 px wide.
digest() { # kind at name
    local args=(digest "$1" --at "$2" --pm alice.pm@jac.example)
    "$ONIT" --config "$work/onit.toml" "${args[@]}" --print > "docs/$3.txt"
    "$ONIT" --config "$work/onit.toml" "${args[@]}" --html "docs/$3.html" >/dev/null
    chrome --window-size=600,"$(height "docs/$3.html" 600)" \
        --screenshot="$PWD/docs/$3.png" "file://$PWD/docs/$3.html"
}
digest daily "2026-11-26 17:00" digest-example
digest weekly "2026-11-27 15:00" digest-weekly-example
# The incident response report, after an engineer closes JAC-1 by mail.
cat > "$work/close.mbox" <<'EOF'
From dan@jac.example Thu Nov 26 17:10:00 2026
From: dan@jac.example
To: alice.pm@jac.example
Subject: Re: Production checkout down [JAC-1]
Message-ID: <close1@jac.example>
In-Reply-To: <u3@jac.example>
Date: Thu, 26 Nov 2026 17:10:00 +0000

#severity high
#impact Checkout failed for every customer for about six hours.
#cause The renewed certificate on the payment gateway lacked its intermediate.
#resolution Re-deployed the gateway certificate with the full chain.
#prevention Certificate chain check added to the release checklist and to monitoring.
#close

EOF
"$ONIT" --config "$work/onit.toml" import "$work/close.mbox" >/dev/null
"$ONIT" --config "$work/onit.toml" report JAC-1 --markdown > docs/report-example.md
"$ONIT" --config "$work/onit.toml" report JAC-1 --html > docs/report-example.html
chrome --window-size=700,1300 \
    --screenshot="$PWD/docs/report-example.png" "file://$PWD/docs/report-example.html"
echo "docs/digest-example.{txt,html,png}, docs/digest-weekly-example.{txt,html,png}, docs/report-example.{md,html,png}"
