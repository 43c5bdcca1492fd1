#!/usr/bin/env bash
# Set up, start Azurite and a throwaway PostgreSQL, then run lint, types and every test.
# Extra arguments go to pytest (e.g. ./dev test -k parser).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" --test-services
cd "$root"

work="$(mktemp -d /tmp/aml-bot-test.XXXXXX)"
pids=()
pg_ctl=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$pg_ctl" ]; then as_pg "$pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Azurite (blob only, in memory). --skipApiVersionCheck: azure-storage-blob 12.31 sends a newer API version.
azurite_port="$(free_port)"
node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$azurite_port" --inMemoryPersistence \
  --skipApiVersionCheck --silent --disableTelemetry --extentMemoryLimit 512 >"$work/azurite.log" 2>&1 &
pids+=("$!")
export AZURITE_BLOB_URL="http://127.0.0.1:$azurite_port/devstoreaccount1"

# A throwaway PostgreSQL cluster: trust auth on loopback, no fsync, gone when the run ends.
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
pg_port="$(free_port)"
install -d "$work/pg"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$work/pg"; chmod 755 "$work"; fi
as_pg "$bin/initdb" -D "$work/pg/data" -U postgres -A trust --no-sync >"$work/initdb.log" 2>&1
pg_ctl="$bin/pg_ctl"
as_pg "$pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $work/pg -c fsync=off" start >/dev/null
export AMLBOT_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"

for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$azurite_port") 2>/dev/null && break
  sleep 0.1
done

echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
