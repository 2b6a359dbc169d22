#!/usr/bin/env bash
# The test binaries `cargo test` links, and their total size: each integration-test binary
# links the whole stack it tests, so their number and size are most of a cold build's link time
# and of the target folder (RELIABILITY.md, "Build shape"). Builds them first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, os, sys
total = 0
rows = []
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("profile", {}).get("test") and message.get("executable"):
        size = os.path.getsize(message["executable"])
        total += size
        rows.append((size, message["target"]["name"], message["package_id"].split("#")[-1].split("@")[0].rsplit("/", 1)[-1]))
for size, name, package in sorted(rows, reverse=True):
    print(f"{size / 2**20:8.1f} MiB  {package} {name}")
print(f"{total / 2**20:8.1f} MiB  total, {len(rows)} test binaries")
'
