"""Bolt listeners, one module per kind of Slack request; `register_listeners` wires them all."""

from __future__ import annotations

from slack_bolt import App

from bot.deliveries import RecentDeliveries
from bot.listeners import approval_actions, reminder_actions, slash_command
from bot.work import WorkPool
from commands.router import Router


def register_listeners(app: App, *, router: Router, pool: WorkPool, deliveries: RecentDeliveries) -> None:
    slash_command.register(app, router=router, pool=pool, deliveries=deliveries)
    approval_actions.register(app, services=router.services, pool=pool, deliveries=deliveries)
    reminder_actions.register(app, services=router.services, pool=pool, deliveries=deliveries)
