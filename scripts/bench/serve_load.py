#!/usr/bin/env python3
"""Loopback figures of one `citebot serve` replica: interaction → response latency (p50/p99)
and questions per second, as Discord would post them (signed with Ed25519).

    python3 scripts/bench/serve_load.py --bin target/release/citebot --config config.toml

It starts the replica itself on a free 127.0.0.1 port with a fresh key pair (the public key in
DISCORD_PUBLIC_KEY), over a private copy of the config whose index folder is its own, and
measures, after a warm-up:
  1. signed PING → PONG, one at a time (the cost of the endpoint itself: verify + reply);
  2. `/ask` interactions one at a time (an answer's latency on an idle replica);
  3. `/ask` interactions at --concurrency (throughput: questions per second, and the latency
     under that load);
  4. GET /v1/search at --concurrency (the JSON API's throughput).
Questions are dev.jsonl's, cycled. The client runs on the same machine (threads, one HTTP
connection each), so on 2 cores it takes CPU from the server: the figures are a floor.
Answers slower than the deferral threshold would be deferred and edited through a Discord API
that is not there: the scratch config raises `defer_after_ms` to its maximum, and any deferred
answer is counted and reported.

Needs the `cryptography` package (Debian's python3 has it) to sign. Prints a markdown table;
--json writes the figures.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError:
    sys.exit("serve_load: needs the Python package `cryptography` to sign interactions "
             "(apt-get install python3-cryptography, or pip install cryptography)")

ROOT = Path(__file__).resolve().parents[2]
APPLICATION_ID = "1000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_config(config: Path, where: Path) -> Path:
    """The config with absolute paths, its own index folder and no deferral."""
    text = config.read_text(encoding="utf-8")
    cfg = tomllib.loads(text)
    base = config.parent

    def absolute(value: str) -> str:
        return str((base / value).resolve())

    lines = [f'corpus_dir = "{absolute(cfg.get("corpus_dir", "corpus"))}"',
             f'index_dir = "{where / "index"}"',
             f'vocabulary_file = "{absolute(cfg.get("vocabulary_file", "corpus/vocabulary.toml"))}"']
    if "ranker_file" in cfg:
        lines.append(f'ranker_file = "{absolute(cfg["ranker_file"])}"')
    lines += ["[discord]", "defer_after_ms = 2500", f'feedback_db = "{where / "feedback.sqlite3"}"',
              "[http]", "rate_limit_per_minute = 0", "max_in_flight = 1024"]
    path = where / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int, key: Ed25519PrivateKey):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.key = key

    def interaction(self, body: bytes) -> tuple[float, int, dict]:
        timestamp = str(int(time.time()))
        signature = self.key.sign(timestamp.encode() + body).hex()
        started = time.perf_counter()
        self.connection.request("POST", "/interactions", body=body, headers={
            "content-type": "application/json",
            "x-signature-ed25519": signature,
            "x-signature-timestamp": timestamp,
        })
        response = self.connection.getresponse()
        data = response.read()
        took = time.perf_counter() - started
        return took, response.status, json.loads(data) if data else {}

    def get(self, path: str) -> tuple[float, int]:
        started = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        response.read()
        return time.perf_counter() - started, response.status


def ping(n: int) -> bytes:
    return json.dumps({"type": 1, "id": str(n), "application_id": APPLICATION_ID,
                       "token": f"token-{n}", "version": 1}).encode()


def ask(n: int, question: str) -> bytes:
    user = {"id": str(700000 + n % 5000), "username": f"user{n % 5000}", "discriminator": "0",
            "global_name": None, "avatar": None, "bot": False}
    return json.dumps({
        "type": 2, "id": str(10_000_000 + n), "application_id": APPLICATION_ID,
        "token": f"token-{n}", "version": 1, "guild_id": "2000", "channel_id": "3000",
        "member": {"user": user, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                   "deaf": False, "mute": False, "flags": 0, "permissions": "0"},
        "data": {"id": "5000", "name": "ask", "type": 1,
                 "options": [{"name": "question", "type": 3, "value": question}]},
        "app_permissions": "0", "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": "2000"}, "context": 0,
        "attachment_size_limit": 8388608,
    }).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(port: int, key, count: int, concurrency: int, make) -> dict:
    """`count` requests from `concurrency` threads; `make(client, n)` sends one and returns
    (seconds, ok, deferred)."""
    latencies: list[float] = []
    failures: list[str] = []
    deferred = [0]
    lock = threading.Lock()
    next_n = [0]

    def worker():
        client = Client(port, key)
        while True:
            with lock:
                n = next_n[0]
                if n >= count:
                    return
                next_n[0] += 1
            try:
                took, problem, was_deferred = make(client, n)
            except Exception as error:  # a broken connection is a failure, counted
                took, problem, was_deferred = 0.0, f"{type(error).__name__}: {error}", False
                client = Client(port, key)
            with lock:
                if problem:
                    failures.append(problem)
                else:
                    latencies.append(took)
                deferred[0] += was_deferred

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if failures:
        print(f"serve_load: {len(failures)} failed, first: {failures[0]}", file=sys.stderr)
    return {"requests": count, "concurrency": concurrency, "ok": len(latencies),
            "failed": len(failures), "deferred": deferred[0], "seconds": wall,
            "per_second": len(latencies) / wall if wall else 0.0,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
            "p99_ms": 1000 * percentile(latencies, 99) if latencies else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=Path(os.environ.get(
        "CARGO_TARGET_DIR", ROOT / "target")) / "release" / "citebot")
    ap.add_argument("--config", type=Path, default=ROOT / "config.toml")
    ap.add_argument("--questions", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--count", type=int, default=2000, help="requests per measured step")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not args.bin.is_file():
        print(f"serve_load: {args.bin} is missing: cargo build --release", file=sys.stderr)
        return 2
    questions = [json.loads(line)["query"] for line in args.questions.read_text().splitlines()
                 if line.strip()]
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    work = Path(tempfile.mkdtemp(prefix="citebot-serve-load-"))
    port = free_port()
    config = scratch_config(args.config.resolve(), work)
    subprocess.run([str(args.bin), "--config", str(config), "index"], check=True,
                   capture_output=True)
    env = dict(os.environ, DISCORD_PUBLIC_KEY=public, RUST_LOG="warn")
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen([str(args.bin), "--config", str(config), "serve", "--listen",
                               f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if Client(port, key).get("/healthz")[1] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                print(f"serve_load: the server did not come up; log in {work}/serve.log",
                      file=sys.stderr)
                return 1
            time.sleep(0.1)

        def send_ping(client, n):
            took, status, body = client.interaction(ping(n))
            ok = status == 200 and body.get("type") == 1
            return took, None if ok else f"PING: {status} {body}", False

        def send_ask(client, n):
            took, status, body = client.interaction(ask(n, questions[n % len(questions)]))
            kind = body.get("type")
            data = body.get("data") or {}
            shows = bool(data.get("embeds")) or bool((data.get("content") or "").strip())
            if status == 200 and kind == 5:
                return took, None, True
            ok = status == 200 and kind == 4 and shows
            return took, None if ok else f"/ask: {status} {str(body)[:200]}", False

        def send_search(client, n):
            from urllib.parse import quote
            took, status = client.get(f"/v1/search?q={quote(questions[n % len(questions)])}&top=3")
            return took, None if status == 200 else f"search: {status}", False

        run(port, key, 200, 4, send_ask)  # warm-up: caches, connections, page cache
        steps = {
            "signed PING, one at a time": run(port, key, args.count, 1, send_ping),
            "/ask, one at a time": run(port, key, args.count, 1, send_ask),
            f"/ask, {args.concurrency} at once": run(port, key, args.count, args.concurrency, send_ask),
            f"GET /v1/search, {args.concurrency} at once": run(port, key, args.count, args.concurrency, send_search),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print("| step | requests | p50 ms | p99 ms | per second | failed | deferred |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in steps.items():
        print(f"| {name} | {s['ok']} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
              f"{s['per_second']:.0f} | {s['failed']} | {s['deferred']} |")
    if args.json:
        args.json.write_text(json.dumps(steps, indent=1) + "\n")
    failed = sum(s["failed"] for s in steps.values())
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
