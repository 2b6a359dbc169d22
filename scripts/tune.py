#!/usr/bin/env python3
"""Cross-validated tuning of citebot's ranking and abstention settings.

Splits a question set in two halves (by question id parity), picks the best settings on one
half from a small grid, and reports them on the other half, both ways round. Settings that only
look good on the half they were picked on are over-fitted; the report shows that directly.

Usage: python3 scripts/tune.py [QUESTIONS.jsonl] [--citebot PATH]
Runs `citebot eval --json` with temporary config files; stdlib only.
"""
import argparse, itertools, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = {
    "bm25_weight": [0.3, 0.5],
    "sentence_weight": [0.0, 0.5],
    "lead_bonus": [0.0, 0.05, 0.1],
    "min_coverage": [0.25, 0.34, 0.45],
}


def evaluate(citebot, questions, settings, workdir):
    config = os.path.join(workdir, "config.toml")
    with open(config, "w") as f:
        f.write(f'corpus_dir = "{ROOT}/corpus"\nindex_dir = "{workdir}/index"\n')
        f.write(f'vocabulary_file = "{ROOT}/corpus/vocabulary.toml"\n[search]\n')
        for key, value in settings.items():
            f.write(f"{key} = {value}\n")
    out = subprocess.run([citebot, "--config", config, "eval", questions, "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["overall"]


def objective(scores):
    # Answer right first, abstain honestly, and never refuse an answerable question lightly.
    return (scores.get("recall@1", 0) + scores.get("mrr@10", 0)
            + scores.get("abstention_rate", 0) - 3 * scores.get("false_abstention_rate", 0))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", nargs="?", default=os.path.join(ROOT, "..", "shared", "eval", "dev.jsonl"))
    parser.add_argument("--citebot", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "citebot"))
    args = parser.parse_args()
    rows = [json.loads(l) for l in open(args.questions) if l.strip()]
    with tempfile.TemporaryDirectory() as work:
        halves = []
        for parity in (0, 1):
            path = os.path.join(work, f"half{parity}.jsonl")
            with open(path, "w") as f:
                for row in rows:
                    if int(row["qid"].lstrip("dq") or 0) % 2 == parity:
                        f.write(json.dumps(row) + "\n")
            halves.append(path)
        keys = list(GRID)
        print("| tuned on | best settings | R@1 / MRR / Abstain / FAbst on tuning half | on held-out half |")
        print("|---|---|---|---|")
        for tune, test in ((0, 1), (1, 0)):
            best = None
            for values in itertools.product(*(GRID[k] for k in keys)):
                settings = dict(zip(keys, values))
                scores = evaluate(args.citebot, halves[tune], settings, work)
                if best is None or objective(scores) > objective(best[1]):
                    best = (settings, scores)
            held = evaluate(args.citebot, halves[test], best[0], work)
            fmt = lambda s: f"{s.get('recall@1', 0):.3f} / {s.get('mrr@10', 0):.3f} / {s.get('abstention_rate', 0):.2f} / {s.get('false_abstention_rate', 0):.3f}"
            print(f"| {'odd' if tune else 'even'} ids | {', '.join(f'{k}={v}' for k, v in best[0].items())} | {fmt(best[1])} | {fmt(held)} |")


if __name__ == "__main__":
    sys.exit(main())
