#!/usr/bin/env bash
# Installs what scripts/train_reader.py needs into a venv of its own and prints its python:
# JAX's CPU build, optax, numpy and safetensors, at pinned versions (the reader's training is
# reproducible only with the same versions). Idempotent; nothing here is needed to run citebot.
#
#   scripts/install-reader-tools.sh             # into ~/.cache/citebot-reader/venv
#   CITEBOT_READER_VENV=/srv/venv scripts/install-reader-tools.sh
#
# Why JAX and not torch: Debian's python3-torch is built on reference BLAS and measured ~40×
# slower here; JAX's CPU wheel uses XLA's own kernels, and trains MiniLM-L6 on 2 cores.
set -euo pipefail
VENV="${CITEBOT_READER_VENV:-$HOME/.cache/citebot-reader/venv}"
PYTHON="${PYTHON:-python3}"
PINS=("jax[cpu]==0.10.2" "jaxlib==0.10.2" "optax==0.2.8" "numpy==2.4.6" "safetensors==0.8.0")
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import jax, optax, numpy, safetensors" 2>/dev/null \
    && [ "$("$VENV/bin/python" -c 'import jax, optax; print(jax.__version__, optax.__version__)')" = "0.10.2 0.2.8" ]; then
    printf '%s\n' "$VENV/bin/python"
    exit 0
fi
echo "install-reader-tools: installing ${PINS[*]} into $VENV" >&2
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
"$VENV/bin/python" -c "import jax, optax, numpy, safetensors" \
    || { echo "install-reader-tools: the venv at $VENV does not import jax: remove it and run this again" >&2; exit 1; }
printf '%s\n' "$VENV/bin/python"
