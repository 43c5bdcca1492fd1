"""Shared fixtures: the local Slack workspace and the bot served over real HTTP, in process."""

from __future__ import annotations

import json
import secrets
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from bot.app import AmlBot, create_app
from bot.devslack import LocalSlack, SlackDriver, Workspace, load_seed
from bot.settings import Settings, load_settings
from bot.wsgi import SLACK_PATH, make_wsgi
from commands.table import CommandTable
from services.container import Services


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class RunningBot:
    """A bot served over HTTP on loopback, with Slack's side (workspace + signed driver) beside it."""

    bot: AmlBot
    url: str
    driver: SlackDriver
    slack: LocalSlack

    @property
    def workspace(self) -> Workspace:
        return self.slack.workspace

    def ask(self, text: str, *, user: str = "U_ALICE", channel: str = "C_ML", timeout: float = 30) -> str:
        """Run `/aml text` and return everything the bot showed for it (ack, then slow work's reply)."""
        seen = len(self.workspace.ephemerals()), len(self.workspace.messages(channel, include_replies=True))
        response = self.driver.slash(text, user=user, channel=channel)
        assert response.status == 200, response.body
        assert self.bot.pool.wait_idle(timeout), f"work for {text!r} did not finish in {timeout}s"
        shown = (
            self.workspace.ephemerals()[seen[0] :] + self.workspace.messages(channel, include_replies=True)[seen[1] :]
        )
        return "\n".join(item.text + " " + json.dumps(list(item.blocks), ensure_ascii=False) for item in shown)


@pytest.fixture
def local_slack() -> Iterator[LocalSlack]:
    with LocalSlack(load_seed(), bot_token="xoxb-test-" + secrets.token_hex(4)) as slack:
        yield slack


@pytest.fixture
def start_bot(local_slack: LocalSlack) -> Iterator[Callable[..., RunningBot]]:
    """Start the real app (Bolt + WSGI adapter) behind a threaded HTTP server; `table`/settings overridable."""
    started: list[tuple[RunningBot, _ThreadingWSGIServer]] = []

    def start(
        table: CommandTable | None = None,
        services: Services | Callable[[Settings], Services] | None = None,
        **settings: str,
    ) -> RunningBot:
        secret = secrets.token_hex(16)
        env = {
            "AMLBOT_SLACK_BOT_TOKEN": local_slack.bot_token,
            "AMLBOT_SLACK_SIGNING_SECRET": secret,
            "AMLBOT_SLACK_API_URL": local_slack.api_url,
            **{f"AMLBOT_{k.upper()}": v for k, v in settings.items()},
        }
        loaded = load_settings(env)
        built = services(loaded) if callable(services) else services
        bot = create_app(loaded, built or Services(), table=table)
        bot.start()
        server = make_server("127.0.0.1", 0, make_wsgi(bot), _ThreadingWSGIServer, _QuietHandler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        running = RunningBot(bot, url, SlackDriver(url + SLACK_PATH, secret, local_slack), local_slack)
        started.append((running, server))
        return running

    yield start
    for running, server in started:
        server.shutdown()
        server.server_close()
        running.bot.background.stop()
        running.bot.pool.shutdown(wait=False)
        if running.bot.services.leader is not None:
            running.bot.services.leader.stop()
