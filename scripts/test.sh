#!/usr/bin/env bash
# The whole test suite, on a fresh machine as on a developer's: makes sure
# PostgreSQL runs and the test mail stack (Dovecot + Postfix from Debian's
# packages) is installed, runs every test, and stops the shared mail stack.
# Needs root (apt-get, and Dovecot/Postfix masters run as root on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL on 127.0.0.1:5432, user postgres, trust auth: present and running on
# this project's machines; installed, configured and started here when it is not.
export DEBIAN_FRONTEND=noninteractive
apt_updated=
apt_install() {
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# The tests drop their databases with psql; pg_isready is used just below.
command -v psql >/dev/null && command -v pg_isready >/dev/null || apt_install postgresql-client
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
        apt_install postgresql
        hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
        # The tests connect as postgres over loopback without a password.
        grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" ||
            sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

# Dovecot + Postfix (and Cyrus, OpenDKIM, dnsmasq) for the live tests (the tests start
# them on loopback ports).
bash tests/mailstack/mailstack.sh install >&2

export ONIT_MAILSTACK_DIR=${ONIT_MAILSTACK_DIR:-/tmp/onit-mailstack-shared}
# The live tests that matter also run on Cyrus IMAP, in a stack of its own next to it;
# the DKIM test has one too (MAILSTACK_DKIM=1).
trap 'for d in "$ONIT_MAILSTACK_DIR" "$ONIT_MAILSTACK_DIR-cyrus" "$ONIT_MAILSTACK_DIR-dkim"; do
    bash tests/mailstack/mailstack.sh stop "$d" >/dev/null 2>&1 || true; done' EXIT

cargo test --workspace "$@"
