"""The runner process: runs accepted commands and the background sweeps beside `serve`'s HTTP workers.

gunicorn starts it as a "dirty worker" (gunicorn.dirty: a pool of processes apart from the HTTP workers,
restarted when one dies, stopped gracefully with the server). Its threads claim commands from the store's
queue and run them (bot/command_worker.py), and it takes part in the election for the sweeps (job watcher,
outbox delivery, approvals, reminders). The HTTP workers only acknowledge and queue, so a burst of commands
or a slow sweep never makes Slack's requests wait for the CPU or the interpreter lock of the process answering
them. HTTP workers wake it through the pipe of bot/runner_wake.py; it also polls.
"""

from __future__ import annotations

from typing import Any

from gunicorn.dirty import DirtyApp

from bot.app import AmlBot, create_app
from bot.bootstrap import build_services
from bot.runner_wake import runner_wake
from bot.settings import Settings, load_settings
from commands.table import CommandTable

# The import path gunicorn loads the runner from (bot.serve.server_options).
RUNNER_APP = "bot.runner:CommandRunnerApp"


class CommandRunnerApp(DirtyApp):
    """The bot in its runner role, built in the runner process after the fork."""

    def __init__(self) -> None:
        self.bot: AmlBot | None = None

    def command_table(self, settings: Settings) -> CommandTable | None:
        """The commands to run (None: the production table); a benchmark adds its own."""
        return None

    def init(self) -> None:
        settings = load_settings()
        services = build_services(settings)
        table = self.command_table(settings)
        self.bot = create_app(settings, services, table=table, role="runner", wake=runner_wake())
        self.bot.start()

    def __call__(self, action: str, *args: Any, **kwargs: Any) -> Any:
        if action == "activity" and self.bot is not None:
            return self.bot.activity()
        raise ValueError(f"the runner has no action {action!r}")

    def close(self) -> None:
        # Commands already running finish and post their answer; queued ones wait in the store for a runner.
        if self.bot is not None:
            self.bot.close()
