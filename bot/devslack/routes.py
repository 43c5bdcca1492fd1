"""What each URL of the local server does: Web API methods, response URLs, file upload and download."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .api import METHODS, ApiContext
from .errors import SlackError
from .interactivity import Interactivity, deliver_response, validate_response
from .limits import Fault, FaultInjector, Pacer
from .params import Params, parse_body
from .workspace import Workspace

PACED_METHODS = frozenset({"chat.postMessage"})


@dataclass
class Reply:
    """An HTTP answer."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
        """A JSON answer."""
        return cls(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )


def _fault_reply(fault: Fault) -> Reply:
    status = fault.status or (429 if fault.retry_after is not None else 200 if fault.error else 500)
    error = fault.error or ("ratelimited" if status == 429 else "internal_error")
    headers: dict[str, str] = {}
    if fault.retry_after is not None or status == 429:
        # Slack sends whole seconds, and slack_sdk parses the header with int().
        headers["Retry-After"] = str(math.ceil(fault.retry_after if fault.retry_after is not None else 1))
    return Reply.json(status, {"ok": False, "error": error}, headers)


class Router:
    """Maps requests to the workspace, applying auth, injected faults and pacing."""

    def __init__(
        self,
        workspace: Workspace,
        interactivity: Interactivity,
        *,
        bot_token: str,
        base_url: Callable[[], str],
        faults: FaultInjector,
        pacer: Pacer,
    ) -> None:
        self.workspace = workspace
        self.interactivity = interactivity
        self.bot_token = bot_token
        self.enforce_pace = False
        self._base_url = base_url
        self._faults = faults
        self._pacer = pacer

    def handle(self, verb: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request; ``headers`` keys are lower-case."""
        kind, _, rest = path.lstrip("/").partition("/")
        if kind == "api" and rest:
            return self._api(rest, query, headers, body)
        if kind == "response" and verb == "POST":
            return self._response_url(rest, body)
        if kind == "upload" and verb == "POST":
            return self._upload(rest, body)
        if kind == "files" and verb == "GET":
            return self._download(rest.split("/", 1)[0], headers)
        return Reply(404, b"Not Found", {"Content-Type": "text/plain"})

    def _injected(self, name: str) -> Reply | None:
        fault = self._faults.take(name)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        return _fault_reply(fault) if fault.answers else None

    # -- Web API --------------------------------------------------------------------------------

    def _api(self, name: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        raw: dict[str, Any] = {}
        try:
            raw = parse_body(headers.get("content-type", ""), body, query)
            parse_error = None
        except SlackError as exc:
            parse_error = exc
        token = raw.pop("token", None)
        reply = self._injected(name) or self._call(name, raw, token, headers, parse_error)
        self.workspace.record_call(name, raw, reply.status)
        return reply

    def _call(
        self,
        name: str,
        raw: dict[str, Any],
        token: Any,
        headers: Mapping[str, str],
        parse_error: SlackError | None,
    ) -> Reply:
        handler = METHODS.get(name)
        if handler is None:
            return Reply.json(200, {"ok": False, "error": "unknown_method", "req_method": name})
        bearer = headers.get("authorization", "")
        presented = bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else token
        if not presented:
            return Reply.json(200, {"ok": False, "error": "not_authed"})
        if presented != self.bot_token:
            return Reply.json(200, {"ok": False, "error": "invalid_auth"})
        if parse_error:
            return Reply.json(200, parse_error.body())
        if self.enforce_pace and name in PACED_METHODS:
            wait = self._pacer.acquire(self._pace_key(raw))
            if wait > 0:
                return Reply.json(
                    429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(math.ceil(wait))}
                )
        ctx = ApiContext(self.workspace, self.interactivity, self._base_url())
        try:
            return Reply.json(200, {"ok": True, **handler(ctx, Params(raw))})
        except SlackError as exc:
            return Reply.json(200, exc.body())

    def _pace_key(self, raw: Mapping[str, Any]) -> str:
        channel = str(raw.get("channel", ""))
        found = self.workspace.find_channel(channel) if channel else None
        return found.id if found else channel

    # -- response_url, upload, download ---------------------------------------------------------

    def _response_url(self, target_id: str, body: bytes) -> Reply:
        payload: Any = None
        with contextlib.suppress(UnicodeDecodeError, json.JSONDecodeError):
            payload = json.loads(body.decode("utf-8") or "null")
        params = {"response_url": target_id, **(payload if isinstance(payload, dict) else {})}
        reply = self._injected("response_url") or self._respond(target_id, payload)
        self.workspace.record_call("response_url", params, reply.status)
        return reply

    def _respond(self, target_id: str, payload: Any) -> Reply:
        if not isinstance(payload, dict):
            return Reply.json(400, {"ok": False, "error": "invalid_payload"})
        try:
            validate_response(payload)
        except SlackError as exc:
            return Reply.json(400, exc.body())
        try:
            target = self.interactivity.claim_response_target(target_id)
            deliver_response(self.workspace, target, payload)
        except SlackError as exc:
            return Reply.json(404, exc.body())
        return Reply.json(200, {"ok": True})

    def _upload(self, file_id: str, body: bytes) -> Reply:
        reply = self._injected("upload")
        if reply is None:
            received = self.workspace.files.receive(file_id, body)
            reply = Reply(200, f"OK - {len(body)}".encode()) if received else Reply(404, b"Not Found")
        self.workspace.record_call("upload", {"file_id": file_id, "bytes": len(body)}, reply.status)
        return reply

    def _download(self, file_id: str, headers: Mapping[str, str]) -> Reply:
        if headers.get("authorization", "") != f"Bearer {self.bot_token}":
            return Reply(403, b"Forbidden")
        found = self.workspace.files.get(file_id)
        if found is None or found.content is None:
            return Reply(404, b"Not Found")
        return Reply(200, found.content, {"Content-Type": "application/octet-stream"})
