"""Bolt listeners, one module per kind of Slack request; `register_listeners` wires them all."""

from __future__ import annotations

from slack_bolt import App

from bot.background import Loop
from bot.deliveries import RecentDeliveries
from bot.listeners import app_home, approval_actions, job_form, reminder_actions, slash_command
from bot.runner_wake import RunnerWake
from bot.work import WorkPool
from commands.router import Router


def register_listeners(
    app: App,
    *,
    router: Router,
    pool: WorkPool,
    deliveries: RecentDeliveries,
    runs_commands: bool = True,
    wake: RunnerWake | None = None,
) -> dict[str, Loop]:
    """Register every listener; returns the background loops listeners need (run them beside the others).

    `runs_commands`: queued commands start in this process's pool; otherwise `wake` tells the runner processes.
    """
    # Bolt tries listeners in the order they were registered and runs the first that matches. The slash command
    # goes first: it is the busiest, and no other listener takes a command (each one tried costs a request time).
    form = job_form.JobFormFlow(router, pool)
    slash_command.register(
        app,
        router=router,
        pool=pool,
        deliveries=deliveries,
        open_form=form.open_from_command,
        start=slash_command.start_here(pool) if runs_commands else slash_command.wake_runners(wake),
    )
    # Before approval_actions: Approve / Reject clicked on a Home are answered there.
    home = app_home.register(app, services=router.services, pool=pool, deliveries=deliveries)
    job_form.register(app, router=router, pool=pool, flow=form)
    approval_actions.register(app, services=router.services, pool=pool, deliveries=deliveries)
    reminder_actions.register(app, services=router.services, pool=pool, deliveries=deliveries)
    return {"home-refresh": home.run}
