#!/usr/bin/env bash
# Set up, then run benchmarks (they print figures and assert nothing; they are not tests).
#   ./dev bench                  both: ack latency under load, then the job watcher
#   ./dev bench ack [args]       python -m bench.ack_latency [args], e.g. --requests 500 --variants ours
#   ./dev bench watcher [args]   python -m bench.watcher [args], e.g. --jobs 100
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
which="${1:-all}"
shift || true
case "$which" in
  ack) exec .venv/bin/python -m bench.ack_latency "$@" ;;
  watcher) exec .venv/bin/python -m bench.watcher "$@" ;;
  all) .venv/bin/python -m bench.ack_latency && exec .venv/bin/python -m bench.watcher ;;
  *) echo "usage: ./dev bench [ack|watcher] [arguments]" >&2; exit 2 ;;
esac
