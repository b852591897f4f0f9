#!/usr/bin/env bash
# Sets up .venv if needed and runs the main job on its built-in default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tfpc_demo "$@"
