# shellcheck shell=bash
# Sourced by .ci/run, scripts/deny.sh and scripts/fuzz-smoke.sh: times one stage of CI and
# prints `ci: stage NAME took N s` on stderr, so a cold run (scripts/ci-cold.sh) shows where
# its time goes. The line is printed whether the stage passes or fails; the stage's exit status
# is passed on.
#
#   stage "tests" cargo test --locked
stage() {
    local name=$1
    shift
    local start=$SECONDS status=0
    "$@" || status=$?
    echo "ci: stage $name took $((SECONDS - start)) s" >&2
    return "$status"
}
