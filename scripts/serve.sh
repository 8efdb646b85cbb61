#!/usr/bin/env bash
# Sets up (first run only takes a few minutes) and starts the server with the built-in model and default face.
# Settings come from TALKSTREAM_* environment variables (see README); arguments go to `talkstream`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/talkstream "$@"
