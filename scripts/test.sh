#!/usr/bin/env bash
# Sets up .venv if needed and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3
# Two workers (pytest-xdist), a test file per worker so that module fixtures
# are built once. TFPC_TEST_WORKERS=0 runs serially. Times on 2 cores in
# docs/speed.md.
workers=${TFPC_TEST_WORKERS:-2}
parallel=()
[ "$workers" = 0 ] || parallel=(-n "$workers" --dist loadfile)
exec .venv/bin/python -m pytest -q "${parallel[@]}" tests "$@"
