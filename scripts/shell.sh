#!/usr/bin/env bash
# Set up, then run the real bot against the local Slack workspace and let a person type.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m bot shell "$@"
