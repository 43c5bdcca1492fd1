"""The chat port implemented with slack_sdk: every outbound message of the outbox goes through here."""

from __future__ import annotations

import logging
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from services.chat import ChatPermanentError, ChatRateLimited, ChatTransientError, RenderedFile
from services.redaction import redact, redact_value

logger = logging.getLogger(__name__)

T = TypeVar("T")
METADATA_EVENT = "amlbot_outbox"
# Slack answers these when something on its side is wrong for a while: worth retrying.
_TRANSIENT_CODES = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# How far back find_posted looks in a channel (the outbox only asks about posts it attempted recently).
_HISTORY_WINDOW = 200


class SlackChat:
    """ChatPort over the Slack Web API; maps Slack's failures onto retry / wait / give up.

    Every text and block it sends passes services.redaction first: no secret reaches Slack through here.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"dedupe_key": dedupe_key}} if dedupe_key else None
        response = _call(
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=redact(text),
                blocks=_plain(blocks),
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,
            )
        )
        return str(response["ts"])

    def update(self, channel: str, ts: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        _call(lambda: self._client.chat_update(channel=channel, ts=ts, text=redact(text), blocks=_plain(blocks) or []))

    def post_ephemeral(
        self, channel: str, user: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        _call(
            lambda: self._client.chat_postEphemeral(
                channel=channel, user=user, text=redact(text), blocks=_plain(blocks)
            )
        )

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, file: RenderedFile) -> str:
        try:
            response = _call(
                lambda: self._client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    content=_redact_text_file(file.content),
                    filename=filename,
                    title=redact(file.title or filename),
                    initial_comment=redact(file.comment) if file.comment else None,
                    alt_txt=redact(file.alt_text) if file.alt_text else None,
                )
            )
        except SlackRequestError as err:  # the bytes did not reach Slack; nothing was shared
            raise ChatTransientError(f"file upload failed: {redact(str(err))}", maybe_delivered=False) from None
        files = response.get("files") or []
        return str(files[0]["id"]) if files else ""

    def find_uploaded(self, channel: str, filename: str, thread_ts: str | None) -> str | None:
        for message in self._recent(channel, thread_ts):
            for shared in message.get("files") or []:
                if shared.get("name") == filename:
                    return str(shared["id"])
        return None

    def find_posted(self, channel: str, dedupe_key: str, thread_ts: str | None) -> str | None:
        for message in self._recent(channel, thread_ts):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("dedupe_key") == dedupe_key:
                return str(message["ts"])
        return None

    def _recent(self, channel: str, thread_ts: str | None) -> list[dict[str, Any]]:
        """The thread's replies, or the channel's recent history (with metadata and files)."""
        if thread_ts:
            response = _call(
                lambda: self._client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=1000
                )
            )
        else:
            response = _call(
                lambda: self._client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=_HISTORY_WINDOW
                )
            )
        return list(response.get("messages") or [])


def _plain(blocks: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The blocks as plain dicts, every string in them redacted."""
    return [redact_value(block) for block in blocks] if blocks else None


def _redact_text_file(content: bytes) -> bytes:
    """A text file (a log, a CSV) with its secrets redacted; binary content as it is."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content
    redacted = redact(text)
    return content if redacted == text else redacted.encode("utf-8")


def _call(request: Callable[[], T]) -> T:
    """Run one Web API call, turning its failures into the chat port's three kinds."""
    try:
        return request()
    except SlackApiError as err:
        status = err.response.status_code
        code = str(err.response.get("error") or "") if err.response is not None else ""
        if status == 429 or code == "ratelimited":
            retry_after = float(err.response.headers.get("Retry-After", err.response.headers.get("retry-after", 1)))
            raise ChatRateLimited(retry_after) from None
        if status >= 500 or code in _TRANSIENT_CODES:
            raise ChatTransientError(f"Slack answered {status} {code}".strip()) from None
        raise ChatPermanentError(f"Slack refused the call: {code or status}", code=code or None) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        # A refused connection certainly delivered nothing; a timeout may have.
        refused = isinstance(reason, ConnectionRefusedError)
        raise ChatTransientError(f"no answer from Slack: {reason}", maybe_delivered=not refused) from None
