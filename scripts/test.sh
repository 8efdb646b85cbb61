#!/usr/bin/env bash
# Sets up everything the tests need and runs them all: Python (pytest), the JS client (node --test, through
# pytest) and the browser test in real Chromium (through pytest). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh --dev

# System packages: Chromium for the browser test, espeak-ng for lip-sync tests with real phoneme timings.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
ldconfig -p 2>/dev/null | grep -q libespeak-ng || missing+=(libespeak-ng1)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing ${missing[*]} (install with apt-get); their tests fail under CI=true" >&2
  fi
fi

if [ -f clients/js/package-lock.json ] && command -v npm >/dev/null 2>&1; then
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi

. .venv/bin/activate
ruff check .
mypy
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
