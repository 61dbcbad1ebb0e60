#!/usr/bin/env bash
# Regenerates the man pages in deploy/man/ from the command line's own
# definitions (clap_mangen): onit.1, and onit-COMMAND.1 for each command.
# Install: cp deploy/man/*.1 /usr/local/share/man/man1/ && mandb -q
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin onit
rm -rf deploy/man
./target/debug/onit man-pages deploy/man
