#!/usr/bin/env bash
# Idempotent set-up: a virtualenv with the project and its dev tools; with --test-services also
# Azurite (npm) and a PostgreSQL server (Debian). Safe to run again: it skips what is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "aml-bot needs Python 3.11 or newer (found $("$python" --version 2>&1))." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$python" -m venv .venv
fi
stamp=".venv/.aml-bot-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages (first time takes a few minutes)" >&2
  .venv/bin/python -m pip install -qq --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -qq --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--test-services" ]; then
  if [ ! -x node_modules/.bin/azurite-blob ]; then
    command -v npm >/dev/null 2>&1 || { echo "setup: npm is needed for Azurite (Node 20)." >&2; exit 1; }
    echo "setup: installing Azurite from package-lock.json" >&2
    npm ci --no-audit --no-fund --silent
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "setup: installing PostgreSQL (Debian package)" >&2
    if [ "$(id -u)" -ne 0 ]; then echo "setup: installing PostgreSQL needs root (apt-get)." >&2; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
fi
