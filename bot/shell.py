"""`python -m bot shell`: the real bot, served as in production, in a local Slack workspace you type into."""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.devslack import LocalSlack, RenderMarker, SlackDriver, Workspace, load_seed, render_channel, render_new
from bot.localrun import BotProcess

SHELL_HELP = """\
Type a slash command or one of these:
  /aml …                 run a command in the current channel as the current user
  click N                press button N of the latest message with buttons
  as USER <line>         run one line as another user (id or name, e.g. `as bob /aml help`)
  channel NAME           switch channel (e.g. `channel general`)
  who                    show the current user and channel, and who else is here
  help                   this text;  quit  (or Ctrl-D) to leave"""

DEMO_PERMISSIONS = Path(__file__).parent / "devslack" / "permissions.json"
SETTLE_QUIET = 0.3  # seconds with no change and nothing in motion before output is considered complete


class ShellSession:
    """Turns shell lines into signed Slack requests and tracks what the person is looking at."""

    def __init__(self, slack: LocalSlack, bot: BotProcess, out: TextIO, *, user: str, channel: str) -> None:
        self.slack = slack
        self.workspace: Workspace = slack.workspace
        self.bot = bot
        self.driver = SlackDriver(bot.events_url, bot.signing_secret, slack)
        self.out = out
        self.user = user
        self.channel = channel
        self.touched: list[str] = [channel]
        self.echo = False

    def execute(self, line: str, *, user: str | None = None) -> None:
        line = line.strip()
        if not line or line.startswith("#"):
            return
        who = user or self.user
        word, _, rest = line.partition(" ")
        if word.startswith("/"):
            self._slash(word, rest, who)
        elif word == "click":
            self._click(rest, who)
        elif word == "as":
            other, _, inner = rest.partition(" ")
            found = self.workspace.user(other)
            if found is None or not inner.strip():
                self._say(f"usage: as USER <line>; users: {self._user_names()}")
            else:
                self.execute(inner, user=found.id)
        elif word == "channel":
            self._switch(rest.strip())
        elif word == "who":
            self._say(f"you are @{self._name(self.user)} in #{self._channel_name()}; users: {self._user_names()}")
        else:
            self._say(SHELL_HELP)

    def _echo(self, user: str, line: str) -> None:
        # Piped input: echo what was typed, so the conversation printed at the end reads against it.
        if self.echo:
            self._say(f"» @{self._name(user)} in #{self._channel_name()}: {line}")

    def _slash(self, command: str, text: str, user: str) -> None:
        self._echo(user, f"{command} {text}".strip())
        response = self.driver.slash(text, user=user, channel=self.channel, command=command)
        if response.status != 200:
            self._say(f"(Slack would show an error: the bot answered HTTP {response.status})")

    def _click(self, rest: str, user: str) -> None:
        self._echo(user, f"click {rest}".strip())
        try:
            index = int(shlex.split(rest)[0]) if rest.strip() else 1
            self.driver.click(user=user, channel=self.channel, action_index=index)
        except (ValueError, LookupError) as err:
            self._say(f"(nothing to click: {err})")

    def _switch(self, name: str) -> None:
        found = self.workspace.find_channel(name)
        if found is None:
            names = ", ".join(c.name for c in self.workspace.directory.channels() if not c.is_im)
            self._say(f"no channel {name!r}; channels: {names}")
            return
        self.channel = found.id
        if found.id not in self.touched:
            self.touched.append(found.id)
        self._say(f"now in #{found.name}")

    def settle(self, timeout: float) -> bool:
        """Wait until nothing is in motion (commands, messages, followed jobs) and the workspace is quiet."""
        deadline = time.monotonic() + timeout
        version, quiet_since = self.workspace.version, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.workspace.version != version:
                version, quiet_since = self.workspace.version, time.monotonic()
                continue
            if time.monotonic() - quiet_since >= SETTLE_QUIET and self.bot.busy() == 0:
                return True
        return False

    def transcript(self) -> str:
        parts = []
        for channel_id in self.touched:
            body = render_channel(self.workspace, channel_id)
            if body:
                parts.append(f"── #{self._channel_name(channel_id)} ──\n{body}")
        return "\n\n".join(parts)

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _name(self, user_id: str) -> str:
        user = self.workspace.user(user_id)
        return user.name if user else user_id

    def _channel_name(self, channel_id: str | None = None) -> str:
        channel = self.workspace.find_channel(channel_id or self.channel)
        return channel.name if channel else (channel_id or self.channel)

    def _user_names(self) -> str:
        return ", ".join(u.name for u in self.workspace.directory.users() if not u.is_bot)


def run_shell(*, wait: float = 30.0, seed: str | None = None, stdin: TextIO | None = None) -> int:
    """Start the local workspace and the bot, then read lines until the end of input."""
    stdin = stdin or sys.stdin
    out = sys.stdout
    workspace = load_seed(seed)
    token = "xoxb-local-" + secrets.token_hex(8)
    log_path = Path(".data/shell/bot.log").resolve()
    with LocalSlack(workspace, bot_token=token) as slack:
        print("Starting the bot (gunicorn) against the local Slack workspace…", file=sys.stderr, flush=True)
        try:
            # One worker, so its health check sees all of the bot's pending work (see settle()).
            env = {"AMLBOT_HTTP_WORKERS": "1", "AMLBOT_PERMISSIONS": _permissions()}
            bot = BotProcess(slack.api_url, bot_token=token, log_path=log_path, env=env).start()
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
        try:
            people = [u for u in workspace.directory.users() if not u.is_bot]
            session = ShellSession(slack, bot, out, user=people[0].id, channel=_first_channel(workspace))
            if stdin.isatty():
                _interactive(session, stdin, wait)
            else:
                _scripted(session, stdin, wait)
        finally:
            bot.stop()
        print(f"(bot log: {log_path})", file=sys.stderr)
    return 0


def _permissions() -> str:
    """The caller's AMLBOT_PERMISSIONS, else the demo roles: alice admin, @mlops (alice, bob) approvers."""
    return os.environ.get("AMLBOT_PERMISSIONS") or str(DEMO_PERMISSIONS)


def _first_channel(workspace: Workspace) -> str:
    return next(c.id for c in workspace.directory.channels() if not c.is_im)


def _scripted(session: ShellSession, lines: Iterable[str], wait: float) -> None:
    deadline = time.monotonic() + wait
    session.echo = True
    for line in lines:
        session.execute(line)
        session.settle(max(0.0, deadline - time.monotonic()))
    if not session.settle(max(0.0, deadline - time.monotonic())):
        print(f"(still working after --wait {wait:g}s; showing what arrived so far)", file=sys.stderr)
    print(session.transcript(), file=session.out, flush=True)


def _interactive(session: ShellSession, stdin: TextIO, wait: float) -> None:
    print(f"aml-bot shell. You are @{session._name(session.user)} in #{session._channel_name()}.", flush=True)
    print(SHELL_HELP, flush=True)
    marker: RenderMarker | None = None
    while True:
        try:
            line = input(f"{session._name(session.user)}@#{session._channel_name()}> ")
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            continue
        if line.strip() in ("quit", "exit"):
            return
        channel = session.channel
        session.execute(line)
        if session.channel != channel:
            marker = None
        with contextlib.suppress(KeyboardInterrupt):
            session.settle(wait)
        text, marker = render_new(session.workspace, session.channel, marker, viewer=session.user)
        if text:
            print(text, flush=True)
