#!/usr/bin/env python3
"""Run every shared evaluation set against a citebot binary and print one table.

The sets live beside the repo in ../shared/eval (see its README.md); eval/split.toml fixes, by
article, which questions are the tuning part and which the reporting part. Every row of the table
is one set × part:

  dev               ../shared/eval/dev.jsonl on the shipped corpus (corpus/*.txt)
  dev (4 articles)  the same questions with the three medical test articles beside the seed
  medical           articles/questions_all.jsonl on that 4-article corpus, split by `article`
  squad             one corpus per squad/articles/*.txt, its crowd questions plus the off-topic
                    probes asked against it (`corpus_article`); Abstain is the probes' abstention
  medical (ours)    eval/tuning/'s questions on the tuning medical articles, in the medical corpus
  squad near-miss (ours)  eval/tuning/'s on-topic questions the tuning squad articles do not
                    answer, each in its article's corpus (tuning part only)

Usage:
  python3 scripts/eval.py                         # citebot on every set, both parts
  python3 scripts/eval.py --peers                 # and the peers of ../shared/peers beside it
  python3 scripts/eval.py --part reporting --json out.json --keep per-question/
  python3 scripts/eval.py --selftest              # quick check of this script on dev only

Each corpus is indexed and searched in its own scratch folder (--workdir, default a temporary
folder) with a config.toml copied from the project's (--config), every relative path in it made
absolute and `corpus_dir` / `index_dir` pointed at the scratch folder, as ../shared/eval/
corpus_runs.py does. Scores come from ../shared/eval/score.py, imported, so the numbers are the
scorer's own. Peers never change, so their results are cached under
~/.cache/citebot-peers/eval-cache, keyed by the hashes of their inputs and of the peers' code.

Python 3.11, standard library only. Exit status: 0 done, 1 a run failed, 2 bad arguments or
missing input.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("tuning", "reporting")
PEERS = ("bm25s", "rank_bm25", "tantivy", "tantivy_plain", "dense", "hybrid")
PEERS_HOME = Path(os.environ.get("PEERS_WORK", Path.home() / ".cache" / "citebot-peers"))
# Columns of the main table: (header, key in a score.py summary).
COLUMNS = [("R@1", "recall@1"), ("R@3", "recall@3"), ("MRR@10", "mrr@10"),
           ("RefP", "ref_precision"), ("FAbst", "false_abstention_rate"),
           ("Abstain", "abstention_rate")]
# Questions written for this repo, about tuning articles only (eval/tuning/README.md).
OURS_MEDICAL = [ROOT / "eval" / "tuning" / f"{name}.jsonl"
                for name in ("calcinosis-cutis", "calcinosis-cutis-2", "morphea", "morphea-2")]
OURS_SQUAD = [ROOT / "eval" / "tuning" / f"{name}.jsonl"
              for name in ("squad-near-miss", "squad-near-miss-2")]
KIND_ORDER = ("factoid", "lay", "typo", "abbrev", "multi", "citation", "unanswerable")


class EvalError(Exception):
    """A failure the user can act on; main prints it as one line and exits 1."""


class InputMissing(EvalError):
    """A file or folder the evaluation needs is not there (exit 2)."""


# ---------------------------------------------------------------------------- the plan


@dataclass
class CorpusRun:
    """One corpus (a set of article files) and every question asked against it.

    `rows` maps each question's qid to the (set, part) rows it is scored in.
    """
    name: str
    articles: list[Path]
    questions: list[dict]
    rows: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def ask(self, question: dict, set_name: str, part: str) -> None:
        if question["qid"] not in self.rows:
            self.questions.append(question)
            self.rows[question["qid"]] = []
        self.rows[question["qid"]].append((set_name, part))


def load_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputMissing(f"question file {path} is missing: check --shared")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputMissing(f"{path}:{lineno}: invalid JSON ({e.msg}); the shared set is "
                                   f"damaged, restore it") from None
    return rows


def load_split(path: Path) -> dict[str, dict[str, str]]:
    """{set: {article: part}} from eval/split.toml, checking that no article is in both parts."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputMissing(f"{path} is missing: it fixes the tuning/reporting split") from None
    except tomllib.TOMLDecodeError as e:
        raise InputMissing(f"{path}: invalid TOML ({e})") from None
    split: dict[str, dict[str, str]] = {}
    for set_name in ("medical", "squad"):
        table = raw.get(set_name)
        if not isinstance(table, dict):
            raise InputMissing(f"{path}: no [{set_name}] table with tuning and reporting lists")
        by_article: dict[str, str] = {}
        for part in PARTS:
            articles = table.get(part)
            if not isinstance(articles, list) or not all(isinstance(a, str) for a in articles):
                raise InputMissing(f"{path}: [{set_name}] {part} must be a list of article names")
            for article in articles:
                if article in by_article:
                    raise InputMissing(f"{path}: [{set_name}] lists {article!r} in both parts")
                by_article[article] = part
        split[set_name] = by_article
    return split


def part_of(split: dict[str, str], set_name: str, article: str, where: str) -> str:
    try:
        return split[article]
    except KeyError:
        raise InputMissing(f"{where}: article {article!r} is in neither part of [{set_name}] in "
                           f"eval/split.toml; add it to one part before evaluating") from None


def own_questions(split: dict[str, str], set_name: str, paths: list[Path]) -> list[dict]:
    """The questions written for this repo (eval/tuning/), which may only be about tuning
    articles: one about a reporting article would leak into the weights."""
    questions = []
    for path in paths:
        for q in load_jsonl(path):
            where = f"{path} ({q.get('qid')})"
            if part_of(split, set_name, str(q.get("article")), where) != "tuning":
                raise InputMissing(f"{where}: about {q.get('article')!r}, a reporting article of "
                                   f"[{set_name}]; eval/tuning/ holds tuning articles only")
            questions.append(q)
    return questions


def plan(shared: Path, split: dict[str, dict[str, str]], sets: list[str]) -> list[CorpusRun]:
    """Every corpus to build and the questions asked against it, with their rows."""
    eval_dir = shared / "eval"
    own = sorted((ROOT / "corpus").glob("*.txt"))
    if not own:
        raise InputMissing(f"no article in {ROOT / 'corpus'}: the shipped corpus is the dev set's")
    dev = load_jsonl(eval_dir / "dev.jsonl")
    # dev.jsonl has no `article` field: every question is about the shipped seed article.
    seed = "calcinosis-cutis"
    runs: list[CorpusRun] = []

    if "dev" in sets:
        run = CorpusRun("dev", own, [])
        for q in dev:
            run.ask(q, "dev", part_of(split["medical"], "medical", seed, "dev.jsonl"))
        runs.append(run)

    if "medical" in sets:
        medical_articles = sorted((eval_dir / "articles").glob("*.txt"))
        if not medical_articles:
            raise InputMissing(f"no article in {eval_dir / 'articles'}")
        run = CorpusRun("medical", own + medical_articles, [])
        questions_path = eval_dir / "articles" / "questions_all.jsonl"
        for q in load_jsonl(questions_path):
            article = q.get("article")
            where = f"{questions_path} ({q.get('qid')})"
            run.ask(q, "medical", part_of(split["medical"], "medical", str(article), where))
        for q in dev:
            run.ask(q, "dev (4 articles)", part_of(split["medical"], "medical", seed, "dev.jsonl"))
        if "ours" in sets:
            for q in own_questions(split["medical"], "medical", OURS_MEDICAL):
                run.ask(q, "medical (ours)", "tuning")
        runs.append(run)

    if "squad" in sets:
        squad = eval_dir / "squad"
        probes = load_jsonl(squad / "offtopic.jsonl")
        near_misses = own_questions(split["squad"], "squad", OURS_SQUAD) if "ours" in sets else []
        articles = sorted((squad / "articles").glob("*.txt"))
        if not articles:
            raise InputMissing(f"no article in {squad / 'articles'}")
        for article in articles:
            slug = article.stem
            part = part_of(split["squad"], "squad", slug, str(article))
            run = CorpusRun(f"squad/{slug}", [article], [])
            for q in load_jsonl(squad / "questions" / f"{slug}.jsonl"):
                run.ask(dict(q, kind="factoid"), "squad", part)
            for q in probes:
                if q.get("corpus_article") == slug:
                    run.ask(q, "squad", part)
            for q in near_misses:
                if q["article"] == slug:
                    run.ask(q, "squad near-miss (ours)", "tuning")
            runs.append(run)
        known = {a.stem for a in articles}
        stray = sorted({str(q.get("corpus_article")) for q in probes} - known)
        if stray:
            raise InputMissing(f"{squad / 'offtopic.jsonl'}: probes for articles not in "
                               f"{squad / 'articles'}: {', '.join(stray)}")
    return runs


# ---------------------------------------------------------------------------- citebot


def scratch_config(base_config: Path, where: Path, corpus_runs) -> Path:
    """A config.toml in `where`: the project's, with its relative paths made absolute (so the
    vocabulary and any model files keep working) and the corpus and index in `where`."""
    try:
        cfg = tomllib.loads(base_config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputMissing(f"config {base_config} is missing: pass --config") from None
    except tomllib.TOMLDecodeError as e:
        raise InputMissing(f"{base_config}: invalid TOML ({e})") from None
    corpus_runs.absolutize(cfg, base_config.parent)
    cfg["corpus_dir"] = str(where / "corpus")
    cfg["index_dir"] = str(where / "index")
    path = where / "config.toml"
    path.write_text(corpus_runs.dump_toml(cfg) + "\n", encoding="utf-8")
    return path


def tail(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return text[-400:] if text else "(no output)"


def run_citebot(binary: Path, base_config: Path, workdir: Path, run: CorpusRun,
                corpus_runs) -> list[dict]:
    """Index the corpus, ask every question, return citebot's JSON objects in question order."""
    where = workdir / "runs" / run.name.replace("/", "-")
    if where.exists():
        shutil.rmtree(where)
    (where / "corpus").mkdir(parents=True)
    for article in run.articles:
        shutil.copy(article, where / "corpus" / article.name)
    config = scratch_config(base_config, where, corpus_runs)
    done = subprocess.run([str(binary), "--config", str(config), "index"], capture_output=True)
    if done.returncode != 0:
        raise EvalError(f"{run.name}: `citebot index` exited {done.returncode}: {tail(done.stderr)}")
    # One question per line: a newline inside a question would split it in two.
    stdin = "".join(" ".join(q["query"].split()) + "\n" for q in run.questions).encode()
    done = subprocess.run([str(binary), "--config", str(config), "search", "--json", "--top",
                           "10", "-"], input=stdin, capture_output=True)
    lines = [l for l in done.stdout.decode("utf-8", "replace").split("\n") if l.strip()]
    if done.returncode != 0 or len(lines) != len(run.questions):
        raise EvalError(f"{run.name}: `citebot search` exited {done.returncode} with "
                        f"{len(lines)} lines for {len(run.questions)} questions: "
                        f"{tail(done.stderr)}")
    results = []
    for q, line in zip(run.questions, lines):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalError(f"{run.name}: `citebot search --json` printed a line that is not "
                            f"JSON ({e.msg}) for {q['qid']}: {line[:200]!r}") from None
        if obj.get("error"):
            raise EvalError(f"{run.name}: citebot could not read question {q['qid']}: "
                            f"{obj['error']}")
        # Everything citebot says is kept (scores, coverage, best sentence) for training
        # scripts; the scorer reads only qid, answered and the passages' text and refs.
        results.append(dict(obj, qid=q["qid"]))
    shutil.rmtree(where / "index", ignore_errors=True)
    return results


# ---------------------------------------------------------------------------- peers


def file_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def peer_python() -> Path:
    python = PEERS_HOME / "venv" / "bin" / "python"
    if not python.exists():
        raise InputMissing(f"the peers' venv {python} is missing: run ../shared/peers/setup.sh "
                           f"first (it installs them offline-ready, about 100 MB)")
    return python


def run_peers(shared: Path, workdir: Path, run: CorpusRun, peers: list[str]) -> dict[str, list[dict]]:
    """Each peer's results on this corpus, from the cache when its inputs are unchanged."""
    peers_dir = shared / "peers"
    where = workdir / "peers" / run.name.replace("/", "-")
    where.mkdir(parents=True, exist_ok=True)
    python = peer_python()
    # The peers' shared passage split, one article at a time, concatenated into one corpus.
    passages = where / "passages.jsonl"
    with open(passages, "w", encoding="utf-8") as out:
        for article in run.articles:
            one = where / f"{article.stem}.passages.jsonl"
            done = subprocess.run([str(python), str(peers_dir / "passages.py"), str(article),
                                   str(one)], capture_output=True)
            if done.returncode != 0:
                raise EvalError(f"{run.name}: passages.py on {article} exited "
                                f"{done.returncode}: {tail(done.stderr)}")
            out.write(one.read_text(encoding="utf-8"))
    questions = where / "questions.jsonl"
    write_jsonl(questions, run.questions)
    code = file_hash(*sorted(peers_dir.glob("*.py")))
    key = hashlib.sha256((file_hash(questions, passages) + code).encode()).hexdigest()[:24]
    cache = PEERS_HOME / "eval-cache" / key
    missing = [p for p in peers if not (cache / f"{p}.results.jsonl").exists()]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        out_dir = where / "out"
        done = subprocess.run([str(python), str(peers_dir / "run_peers.py"), str(questions),
                               str(out_dir), "--passages", str(passages), "--peers",
                               ",".join(missing), "--bench-seconds", "0"], capture_output=True)
        failed = [p for p in missing if not (out_dir / f"{p}.results.jsonl").exists()]
        if done.returncode != 0 or failed:
            raise EvalError(f"{run.name}: run_peers.py failed for {', '.join(failed) or 'all'} "
                            f"(exit {done.returncode}): {tail(done.stderr)}")
        for p in missing:
            # Written under a temporary name first so an interrupted run never leaves a
            # half-written file that later runs would trust.
            tmp = cache / f"{p}.results.jsonl.tmp"
            shutil.copy(out_dir / f"{p}.results.jsonl", tmp)
            tmp.replace(cache / f"{p}.results.jsonl")
    return {p: load_jsonl(cache / f"{p}.results.jsonl") for p in peers}


# ---------------------------------------------------------------------------- scoring


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def score_rows(scorer, runs: list[CorpusRun], results: dict[str, dict[str, list[dict]]],
               system: str) -> dict[tuple[str, str], dict]:
    """score.py's report for each (set, part) row, over the questions of every corpus in it."""
    grouped: dict[tuple[str, str], tuple[list[dict], dict[str, dict]]] = {}
    for run in runs:
        by_qid = {r["qid"]: r for r in results[run.name][system]}
        for q in run.questions:
            for row in run.rows[q["qid"]]:
                qs, rs = grouped.setdefault(row, ([], {}))
                qs.append(q)
                r = by_qid.get(q["qid"])
                if r is not None:
                    rs[q["qid"]] = {"answered": bool(r.get("answered")),
                                    "passages": r.get("passages", [])}
    return {row: scorer.score(qs, rs, 5) for row, (qs, rs) in grouped.items()}


def fmt(x) -> str:
    return "     -" if x is None else f"{x:6.3f}"


def kind_cells(row: dict, kinds: list[str]) -> list:
    """R@1 of each kind, and for unanswerable questions (whose only number it is) Abstain."""
    cells = []
    for k in kinds:
        s = row["by_kind"].get(k)
        cells.append(None if s is None else s.get(
            "abstention_rate" if k == "unanswerable" else "recall@1"))
    return cells


def print_tables(report: dict, show_kinds: bool, markdown: bool) -> None:
    rows = report["rows"]
    # squad questions are all one kind; the by-kind table is for the medical sets.
    kind_rows = [r for r in rows if not r["set"].startswith("squad")]
    kinds = [k for k in KIND_ORDER if any(k in r["by_kind"] for r in kind_rows)]
    labels = ["Abstain" if k == "unanswerable" else k for k in kinds]
    if markdown:
        print("| set | part | system | n | " + " | ".join(c for c, _ in COLUMNS) + " |")
        print("|---|---|---|---:|" + "---:|" * len(COLUMNS))
        for r in rows:
            o = r["overall"]
            name = "**citebot**" if r["system"] == "citebot" else r["system"]
            print(f"| {r['set']} | {r['part']} | {name} | {o['n']} | "
                  + " | ".join(fmt(o.get(k)).strip() for _, k in COLUMNS) + " |")
        if show_kinds and kinds:
            print("\nR@1 by kind (unanswerable: Abstain), medical sets:\n")
            print("| set | part | system | " + " | ".join(labels) + " |")
            print("|---|---|---|" + "---:|" * len(kinds))
            for r in kind_rows:
                name = "**citebot**" if r["system"] == "citebot" else r["system"]
                print(f"| {r['set']} | {r['part']} | {name} | "
                      + " | ".join(fmt(v).strip() for v in kind_cells(r, kinds)) + " |")
        return
    head = f"{'set':<22} {'part':<9} {'system':<13} {'n':>5}  " + " ".join(
        f"{c:>6}" for c, _ in COLUMNS)
    print(head)
    print("-" * len(head))
    last = None
    for r in rows:
        if last is not None and (r["set"], r["part"]) != last:
            print()
        last = (r["set"], r["part"])
        o = r["overall"]
        print(f"{r['set']:<22} {r['part']:<9} {r['system']:<13} {o['n']:>5}  "
              + " ".join(fmt(o.get(k)) for _, k in COLUMNS))
    if not show_kinds or not kinds:
        return
    print("\nR@1 by kind (unanswerable: Abstain), medical sets")
    head = f"{'set':<22} {'part':<9} {'system':<13} " + " ".join(f"{k:>8}" for k in labels)
    print(head)
    print("-" * len(head))
    for r in kind_rows:
        print(f"{r['set']:<22} {r['part']:<9} {r['system']:<13} "
              + " ".join(f"{fmt(v):>8}" for v in kind_cells(r, kinds)))


def keep_per_question(keep: Path, runs: list[CorpusRun], results, scores, systems) -> None:
    """DIR/<system>/<corpus>.{questions,results}.jsonl as asked, and DIR/<system>/scored.jsonl:
    one line per question and row with score.py's verdict (rank, abstained, ref_ok)."""
    for system in systems:
        out = keep / system
        out.mkdir(parents=True, exist_ok=True)
        for run in runs:
            name = run.name.replace("/", "-")
            questions = [dict(q, rows=[list(r) for r in run.rows[q["qid"]]]) for q in run.questions]
            write_jsonl(out / f"{name}.questions.jsonl", questions)
            write_jsonl(out / f"{name}.results.jsonl", results[run.name][system])
        scored = []
        for (set_name, part), report in scores[system].items():
            for rec in report["per_question"]:
                scored.append(dict(rec, set=set_name, part=part))
        write_jsonl(out / "scored.jsonl", scored)


# ---------------------------------------------------------------------------- main


def find_shared(given: str | None) -> Path:
    """--shared, else $SHARED, else the nearest ancestor's shared/ folder holding eval/score.py."""
    if given or os.environ.get("SHARED"):
        shared = Path(given or os.environ["SHARED"]).resolve()
        if not (shared / "eval" / "score.py").is_file():
            raise InputMissing(f"{shared} has no eval/score.py: point --shared at the folder "
                               f"that holds eval/ and peers/")
        return shared
    for parent in ROOT.parents:
        if (parent / "shared" / "eval" / "score.py").is_file():
            return parent / "shared"
    raise InputMissing("no shared/eval/score.py beside the repo or above it: pass --shared DIR")


def default_binary() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else ROOT / "target") / "release" / "citebot"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Run every shared evaluation set against citebot and print one table.",
        epilog="Rows are set × part (eval/split.toml). Exit status 1: a run failed; 2: bad "
               "arguments or missing input.")
    ap.add_argument("--bin", type=Path, default=None,
                    help="citebot binary (default $CARGO_TARGET_DIR/release/citebot or "
                         "target/release/citebot)")
    ap.add_argument("--config", type=Path, default=ROOT / "config.toml",
                    help="config.toml whose settings every run uses (default the repo's)")
    ap.add_argument("--shared", help="folder holding eval/ and peers/ (default ../shared)")
    ap.add_argument("--part", choices=("tuning", "reporting", "both"), default="both")
    ap.add_argument("--sets", default="dev,medical,squad,ours",
                    help="comma-separated subset of dev,medical,squad,ours (default all; ours: "
                         "eval/tuning/'s questions, asked in the medical and squad corpora)")
    ap.add_argument("--peers", action="store_true", help="add the peers' rows (cached)")
    ap.add_argument("--peer-list", default=",".join(PEERS),
                    help=f"which peers with --peers (default {','.join(PEERS)})")
    ap.add_argument("--no-kinds", action="store_true", help="leave out the by-kind table")
    ap.add_argument("--markdown", action="store_true",
                    help="print the tables as markdown (as docs/quality.md quotes them)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write every number to OUT")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="write per-question questions, results and verdicts to DIR")
    ap.add_argument("--workdir", type=Path, help="scratch folder (default a temporary one)")
    ap.add_argument("--jobs", type=int, default=2, help="corpora run in parallel (default 2)")
    ap.add_argument("--selftest", action="store_true",
                    help="check this script on dev only (fast) and exit")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in args.sets if s not in ("dev", "medical", "squad", "ours")]
    if unknown or not args.sets:
        ap.error(f"--sets takes dev, medical, squad, ours; got {args.sets!r}")
    args.peer_list = [p.strip() for p in args.peer_list.split(",") if p.strip()]
    bad = [p for p in args.peer_list if p not in PEERS]
    if bad:
        ap.error(f"unknown peer(s) {', '.join(bad)}; known: {', '.join(PEERS)}")
    return args


def evaluate(args: argparse.Namespace, workdir: Path) -> dict:
    shared = find_shared(args.shared)
    sys.path.insert(0, str(shared / "eval"))
    import corpus_runs  # noqa: E402  (../shared/eval, found at run time)
    import score as scorer  # noqa: E402

    binary = (args.bin or default_binary()).resolve()
    if not os.access(binary, os.X_OK):
        raise InputMissing(f"citebot binary {binary} is missing or not executable: run "
                           f"`cargo build --release` or pass --bin")
    config = args.config.resolve()
    split = load_split(ROOT / "eval" / "split.toml")
    runs = plan(shared, split, args.sets)
    parts = PARTS if args.part == "both" else (args.part,)
    for run in runs:
        for qid in list(run.rows):
            run.rows[qid] = [r for r in run.rows[qid] if r[1] in parts]
        run.questions = [q for q in run.questions if run.rows[q["qid"]]]
    runs = [r for r in runs if r.questions]

    systems = ["citebot"] + (args.peer_list if args.peers else [])
    results: dict[str, dict[str, list[dict]]] = {r.name: {} for r in runs}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        jobs = {pool.submit(run_citebot, binary, config, workdir, r, corpus_runs): (r, "citebot")
                for r in runs}
        if args.peers:
            peer_python()  # fail before any work when the venv is missing
            for r in runs:
                jobs[pool.submit(run_peers, shared, workdir, r, args.peer_list)] = (r, "peers")
        for future in concurrent.futures.as_completed(jobs):
            run, what = jobs[future]
            try:
                out = future.result()
            except BaseException:
                for other in jobs:
                    other.cancel()
                raise
            if what == "citebot":
                results[run.name]["citebot"] = out
            else:
                results[run.name].update(out)
    took = time.monotonic() - started

    scores = {system: score_rows(scorer, runs, results, system) for system in systems}
    order = [("dev", p) for p in parts] + [("dev (4 articles)", p) for p in parts] + \
            [(s, p) for s in ("medical", "squad") for p in parts] + \
            [(s, "tuning") for s in ("medical (ours)", "squad near-miss (ours)") if "tuning" in parts]
    rows = []
    for set_name, part in order:
        for system in systems:
            report = scores[system].get((set_name, part))
            if report is not None:
                rows.append({"set": set_name, "part": part, "system": system,
                             "overall": report["overall"], "by_kind": report["by_kind"],
                             "missing": len(report["missing_qids"])})
    for r in rows:
        if r["missing"]:
            raise EvalError(f"{r['system']} gave no result for {r['missing']} question(s) of "
                            f"{r['set']} {r['part']}")
    if args.keep:
        keep_per_question(args.keep, runs, results, scores, systems)
    return {"binary": str(binary), "config": str(config), "shared": str(shared),
            "split": str(ROOT / "eval" / "split.toml"), "seconds": round(took, 1),
            "corpora": len(runs), "rows": rows}


def selftest(args: argparse.Namespace, workdir: Path) -> None:
    """dev only: the script's numbers must equal score.py's own on corpus_runs.py's results."""
    args.sets, args.part, args.peers = ["dev"], "both", False
    args.keep = workdir / "keep"
    report = evaluate(args, workdir)
    (row,) = report["rows"]
    kept = workdir / "keep" / "citebot"
    questions, results = kept / "dev.questions.jsonl", kept / "dev.results.jsonl"
    done = subprocess.run([sys.executable, str(Path(report["shared"]) / "eval" / "score.py"),
                           str(questions), str(results), "--json"], capture_output=True)
    if done.returncode != 0:
        raise EvalError(f"selftest: score.py on the kept results failed: {tail(done.stderr)}")
    expected = json.loads(done.stdout)["overall"]
    if expected != row["overall"]:
        raise EvalError(f"selftest: table row {row['overall']} differs from score.py's "
                        f"{expected}")
    n_dev = len(load_jsonl(Path(report["shared"]) / "eval" / "dev.jsonl"))
    if row["overall"]["n"] != n_dev or row["part"] != "tuning":
        raise EvalError(f"selftest: expected all {n_dev} dev questions in the tuning part, got "
                        f"{row['overall']['n']} in {row['part']}")
    scored = load_jsonl(kept / "scored.jsonl")
    if len(scored) != n_dev:
        raise EvalError(f"selftest: scored.jsonl has {len(scored)} lines for {n_dev} questions")
    print_tables(report, show_kinds=True, markdown=False)
    print(f"\nselftest ok: dev row equals score.py on the kept results ({report['seconds']} s)")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            workdir_ctx = None
            workdir = args.workdir.resolve()
        else:
            workdir_ctx = tempfile.TemporaryDirectory(prefix="citebot-eval-")
            workdir = Path(workdir_ctx.name)
        try:
            if args.selftest:
                selftest(args, workdir)
                return 0
            report = evaluate(args, workdir)
        finally:
            if workdir_ctx is not None:
                workdir_ctx.cleanup()
    except InputMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_tables(report, show_kinds=not args.no_kinds, markdown=args.markdown)
    print(f"\n{report['corpora']} corpora in {report['seconds']} s; binary {report['binary']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
