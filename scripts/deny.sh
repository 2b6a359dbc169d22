#!/usr/bin/env bash
# Dependency policy (deny.toml) with cargo-deny: licences, banned crates, sources.
#
#   scripts/deny.sh                     # licenses bans sources: offline, what CI runs
#   scripts/deny.sh advisories          # the RustSec advisory database: needs the network
#   scripts/deny.sh advisories licenses bans sources
#
# Installs cargo-deny from crates.io when it is missing (`cargo install cargo-deny --locked`,
# about 8 minutes on 2 cores, once per machine). The checks run with --locked so Cargo.lock
# is never rewritten; without `advisories` they also run --offline.
set -euo pipefail
cd "$(dirname "$0")/.."

checks=("$@")
if [ ${#checks[@]} -eq 0 ]; then
    checks=(licenses bans sources)
fi

if ! cargo deny --version >/dev/null 2>&1; then
    echo "deny: cargo-deny is not installed; installing it from crates.io" >&2
    cargo install cargo-deny --locked >&2
fi

network=(--offline)
for check in "${checks[@]}"; do
    if [ "$check" = advisories ] || [ "$check" = all ]; then
        # The advisory database is fetched from GitHub into ~/.cargo/advisory-dbs.
        network=()
    fi
done

echo "deny: cargo deny check ${checks[*]}" >&2
exec cargo deny --locked "${network[@]}" --color never check "${checks[@]}"
