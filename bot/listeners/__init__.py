"""Bolt listeners, one module per kind of Slack request; `register_listeners` wires them all."""

from __future__ import annotations

from slack_bolt import App

from bot.background import Loop
from bot.deliveries import RecentDeliveries
from bot.listeners import app_home, approval_actions, job_form, reminder_actions, slash_command
from bot.work import WorkPool
from commands.router import Router


def register_listeners(app: App, *, router: Router, pool: WorkPool, deliveries: RecentDeliveries) -> dict[str, Loop]:
    """Register every listener; returns the background loops listeners need (run them beside the others)."""
    # First: Bolt runs the first listener that matches, and Approve / Reject clicked on a Home are answered there.
    home = app_home.register(app, services=router.services, pool=pool, deliveries=deliveries)
    form = job_form.register(app, router=router, pool=pool)
    slash_command.register(app, router=router, pool=pool, deliveries=deliveries, open_form=form.open_from_command)
    approval_actions.register(app, services=router.services, pool=pool, deliveries=deliveries)
    reminder_actions.register(app, services=router.services, pool=pool, deliveries=deliveries)
    return {"home-refresh": home.run}
