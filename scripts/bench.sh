#!/usr/bin/env bash
# Set up, then run the ack-latency benchmark (a benchmark, not a test: it prints figures, it asserts nothing).
# Arguments go to it, e.g. scripts/bench.sh --requests 500 --variants ours
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m bench.ack_latency "$@"
