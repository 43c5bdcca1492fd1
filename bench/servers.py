"""The servers a benchmark runs as child processes, both under the production gunicorn options.

    python -m bench.servers ours [--work-seconds 2]
        aml-bot exactly as `python -m bot serve` builds it (settings, services, create_app, BotServer,
        server_options: HTTP workers and runner processes), with one extra slow command, `/aml bench sleep`,
        registered through the injected command table (BenchRunnerApp gives the runners the same table): it
        sleeps, then the bot posts its reply to the response_url.

    python -m bench.servers lazy [--work-seconds 2] [--process-before-response]
        A plain Bolt App using Bolt's documented lazy-listener pattern
        (`app.command("/aml")(ack=..., lazy=[...])`) with Bolt's defaults — so its default
        listener executor, ThreadPoolExecutor(max_workers=5), which runs both the ack function
        (unless process_before_response) and the lazy functions — served by Bolt's WSGI adapter under
        the same gunicorn gthread options as aml-bot.

Both read their configuration from the AMLBOT_* environment through `load_settings` (token, signing
secret, Slack API URL, host, port, HTTP and work threads), so the benchmark sets them like an operator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.app import AmlBot, create_app
from bot.bootstrap import build_services
from bot.logs import configure_logging
from bot.runner import CommandRunnerApp
from bot.serve import BotServer, server_options, web_role
from bot.settings import Settings, load_settings
from bot.wsgi import HEALTH_PATH, SLACK_PATH
from commands import build_table
from commands.context import CommandContext, Reply
from commands.table import CommandTable

# What the benchmark sends and how it recognises a delivered result.
BENCH_TEXT = "bench sleep"
RESULT_PREFIX = "bench result:"
WORK_SECONDS_ENV = "BENCH_WORK_SECONDS"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def result_text(work_seconds: float) -> str:
    return f"{RESULT_PREFIX} slept {work_seconds:g} s"


# -- aml-bot: the production server and app, plus one command -------------------------------------


def bench_table(command: str, work_seconds: float) -> CommandTable:
    """The production command table plus `bench sleep`, a slow command that only sleeps."""
    table = build_table(command)
    table.noun("bench", "Benchmark-only commands (registered by bench/servers.py only).")

    def sleep(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Sleep for the benchmark's work time, then answer."""
        time.sleep(work_seconds)
        return Reply(result_text(work_seconds))

    table.add("bench", "sleep", sleep, slow=True)
    return table


class BenchRunnerApp(CommandRunnerApp):
    """The runner processes of `serve`, with `bench sleep` in their table (the work time comes from the env)."""

    def command_table(self, settings: Settings) -> CommandTable:
        return bench_table(settings.slash_command, float(os.environ[WORK_SECONDS_ENV]))


def serve_ours(settings: Settings, work_seconds: float) -> None:
    table = bench_table(settings.slash_command, work_seconds)
    os.environ[WORK_SECONDS_ENV] = f"{work_seconds:g}"  # for the runner processes, forked from this one
    role, wake = web_role(settings)

    def factory() -> AmlBot:
        return create_app(settings, build_services(settings), table=table, role=role, wake=wake)

    BotServer(factory, server_options(settings, runner_app="bench.servers:BenchRunnerApp")).run()


# -- Bolt's lazy-listener pattern ----------------------------------------------------------------


def lazy_wsgi(settings: Settings, work_seconds: float, process_before_response: bool) -> WsgiApp:
    """Bolt's documented lazy listener on a default App (default listener executor)."""
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url),
        process_before_response=process_before_response,
    )

    def ack_within_3_seconds(ack: Ack) -> None:
        ack()

    def run_slow_work(respond: Respond) -> None:
        time.sleep(work_seconds)
        respond(text=result_text(work_seconds), response_type="ephemeral")

    app.command(settings.slash_command)(ack=ack_within_3_seconds, lazy=[run_slow_work])
    slack = SlackRequestHandler(app, path=SLACK_PATH)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"ok": True}).encode()]
        return slack(environ, start_response)

    return wsgi


class WsgiServer(BaseApplication):
    """gunicorn configured in code around any WSGI app factory (built in the worker, after the fork)."""

    def __init__(self, factory: Callable[[], WsgiApp], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        return self._factory()


def serve_lazy(settings: Settings, work_seconds: float, process_before_response: bool) -> None:
    options = {**server_options(settings), "proc_name": "bench-bolt-lazy"}
    WsgiServer(lambda: lazy_wsgi(settings, work_seconds, process_before_response), options).run()


# -- entry point ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=["ours", "lazy"])
    parser.add_argument("--work-seconds", type=float, default=2.0, help="how long the slow work sleeps")
    parser.add_argument(
        "--process-before-response",
        action="store_true",
        help="lazy only: Bolt's FaaS setting (ack runs in the request thread; lazy work still on the executor)",
    )
    args = parser.parse_args(argv)
    settings = load_settings(dict(os.environ))
    configure_logging(settings.log_level)
    if args.variant == "ours":
        serve_ours(settings, args.work_seconds)
    else:
        serve_lazy(settings, args.work_seconds, args.process_before_response)
    return 0


if __name__ == "__main__":
    sys.exit(main())
