#!/usr/bin/env python3
"""Whole-process batch search with one peer, the counterpart of `citebot search --json -`.

Usage: peer_batch.py PEER < questions.txt > answers.jsonl

Loads the peers' shared passage split, builds the peer's index, then answers one question per
standard-input line, writing one JSON object per line (the top 10 passages with text and refs).
Timed from outside as a whole process (interpreter start, imports, index build, JSON output),
like citebot. Run with the peers' venv (../shared/peers/setup.sh) and *_NUM_THREADS=1.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

PEERS_DIR = Path(os.environ.get(
    "CITEBOT_PEERS_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "peers"))


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    sys.path.insert(0, str(PEERS_DIR))
    from passages import load_passages
    from peers_impl import PEERS

    passages = load_passages(str(PEERS_DIR / "passages.jsonl"))
    peer = PEERS[sys.argv[1]]()
    peer.build(passages)
    write = sys.stdout.write
    for line in sys.stdin:
        query = line.rstrip("\r\n")
        found = peer.search(query)
        write(json.dumps({
            "query": query,
            "passages": [{"id": passages[i]["id"], "text": passages[i]["text"],
                          "refs": passages[i]["refs"]} for i in found[:10]],
        }, ensure_ascii=False))
        write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
