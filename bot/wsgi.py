"""The WSGI application: Slack's endpoint through Bolt's adapter, plus a health check."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[..., Any]


class BotWsgi:
    """Routes /healthz itself and everything else to Bolt (which answers 404 off its path)."""

    def __init__(self, slack: SlackRequestHandler) -> None:
        self._slack = slack

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        return self._slack(environ, start_response)
