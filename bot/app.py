"""The app factory: a Bolt app wired to the command router, with its own work pool; no I/O here."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.background import BackgroundLoops, Loop, leader_only
from bot.command_worker import build_command_worker
from bot.deliveries import RecentDeliveries
from bot.listeners import register_listeners
from bot.reminder_scheduler import ReminderScheduler
from bot.runner_wake import RunnerWake
from bot.settings import Settings
from bot.work import WorkPool
from commands import build_table
from commands.router import Router
from commands.table import CommandTable
from services.approvals import ApprovalService
from services.container import Services
from services.leader import LeaderElection, NotLeader
from services.tracking import open_work

# What a process does: everything (one process: the shell, Socket Mode, `serve` without runner processes);
# only Slack's requests (`serve`'s HTTP workers, beside runners); or only commands and sweeps (bot/runner.py).
Role = Literal["all", "web", "runner"]


@dataclass(frozen=True)
class AmlBot:
    """The running bot: the Bolt app and what it owns, starts and must shut down."""

    app: App
    pool: WorkPool
    router: Router
    settings: Settings
    services: Services
    background: BackgroundLoops
    role: Role = "all"

    @property
    def election(self) -> LeaderElection | None:
        """The election for the sweeps (job watcher, outbox, reminders…), if this process takes part in it."""
        return self.services.leader if self.role != "web" else None

    def start(self) -> None:
        """Start the background loops (watching jobs, delivering messages); serving starts elsewhere."""
        if self.election is not None:
            self.election.start()
        self.background.start()

    def close(self) -> None:
        self.background.stop()  # first: the command worker must not hand work to a pool that is shutting down
        self.pool.shutdown(wait=True)
        if self.election is not None:
            self.election.stop()  # releases the lock: a follower takes over at once

    def activity(self) -> dict[str, int]:
        """What is still in motion: accepted work, undelivered messages, followed jobs."""
        tracking = self.services.tracking
        extra = open_work(tracking.engine) if tracking is not None else {}
        return {"pending_work": self.pool.pending, **extra}


def create_app(
    settings: Settings,
    services: Services,
    *,
    table: CommandTable | None = None,
    role: Role = "all",
    wake: RunnerWake | None = None,
) -> AmlBot:
    """Build the bot from settings and services; `table` lets tests and benchmarks add commands.

    `role` says which part of the bot this process runs; `wake` is how web processes wake the runners.
    """
    token = settings.slack_bot_token.get_secret_value()

    # Authorize from the configured token: no auth.test call on a request's ack path.
    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=WebClient(base_url=settings.slack_api_url),
        authorize=authorize,
        # The listener only parses, acks and enqueues, so it runs in the request thread.
        process_before_response=True,
        logger=logging.getLogger("bot.bolt"),
    )
    router = Router(table or build_table(settings.slash_command), services)
    pool = WorkPool(settings.work_threads, settings.work_queue_limit)
    listener_loops = register_listeners(
        app, router=router, pool=pool, deliveries=RecentDeliveries(), runs_commands=role == "all", wake=wake
    )
    loops: dict[str, Loop] = {}
    if role != "web":
        loops = _sweeps(services)
        if services.leader is not None:
            loops = leader_only(services.leader, loops)  # one replica sweeps at a time
        worker = build_command_worker(services, router, pool, wake=wake if role == "runner" else None)
        if worker is not None:
            loops["command-worker"] = worker.run  # every replica runs accepted commands
    if role != "runner":
        loops.update(listener_loops)  # every replica refreshes the Home tabs opened through it
    if role == "web" and wake is not None and services.delivery is not None:
        services.delivery.forward_wakes(wake.notify)  # the runner delivers what clicks here put in the outbox
    return AmlBot(app, pool, router, settings, services, BackgroundLoops(loops), role)


def _sweeps(services: Services) -> dict[str, Loop]:
    """The loops that must run in one process at a time."""
    loops: dict[str, Loop] = {}
    if services.watcher is not None:
        loops["job-watcher"] = services.watcher.run
    if services.delivery is not None:
        loops["outbox-delivery"] = services.delivery.run
    if services.approvals is not None:
        loops["approval-sweeper"] = approval_sweeper(services.approvals)
    if services.reminders is not None:
        leader = services.leader
        loops["reminder-scheduler"] = ReminderScheduler(
            services.reminders,
            on_swept=services.delivery.wake if services.delivery is not None else None,
            fencing=leader.fencing if leader is not None else None,
            led_before=(lambda: (leader.epoch or 0) > 1) if leader is not None else None,  # epochs count leaders
        )
    return loops


def approval_sweeper(approvals: ApprovalService, every_seconds: float = 30.0) -> Loop:
    """Close expired requests, run approved ones whose decider died, report interrupted runs."""

    def run(stop: threading.Event) -> None:
        while not stop.wait(every_seconds):
            try:
                approvals.sweep()
            except NotLeader:
                return  # the gate restarts this loop if leadership comes back
            except Exception:  # a store hiccup must not end the loop; the next sweep catches up
                logging.getLogger(__name__).exception("approval sweep failed")

    return run
