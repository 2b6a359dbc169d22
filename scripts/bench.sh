#!/usr/bin/env bash
# Runs citebot's benchmarks and writes raw results under bench-results/ (never committed) and a
# summary in bench-results/summary.md, whose tables BENCHMARKS.md quotes. See BENCHMARKS.md.
#
#   scripts/bench.sh                       # everything (the 1M-passage scale point takes minutes)
#   STEPS=latency,process scripts/bench.sh # some steps only
#   SIZES=1000,10000 scripts/bench.sh      # a shorter scale curve
#
# Steps: latency (in-process p50/p99 by kind), process (whole-process ask/index/search with
# hyperfine and peak RSS), peers (the peers harness and their whole-process batch throughput on
# the same 10,000 questions), scale (synthetic corpora), discord (bot loopback), serve (`citebot
# serve` loopback: signed interactions and the JSON API), plot, report.
# Needs: hyperfine and GNU time (apt-get install -y hyperfine time), python3.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/citebot-target}"
OUT="${BENCH_OUT:-$ROOT/bench-results}"
SHARED="${SHARED:-$ROOT/../shared}"
SIZES="${SIZES:-1000,10000,100000,1000000}"
STEPS="${STEPS:-latency,process,peers,scale,discord,serve,plot,report}"
QUESTIONS_N="${QUESTIONS_N:-10000}"
export PEERS_WORK="${PEERS_WORK:-$HOME/.cache/citebot-peers}"
PLOT_VENV="${PLOT_VENV:-$HOME/.cache/citebot-bench-venv}"

step() { [[ ",$STEPS," == *",$1,"* ]]; }
say() { echo "== $*" >&2; }

mkdir -p "$OUT"
echo '*' > "$OUT/.gitignore"

say "building (release)"
cargo build --release --bins --quiet
CITEBOT="$CARGO_TARGET_DIR/release/citebot"
BENCH="$CARGO_TARGET_DIR/release/citebot-bench"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (working tree may differ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs) x $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "hyperfine: $(hyperfine --version 2>/dev/null || echo missing)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/machine.txt"

# A private copy of the shipped article, config and vocabulary: the repository's index/ is
# never touched.
WORK="$OUT/work/article"
rm -rf "$WORK"
mkdir -p "$WORK"
cp -r corpus "$WORK/corpus"
cp config.toml "$WORK/config.toml"
"$CITEBOT" --config "$WORK/config.toml" index > /dev/null
CONFIG="$WORK/config.toml"

QUESTIONS="$OUT/questions-$QUESTIONS_N"
"$BENCH" questions --from "$SHARED/eval/dev.jsonl" --seed-article corpus/calcinosis-cutis.txt \
  --count "$QUESTIONS_N" --out "$QUESTIONS"

# Peak RSS (MB) of one run of a command, by GNU time.
peak_rss() {
  local name="$1"; shift
  /usr/bin/time -f '%M' -o "$OUT/rss-$name.txt" "$@" > /dev/null 2>&1 || true
}
peak_rss_stdin() {
  local name="$1" input="$2"; shift 2
  /usr/bin/time -f '%M' -o "$OUT/rss-$name.txt" "$@" < "$input" > /dev/null 2>&1 || true
}

if step latency; then
  say "in-process latency by question kind"
  "$BENCH" latency --config "$CONFIG" --questions "$SHARED/eval/dev.jsonl" \
    --json "$OUT/latency.json" | tee "$OUT/latency.md"
fi

if step process; then
  say "whole process: ask (index present), index, search --json - over $QUESTIONS_N questions"
  ASK_Q="How is calcinosis cutis treated?"
  hyperfine -N --warmup 10 --runs 200 --export-json "$OUT/hf-ask.json" \
    "$CITEBOT --config $CONFIG ask '$ASK_Q'"
  peak_rss ask "$CITEBOT" --config "$CONFIG" ask "$ASK_Q"
  hyperfine -N -i --warmup 10 --runs 200 --export-json "$OUT/hf-ask-unanswerable.json" \
    "$CITEBOT --config $CONFIG ask 'how do i fix my car'"
  hyperfine -N --warmup 3 --runs 30 --export-json "$OUT/hf-index.json" \
    "$CITEBOT --config $CONFIG index"
  peak_rss index "$CITEBOT" --config "$CONFIG" index
  hyperfine --warmup 1 --runs 10 --export-json "$OUT/hf-search.json" \
    "$CITEBOT --config $CONFIG search --json - < $QUESTIONS.txt > /dev/null"
  peak_rss_stdin search "$QUESTIONS.txt" "$CITEBOT" --config "$CONFIG" search --json -
fi

if step peers; then
  say "peers harness (in-process latency, cold start) and batch throughput"
  "$SHARED/peers/setup.sh" > /dev/null
  PY="$PEERS_WORK/venv/bin/python"
  "$PY" "$SHARED/peers/run_peers.py" "$SHARED/eval/dev.jsonl" "$OUT/peers-dev" \
    --peers bm25s,rank_bm25,tantivy,tantivy_plain,dense
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1 \
    NUMEXPR_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
  # dense (MiniLM) would take ~100 s a run on 10,000 questions: left out of the batch runs.
  for peer in bm25s rank_bm25 tantivy tantivy_plain; do
    hyperfine --warmup 1 --runs 5 --export-json "$OUT/hf-peer-$peer.json" \
      "$PY scripts/bench/peer_batch.py $peer < $QUESTIONS.txt > /dev/null"
    peak_rss_stdin "peer-$peer" "$QUESTIONS.txt" "$PY" scripts/bench/peer_batch.py "$peer"
  done
fi

if step scale; then
  say "scale curve: $SIZES passages"
  rm -f "$OUT/scale.jsonl"
  "$BENCH" scale --sizes "$SIZES" --work "$OUT/work/scale" --config config.toml \
    --questions "$QUESTIONS.jsonl" --queries 1000 --out "$OUT/scale.jsonl" | tee "$OUT/scale.md"
fi

if step discord; then
  if [ -f crates/bench/benches/discord_loopback.rs ]; then
    say "discord bot loopback"
    cargo bench --quiet --bench discord_loopback -- --questions 400 --json "$OUT/discord.json" \
      | tee "$OUT/discord.md"
  fi
fi

if step serve; then
  say "citebot serve loopback (signed interactions, JSON API)"
  python3 scripts/bench/serve_load.py --bin "$CITEBOT" --config config.toml \
    --questions "$SHARED/eval/dev.jsonl" --count 2000 --concurrency 8 --json "$OUT/serve.json" \
    | tee "$OUT/serve.md"
fi

if step plot && [ -f "$OUT/scale.jsonl" ]; then
  say "plot"
  [ -x "$PLOT_VENV/bin/python" ] || python3 -m venv "$PLOT_VENV"
  "$PLOT_VENV/bin/python" -c 'import matplotlib' 2>/dev/null \
    || "$PLOT_VENV/bin/python" -m pip install -q --disable-pip-version-check "matplotlib==3.10.*"
  "$PLOT_VENV/bin/python" scripts/bench/plot_scale.py "$OUT/scale.jsonl" docs/scale.png
fi

if step report; then
  python3 scripts/bench/report.py "$OUT" > "$OUT/summary.md"
  say "summary: $OUT/summary.md"
fi
