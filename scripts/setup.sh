#!/usr/bin/env bash
# Creates .venv and installs talkstream (and with --dev, the test tools and the Python client) into it.
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY' || { echo "talkstream needs Python 3.11 (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first and exactly: a loose requirement elsewhere must not pull a multi-GB CUDA build.
python -m pip install --quiet "torch==2.13.0"
if [ "${1:-}" = "--dev" ]; then
  python -m pip install --quiet -e ".[dev]" -e ./clients/python
else
  python -m pip install --quiet -e .
fi
