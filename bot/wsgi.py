"""The WSGI application: Slack's endpoint through Bolt's adapter, plus a health check."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import AmlBot

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[..., Any]


class BotWsgi:
    """Routes /healthz itself and everything else to Bolt (which answers 404 off its path)."""

    def __init__(self, slack: SlackRequestHandler, pending_work: Callable[[], int]) -> None:
        self._slack = slack
        self._pending_work = pending_work

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            # Pending work lets a load balancer, an operator or the shell see whether the bot is busy.
            body = json.dumps({"ok": True, "pending_work": self._pending_work()}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
            return [body]
        return self._slack(environ, start_response)


def make_wsgi(bot: AmlBot) -> BotWsgi:
    """The WSGI app serving one bot."""
    return BotWsgi(SlackRequestHandler(bot.app, path=SLACK_PATH), lambda: bot.pool.pending)
