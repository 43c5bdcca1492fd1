"""Production HTTP serving: gunicorn's threaded worker in front of the WSGI app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.app import AmlBot, Role
from bot.runner import RUNNER_APP
from bot.runner_wake import RunnerWake, open_runner_wake
from bot.settings import Settings
from bot.wsgi import BotWsgi, make_wsgi

BotFactory = Callable[[], AmlBot]


class BotServer(BaseApplication):
    """gunicorn, configured in code; the bot is built in the worker, after the fork."""

    def __init__(self, factory: BotFactory, options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        self._bot: AmlBot | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", self._on_worker_exit)

    def load(self) -> BotWsgi:
        self._bot = self._factory()
        self._bot.start()
        return make_wsgi(self._bot)

    def _on_worker_exit(self, server: Any, worker: Any) -> None:
        # Let accepted slow work finish and post its result before the process goes.
        if self._bot is not None:
            self._bot.close()


def server_options(settings: Settings, runner_app: str = RUNNER_APP) -> dict[str, Any]:
    """gunicorn settings for the bot: HTTP worker processes with many threads, loopback unless told otherwise,
    and the runner processes (bot/runner.py, loaded from `runner_app`) unless AMLBOT_RUNNER_PROCESSES=0."""
    return {
        "bind": f"{settings.host}:{settings.port}",
        # Each worker process has its own work pool and background loops; the store keeps them from doubling up.
        "workers": settings.http_workers,
        "worker_class": "gthread",
        "threads": settings.http_threads,
        "backlog": 2048,
        "keepalive": 5,
        "timeout": 60,
        "graceful_timeout": 60,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        # gunicorn names the runners' pid file after it, and kills the process a same-named file points to.
        "proc_name": f"aml-bot-{settings.port}",
        # gunicorn 27 opens a control socket at a fixed path by default; several servers would collide.
        "control_socket_disable": True,
        **_runner_options(settings, runner_app),
    }


def _runner_options(settings: Settings, runner_app: str) -> dict[str, Any]:
    if settings.runner_processes == 0:
        return {}
    return {
        "dirty_apps": [runner_app],
        "dirty_workers": settings.runner_processes,
        "dirty_threads": 1,  # the runner has its own threads; this pool only answers gunicorn's calls
        "dirty_graceful_timeout": 60,  # as the HTTP workers: running commands finish and answer
    }


def web_role(settings: Settings) -> tuple[Role, RunnerWake | None]:
    """What `serve`'s HTTP workers do, and how they wake the runners: call it in the master, before the fork."""
    if settings.runner_processes == 0:
        return "all", None
    return "web", open_runner_wake()


def serve_http(settings: Settings, factory: BotFactory) -> None:
    """Run the HTTP server in the foreground until SIGTERM/SIGINT."""
    BotServer(factory, server_options(settings)).run()
