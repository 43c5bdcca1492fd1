"""Ack latency under load: aml-bot's production server beside Bolt's lazy-listener pattern, in one run.

    .venv/bin/python -m bench.ack_latency [--requests 2000] [--concurrency 20] [--work-seconds 2]
                                          [--variants ours,lazy]

For each variant: start a local Slack workspace (LocalSlack) in this process and the server as a child
process (bench/servers.py), send signed `/aml bench sleep` requests from `--concurrency` threads of a
separate load process (one HTTP connection per request, as Slack does; apart from the local Slack so the
clients' timings do not wait on its GIL), record each ack's status and latency, then wait (bounded)
until every slow result has been posted to the workspace through its response_url.

A request fails when it raises (e.g. the 10 s client timeout), answers other than HTTP 200, answers in
3 s or more (Slack's limit), or answers with a message instead of an empty ack (the work was refused).
Target for aml-bot: p99 under 100 ms, zero failures, every result delivered.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import multiprocessing
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from urllib.parse import urlencode

from bench.servers import BENCH_TEXT, RESULT_PREFIX
from bot.devslack import LocalSlack, SlackDriver
from bot.devslack.driver import SLACK_ACK_DEADLINE, send_signed
from bot.localrun import free_port
from bot.settings import Settings
from bot.wsgi import HEALTH_PATH, SLACK_PATH

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 100.0
CLIENT_TIMEOUT = 10.0  # per request; a request still unanswered then is a failure
HTTP_THREADS = Settings.model_fields["http_threads"].default
STOP_GRACE = 15.0  # SIGTERM, then SIGKILL of the child's process group after this long


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    server_args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def variants(work_seconds: float, work_threads: int, database_url: str | None = None) -> dict[str, Variant]:
    work = ("--work-seconds", f"{work_seconds:g}")
    store = {"AMLBOT_DATABASE_URL": database_url} if database_url else {}
    return {
        "ours": Variant(
            "ours",
            "aml-bot: production server (gunicorn gthread, bot.serve.server_options) + ack-then-own-pool "
            f"(create_app; AMLBOT_WORK_THREADS={work_threads}, raised from the default 32 so the "
            f"{work_seconds:g} s jobs drain quickly; ack latency is what is measured)",
            ("ours", *work),
            # `bench sleep` is not a real command, so it has no default role: grant it to everyone.
            {
                "AMLBOT_WORK_THREADS": str(work_threads),
                "AMLBOT_PERMISSIONS": '{"actions": {"bench.sleep": "viewer"}}',
                **store,
            },
        ),
        "lazy": Variant(
            "lazy",
            "Bolt lazy listeners: documented app.command(ack=..., lazy=[...]) on a default slack_bolt.App "
            "(process_before_response=False; default listener executor ThreadPoolExecutor(max_workers=5) "
            "runs both the ack function and the lazy work), Bolt's WSGI adapter under the same gunicorn "
            "gthread options",
            ("lazy", *work),
        ),
        "lazy-pbr": Variant(
            "lazy-pbr",
            "Bolt lazy listeners with process_before_response=True (the docs' FaaS setting: ack runs in the "
            "request thread; lazy work on the default ThreadPoolExecutor(max_workers=5)), same gunicorn options",
            ("lazy", *work, "--process-before-response"),
        ),
    }


# -- the server child process --------------------------------------------------------------------


class ChildServer:
    """`python -m bench.servers ...` in its own process group, stopped with SIGTERM then SIGKILL."""

    def __init__(self, args: Sequence[str], *, slack_api_url: str, bot_token: str, env: dict[str, str], log: Path):
        self.port = free_port()
        self.signing_secret = os.urandom(16).hex()
        self.argv = [sys.executable, "-m", "bench.servers", *args]
        self.extra_env = env
        # Inherited AMLBOT_* settings are dropped: the servers run on the documented defaults plus these.
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AMLBOT_")},
            "AMLBOT_SLACK_BOT_TOKEN": bot_token,
            "AMLBOT_SLACK_SIGNING_SECRET": self.signing_secret,
            "AMLBOT_SLACK_API_URL": slack_api_url,
            "AMLBOT_HOST": "127.0.0.1",
            "AMLBOT_PORT": str(self.port),
            **env,
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.extra_env.items())
        return f"{env + ' ' if env else ''}python -m bench.servers {shlex.join(self.argv[3:])}"

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal reaches only us, and we stop the whole group.
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start-up; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=2) as response:
                    json.loads(response.read())
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the server did not answer {HEALTH_PATH} within {timeout:.0f} s; see {self.log}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server's processes (gunicorn arbiter and worker); Linux only, else nan."""
        if self.process is None or not os.path.isdir("/proc"):
            return math.nan
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process went away
            # After the command name: state, ppid, pgrp, …; utime and stime are the 12th and 13th.
            if int(fields[2]) == self.process.pid:
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def _group_alive(self, pgid: int) -> bool:
        if self.process is not None:
            self.process.poll()  # reap the leader, or it counts as alive
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def stop(self, grace: float = STOP_GRACE) -> str:
        """SIGTERM to the group (gunicorn stops gracefully); SIGKILL whatever is left after `grace`."""
        if self.process is None:
            return "not started"
        pgid = self.process.pid  # leader of its own session, so its pid is the group id
        if not self._group_alive(pgid):
            return "already exited"
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._group_alive(pgid):
            time.sleep(0.1)
        if not self._group_alive(pgid):
            return "stopped by SIGTERM"
        os.killpg(pgid, signal.SIGKILL)
        self.process.wait()
        while self._group_alive(pgid):
            time.sleep(0.05)
        return f"killed (SIGKILL after {grace:g} s)"


# -- load ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    elapsed: float
    status: int = 0
    body: str = ""
    error: str | None = None

    @property
    def failure(self) -> str | None:
        """Why this ack failed, or None."""
        if self.error is not None:
            return self.error
        if self.status != 200:
            return f"HTTP {self.status}"
        if self.elapsed >= SLACK_ACK_DEADLINE:
            return f"ack took >= {SLACK_ACK_DEADLINE:g} s"
        if self.body.strip():
            return "answered instead of acking: " + self.body.strip()[:60]
        return None


@dataclass
class Outcome:
    variant: Variant
    command: str
    planned: int
    concurrency: int
    samples: list[Sample]
    send_seconds: float
    budget_hit: bool
    bench_cpu: float = math.nan  # CPU seconds of the load process (the clients) in the send phase
    server_cpu: float = math.nan  # CPU seconds of the server's processes in the send phase
    delivered: int = 0
    drain_seconds: float | None = None
    drain_timeout: float = 0.0
    stopped: str = ""
    log: Path | None = None

    @property
    def sent(self) -> int:
        return len(self.samples)

    @property
    def failures(self) -> int:
        return sum(1 for s in self.samples if s.failure)

    @property
    def acks_per_second(self) -> float:
        return (self.sent - self.failures) / self.send_seconds if self.send_seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(s.elapsed for s in self.samples)
        if not ordered:
            return math.nan
        rank = max(1, math.ceil(q / 100 * len(ordered)))  # nearest rank
        return ordered[rank - 1] * 1000

    def failure_reasons(self) -> list[tuple[str, int]]:
        return collections.Counter(s.failure for s in self.samples if s.failure).most_common(4)

    @property
    def meets_target(self) -> bool:
        return (
            self.sent == self.planned
            and self.percentile_ms(99) < TARGET_P99_MS
            and self.failures == 0
            and self.delivered == self.sent
        )


def send_one(url: str, secret: str, body: str, stop: threading.Event, deadline: float) -> Sample | None:
    if stop.is_set() or time.monotonic() > deadline:
        return None  # not sent: the send phase ran out of time or was interrupted
    started = time.perf_counter()
    try:
        response = send_signed(url, secret, body, timeout=CLIENT_TIMEOUT)
    except Exception as err:  # timeouts, refused or reset connections: all failures
        return Sample(time.perf_counter() - started, error=type(err).__name__)
    return Sample(response.elapsed, response.status, response.body)


def send_load(
    url: str, secret: str, bodies: list[str], concurrency: int, budget: float
) -> tuple[list[Sample], float, bool, float]:
    """Send every body from `concurrency` threads; runs in its own process (see `load_in_process`)."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-client")
    samples: list[Sample] = []
    skipped = 0
    cpu = time.process_time()
    started = time.monotonic()
    deadline = started + budget
    next_report = started + 10
    try:
        futures: list[Future[Sample | None]] = [
            pool.submit(send_one, url, secret, body, stop, deadline) for body in bodies
        ]
        for future in as_completed(futures):
            sample = future.result()
            if sample is None:
                skipped += 1
            else:
                samples.append(sample)
            if time.monotonic() >= next_report:
                next_report += 10
                failed = sum(1 for s in samples if s.failure)
                progress(f"  … {len(samples)}/{len(bodies)} sent, {failed} failed, {time.monotonic() - started:.0f} s")
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    # The send phase ends when the last answer (or failure) is in.
    elapsed = max(time.monotonic() - started, 1e-9)
    return samples, elapsed, skipped > 0, time.process_time() - cpu


def load_in_process(
    url: str, secret: str, bodies: list[str], concurrency: int, budget: float
) -> tuple[list[Sample], float, bool, float]:
    """Run the clients in a separate process, so the local Slack (receiving results) does not share their GIL."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as clients:
        return clients.submit(send_load, url, secret, bodies, concurrency, budget).result()


def delivered_count(slack: LocalSlack) -> int:
    """Results posted through a response_url and shown to the user (cheap: reads the API log)."""
    return sum(
        1
        for call in slack.workspace.calls("response_url")
        if call.status == 200 and str(call.params.get("text", "")).startswith(RESULT_PREFIX)
    )


def delivered_ephemerals(slack: LocalSlack) -> int:
    return sum(
        1
        for e in slack.workspace.ephemerals("C_ML", "U_ALICE")
        if e.source == "response_url" and e.text.startswith(RESULT_PREFIX)
    )


def wait_delivered(slack: LocalSlack, expected: int, timeout: float) -> float | None:
    """Seconds until `expected` results were delivered, or None when `timeout` passed first."""
    started = time.monotonic()
    next_report = started + 10
    while True:
        count = delivered_count(slack)
        now = time.monotonic()
        if count >= expected:
            return now - started
        if now - started >= timeout:
            return None
        if now >= next_report:
            next_report += 10
            progress(f"  … {count}/{expected} results delivered, {now - started:.0f} s")
        time.sleep(0.1)


def run_variant(variant: Variant, args: argparse.Namespace, logs: Path) -> Outcome:
    with LocalSlack() as slack:
        server = ChildServer(
            variant.server_args,
            slack_api_url=slack.api_url,
            bot_token=slack.bot_token,
            env=variant.env,
            log=logs / f"{variant.key}.log",
        )
        outcome: Outcome | None = None
        try:
            progress(f"[{variant.key}] starting: {server.command}")
            server.start()
            driver = SlackDriver(server.url + SLACK_PATH, server.signing_secret, slack, timeout=CLIENT_TIMEOUT)
            bodies = [urlencode(driver.slash_form(BENCH_TEXT)) for _ in range(args.requests)]
            progress(f"[{variant.key}] sending {args.requests} requests at concurrency {args.concurrency}")
            server_cpu = server.cpu_seconds()
            samples, send_seconds, budget_hit, bench_cpu = load_in_process(
                driver.bot_url, server.signing_secret, bodies, args.concurrency, args.send_budget
            )
            server_cpu = server.cpu_seconds() - server_cpu
            outcome = Outcome(
                variant,
                server.command,
                args.requests,
                args.concurrency,
                samples,
                send_seconds,
                budget_hit,
                bench_cpu=bench_cpu,
                server_cpu=server_cpu,
                drain_timeout=args.drain_timeout,
                log=server.log,
            )
            progress(f"[{variant.key}] sent {len(samples)} in {send_seconds:.1f} s; waiting for results")
            outcome.drain_seconds = wait_delivered(slack, len(samples), args.drain_timeout)
        finally:
            progress(f"[{variant.key}] stopping the server")
            stopped = server.stop()
            if outcome is not None:
                outcome.stopped = stopped
        # Counted after the server is gone: nothing more can arrive.
        assert outcome is not None
        outcome.delivered = delivered_ephemerals(slack)
        return outcome


# -- report ----------------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("slack-bolt", "slack-sdk", "gunicorn"))
    return (
        f"machine: nproc {cpus}, {platform.machine()}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()} ({platform.python_implementation()}); {versions}"
    )


def report(outcomes: list[Outcome], args: argparse.Namespace, command: str) -> str:
    lines = [
        "Ack latency under load: /aml bench sleep (work sleeps "
        f"{args.work_seconds:g} s, then posts its result to the local workspace's response_url)",
        machine(),
        f"command: {command}",
        "",
    ]
    for o in outcomes:
        lines.append(f"  {o.variant.key:<9} {o.variant.label}")
        lines.append(f"  {'':<9} server: {o.command} (AMLBOT_HTTP_THREADS default {HTTP_THREADS})")
    lines.append("")

    def fmt_ms(value: float) -> str:
        return "—" if math.isnan(value) else f"{value:,.1f}"

    def rate(value: float) -> str:
        return f"{value:,.1f}" if value >= 1 else f"{value:.3f}"

    def percent(cpu: float, wall: float) -> str:
        return "—" if math.isnan(cpu) else f"{cpu / wall * 100:.0f}"

    def drain(o: Outcome) -> str:
        if o.drain_seconds is None:
            return f"> {o.drain_timeout:g} (gave up)"
        return f"{o.drain_seconds:.1f}"

    rows: list[tuple[str, list[str]]] = [
        (
            "requests sent",
            [f"{o.sent} / {o.planned}" + (" (send budget hit)" if o.budget_hit else "") for o in outcomes],
        ),
        ("concurrency", [str(o.concurrency) for o in outcomes]),
        ("ack p50 (ms)", [fmt_ms(o.percentile_ms(50)) for o in outcomes]),
        ("ack p95 (ms)", [fmt_ms(o.percentile_ms(95)) for o in outcomes]),
        ("ack p99 (ms)", [fmt_ms(o.percentile_ms(99)) for o in outcomes]),
        ("ack max (ms)", [fmt_ms(o.percentile_ms(100)) for o in outcomes]),
        ("send phase (s)", [f"{o.send_seconds:.1f}" for o in outcomes]),
        ("acks/s", [rate(o.acks_per_second) for o in outcomes]),
        ("server CPU, send (%)", [percent(o.server_cpu, o.send_seconds) for o in outcomes]),
        ("clients CPU, send (%)", [percent(o.bench_cpu, o.send_seconds) for o in outcomes]),
        ("failures", [str(o.failures) for o in outcomes]),
        ("results delivered", [f"{o.delivered} / {o.sent}" for o in outcomes]),
        ("time to drain (s)", [drain(o) for o in outcomes]),
    ]
    width = max(22, *(len(v) + 2 for _, values in rows for v in values))
    lines.append(f"  {'':<20}" + "".join(f"{o.variant.key:>{width}}" for o in outcomes))
    for name, values in rows:
        lines.append(f"  {name:<20}" + "".join(f"{v:>{width}}" for v in values))
    lines.append("")
    for o in outcomes:
        reasons = "; ".join(f"{count} × {reason}" for reason, count in o.failure_reasons()) or "none"
        lines.append(f"  {o.variant.key}: failures: {reasons}. Server {o.stopped}; log {o.log}")
    lines += [
        "",
        "  Latency: client-side, connect to last byte of the ack, over every request sent (a failed request "
        f"counts at the moment it failed; client timeout {CLIENT_TIMEOUT:g} s). acks/s: successful acks / send "
        "phase. Failure: exception, status != 200, ack >= 3 s, or a message instead of an empty ack. "
        "Delivered: result ephemerals posted via response_url (counted after the server stopped). "
        "Drain: from the end of the send phase until every sent request's result was delivered. "
        "CPU: % of one core during the send phase (clients = the load process).",
    ]
    ours = next((o for o in outcomes if o.variant.key == "ours"), None)
    if ours is not None:
        verdict = "MET" if ours.meets_target else "NOT MET"
        lines.append(
            f"  Target for aml-bot (p99 < {TARGET_P99_MS:g} ms, 0 failures, every result delivered): {verdict} "
            f"(p99 {fmt_ms(ours.percentile_ms(99))} ms, {ours.failures} failures, "
            f"{ours.delivered}/{ours.planned} delivered)"
        )
    return "\n".join(lines)


# -- entry point -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ack_latency", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant (default 2000)")
    parser.add_argument("--concurrency", type=int, default=20, help="client threads (default 20)")
    parser.add_argument("--work-seconds", type=float, default=2.0, help="how long each job sleeps (default 2)")
    parser.add_argument(
        "--variants", default="ours,lazy", help="comma-separated: ours, lazy, lazy-pbr (default ours,lazy)"
    )
    parser.add_argument("--work-threads", type=int, default=200, help="AMLBOT_WORK_THREADS for aml-bot (default 200)")
    parser.add_argument(
        "--database-url",
        help="AMLBOT_DATABASE_URL for aml-bot, already migrated (default: SQLite in a fresh data dir)",
    )
    parser.add_argument(
        "--send-budget",
        type=float,
        default=300.0,
        help="seconds a variant may spend sending; requests not sent by then are reported (default 300)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for results after sending (default 120)",
    )
    args = parser.parse_args(argv)
    known = variants(args.work_seconds, args.work_threads, args.database_url)
    args.variant_keys = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variant_keys if v not in known]
    if unknown or not args.variant_keys:
        parser.error(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench.ack_latency", *(sys.argv[1:] if argv is None else argv)])
    signal.signal(signal.SIGTERM, _terminate)
    logs = Path(tempfile.mkdtemp(prefix="aml-bot-bench."))
    progress(f"server logs in {logs}")
    known = variants(args.work_seconds, args.work_threads, args.database_url)
    outcomes: list[Outcome] = []
    try:
        for key in args.variant_keys:
            outcomes.append(run_variant(known[key], args, logs))
    except KeyboardInterrupt:
        progress("interrupted: servers stopped" + ("; the variants that finished:" if outcomes else ""))
        if outcomes:
            print(report(outcomes, args, command), flush=True)
        return 130
    print(report(outcomes, args, command), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
