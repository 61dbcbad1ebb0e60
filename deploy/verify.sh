#!/usr/bin/env bash
# Checks deploy/onit.service with systemd-analyze (CI runs this from .ci/run).
#
# `systemd-analyze verify` also checks that ExecStart's program exists, and
# /usr/local/bin/onit does not on a build machine; rather than let that one
# known complaint hide others, the check runs on a copy of the unit whose
# ExecStart names the binary just built (everything else unchanged). verify
# exits 0 even when it ignores a directive it cannot parse, so any line it
# prints about the unit fails the check. `systemd-analyze security --offline`
# then scores the hardening and fails above EXPOSURE_MAX (tenths: 25 is an
# exposure level of 2.5, where 0 is fully locked down and 10 is unprotected).
#
# Without systemd-analyze (a container, another OS) it prints why it skips.
# ONIT_BIN names the binary to use; default target/debug/onit, built if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

UNIT=deploy/onit.service
EXPOSURE_MAX=${EXPOSURE_MAX:-25}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "deploy/verify.sh: systemd-analyze not found; skipping the check of $UNIT"
    exit 0
fi

bin=${ONIT_BIN:-target/debug/onit}
if [ ! -x "$bin" ]; then
    cargo build --quiet --bin onit
fi
bin=$(realpath "$bin")
"$bin" --version >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A link without spaces in its path (ExecStart splits on whitespace).
ln -s "$bin" "$work/onit"
grep -q '^ExecStart=/usr/local/bin/onit ' "$UNIT" || {
    echo "deploy/verify.sh: $UNIT has no 'ExecStart=/usr/local/bin/onit …' line to check" >&2
    exit 1
}
sed "s|^ExecStart=/usr/local/bin/onit |ExecStart=$work/onit |" "$UNIT" > "$work/onit.service"

echo "systemd-analyze verify $UNIT ($(systemd-analyze --version | head -n 1))"
set +e
out=$(systemd-analyze verify --man=no "$work/onit.service" 2>&1)
rc=$?
set -e
[ -z "$out" ] || printf '%s\n' "$out"
if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -q 'onit\.service'; then
    echo "deploy/verify.sh: systemd-analyze verify found problems in $UNIT (exit $rc)" >&2
    exit 1
fi
echo "verify: no problems"

if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    set +e
    sec=$(systemd-analyze security --offline=yes --threshold="$EXPOSURE_MAX" "$work/onit.service" 2>&1)
    rc=$?
    set -e
    printf '%s\n' "$sec" | grep 'Overall exposure level' || true
    if [ "$rc" -ne 0 ]; then
        printf '%s\n' "$sec" | grep '✗' >&2 || true
        echo "deploy/verify.sh: hardening of $UNIT scores above $EXPOSURE_MAX tenths (systemd-analyze security)" >&2
        exit 1
    fi
else
    echo "systemd-analyze security --offline not supported here; hardening score not checked"
fi
