#!/usr/bin/env bash
# The whole test suite, on a fresh machine as on a developer's: makes sure
# PostgreSQL runs and the test mail stack (Dovecot + Postfix from Debian's
# packages) is installed, runs every test, and stops the shared mail stack.
# Needs root (apt-get, and Dovecot/Postfix masters run as root on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL on 127.0.0.1:5432, user postgres, trust auth (present on this project's machines).
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

bash tests/mailstack/mailstack.sh install >&2

export ONIT_MAILSTACK_DIR=${ONIT_MAILSTACK_DIR:-/tmp/onit-mailstack-shared}
trap 'bash tests/mailstack/mailstack.sh stop "$ONIT_MAILSTACK_DIR" >/dev/null 2>&1 || true' EXIT

cargo test --workspace "$@"
