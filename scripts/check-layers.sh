#!/usr/bin/env bash
# The crate graph is the architecture (ARCHITECTURE.md, "Crate map"): this fails when a layer
# pulls in what it may not. The core, the meaning step and the presentation layer must build
# without any runtime, network, terminal or Discord crate, and no citebot crate may depend on a
# surface above it. Offline: reads Cargo.lock through `cargo tree` (normal dependencies only;
# tests and benches may use anything).
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
forbid() {
    local crate=$1
    shift
    local tree
    tree="$(cargo tree --locked --offline -p "$crate" -e normal --prefix none --format '{p}' 2>/dev/null \
        | awk '{print $1}' | sort -u)" || {
        echo "check-layers: cargo tree failed for $crate" >&2
        exit 2
    }
    local found=()
    for name in "$@"; do
        if grep -qx "$name" <<<"$tree"; then
            found+=("$name")
        fi
    done
    if [ ${#found[@]} -ne 0 ]; then
        echo "check-layers: $crate depends on ${found[*]}, which its layer may not (ARCHITECTURE.md, Crate map)" >&2
        status=1
    fi
}

surfaces=(tokio serenity poise axum hyper reqwest rusqlite postgres clap indicatif tracing-subscriber)
forbid citebot-meaning "${surfaces[@]}" citebot-core citebot-presentation citebot-wikipedia citebot-discord citebot-http
forbid citebot-core "${surfaces[@]}" citebot-presentation citebot-wikipedia citebot-discord citebot-http
forbid citebot-presentation "${surfaces[@]}" citebot-wikipedia citebot-discord citebot-http
# (reqwest's blocking client runs a tokio runtime of its own inside)
forbid citebot-wikipedia serenity axum clap indicatif citebot-discord citebot-http
forbid citebot-discord axum clap indicatif citebot-http citebot-wikipedia
forbid citebot-http clap indicatif citebot-wikipedia

# poise is gone for good: one command table, declared with serenity's builders.
if grep -q '^name = "poise"$' Cargo.lock; then
    echo "check-layers: poise is back in Cargo.lock; the slash commands are declared once with serenity's builders" >&2
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "check-layers: the crate graph holds (no surface below the core, no cycle)" >&2
fi
exit "$status"
