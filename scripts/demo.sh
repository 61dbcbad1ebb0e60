#!/usr/bin/env bash
# Runs onit's main job on the embedded default: a Maildir with sample client
# mail (config/demo/mail), SQLite, and acknowledgments written as .eml files.
# Everything it makes is under demo/ (removed and made anew on each run).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
ONIT=target/release/onit
CONFIG=config/demo.toml

rm -rf demo
mkdir -p demo/Maildir/new demo/Maildir/cur demo/Maildir/tmp
# Deliver the sample mail the Maildir way, one second apart so they are read in order.
i=0
for f in config/demo/mail/*.eml; do
    i=$((i + 1))
    name="$(date +%s).demo$i.$(hostname 2>/dev/null || echo host)"
    # The samples were written on 26 Nov 2026; date them seconds apart ending now,
    # so the timeline reads as if the mail had just arrived.
    when=$(( $(date +%s) - 50 + i * 5 ))
    sed "s/^Date: .*/Date: $(LC_ALL=C date -u -R -d "@$when")/" "$f" > "demo/Maildir/tmp/$name"
    touch -d "@$when" "demo/Maildir/tmp/$name"
    mv "demo/Maildir/tmp/$name" "demo/Maildir/new/$name"
done

"$ONIT" --config "$CONFIG" check-config
RUST_LOG=${RUST_LOG:-warn} "$ONIT" --config "$CONFIG" run --once
echo
echo "== Tickets (onit --config $CONFIG tickets)"
"$ONIT" --config "$CONFIG" tickets
echo
echo "== Ticket JAC-1 (onit --config $CONFIG ticket JAC-1)"
"$ONIT" --config "$CONFIG" ticket JAC-1
echo
echo "== Compliance now (onit --config $CONFIG compliance)"
"$ONIT" --config "$CONFIG" compliance
echo
echo "== Acknowledgments written to demo/outgoing/"
ls -1 demo/outgoing
echo
first=$(ls -1 demo/outgoing/*.eml | head -n 1)
echo "== $first"
cat "$first"
echo
echo "== A second run sends nothing new:"
RUST_LOG=warn "$ONIT" --config "$CONFIG" run --once
echo "$(ls -1 demo/outgoing/*.eml | wc -l) acknowledgment files (unchanged)"
