#!/usr/bin/env bash
# Set up, then run benchmarks (they print figures; they are not tests).
#   ./dev bench                  all three: ack latency under load, the job watcher, leader failover
#   ./dev bench ack [args]       python -m bench.ack_latency [args], e.g. --requests 500 --variants ours
#   ./dev bench watcher [args]   python -m bench.watcher [args], e.g. --jobs 100
#   ./dev bench failover [args]  python -m bench.failover [args], e.g. --kills 10 (on a throwaway PostgreSQL
#                                unless AMLBOT_TEST_DATABASE_URL is set)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
which="${1:-all}"
shift || true
case "$which" in
  failover | all) bash "$root/scripts/setup.sh" --test-services ;;
  *) bash "$root/scripts/setup.sh" ;;
esac
cd "$root"

work=""
pg_ctl=""
cleanup() {
  if [ -n "$pg_ctl" ]; then as_pg "$pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true; fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A throwaway PostgreSQL cluster (as scripts/test.sh starts one), unless one is given.
with_postgres() {
  if [ -n "${AMLBOT_TEST_DATABASE_URL:-}" ]; then return; fi
  work="$(mktemp -d /tmp/aml-bot-bench.XXXXXX)"
  local bin port
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  install -d "$work/pg"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$work/pg"; chmod 755 "$work"; fi
  as_pg "$bin/initdb" -D "$work/pg/data" -U postgres -A trust --no-sync >"$work/initdb.log" 2>&1
  pg_ctl="$bin/pg_ctl"
  as_pg "$pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg -c fsync=off" start >/dev/null
  export AMLBOT_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}

case "$which" in
  ack) exec .venv/bin/python -m bench.ack_latency "$@" ;;
  watcher) exec .venv/bin/python -m bench.watcher "$@" ;;
  failover) with_postgres && .venv/bin/python -m bench.failover "$@" ;;
  all)
    .venv/bin/python -m bench.ack_latency
    .venv/bin/python -m bench.watcher
    with_postgres && .venv/bin/python -m bench.failover
    ;;
  *) echo "usage: ./dev bench [ack|watcher|failover] [arguments]" >&2; exit 2 ;;
esac
