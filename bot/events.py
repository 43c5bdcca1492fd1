"""The HTTP endpoint Azure Event Grid pushes Azure ML run events to (both schemas, both handshakes)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from services.eventgrid import EventFormatError, RunStatusEvent, parse_events, validation_code

logger = logging.getLogger(__name__)

EVENTS_PATH = "/events/azureml"
MAX_BODY = 1024 * 1024

StartResponse = Callable[..., Any]
EventSink = Callable[[RunStatusEvent], None]


class EventGridEndpoint:
    """Authenticates by a shared secret in the subscription URL (`?code=…`) and hands run events to `sink`."""

    def __init__(self, secret: str, sink: EventSink) -> None:
        self._secret = secret.encode()
        self._sink = sink

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._authorized(environ):
            return _answer(start_response, "401 Unauthorized", {"error": "missing or wrong code"})
        method = environ.get("REQUEST_METHOD")
        if method == "OPTIONS":
            return self._cloudevents_handshake(environ, start_response)
        if method != "POST":
            return _answer(start_response, "405 Method Not Allowed", {"error": "POST events here"})
        try:
            events = _read_events(environ)
        except EventFormatError as err:
            return _answer(start_response, "400 Bad Request", {"error": str(err)})
        if environ.get("HTTP_AEG_EVENT_TYPE") == "SubscriptionValidation":
            code = validation_code(events)
            if code is None:
                return _answer(start_response, "400 Bad Request", {"error": "no validationCode"})
            return _answer(start_response, "200 OK", {"validationResponse": code})
        try:
            run_events = parse_events(events)
        except EventFormatError as err:
            return _answer(start_response, "400 Bad Request", {"error": str(err)})
        for event in run_events:
            self._sink(event)
        return _answer(start_response, "200 OK", {"accepted": len(run_events)})

    def _authorized(self, environ: dict[str, Any]) -> bool:
        given = parse_qs(environ.get("QUERY_STRING", "")).get("code", [""])[0]
        return hmac.compare_digest(given.encode(), self._secret)

    def _cloudevents_handshake(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_WEBHOOK_REQUEST_ORIGIN")
        if not origin:
            return _answer(start_response, "400 Bad Request", {"error": "WebHook-Request-Origin missing"})
        start_response("200 OK", [("WebHook-Allowed-Origin", origin), ("WebHook-Allowed-Rate", "120")])
        return [b""]


def _read_events(environ: dict[str, Any]) -> list[Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError as err:
        raise EventFormatError("bad Content-Length") from err
    if length <= 0 or length > MAX_BODY:
        raise EventFormatError(f"body must be 1 byte to {MAX_BODY} bytes")
    try:
        body = json.loads(environ["wsgi.input"].read(length))
    except (ValueError, UnicodeDecodeError) as err:
        raise EventFormatError("body is not JSON") from err
    # CloudEvents in structured mode sends one object; Event Grid and CloudEvents batches send arrays.
    return body if isinstance(body, list) else [body]


def _answer(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
