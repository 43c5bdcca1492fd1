"""A stand-in bot endpoint that records what it receives; for checking the driver without a bot."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received."""

    path: str
    headers: dict[str, str]
    body: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks connect from many threads at once
    recorder: RecordingEndpoint


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        recorder = self.server.recorder
        recorder.add(RecordedRequest(self.path, dict(self.headers.items()), body))
        reply = recorder.reply
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if reply.startswith(b"{") else "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


class RecordingEndpoint:
    """Answers every POST with 200 and ``reply``; ``requests`` lists what arrived, in order."""

    def __init__(self, path: str = "/slack/events", reply: bytes = b"") -> None:
        self.reply = reply
        self._path = path
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.recorder = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """Where to point a driver."""
        return f"http://127.0.0.1:{self._server.server_port}{self._path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far."""
        with self._lock:
            return list(self._requests)

    def add(self, request: RecordedRequest) -> None:
        """Record a request."""
        with self._lock:
            self._requests.append(request)

    def __enter__(self) -> RecordingEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
