#!/usr/bin/env bash
# Sets up .venv if needed and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# tests/test_report.py opens the eval report in headless Chromium and skips
# without it: install Debian's package when missing, as root with apt-get
# (apt-get update + install: 90 s on the 2-core machine, docs/report.md).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] &&
    command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq chromium >/dev/null; } ||
    echo "test: installing chromium failed; the browser test will skip" >&2
fi
export TF_CPP_MIN_LOG_LEVEL=3
# Two workers (pytest-xdist), a test file per worker so that module fixtures
# are built once. TFPC_TEST_WORKERS=0 runs serially. Times on 2 cores in
# docs/speed.md. A worker that crashes fails the run and names its test:
# xdist 3.8 replacing it under loadfile can wait forever (pytest-xdist#784).
workers=${TFPC_TEST_WORKERS:-2}
parallel=()
[ "$workers" = 0 ] || parallel=(-n "$workers" --dist loadfile
                                --max-worker-restart=0)
exec .venv/bin/python -m pytest -q --durations=15 "${parallel[@]}" tests "$@"
