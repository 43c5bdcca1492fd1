"""Run the production server as a child process against a local Slack workspace (shell, tests, benchmarks)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from bot.wsgi import HEALTH_PATH, SLACK_PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """`python -m bot serve` on a loopback port, configured to talk to `slack_api_url`."""

    def __init__(
        self,
        slack_api_url: str,
        *,
        bot_token: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        argv: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.signing_secret = secrets.token_hex(16)
        self.log_path = log_path
        self._argv = argv or [sys.executable, "-m", "bot", "serve"]
        self._env = {
            **os.environ,
            "AMLBOT_SLACK_BOT_TOKEN": bot_token,
            "AMLBOT_SLACK_SIGNING_SECRET": self.signing_secret,
            "AMLBOT_SLACK_API_URL": slack_api_url,
            "AMLBOT_HOST": "127.0.0.1",
            "AMLBOT_PORT": str(self.port),
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return self.url + SLACK_PATH

    def start(self, timeout: float = 60.0) -> BotProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # Its own session, so kill() takes gunicorn's worker down with it, as a machine crash would.
        self._process = subprocess.Popen(
            self._argv, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the bot exited at start-up; its log:\n{self.log_tail()}")
            if self.health() is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the bot did not answer {HEALTH_PATH} within {timeout:.0f}s; its log:\n{self.log_tail()}")

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=2) as response:
                return dict(json.loads(response.read()))
        except OSError:
            return None

    def busy(self) -> int:
        """Work in motion (accepted commands, undelivered messages, followed jobs); -1 when it does not answer."""
        health = self.health()
        if not health:
            return -1
        return sum(value for key, value in health.items() if key != "ok" and isinstance(value, int))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the bot finishes accepted work first), then SIGKILL if it hangs."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def kill(self) -> None:
        """SIGKILL to the server and its worker, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
