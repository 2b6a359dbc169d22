#!/usr/bin/env python3
"""Plot the scale curve: plot_scale.py bench-results/scale.jsonl docs/scale.png

Four panels against passages (log-log): build time and throughput, peak RSS (build and query),
query latency p50/p99, index size and reader open time. Target lines for 1M passages are dashed.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    source, target = sys.argv[1], sys.argv[2]
    rows = {}
    for line in open(source, encoding="utf-8"):
        if line.strip():
            row = json.loads(line)
            rows[row["size"]] = row  # the last run of a size wins
    sizes = sorted(rows)
    r = [rows[n] for n in sizes]
    n = [x["build"]["passages"] for x in r]

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    fig.suptitle("citebot at scale: synthetic corpora, 2 shared cores (load 4-6 from other builds)", fontsize=12)

    ax = axes[0][0]
    ax.plot(n, [x["build"]["build_s"] for x in r], "o-", label="build time (s)")
    ax.axhline(30, ls="--", c="grey", lw=0.8, label="target at 1M: 30 s")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("passages")
    ax.set_ylabel("seconds")
    ax2 = ax.twinx()
    ax2.plot(n, [x["build"]["passages_per_s"] / 1000 for x in r], "s:", c="tab:green",
             label="k passages/s")
    ax2.set_ylabel("thousand passages / s")
    ax.set_title("index build")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")

    ax = axes[0][1]
    ax.plot(n, [x["build"]["process"]["peak_rss_mb"] for x in r], "o-", label="build peak RSS")
    ax.plot(n, [x["query"]["process"]["peak_rss_mb"] for x in r], "s-", label="query peak RSS")
    ax.axhline(512, ls="--", c="grey", lw=0.8, label="build target: 512 MB")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("passages"); ax.set_ylabel("MB")
    ax.set_title("memory"); ax.legend(fontsize=8)

    ax = axes[1][0]
    if all("ask_latency" in x["query"] for x in r):
        ax.plot(n, [x["query"]["ask_latency"]["p50_us"] / 1000 for x in r], "o-", c="tab:blue",
                label="Engine::ask p50")
        ax.plot(n, [x["query"]["ask_latency"]["p99_us"] / 1000 for x in r], "s-",
                c="tab:orange", label="Engine::ask p99")
    ax.plot(n, [x["query"]["latency"]["p50_us"] / 1000 for x in r], "o:", c="tab:blue",
            label="ask + render p50")
    ax.plot(n, [x["query"]["latency"]["p99_us"] / 1000 for x in r], "s:", c="tab:orange",
            label="ask + render p99")
    ax.axhline(3, ls="--", c="tab:blue", lw=0.8, label="p50 target at 1M: 3 ms")
    ax.axhline(15, ls="--", c="tab:orange", lw=0.8, label="p99 target at 1M: 15 ms")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("passages"); ax.set_ylabel("ms")
    ax.set_title("answer latency (1,000 distinct questions)"); ax.legend(fontsize=7)

    ax = axes[1][1]
    ax.plot(n, [x["index_mb"] for x in r], "o-", label="index size (MB)")
    ax.plot(n, [x["corpus_mb"] for x in r], "^-", label="corpus size (MB)")
    ax.plot(n, [x["query"]["index_open_ms"] for x in r], "s-", label="reader open (ms)")
    ax.plot(n, [x["query"]["engine_open_ms"] for x in r], "d-",
            label="Engine::open incl. staleness check (ms)")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("passages")
    ax.set_title("size and open time"); ax.legend(fontsize=8)

    for row in axes:
        for ax in row:
            ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
