#!/usr/bin/env bash
# Renders the example PM digest and incident response report, to look at them as a PM would:
#   docs/digest-example.txt   the plain-text part (`onit digest daily --print`)
#   docs/digest-example.html  the HTML part (`onit digest daily --html FILE`)
#   docs/digest-example.png   that HTML in Debian's chromium, 600 px wide
# from the test scenario tests/fixtures/digest-scenario.mbox (plus a client who
# tries a team command), Alice's daily digest on Thursday 26 November 2026 at 17:00.
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
[calendar]
timezone = "Europe/London"
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
export RUST_LOG=${RUST_LOG:-warn}
"$ONIT" --config "$work/onit.toml" import tests/fixtures/digest-scenario.mbox "$work/extra.mbox" >/dev/null
args=(digest daily --at "2026-11-26 17:00" --pm alice.pm@jac.example)
"$ONIT" --config "$work/onit.toml" "${args[@]}" --print > docs/digest-example.txt
"$ONIT" --config "$work/onit.toml" "${args[@]}" --html docs/digest-example.html >/dev/null

if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=600,1400 \
    --screenshot="$PWD/docs/digest-example.png" "file://$PWD/docs/digest-example.html" 2>/dev/null
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
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=700,1300 \
    --screenshot="$PWD/docs/report-example.png" "file://$PWD/docs/report-example.html" 2>/dev/null
echo "docs/digest-example.{txt,html,png}, docs/report-example.{md,html,png}"
