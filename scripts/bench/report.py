#!/usr/bin/env python3
"""Summarise a bench-results folder as markdown: report.py bench-results > summary.md"""
import json
import sys
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")


def load(name):
    path = OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def rss(name):
    path = OUT / f"rss-{name}.txt"
    try:
        return int(path.read_text().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return None


def hf(name):
    """(median s, mean s, stddev s) of a hyperfine export."""
    data = load(f"hf-{name}.json")
    if not data:
        return None
    r = data["results"][0]
    return r["median"], r["mean"], r.get("stddev") or 0.0


def fmt(x, spec="{:,.1f}"):
    return "–" if x is None else spec.format(x)


def main():
    print("# Benchmark summary\n")
    machine = OUT / "machine.txt"
    if machine.exists():
        print("```\n" + machine.read_text().strip() + "\n```\n")

    lat = load("latency.json")
    if lat:
        print("## In-process answer latency (dev questions, shipped article, top 3)\n")
        print("| kind | questions | samples | ask p50 µs | ask p99 µs | ask+render p50 µs | ask+render p99 µs |")
        print("|---|---|---|---|---|---|---|")
        for row in lat["rows"]:
            a, f = row["ask"], row["ask_and_render"]
            print(f"| {row['kind']} | {row['questions']} | {a['samples']:,} | {a['p50_us']:.1f} | "
                  f"{a['p99_us']:.1f} | {f['p50_us']:.1f} | {f['p99_us']:.1f} |")
        print()

    nq = None
    qfile = sorted(OUT.glob("questions-*.txt"))
    if qfile:
        nq = sum(1 for _ in qfile[0].open(encoding="utf-8"))
    search = hf("search")
    if hf("ask"):
        print("## Whole process (shipped article, index present, page cache warm)\n")
        print("| command | median ms | mean ± sd ms | peak RSS MB |")
        print("|---|---|---|---|")
        for name, label, rss_name in [
            ("ask", "`citebot ask` (answered)", "ask"),
            ("ask-unanswerable", "`citebot ask` (no answer)", None),
            ("index", "`citebot index`", "index"),
            ("search", f"`citebot search --json -` ({nq:,} questions)", "search"),
        ]:
            r = hf(name)
            if r:
                print(f"| {label} | {r[0]*1e3:,.2f} | {r[1]*1e3:,.2f} ± {r[2]*1e3:,.2f} | "
                      f"{fmt(rss(rss_name) if rss_name else None)} |")
        if search and nq:
            print(f"\nBatch throughput: {nq / search[0]:,.0f} questions/s "
                  f"({search[0] / nq * 1e6:,.1f} µs a question, load and JSON output included).\n")

    perf = load("peers-dev/perf.json")
    if perf or search:
        print("## citebot and the peers, same machine, same run\n")
        print("Batch: whole process answering the same questions from standard input, one JSON "
              "line each (interpreter/program start, index load or build, output included). "
              "In-process: single thread, dev questions repeated (peers: run_peers.py).\n")
        print("| system | batch s | questions/s | citebot speed-up | batch RSS MB | in-process p50 µs | p99 µs | cold start ms |")
        print("|---|---|---|---|---|---|---|---|")
        c_lat = None
        if lat:
            c_lat = next(r for r in lat["rows"] if r["kind"] == "all")["ask"]
        ask = hf("ask")
        print(f"| **citebot** | {fmt(search and search[0], '{:.3f}')} | "
              f"{fmt(search and nq / search[0], '{:,.0f}')} | 1.0× | {fmt(rss('search'))} | "
              f"{fmt(c_lat and c_lat['p50_us'])} | {fmt(c_lat and c_lat['p99_us'])} | "
              f"{fmt(ask and ask[0] * 1e3, '{:.1f}')} |")
        for peer in ["bm25s", "rank_bm25", "tantivy", "tantivy_plain", "dense"]:
            p = (perf or {}).get(peer, {})
            b = hf(f"peer-{peer}")
            ratio = (b[0] / search[0]) if (b and search) else None
            print(f"| {peer} | {fmt(b and b[0], '{:.3f}')} | {fmt(b and nq / b[0], '{:,.0f}')} | "
                  f"{fmt(ratio, '{:,.1f}×')} | {fmt(rss('peer-' + peer))} | "
                  f"{fmt(p.get('p50_us'))} | {fmt(p.get('p99_us'))} | {fmt(p.get('cold_start_ms'))} |")
        print()

    scale = OUT / "scale.jsonl"
    if scale.exists():
        rows = {}
        for line in scale.open(encoding="utf-8"):
            if line.strip():
                r = json.loads(line)
                rows[r["size"]] = r
        print("## Scale curve (synthetic corpora)\n")
        print("| passages | articles | corpus MB | build s | passages/s | cores used | build RSS MB | index MB | reader open ms | staleness check ms | ask p50 ms | ask p99 ms | ask+render p50 ms | ask+render p99 ms | query RSS MB |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n in sorted(rows):
            r = rows[n]
            b, q = r["build"], r["query"]
            ask = q.get("ask_latency", {})
            print(f"| {b['passages']:,} | {r['articles']:,} | {r['corpus_mb']:.1f} | {b['build_s']:.2f} | "
                  f"{b['passages_per_s']:,.0f} | {b['cores_used']:.2f} | "
                  f"{b['process']['peak_rss_mb']:,.0f} | {r['index_mb']:,.1f} | {q['index_open_ms']:,.1f} | "
                  f"{q['check_ms']:,.1f} | {ask.get('p50_us', float('nan'))/1000:.2f} | "
                  f"{ask.get('p99_us', float('nan'))/1000:.2f} | {q['latency']['p50_us']/1000:.2f} | "
                  f"{q['latency']['p99_us']/1000:.2f} | {q['process']['peak_rss_mb']:,.0f} |")
        print()

    discord = load("discord.json")
    if discord:
        print("## Discord bot loopback\n")
        print("```\n" + json.dumps(discord, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
