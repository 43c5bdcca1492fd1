"""The WSGI application: Slack's endpoint through Bolt's adapter, plus a health check."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import AmlBot
from bot.events import EVENTS_PATH, EventGridEndpoint
from services.eventgrid import RunStatusEvent
from services.tracking import RunEventHandler

logger = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[..., Any]


class BotWsgi:
    """Routes /healthz itself and everything else to Bolt (which answers 404 off its path)."""

    def __init__(
        self,
        slack: SlackRequestHandler,
        activity: Callable[[], dict[str, int]],
        events: EventGridEndpoint | None = None,
    ) -> None:
        self._slack = slack
        self._activity = activity
        self._events = events

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == EVENTS_PATH and self._events is not None:
            return self._events(environ, start_response)
        if path == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            # Activity lets a load balancer, an operator or the shell see whether the bot is busy.
            body = json.dumps({"ok": True, **self._activity()}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
            return [body]
        return self._slack(environ, start_response)


def make_wsgi(bot: AmlBot) -> BotWsgi:
    """The WSGI app serving one bot: Slack's endpoint, the health check, and Event Grid when configured."""
    return BotWsgi(SlackRequestHandler(bot.app, path=SLACK_PATH), bot.activity, _event_endpoint(bot))


def _event_endpoint(bot: AmlBot) -> EventGridEndpoint | None:
    secret, handler = bot.settings.eventgrid_secret, bot.services.run_events
    if secret is None or handler is None:
        return None

    # Answer Event Grid at once; reading the job and recording the transition runs in the work pool.
    def sink(event: RunStatusEvent) -> None:
        bot.pool.submit(lambda: _handle(handler, event))

    return EventGridEndpoint(secret.get_secret_value(), sink)


def _handle(handler: RunEventHandler, event: RunStatusEvent) -> None:
    outcome = handler.handle(event)
    logger.info("event %s for job %s: %s", event.event_id, event.job_name, outcome or "seen before")
