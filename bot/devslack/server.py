"""LocalSlack: the fake Slack Web API on 127.0.0.1, served from a daemon thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .interactivity import Interactivity
from .limits import Fault, FaultInjector, Pacer
from .routes import Router
from .seed import load_seed
from .workspace import Workspace


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 stalls bursts from many client threads
    router: Router

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup we neither need nor can rely on.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "LocalSlack/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.router.handle(self.command, url.path, url.query, headers, body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the workspace's api_calls log is the record."""


class LocalSlack:
    """A local Slack workspace speaking the Web API over HTTP; use as a context manager."""

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        bot_token: str = "xoxb-local-token",
        enforce_pace: bool = False,
        pace_per_second: float = 1.0,
        pace_burst: int = 2,
        pace_clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``pace_per_second``/``pace_burst``: the chat.postMessage budget per channel when ``enforce_pace``
        (Slack's is about 1 a second with short bursts); raise it to scale a long burst down in time.
        ``pace_clock``: the pacer's monotonic seconds (a test may drive it). Retry-After stays whole seconds,
        as Slack sends it, whatever the pace."""
        if pace_per_second <= 0 or pace_burst < 1:
            raise ValueError("pace_per_second must be > 0 and pace_burst >= 1")
        self.workspace = workspace if workspace is not None else load_seed()
        self.bot_token = bot_token
        self.interactivity = Interactivity()
        self.pacer = Pacer(rate=pace_per_second, burst=pace_burst, clock=pace_clock)
        self._faults = FaultInjector()
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._router = Router(
            self.workspace,
            self.interactivity,
            bot_token=bot_token,
            base_url=lambda: self.base_url,
            faults=self._faults,
            pacer=self.pacer,
        )
        self.enforce_pace = enforce_pace

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalSlack:
        """Bind and serve in a daemon thread (idempotent)."""
        if self._server is None:
            server = _Server(self._address, _Handler)
            server.router = self._router
            self._server = server
            # A short poll interval makes stop() (and so each test's teardown) quick.
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="local-slack", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> LocalSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._server is None:
            raise RuntimeError("LocalSlack is not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return f"http://{self._address[0]}:{self.port}/"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``, for ``slack_sdk.WebClient(base_url=...)``."""
        return f"{self.base_url}api/"

    # -- behaviour switches ---------------------------------------------------------------------

    @property
    def enforce_pace(self) -> bool:
        """Whether chat.postMessage is limited per channel (default ~1 message per second, burst of 2)."""
        return self._router.enforce_pace

    @enforce_pace.setter
    def enforce_pace(self, value: bool) -> None:
        self._router.enforce_pace = value
        self.pacer.reset()

    def inject_fault(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``times`` calls (-1: all) of ``method`` fail or be slow.

        ``method`` is a Web API method, ``response_url``, ``upload`` or ``*``. The answer is ``status``;
        without one it is 429 if ``retry_after`` is set, ``{"ok": false, "error": error}`` with 200 if
        ``error`` is set, the normal answer after ``delay`` if only a delay is set, else 500.
        """
        if not (status or retry_after is not None or error or delay):
            status = 500
        self._faults.add(Fault(method, status, error, retry_after, delay, times))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    # -- interactivity --------------------------------------------------------------------------

    def new_response_url(
        self, channel_id: str, user_id: str, *, message_ts: str | None = None, is_ephemeral: bool = False
    ) -> str:
        """A response_url for an interaction of ``user_id`` in ``channel_id`` (on ``message_ts``, if any)."""
        target = self.interactivity.new_response_target(
            channel_id, user_id, message_ts=message_ts, is_ephemeral=is_ephemeral
        )
        return f"{self.base_url}response/{target}"

    def new_trigger_id(self, user_id: str) -> str:
        """A trigger id usable once, within 3 seconds, with views.open/views.push."""
        return self.interactivity.new_trigger_id(user_id)

    def register_trigger(self, trigger_id: str, user_id: str) -> None:
        """Accept a caller-chosen trigger id (first registration sets its age)."""
        self.interactivity.register_trigger(trigger_id, user_id)
