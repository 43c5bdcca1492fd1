"""Leader failover: replica processes elect a sweep leader on one PostgreSQL; the leader is SIGKILLed N times.

    .venv/bin/python -m bench.failover [--kills 5] [--replicas 3] [--database-url URL]
                                       [--retry 2] [--heartbeat 1] [--every 0.2] [--timeout 30]

Needs PostgreSQL: --database-url, else AMLBOT_TEST_DATABASE_URL (`./dev bench failover` starts a throwaway
cluster and sets it). The run gets a schema of its own, dropped at the end.

Each replica is a separate Python process (`python -m bench.failover replica …`) running the bot's own
machinery: services.leader.LeaderElection (advisory lock on a dedicated connection, epoch fencing) and
bot.background.LeaderGatedLoop around a sweep that inserts one row (pid, epoch, time) every `--every` s while
it leads; each insert's commit is fenced. The bench waits until the leader has swept a few times, SIGKILLs it,
waits for the first row of a higher epoch, and starts a replacement replica, N times.

Failover time: SIGKILL → first sweep row of the new leader (one machine, one wall clock).
Duplicates: epochs written by two processes, plus rows committed out of epoch order (a stale leader's write
after its successor began); both must be 0. Lost: kills after which no new leader swept within --timeout.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Float, Integer, MetaData, Table, func, insert, select, text

from bot.background import LeaderGatedLoop
from services.leader import LeaderElection, NotLeader
from services.store import make_engine
from services.store.leader_tables import leader_epochs

ROOT = Path(__file__).resolve().parent.parent
PG_URL_ENV = "AMLBOT_TEST_DATABASE_URL"
ELECTION = "failover bench"
FENCED = "FENCED"  # printed by a replica whose sweep commit was refused by the fence
SWEEPS_BEFORE_KILL = 3

sweeps = Table(
    "failover_sweeps",
    MetaData(),
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("pid", Integer, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("at", Float, nullable=False),  # time.time() of the sweep
)


# -- the database: a schema per run ------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    """A fresh schema with the leader and sweep tables; `engine()` connects to it."""

    url: str
    schema: str = field(default_factory=lambda: f"failover_{uuid.uuid4().hex[:12]}")
    _engines: list[Engine] = field(default_factory=list)

    def create(self) -> BenchDatabase:
        admin = make_engine(self.url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        engine = self.engine()
        leader_epochs.create(engine)
        sweeps.create(engine)
        return self

    def engine(self, **kwargs: Any) -> Engine:
        engine = make_engine(self.url, schema=self.schema, **kwargs)
        self._engines.append(engine)
        return engine

    def drop(self) -> None:
        for engine in self._engines:
            engine.dispose()
        admin = make_engine(self.url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        admin.dispose()


@dataclass(frozen=True)
class Sweep:
    id: int
    pid: int
    epoch: int
    at: float


def all_sweeps(engine: Engine, *, after_id: int = 0) -> list[Sweep]:
    with engine.connect() as conn:
        rows = conn.execute(select(sweeps).where(sweeps.c.id > after_id).order_by(sweeps.c.id)).all()
    return [Sweep(r.id, r.pid, r.epoch, r.at) for r in rows]


def last_sweep(engine: Engine) -> Sweep | None:
    with engine.connect() as conn:
        row = conn.execute(select(sweeps).order_by(sweeps.c.id.desc()).limit(1)).first()
    return Sweep(row.id, row.pid, row.epoch, row.at) if row else None


def sweeps_in_epoch(engine: Engine, epoch: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(sweeps.c.epoch == epoch)).scalar_one())


@dataclass(frozen=True)
class Invariants:
    shared_epochs: list[int]  # epochs that two processes wrote in: two leaders at once
    out_of_order: list[Sweep]  # rows of an older epoch committed after a newer epoch's row: a stale leader

    @property
    def duplicates(self) -> int:
        return len(self.shared_epochs) + len(self.out_of_order)


def invariants(engine: Engine) -> Invariants:
    rows = all_sweeps(engine)
    writers: dict[int, set[int]] = {}
    out_of_order: list[Sweep] = []
    newest = 0
    for row in rows:  # ids are taken at insert, before the fenced commit: epoch order is id order
        writers.setdefault(row.epoch, set()).add(row.pid)
        if row.epoch < newest:
            out_of_order.append(row)
        newest = max(newest, row.epoch)
    return Invariants(sorted(e for e, pids in writers.items() if len(pids) > 1), out_of_order)


# -- replicas ----------------------------------------------------------------------------------------------


@dataclass
class Replica:
    """One replica process; its log goes to `log_path`, its stdout (FENCED lines) to `out_path`."""

    process: subprocess.Popen[bytes]
    log_path: Path
    out_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_replica(
    db: BenchDatabase, workdir: Path, *, retry: float, heartbeat: float, every: float, name: str = ELECTION
) -> Replica:
    tag = uuid.uuid4().hex[:8]
    log_path, out_path = workdir / f"replica-{tag}.log", workdir / f"replica-{tag}.out"
    args = ["--url", db.url, "--schema", db.schema, "--name", name]
    args += ["--retry", f"{retry:g}", "--heartbeat", f"{heartbeat:g}", "--every", f"{every:g}"]
    with open(log_path, "wb") as log, open(out_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.failover", "replica", *args], cwd=ROOT, stdout=out, stderr=log
        )
    return Replica(process, log_path, out_path)


def replica_main(args: argparse.Namespace) -> int:
    """One replica: elect, and sweep (insert a row) every `every` s while leading, until SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(message)s")
    pool_name = f"failover-pool-{os.getpid()}"  # lets a test see whether this process is inside a transaction
    engine = make_engine(args.url, schema=args.schema, pool_size=2, connect_args={"application_name": pool_name})
    election = LeaderElection(
        engine,
        args.name,
        retry_seconds=args.retry,
        heartbeat_seconds=args.heartbeat,
        application_name=f"failover-replica-{os.getpid()}",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def sweep(term: threading.Event) -> None:
        while not term.is_set():
            epoch = election.epoch
            if epoch is not None:
                try:
                    with engine.begin() as conn:  # LeaderGatedLoop fences this commit
                        conn.execute(insert(sweeps).values(pid=os.getpid(), epoch=epoch, at=time.time()))
                except NotLeader as err:
                    print(f"{FENCED} epoch={epoch}: {err}", flush=True)
                    return
            term.wait(args.every)

    election.start()
    try:
        LeaderGatedLoop(election, sweep, name="failover-sweep", retry_seconds=args.retry)(stop)
    finally:
        election.stop()
        engine.dispose()
    return 0


# -- the benchmark -----------------------------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> Any:
    """The predicate's first truthy value, or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value or None
        time.sleep(interval)


@dataclass
class Failover:
    killed_pid: int
    killed_epoch: int
    seconds: float | None  # None: no new leader within the timeout (lost)


def run(args: argparse.Namespace, db: BenchDatabase, workdir: Path) -> list[Failover]:
    engine = db.engine(pool_size=2)
    options = {"retry": args.retry, "heartbeat": args.heartbeat, "every": args.every}
    replicas = {r.pid: r for r in (spawn_replica(db, workdir, **options) for _ in range(args.replicas))}
    failovers: list[Failover] = []
    try:
        for i in range(args.kills):
            leader = wait_for(partial(_settled_leader, engine), args.timeout)
            if leader is None or leader.pid not in replicas:
                raise RuntimeError(f"no replica led within {args.timeout:g} s; logs in {workdir}")
            killed_at = time.time()
            os.kill(leader.pid, signal.SIGKILL)
            replicas.pop(leader.pid).process.wait()
            nxt = wait_for(partial(_first_of_newer_epoch, engine, leader.epoch), args.timeout)
            seconds = nxt.at - killed_at if nxt is not None else None
            failovers.append(Failover(leader.pid, leader.epoch, seconds))
            shown = f"{seconds:.3f} s" if seconds is not None else "LOST"
            print(f"kill {i + 1}/{args.kills}: pid {leader.pid} (epoch {leader.epoch}) → {shown}", file=sys.stderr)
            replacement = spawn_replica(db, workdir, **options)
            replicas[replacement.pid] = replacement
    finally:
        for replica in replicas.values():
            replica.stop()
    return failovers


def _settled_leader(engine: Engine) -> Sweep | None:
    """The latest sweep, once its epoch has swept a few times (the leader is well under way)."""
    latest = last_sweep(engine)
    return latest if latest and sweeps_in_epoch(engine, latest.epoch) >= SWEEPS_BEFORE_KILL else None


def _first_of_newer_epoch(engine: Engine, epoch: int) -> Sweep | None:
    with engine.connect() as conn:
        row = conn.execute(select(sweeps).where(sweeps.c.epoch > epoch).order_by(sweeps.c.id).limit(1)).first()
    return Sweep(row.id, row.pid, row.epoch, row.at) if row else None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def report(failovers: list[Failover], found: Invariants, args: argparse.Namespace, command: str, server: str) -> str:
    times = [f.seconds for f in failovers if f.seconds is not None]
    lost = sum(1 for f in failovers if f.seconds is None)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "Leader failover: SIGKILL of the sweep leader → first sweep by the new leader",
        f"machine: nproc {cpus}, {platform.machine()}, {platform.system()} {platform.release()}; Python "
        f"{platform.python_version()}; psycopg {metadata.version('psycopg')}, SQLAlchemy "
        f"{metadata.version('sqlalchemy')}; PostgreSQL {server} on loopback",
        f"command: {command}",
        "",
        f"  {args.replicas} replica processes (LeaderElection retry {args.retry:g} s, heartbeat {args.heartbeat:g} s;"
        f" LeaderGatedLoop sweeping every {args.every:g} s, fenced commits); leader killed after "
        f">= {SWEEPS_BEFORE_KILL} sweeps of its epoch, a replacement started after each failover.",
        "",
        f"  kills                {len(failovers)}",
        f"  failover p50 (s)     {percentile(times, 50):.3f}",
        f"  failover max (s)     {max(times) if times else math.nan:.3f}",
        f"  each (s)             {', '.join(f'{t:.3f}' for t in times) or '—'}",
        f"  duplicates           {found.duplicates} (epochs with two writers: {len(found.shared_epochs)}, "
        f"stale writes: {len(found.out_of_order)})",
        f"  lost                 {lost} (kills with no new leader within {args.timeout:g} s)",
        "",
        "  Failover is the lock's hand-over (the server drops the killed process's connection at once; a follower"
        " waiting on pg_advisory_lock gets it) + the epoch claim + the gated loop's start + its first commit.",
    ]
    return "\n".join(_wrap(line) for line in lines)


def _wrap(line: str, width: int = 118) -> str:
    """Fold a long prose line (table rows, with their wide gaps, stay as they are)."""
    if len(line) <= width or "   " in line.strip():
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    replica = sub.add_parser("replica", help="one replica process (the bench starts these)")
    replica.add_argument("--url", required=True)
    replica.add_argument("--schema", required=True)
    replica.add_argument("--name", default=ELECTION)
    for target in (parser, replica):
        target.add_argument("--retry", type=float, default=2.0, help="election retry_seconds (default 2)")
        target.add_argument("--heartbeat", type=float, default=1.0, help="election heartbeat_seconds (default 1)")
        target.add_argument("--every", type=float, default=0.2, help="seconds between sweeps (default 0.2)")
    parser.add_argument("--kills", type=int, default=5, help="how many times the leader is killed (default 5)")
    parser.add_argument("--replicas", type=int, default=3, help="replica processes (default 3)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wait for a new leader at most (default 30 s)")
    parser.add_argument(
        "--database-url", default=os.environ.get(PG_URL_ENV), help=f"PostgreSQL URL (default ${PG_URL_ENV})"
    )
    args = parser.parse_args(argv)
    if args.command is None:
        if not args.database_url or not args.database_url.startswith("postgresql"):
            parser.error(f"needs PostgreSQL: --database-url postgresql+psycopg://… or {PG_URL_ENV}")
        if args.kills < 1 or args.replicas < 2:
            parser.error("--kills must be >= 1 and --replicas >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "replica":
        return replica_main(args)
    command = shlex.join(["python", "-m", "bench.failover", *(sys.argv[1:] if argv is None else argv)])
    db = BenchDatabase(args.database_url).create()
    try:
        with db.engine().connect() as conn:
            server = str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
        with tempfile.TemporaryDirectory(prefix="aml-bot-failover.") as tmp:
            failovers = run(args, db, Path(tmp))
            found = invariants(db.engine())
    finally:
        db.drop()
    print(report(failovers, found, args, command, server), flush=True)
    return 0 if found.duplicates == 0 and all(f.seconds is not None for f in failovers) else 1


if __name__ == "__main__":
    sys.exit(main())
